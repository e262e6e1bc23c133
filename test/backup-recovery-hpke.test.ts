/**
 * Core's HPKE (packages/core/src/crypto/hpke.ts, which seals backup recovery key files) against a
 * second RFC 9180 implementation written separately: the MLS provider's (packages/client/node/
 * mls-hpke.ts, checked against the MLS test vectors). Each opens what the other seals.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { nobleCryptoProvider } from '@sealpost/core';
import { nodeCryptoProvider } from '@sealpost/core/node';
import { hpkeOpen, hpkeSeal } from '../packages/core/src/crypto/hpke.ts';
import { makeNodeHpke } from '../packages/client/node/mls-hpke.ts';

const utf8 = new TextEncoder();
const other = makeNodeHpke({ kem: 'DHKEM-X25519-HKDF-SHA256', kdf: 'HKDF-SHA256', aead: 'AES256GCM' });
const info = utf8.encode('sealpost/backup/v1/recovery-key-file');
const aad = utf8.encode('header bytes');

for (const crypto of [nodeCryptoProvider, nobleCryptoProvider]) {
  test(`the MLS provider's HPKE opens what core seals (${crypto.name}), and core opens what it seals`, async () => {
    for (let i = 0; i < 8; i++) {
      const skR = crypto.randomBytes(32);
      const pkR = crypto.x25519.publicKey(skR);
      const message = crypto.randomBytes(32);

      const ours = hpkeSeal(crypto, pkR, info, aad, message);
      const privateKey = await other.importPrivateKey(skR);
      assert.deepEqual(await other.open(privateKey, ours.enc, ours.ct, info, aad), message);

      const theirs = await other.seal(await other.importPublicKey(pkR), message, info, aad);
      assert.deepEqual(hpkeOpen(crypto, skR, theirs.enc, info, aad, theirs.ct), message);
    }
  });
}
