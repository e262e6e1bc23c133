/**
 * X-Wing (draft-connolly-cfrg-xwing-kem-07), the hybrid post-quantum KEM of ts-mls's suites 83 and
 * 84, on `node:crypto`: ML-KEM-768 and X25519, both in OpenSSL 3.5 (Node 24), joined by SHA3-256.
 * Built on the KEM interface and key handles of mls-kem.ts.
 */
import type { Buffer } from 'node:buffer';
import {
  createHash,
  createPublicKey,
  decapsulate,
  diffieHellman,
  encapsulate,
  generateKeyPairSync,
  randomFillSync,
} from 'node:crypto';
import { plain } from './mls-kdf.ts';
import {
  concat,
  DER,
  fail,
  fromDer,
  type Kem,
  type KemKeyPair,
  type KemPrivateKey,
  type KemPublicKey,
  publicKeys,
  rawPublic,
} from './mls-kem.ts';
import { publicCacheKey } from './mls-key-cache.ts';

/**
 * X-Wing, draft-connolly-cfrg-xwing-kem-07 §5 and its HPKE use (KEM id 0x647A):
 *   expandDecapsulationKey(sk): expanded = SHAKE256(sk, 96);
 *     (pk_M, sk_M) = ML-KEM-768.KeyGen_internal(expanded[0:32], expanded[32:64]);
 *     sk_X = expanded[64:96]; pk_X = X25519(sk_X, 9)
 *   Combiner(ss_M, ss_X, ct_X, pk_X) = SHA3-256(ss_M || ss_X || ct_X || pk_X || XWingLabel)
 *   DeriveKeyPair(ikm): sk = SHAKE256(ikm, 32)
 * The same choices as @hpke/hybridkem-x-wing and @noble/post-quantum (checked in the tests).
 */
const XWING_LABEL = Uint8Array.of(0x5c, 0x2e, 0x2f, 0x2f, 0x5e, 0x5c); // "\.//^\"
const MLKEM768_PK = 1184;
const MLKEM768_CT = 1088;

export function xwingKem(): Kem {
  const name = 'X-Wing';
  function importPublicKey(raw: Uint8Array): KemPublicKey {
    if (raw.byteLength !== MLKEM768_PK + 32) fail(name, `public key of ${raw.byteLength} bytes`);
    return publicKeys.getOrSet(publicCacheKey(name, raw), () => {
      try {
        return {
          type: 'public',
          kemId: 0x647a,
          raw: raw.slice(),
          pq: fromDer(DER['ML-KEM-768'], raw.subarray(0, MLKEM768_PK), 'public'),
          key: fromDer(DER.X25519, raw.subarray(MLKEM768_PK), 'public'),
        };
      } catch {
        fail(name, 'invalid public key');
      }
    });
  }
  function importPrivateKey(raw: Uint8Array): KemPrivateKey {
    if (raw.byteLength !== 32) fail(name, `private key of ${raw.byteLength} bytes, expected 32`);
    const expanded = createHash('shake256', { outputLength: 96 }).update(raw).digest();
    const pq = fromDer(DER['ML-KEM-768'], expanded.subarray(0, 64), 'private');
    const key = fromDer(DER.X25519, expanded.subarray(64), 'private');
    expanded.fill(0);
    const pkRaw = concat(rawPublic(createPublicKey(pq), MLKEM768_PK), rawPublic(createPublicKey(key), 32));
    return { type: 'private', kemId: 0x647a, raw: raw.slice(), key, pq, publicKey: importPublicKey(pkRaw) };
  }
  function combine(ssM: Uint8Array, ssX: Uint8Array, ctX: Uint8Array, pkX: Uint8Array): Uint8Array {
    const ss = plain(
      createHash('sha3-256').update(ssM).update(ssX).update(ctX).update(pkX).update(XWING_LABEL).digest(),
    );
    ssM.fill(0);
    ssX.fill(0);
    return ss;
  }
  function fromSeed(sk: Uint8Array): KemKeyPair {
    const privateKey = importPrivateKey(sk);
    sk.fill(0);
    return { privateKey, publicKey: privateKey.publicKey };
  }
  return {
    id: 0x647a,
    name,
    secretSize: 32,
    encSize: MLKEM768_CT + 32,
    publicKeySize: MLKEM768_PK + 32,
    privateKeySize: 32,
    importPublicKey,
    importPrivateKey,
    generateKeyPair: () => fromSeed(randomFillSync(new Uint8Array(32))),
    deriveKeyPair: (ikm) =>
      fromSeed(plain(createHash('shake256', { outputLength: 32 }).update(ikm).digest())),
    encap(pk) {
      const m = encapsulate(pk.pq!);
      const eph = generateKeyPairSync('x25519');
      const ctX = rawPublic(eph.publicKey, 32);
      const ssX = plain(diffieHellman({ privateKey: eph.privateKey, publicKey: pk.key }));
      const pkX = pk.raw.subarray(MLKEM768_PK);
      return { sharedSecret: combine(plain(m.sharedKey), ssX, ctX, pkX), enc: concat(m.ciphertext, ctX) };
    },
    decap(enc, sk) {
      if (enc.byteLength !== MLKEM768_CT + 32) fail(name, `encapsulation of ${enc.byteLength} bytes`);
      const ctX = enc.subarray(MLKEM768_CT);
      let ssM: Buffer, ssX: Buffer;
      try {
        ssM = decapsulate(sk.pq!, enc.subarray(0, MLKEM768_CT));
        ssX = diffieHellman({ privateKey: sk.key, publicKey: fromDer(DER.X25519, ctX, 'public') });
      } catch {
        fail(name, 'decapsulation failed');
      }
      return combine(plain(ssM), plain(ssX), ctX, sk.publicKey.raw.subarray(MLKEM768_PK));
    },
  };
}
