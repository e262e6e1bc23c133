/**
 * The device list that takes back an account whose devices were all lost (docs/identity.md
 * "Recovery"): the next list after the newest one the directory proved, with a new account key,
 * exactly one new device, and an account-key rotation signed by the recovery key that the recovery
 * code derives (`recoverySigningKey`). The server's recovery endpoint installs it
 * (`ServerApi.recoverAccount`); every client accepts it by rule 5 of `acceptDeviceList`.
 */
import { ValidationError, deviceIdOf, equalPublicBytes, type CryptoProvider } from '@sealpost/core';
import { ROTATION_SIGNER, signRotation } from '@sealpost/core/identity/account-key-chain';
import { deviceListHash, encodeDeviceList, signDeviceList } from '@sealpost/core/identity/device-list';
import type { VerifiedDeviceList } from './directory-client.ts';
import { UnexpectedVersionAlert } from './directory-errors.ts';

/**
 * Precondition: `current` is the newest list the directory proved for the account (as for
 * `nextDeviceList`, a list off its label version is refused with `UnexpectedVersionAlert`).
 * `recoverySeed` must be the seed of the recovery key the chain committed:
 * IDENTITY_RECOVERY_CODE_INVALID otherwise (a code of another account), before anything is signed.
 */
export function recoveryDeviceList(
  crypto: CryptoProvider,
  current: Pick<VerifiedDeviceList, 'username' | 'version' | 'list'>,
  args: {
    readonly recoverySeed: Uint8Array;
    readonly accountSeed: Uint8Array;
    readonly deviceKey: Uint8Array;
    readonly day: number;
  },
): Uint8Array {
  if (current.list.version !== current.version) {
    throw new UnexpectedVersionAlert(current.username, [current.version]);
  }
  if (!equalPublicBytes(crypto.ed25519.publicKey(args.recoverySeed), current.list.recoveryKey)) {
    throw new ValidationError(
      'IDENTITY_RECOVERY_CODE_INVALID',
      `the recovery code is not the one ${current.username} committed`,
    );
  }
  const previousHash = deviceListHash(crypto, encodeDeviceList(current.list));
  const accountKey = crypto.ed25519.publicKey(args.accountSeed);
  const rotation = signRotation(
    crypto,
    {
      username: current.username,
      previousListHash: previousHash,
      previousAccountKey: current.list.accountKey,
      newAccountKey: accountKey,
    },
    ROTATION_SIGNER.recoveryKey,
    args.recoverySeed,
  );
  return signDeviceList(
    crypto,
    {
      username: current.username,
      version: current.version + 1,
      accountKey,
      recoveryKey: current.list.recoveryKey,
      previousHash,
      devices: [
        {
          deviceId: deviceIdOf(crypto, args.deviceKey),
          signatureKey: args.deviceKey,
          mlsCredentialKey: new Uint8Array(0),
          addedAtDay: args.day,
        },
      ],
      rotation,
    },
    args.accountSeed,
  );
}
