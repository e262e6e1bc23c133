/**
 * Runs the identity vectors (packages/core/test/vectors/identity) with both crypto providers: the
 * valid chain must be accepted list by list, and every negative vector rejected with exactly the
 * typed error it names.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { nodeCryptoProvider } from '../../node/crypto-provider.ts';
import { nobleCryptoProvider } from '../crypto/noble-provider.ts';
import { SealpostError } from '../errors.ts';
import { fromHex, toHex } from '../bytes/encoding.ts';
import { acceptDeviceList, type AcceptedDeviceList } from './device-list.ts';
import { parseRecoveryCode, recoveryCodeOf, recoverySigningKey } from './recovery-key.ts';
import { safetyCode, safetyCodeHalf } from './safety-code.ts';

const DIR = new URL('../../test/vectors/identity/', import.meta.url);
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- vectors are JSON data, checked by use
const load = (name: string): any => JSON.parse(readFileSync(new URL(name, DIR), 'utf8'));
const hex = (s: string) => fromHex(s, 1 << 20);

const chain = load('chain.json');
const recoveryCodes = load('recovery-code.json');
const safetyCodes = load('safety-code.json');
const negatives = readdirSync(new URL('negative/', DIR))
  .filter((f) => f.endsWith('.json'))
  .map((f) => ({ file: f, ...load(`negative/${f}`) }));

for (const crypto of [nodeCryptoProvider, nobleCryptoProvider]) {
  describe(`identity vectors with the ${crypto.name} provider`, () => {
    test('accepts the valid chain list by list, with the listed versions, keys and hashes', () => {
      let last: AcceptedDeviceList | undefined;
      for (const v of chain.lists) {
        last = acceptDeviceList(crypto, last, hex(v.encoded));
        assert.equal(last.list.version, v.version, v.name);
        assert.equal(toHex(last.list.accountKey), v.accountKey, v.name);
        assert.deepEqual(
          last.list.devices.map((d) => toHex(d.deviceId)),
          v.deviceIds,
          v.name,
        );
        assert.equal(last.list.rotation?.signer ?? null, v.rotationSigner, v.name);
        assert.equal(toHex(last.hash), v.hash, v.name);
        assert.equal(toHex(last.list.recoveryKey), chain.recoveryPublicKey);
      }
    });

    test('accepts any list of the chain as the first one seen', () => {
      for (const v of chain.lists)
        assert.equal(acceptDeviceList(crypto, undefined, hex(v.encoded)).list.version, v.version);
    });

    test('the recovery public key is derived from the recovery secret', () =>
      assert.equal(
        toHex(recoverySigningKey(crypto, hex(chain.recoverySecret)).publicKey),
        chain.recoveryPublicKey,
      ));

    test(`rejects all ${negatives.length} negative vectors with the typed error each names`, () => {
      assert.ok(negatives.length >= 20);
      for (const v of negatives) {
        let last: AcceptedDeviceList | undefined;
        for (const a of v.accepted) last = acceptDeviceList(crypto, last, hex(a));
        assert.throws(
          () => acceptDeviceList(crypto, last, hex(v.list)),
          (e: unknown) => e instanceof SealpostError && e.code === v.wantErr,
          `${v.file}: ${v.description}`,
        );
      }
    });

    test('recovery codes: encode, parse and derive the listed keys', () => {
      for (const v of recoveryCodes.valid) {
        assert.equal(recoveryCodeOf(crypto, hex(v.secret)), v.code);
        assert.equal(toHex(parseRecoveryCode(crypto, v.code)), v.secret);
        assert.equal(toHex(recoverySigningKey(crypto, hex(v.secret)).publicKey), v.signingPublicKey);
      }
      for (const v of recoveryCodes.equivalent)
        assert.equal(toHex(parseRecoveryCode(crypto, v.code)), v.secret, v.name);
      for (const v of recoveryCodes.invalid) {
        assert.throws(
          () => parseRecoveryCode(crypto, v.code),
          (e: unknown) => e instanceof SealpostError && e.code === v.wantErr,
          v.name,
        );
      }
    });

    test('safety codes: both halves and the code, in both orders', () => {
      for (const v of safetyCodes.cases) {
        const a = { username: v.a.username, accountKey: hex(v.a.accountKey) };
        const b = { username: v.b.username, accountKey: hex(v.b.accountKey) };
        assert.equal(safetyCodeHalf(crypto, a), v.a.half);
        assert.equal(safetyCodeHalf(crypto, b), v.b.half);
        assert.equal(safetyCode(crypto, a, b), v.code);
        assert.equal(safetyCode(crypto, b, a), v.code);
      }
    });
  });
}
