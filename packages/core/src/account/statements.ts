/**
 * The byte strings devices and account keys sign. Each starts with its own label (domain
 * separation: a signature made for one purpose never verifies for another) and binds the fresh
 * single-use server challenge (nothing replayable) and the audience, the server host the client
 * dialed (a signature obtained by a relaying server is useless at another server).
 */
import { Writer } from '../codec/writer.ts';
import { LIMITS } from '../limits.ts';
import type { CryptoProvider } from '../crypto/provider.ts';
import type { Username } from './username.ts';

export const STATEMENT_LABELS = {
  wsAuth: 'sealpost/v1/ws-auth',
  accountCreate: 'sealpost/v1/account-create',
  deviceAdd: 'sealpost/v1/device-add',
  deviceRemove: 'sealpost/v1/device-remove',
  accountRecover: 'sealpost/v1/account-recover',
  blobAccess: 'sealpost/v1/blob-access',
} as const;

const DEVICE_ID_LABEL = new TextEncoder().encode('sealpost/v1/device-id');

/** A device id is derived from its key: the first LIMITS.deviceIdBytes of SHA-256(label || key). */
export function deviceIdOf(crypto: CryptoProvider, devicePublicKey: Uint8Array): Uint8Array {
  const input = new Uint8Array(DEVICE_ID_LABEL.length + devicePublicKey.length);
  input.set(DEVICE_ID_LABEL);
  input.set(devicePublicKey, DEVICE_ID_LABEL.length);
  return crypto.sha256(input).slice(0, LIMITS.deviceIdBytes);
}

function head(label: string, challenge: Uint8Array, audience: string): Writer {
  return new Writer().string(label).opaque(challenge).string(audience);
}

/** Signed by the device key to open a WebSocket session. */
export function wsAuthStatement(
  challenge: Uint8Array,
  audience: string,
  username: Username,
  deviceId: Uint8Array,
): Uint8Array {
  return head(STATEMENT_LABELS.wsAuth, challenge, audience).string(username).opaque(deviceId).finish();
}

/** Signed by the new account key *and* by the first device key (proof of possession of both). */
export function accountCreateStatement(
  challenge: Uint8Array,
  audience: string,
  username: Username,
  accountKey: Uint8Array,
  deviceKey: Uint8Array,
): Uint8Array {
  return head(STATEMENT_LABELS.accountCreate, challenge, audience)
    .string(username)
    .opaque(accountKey)
    .opaque(deviceKey)
    .finish();
}

/** Signed by the account key (authorisation) and by the new device key (possession). */
export function deviceAddStatement(
  challenge: Uint8Array,
  audience: string,
  username: Username,
  deviceKey: Uint8Array,
): Uint8Array {
  return head(STATEMENT_LABELS.deviceAdd, challenge, audience).string(username).opaque(deviceKey).finish();
}

/** Signed by the account key. */
export function deviceRemoveStatement(
  challenge: Uint8Array,
  audience: string,
  username: Username,
  deviceId: Uint8Array,
): Uint8Array {
  return head(STATEMENT_LABELS.deviceRemove, challenge, audience).string(username).opaque(deviceId).finish();
}

/**
 * Signed by the new account key *and* the new device key to recover an account whose devices were
 * all lost (docs/identity.md "Recovery"): `deviceListHash` names the list, signed by the new
 * account key and carrying a rotation signed by the recovery key, that the request installs.
 */
export function accountRecoverStatement(
  challenge: Uint8Array,
  audience: string,
  username: Username,
  deviceListHash: Uint8Array,
  deviceKey: Uint8Array,
): Uint8Array {
  return head(STATEMENT_LABELS.accountRecover, challenge, audience)
    .string(username)
    .opaque(deviceListHash)
    .opaque(deviceKey)
    .finish();
}

/**
 * Signed by a device key to make one request to its account's backup blob store: `method` is the
 * HTTP method and `name` the blob's name (empty for a listing), so a signature authorises that one
 * operation on that one blob. A PUT needs no body hash here: the name is the body's SHA-256.
 */
export function blobAccessStatement(
  challenge: Uint8Array,
  audience: string,
  username: Username,
  deviceId: Uint8Array,
  method: 'GET' | 'PUT' | 'DELETE',
  name: Uint8Array,
): Uint8Array {
  return head(STATEMENT_LABELS.blobAccess, challenge, audience)
    .string(username)
    .opaque(deviceId)
    .string(method)
    .opaque(name)
    .finish();
}
