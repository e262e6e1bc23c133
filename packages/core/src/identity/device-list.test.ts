import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { nodeCryptoProvider as crypto } from '../../node/crypto-provider.ts';
import { CodecError, SealpostError, ValidationError } from '../errors.ts';
import { Reader } from '../codec/reader.ts';
import { LIMITS } from '../limits.ts';
import { toHex } from '../bytes/encoding.ts';
import { deviceIdOf } from '../account/statements.ts';
import { parseUsername } from '../account/username.ts';
import { decodeRotation } from './account-key-chain.ts';
import {
  FIRST_LIST_PREVIOUS_HASH,
  acceptDeviceList,
  decodeDeviceList,
  deviceListHash,
  encodeDeviceList,
  signDeviceList,
  type Device,
  type DeviceListContent,
} from './device-list.ts';

const seedOf = (n: number) => new Uint8Array(32).fill(n);
const accountSeed = seedOf(1);
function deviceOf(n: number, mls = new Uint8Array(0)): Device {
  const signatureKey = crypto.ed25519.publicKey(seedOf(100 + n));
  return {
    deviceId: deviceIdOf(crypto, signatureKey),
    signatureKey,
    mlsCredentialKey: mls,
    addedAtDay: 20_000 + n,
  };
}
const sorted = (ds: Device[]) => ds.sort((a, b) => toHex(a.deviceId).localeCompare(toHex(b.deviceId)));
const first: DeviceListContent = {
  username: parseUsername('alice'),
  version: 1,
  accountKey: crypto.ed25519.publicKey(accountSeed),
  recoveryKey: crypto.ed25519.publicKey(seedOf(2)),
  previousHash: FIRST_LIST_PREVIOUS_HASH,
  devices: [deviceOf(1)],
};

describe('signed device list encoding', () => {
  test('round-trips every field, with the full number of devices and the largest MLS keys', () => {
    const devices = sorted(
      Array.from({ length: LIMITS.devicesPerAccount }, (_, i) =>
        deviceOf(i, new Uint8Array(LIMITS.identityMlsKeyMaxBytes).fill(i)),
      ),
    );
    const encoded = signDeviceList(crypto, { ...first, devices }, accountSeed);
    assert.ok(encoded.length <= LIMITS.identityDeviceListMaxBytes);
    const list = decodeDeviceList(encoded);
    assert.deepEqual(
      { ...list, signature: undefined },
      { ...first, devices, rotation: undefined, signature: undefined },
    );
    assert.deepEqual(encodeDeviceList(list), encoded);
  });

  test('signDeviceList refuses a seed that is not the account key', () =>
    assert.throws(() => signDeviceList(crypto, first, seedOf(3)), ValidationError));

  test('signDeviceList refuses devices a client would refuse', () => {
    const two = sorted([deviceOf(1), deviceOf(2)]);
    const cases: [Device[], string][] = [
      [[...two].reverse(), 'IDENTITY_DEVICES_UNSORTED'],
      [[two[0] as Device, two[0] as Device], 'IDENTITY_DEVICE_DUPLICATE'],
      [
        [{ ...(two[0] as Device), signatureKey: (two[1] as Device).signatureKey }],
        'IDENTITY_DEVICE_ID_MISMATCH',
      ],
    ];
    for (const [devices, code] of cases) {
      assert.throws(
        () => signDeviceList(crypto, { ...first, devices }, accountSeed),
        (e: unknown) => e instanceof ValidationError && e.code === code,
      );
    }
  });

  test('the hash changes with any byte of the list', () => {
    const encoded = signDeviceList(crypto, first, accountSeed);
    const other = signDeviceList(crypto, { ...first, version: 2 }, accountSeed);
    assert.notDeepEqual(deviceListHash(crypto, encoded), deviceListHash(crypto, other));
    assert.notDeepEqual(deviceListHash(crypto, encoded), crypto.sha256(encoded));
  });
});

describe('acceptDeviceList', () => {
  const l1 = signDeviceList(crypto, first, accountSeed);
  const a1 = acceptDeviceList(crypto, undefined, l1);

  test('accepts a successor that names its hash and raises the version', () => {
    const l2 = signDeviceList(
      crypto,
      { ...first, version: 7, previousHash: a1.hash, devices: sorted([deviceOf(1), deviceOf(2)]) },
      accountSeed,
    );
    assert.equal(acceptDeviceList(crypto, a1, l2).list.devices.length, 2);
  });

  test('refuses a `last` it did not make (a forged accepted list)', () =>
    assert.throws(
      () => acceptDeviceList(crypto, { list: a1.list, hash: a1.hash } as never, l1),
      (e: unknown) => e instanceof ValidationError && e.code === 'VALIDATION_FAILED',
    ));

  test('returns a frozen list', () => {
    assert.ok(Object.isFrozen(a1) && Object.isFrozen(a1.list) && Object.isFrozen(a1.list.devices));
  });
});

describe('decoders are total', () => {
  test('random bytes into decodeDeviceList give a list or a CodecError', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 600 }), (bytes) => {
        try {
          decodeDeviceList(bytes);
        } catch (e) {
          assert.ok(e instanceof CodecError, String(e));
        }
      }),
      { numRuns: 3000 },
    );
  });

  test('a valid prefix followed by random bytes into decodeDeviceList gives a list or a CodecError', () => {
    const valid = signDeviceList(
      crypto,
      { ...first, devices: sorted([deviceOf(1), deviceOf(2)]) },
      accountSeed,
    );
    fc.assert(
      fc.property(fc.nat({ max: valid.length }), fc.uint8Array({ maxLength: 200 }), (cut, tail) => {
        const bytes = new Uint8Array([...valid.subarray(0, cut), ...tail]);
        try {
          decodeDeviceList(bytes);
        } catch (e) {
          assert.ok(e instanceof CodecError, String(e));
        }
      }),
      { numRuns: 3000 },
    );
  });

  test('random bytes into decodeRotation give a rotation or a CodecError', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 80 }), (bytes) => {
        try {
          decodeRotation(new Reader(bytes, 80));
        } catch (e) {
          assert.ok(e instanceof CodecError, String(e));
        }
      }),
      { numRuns: 2000 },
    );
  });

  test('a valid list with random bytes changed gives typed errors only, from decode and from accept', () => {
    const l1 = signDeviceList(crypto, first, accountSeed);
    const a1 = acceptDeviceList(crypto, undefined, l1);
    const l2 = signDeviceList(crypto, { ...first, version: 2, previousHash: a1.hash }, accountSeed);
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.nat({ max: l2.length - 1 }), fc.integer({ min: 1, max: 255 })), {
          minLength: 1,
          maxLength: 4,
        }),
        (edits) => {
          const bytes = l2.slice();
          for (const [i, x] of edits) bytes[i] = (bytes[i] as number) ^ x;
          // Any change to the signed bytes or the signature must be refused.
          assert.throws(
            () => acceptDeviceList(crypto, a1, bytes),
            (e: unknown) => e instanceof SealpostError,
          );
        },
      ),
      { numRuns: 500 },
    );
  });
});
