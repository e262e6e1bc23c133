/**
 * Signed device lists for tests of the key-transparency directory: one device per account, each
 * `next()` a new version chained to the previous list and signed with the account key (or with
 * another seed and key, to make a list the directory must refuse).
 */
import { deviceIdOf, type Username } from '@sealpost/core';
import {
  FIRST_LIST_PREVIOUS_HASH,
  deviceListHash,
  signDeviceList,
  type Device,
} from '@sealpost/core/identity/device-list';
import { crypto, type TestDevice } from './harness.ts';

export function deviceOf(seed: Uint8Array): Device {
  const signatureKey = crypto.ed25519.publicKey(seed);
  return {
    deviceId: deviceIdOf(crypto, signatureKey),
    signatureKey,
    mlsCredentialKey: new Uint8Array(0),
    addedAtDay: 20_000,
  };
}

/** The account's chain of device lists, signed with its account key. */
export function chainOf(d: TestDevice) {
  const recoveryKey = crypto.ed25519.publicKey(crypto.randomBytes(32));
  const accountKey = crypto.ed25519.publicKey(d.accountSeed);
  let previousHash = FIRST_LIST_PREVIOUS_HASH;
  let version = 0;
  const devices: Device[] = [deviceOf(d.deviceSeed)];
  return {
    next(seed = d.accountSeed, key = accountKey): Uint8Array {
      version += 1;
      const list = signDeviceList(
        crypto,
        { username: d.username as Username, version, accountKey: key, recoveryKey, previousHash, devices },
        seed,
      );
      previousHash = deviceListHash(crypto, list);
      return list;
    },
  };
}
