/**
 * The node:crypto MLS provider beyond the official vectors (mls-vectors.test.ts): X-Wing, which no
 * MLS vector covers, against @noble/post-quantum's; the P-curve orders against @noble/curves;
 * groups mixing our provider and ts-mls's default; hostile keys, ciphertexts and signatures.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { XWing } from '@noble/post-quantum/hybrid.js';
import { p256, p384, p521 } from '@noble/curves/nist.js';
import { getCiphersuiteFromName, type CiphersuiteName } from 'ts-mls';
import { CryptoError, DependencyError } from 'ts-mls/mlsError.js';
import { browserMlsCryptoProvider } from '../src/mls/provider.ts';
import { clearMlsKeyCaches, NODE_MLS_SUITES, nodeMlsCryptoProvider } from './mls-crypto.ts';
import { KEMS } from './mls-hpke.ts';
import { DH_CURVE_ORDERS } from './mls-kem.ts';
import { makeGroup, sendAndReceive } from './mls-test-group.ts';

const te = new TextEncoder();
const impl = (name: CiphersuiteName) =>
  nodeMlsCryptoProvider.getCiphersuiteImpl(getCiphersuiteFromName(name));
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

describe('X-Wing KEM', () => {
  const kem = KEMS['X-Wing']!;
  test('should derive the same public key as @noble/post-quantum from a 32-byte seed', () => {
    for (let i = 0; i < 5; i++) {
      const seed = randomBytes(32);
      assert.equal(hex(kem.importPrivateKey(seed).publicKey.raw), hex(XWing.keygen(seed).publicKey));
    }
  });
  test('should agree with @noble/post-quantum in both directions', () => {
    const seed = randomBytes(32);
    const { publicKey } = XWing.keygen(seed);
    const ours = kem.encap(kem.importPublicKey(publicKey));
    assert.equal(hex(XWing.decapsulate(ours.enc, seed)), hex(ours.sharedSecret));
    const theirs = XWing.encapsulate(publicKey);
    assert.equal(hex(kem.decap(theirs.cipherText, kem.importPrivateKey(seed))), hex(theirs.sharedSecret));
  });
  test('should derive key pairs as SHAKE256(ikm, 32), like @hpke/hybridkem-x-wing', () => {
    const ikm = randomBytes(32);
    const kp = kem.deriveKeyPair(ikm);
    assert.equal(kp.privateKey.raw.byteLength, 32);
    assert.equal(hex(kp.publicKey.raw), hex(XWing.keygen(kp.privateKey.raw).publicKey));
    assert.equal(hex(kem.deriveKeyPair(ikm).publicKey.raw), hex(kp.publicKey.raw));
  });
  test('should refuse keys and encapsulations of the wrong size', () => {
    assert.throws(() => kem.importPublicKey(new Uint8Array(1215)), CryptoError);
    assert.throws(() => kem.importPrivateKey(new Uint8Array(31)), CryptoError);
    const sk = kem.generateKeyPair().privateKey;
    assert.throws(() => kem.decap(new Uint8Array(1119), sk), CryptoError);
  });
});

test('P-256, P-384 and P-521 orders should equal those of @noble/curves', () => {
  assert.equal(DH_CURVE_ORDERS['P-256'], p256.Point.Fn.ORDER);
  assert.equal(DH_CURVE_ORDERS['P-384'], p384.Point.Fn.ORDER);
  assert.equal(DH_CURVE_ORDERS['P-521'], p521.Point.Fn.ORDER);
});

describe('groups', () => {
  for (const name of NODE_MLS_SUITES) {
    test(`should exchange messages in ${name}`, async () => {
      const cs = await impl(name);
      const { alice, bob } = await makeGroup(3, cs);
      assert.deepEqual(await sendAndReceive(alice, bob, te.encode('hello')), te.encode('hello'));
      assert.deepEqual(await sendAndReceive(bob, alice, te.encode('back')), te.encode('back'));
    });
  }
  test('should share a group with members on ts-mls default provider, either way round', async () => {
    const suite = getCiphersuiteFromName('MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519');
    const ours = await nodeMlsCryptoProvider.getCiphersuiteImpl(suite);
    const theirs = await browserMlsCryptoProvider.getCiphersuiteImpl(suite);
    for (const [a, b] of [
      [ours, theirs],
      [theirs, ours],
    ] as const) {
      const { alice, bob } = await makeGroup(4, a, b);
      for (let i = 0; i < 3; i++) {
        assert.deepEqual(await sendAndReceive(alice, bob, te.encode(`m${i}`)), te.encode(`m${i}`));
        assert.deepEqual(await sendAndReceive(bob, alice, te.encode(`r${i}`)), te.encode(`r${i}`));
      }
    }
  });
  test('should refuse suites it does not run with a DependencyError', async () => {
    await assert.rejects(impl('MLS_256_MLKEM768_AES256GCM_SHA384_Ed25519'), DependencyError);
    await assert.rejects(impl('MLS_256_XWING_AES256GCM_SHA512_MLDSA87'), DependencyError);
  });
});

describe('hostile inputs', async () => {
  const cs = await impl('MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519');
  const key = randomBytes(16);
  const nonce = randomBytes(12);
  const sealed = await cs.hpke.encryptAead(key, nonce, te.encode('aad'), te.encode('secret'));

  test('AEAD should reject a flipped bit, a wrong AAD, a short input, bad key and nonce sizes', async () => {
    for (let i = 0; i < sealed.byteLength; i++) {
      const bad = sealed.slice();
      bad[i]! ^= 1;
      await assert.rejects(cs.hpke.decryptAead(key, nonce, te.encode('aad'), bad), CryptoError);
    }
    await assert.rejects(cs.hpke.decryptAead(key, nonce, te.encode('aaD'), sealed), CryptoError);
    await assert.rejects(cs.hpke.decryptAead(key, nonce, undefined, sealed), CryptoError);
    await assert.rejects(cs.hpke.decryptAead(key, nonce, undefined, new Uint8Array(15)), CryptoError);
    await assert.rejects(
      cs.hpke.encryptAead(randomBytes(15), nonce, undefined, new Uint8Array(1)),
      CryptoError,
    );
    await assert.rejects(
      cs.hpke.encryptAead(key, randomBytes(11), undefined, new Uint8Array(1)),
      CryptoError,
    );
  });
  test('HPKE should reject foreign keys, bad sizes, a low-order point and a tampered ciphertext', async () => {
    const { publicKey, privateKey } = await cs.hpke.generateKeyPair();
    const { ct, enc } = await cs.hpke.seal(publicKey, te.encode('pt'), te.encode('info'));
    assert.deepEqual(await cs.hpke.open(privateKey, enc, ct, te.encode('info')), te.encode('pt'));
    await assert.rejects(cs.hpke.open(privateKey, enc, ct, te.encode('inf0')), CryptoError);
    const badEnc = enc.slice();
    badEnc[0]! ^= 1;
    await assert.rejects(cs.hpke.open(privateKey, badEnc, ct, te.encode('info')), CryptoError);
    await assert.rejects(cs.hpke.importPublicKey(new Uint8Array(31)), CryptoError);
    await assert.rejects(cs.hpke.importPrivateKey(new Uint8Array(33)), CryptoError);
    // u = 0 is of small order: the X25519 output is zero, refused (RFC 9180 §7.1.4).
    await assert.rejects(cs.hpke.open(privateKey, new Uint8Array(32), ct, te.encode('info')), CryptoError);
    const foreign = await (
      await browserMlsCryptoProvider.getCiphersuiteImpl(getCiphersuiteFromName(cs.name))
    ).hpke.generateKeyPair();
    await assert.rejects(cs.hpke.seal(foreign.publicKey, te.encode('x'), te.encode('info')), CryptoError);
  });
  test('signatures should verify nothing under a malformed key and reject a malformed signing key', async () => {
    const { signKey, publicKey } = await cs.signature.keygen();
    const sig = await cs.signature.sign(signKey, te.encode('m'));
    assert.equal(await cs.signature.verify(publicKey, te.encode('m'), sig), true);
    assert.equal(await cs.signature.verify(publicKey, te.encode('n'), sig), false);
    assert.equal(await cs.signature.verify(publicKey.subarray(1), te.encode('m'), sig), false);
    assert.equal(await cs.signature.verify(publicKey, te.encode('m'), sig.subarray(1)), false);
    assert.equal(await cs.signature.verify(new Uint8Array(32), te.encode('m'), sig), false);
    await assert.rejects(cs.signature.sign(new Uint8Array(31), te.encode('m')), CryptoError);
    clearMlsKeyCaches();
    assert.equal(await cs.signature.verify(publicKey, te.encode('m'), sig), true);
  });
  test('should sign with the new key when the last key bytes were overwritten in place', async () => {
    const a = await cs.signature.keygen();
    const b = await cs.signature.keygen();
    const held = a.signKey.slice();
    assert.equal(
      await cs.signature.verify(a.publicKey, te.encode('m'), await cs.signature.sign(held, te.encode('m'))),
      true,
    );
    held.set(b.signKey); // as when ts-mls wipes and a buffer is reused
    const sig = await cs.signature.sign(held, te.encode('m'));
    assert.equal(await cs.signature.verify(b.publicKey, te.encode('m'), sig), true);
    assert.equal(await cs.signature.verify(a.publicKey, te.encode('m'), sig), false);
    held.fill(0); // any 32 bytes are an Ed25519 seed: a signature, but by neither key
    const sig0 = await cs.signature.sign(held, te.encode('m'));
    assert.equal(await cs.signature.verify(b.publicKey, te.encode('m'), sig0), false);
  });
  test('should verify under the new key when the last public key bytes were overwritten in place', async () => {
    const a = await cs.signature.keygen();
    const b = await cs.signature.keygen();
    const sigB = await cs.signature.sign(b.signKey, te.encode('m'));
    const held = a.publicKey.slice();
    assert.equal(await cs.signature.verify(held, te.encode('m'), sigB), false);
    held.set(b.publicKey);
    assert.equal(await cs.signature.verify(held, te.encode('m'), sigB), true);
  });
  test('should accept the PKCS#8 Ed25519 keys of ts-mls default provider', async () => {
    const theirs = await (
      await browserMlsCryptoProvider.getCiphersuiteImpl(getCiphersuiteFromName(cs.name))
    ).signature.keygen();
    assert.equal(theirs.signKey.byteLength, 48);
    const sig = await cs.signature.sign(theirs.signKey, te.encode('m'));
    assert.equal(await cs.signature.verify(theirs.publicKey, te.encode('m'), sig), true);
  });
});
