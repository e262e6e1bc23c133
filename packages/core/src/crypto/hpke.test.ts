// Tests run under Node: node:test and node:assert are the only node:* imports, and only here.
// Interoperability with a second, independent RFC 9180 implementation (the MLS provider's, on
// node:crypto) is checked in test/backup-recovery-hpke.test.ts: core may not import it.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { nodeCryptoProvider } from '../../node/crypto-provider.ts';
import { nobleCryptoProvider } from './noble-provider.ts';
import { hpkeOpen, hpkeSeal } from './hpke.ts';
import { SealpostError } from '../errors.ts';

const utf8 = new TextEncoder();
const skR = new Uint8Array(32).fill(0x11);
const pkR = nodeCryptoProvider.x25519.publicKey(skR);
const info = utf8.encode('info');
const aad = utf8.encode('aad');
const message = utf8.encode('thirty-two bytes of master key!!');

const failsVerification = (e: unknown) =>
  e instanceof SealpostError && e.code === 'CRYPTO_VERIFICATION_FAILED';

describe('HPKE base mode, X25519 / HKDF-SHA256 / AES-256-GCM', () => {
  test('node:crypto and noble seal identically for one ephemeral key, and each opens the other', () => {
    const a = hpkeSeal(nodeCryptoProvider, pkR, info, aad, message, new Uint8Array(32).fill(7));
    const b = hpkeSeal(nobleCryptoProvider, pkR, info, aad, message, new Uint8Array(32).fill(7));
    assert.deepEqual(a, b);
    assert.equal(a.ct.length, message.length + 16);
    assert.deepEqual(hpkeOpen(nobleCryptoProvider, skR, a.enc, info, aad, a.ct), message);
    assert.deepEqual(hpkeOpen(nodeCryptoProvider, skR, b.enc, info, aad, b.ct), message);
  });

  test('a fresh ephemeral key by default: two seals of one message differ', () => {
    const a = hpkeSeal(nodeCryptoProvider, pkR, info, aad, message);
    const b = hpkeSeal(nodeCryptoProvider, pkR, info, aad, message);
    assert.notDeepEqual(a.enc, b.enc);
    assert.notDeepEqual(a.ct, b.ct);
  });

  test('wipes the ephemeral key it was given', () => {
    const ephemeral = new Uint8Array(32).fill(9);
    hpkeSeal(nodeCryptoProvider, pkR, info, aad, message, ephemeral);
    assert.deepEqual(ephemeral, new Uint8Array(32));
  });

  test('refuses another key, info, aad, enc, or a flipped ciphertext bit, all as CRYPTO_VERIFICATION_FAILED', () => {
    const { enc, ct } = hpkeSeal(nodeCryptoProvider, pkR, info, aad, message);
    const flip = (b: Uint8Array, at: number) => {
      const out = b.slice();
      out[at]! ^= 1;
      return out;
    };
    const cases: [string, () => unknown][] = [
      [
        'another private key',
        () => hpkeOpen(nodeCryptoProvider, new Uint8Array(32).fill(2), enc, info, aad, ct),
      ],
      ['another info', () => hpkeOpen(nodeCryptoProvider, skR, enc, utf8.encode('other'), aad, ct)],
      ['another aad', () => hpkeOpen(nodeCryptoProvider, skR, enc, info, utf8.encode('other'), ct)],
      ['a flipped enc bit', () => hpkeOpen(nodeCryptoProvider, skR, flip(enc, 3), info, aad, ct)],
      ['a flipped ciphertext bit', () => hpkeOpen(nodeCryptoProvider, skR, enc, info, aad, flip(ct, 0))],
      ['a flipped tag bit', () => hpkeOpen(nodeCryptoProvider, skR, enc, info, aad, flip(ct, ct.length - 1))],
      // RFC 7748 §6.1: the all-zero point gives an all-zero DH output, which RFC 9180 §7.1.4 refuses.
      ['a small-order enc', () => hpkeOpen(nobleCryptoProvider, skR, new Uint8Array(32), info, aad, ct)],
    ];
    for (const [what, run] of cases) assert.throws(run, failsVerification, what);
  });

  test('refuses keys of the wrong length before any cryptography', () => {
    const invalid = (e: unknown) => e instanceof SealpostError && e.code === 'VALIDATION_FAILED';
    assert.throws(() => hpkeSeal(nodeCryptoProvider, pkR.subarray(1), info, aad, message), invalid);
    assert.throws(() => hpkeOpen(nodeCryptoProvider, skR, new Uint8Array(31), info, aad, message), invalid);
  });
});
