/**
 * Who a group member is: a device, named in its MLS credential by (username, device id), and
 * trusted only when the `DeviceDirectory` lists that device with that signature key
 * (DESIGN.md "Conversations").
 *
 * Credential identity bytes (a `basic` credential, RFC 9420 §5.3):
 *   u8 length | username (UTF-8) | u8 length | device id (UTF-8)
 * Both lengths are at most `CONVERSATION_LIMITS.credentialFieldBytes`; nothing may follow.
 */
import type { AuthenticationService, Credential } from 'ts-mls';
import { CONVERSATION_LIMITS } from './limits.ts';

export interface DeviceRef {
  readonly username: string;
  readonly deviceId: string;
}

/** One device as the directory lists it. */
export interface ListedDevice {
  readonly deviceId: string;
  /** The device's MLS signature public key, as in its credential's leaf node. */
  readonly credentialKey: Uint8Array;
}

/** A listed device with a KeyPackage to add it with. */
export interface DirectoryDevice extends ListedDevice {
  /** One MLS-encoded KeyPackage (`mls_key_package` wireformat) of that device, consumed by an Add. */
  readonly keyPackage: Uint8Array;
}

/**
 * The verified list of a user's devices. The directory layer (key transparency, another issue)
 * verifies it before answering; this layer trusts it and nothing else.
 *
 * Two questions, because KeyPackages are claimed (used up) where the server stores them:
 * `devicesOf` is asked for every leaf checked and must not consume anything; `addableDevicesOf`
 * only when adding, and may take one KeyPackage per device it is asked about.
 */
export interface DeviceDirectory {
  devicesOf(username: string): Promise<readonly ListedDevice[]>;
  /**
   * The user's listed devices that have a KeyPackage, each with one (consumed by an Add); with
   * `deviceIds`, only those of them, and no KeyPackage of any other device is used up.
   */
  addableDevicesOf(username: string, deviceIds?: readonly string[]): Promise<readonly DirectoryDevice[]>;
}

const te = new TextEncoder();
const td = new TextDecoder('utf-8', { fatal: true });

export function deviceKey(d: DeviceRef): string {
  return `${d.username}/${d.deviceId}`;
}

export function encodeDeviceIdentity(d: DeviceRef): Uint8Array {
  const u = te.encode(d.username);
  const id = te.encode(d.deviceId);
  const max = CONVERSATION_LIMITS.credentialFieldBytes;
  if (u.byteLength === 0 || u.byteLength > max || id.byteLength === 0 || id.byteLength > max) {
    throw new RangeError(`credential fields must be 1..${max} bytes`);
  }
  const out = new Uint8Array(2 + u.byteLength + id.byteLength);
  out[0] = u.byteLength;
  out.set(u, 1);
  out[1 + u.byteLength] = id.byteLength;
  out.set(id, 2 + u.byteLength);
  return out;
}

/** Total: undefined for anything that is not exactly one well-formed identity. */
export function decodeDeviceIdentity(bytes: Uint8Array): DeviceRef | undefined {
  const ulen = bytes[0];
  if (ulen === undefined || ulen === 0) return undefined;
  const idlen = bytes[1 + ulen];
  if (idlen === undefined || idlen === 0 || bytes.byteLength !== 2 + ulen + idlen) return undefined;
  try {
    return {
      username: td.decode(bytes.subarray(1, 1 + ulen)),
      deviceId: td.decode(bytes.subarray(2 + ulen)),
    };
  } catch {
    return undefined;
  }
}

export function deviceCredential(d: DeviceRef): Credential {
  return { credentialType: 'basic', identity: encodeDeviceIdentity(d) };
}

export function deviceOfCredential(c: Credential): DeviceRef | undefined {
  return c.credentialType === 'basic' ? decodeDeviceIdentity(c.identity) : undefined;
}

function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.byteLength !== b.byteLength) return false;
  let diff = 0;
  for (let i = 0; i < a.byteLength; i++) diff |= a[i]! ^ b[i]!;
  return diff === 0;
}

/**
 * A ts-mls `AuthenticationService` that accepts a credential only when the directory lists that
 * (username, device id) with that signature key. ts-mls calls it for every leaf it takes in: an
 * Add's KeyPackage, a commit's UpdatePath leaf, an Update, every leaf of a Welcome's tree
 * (RFC 9420 §5.3.1 leaves this check to the application).
 *
 * `refused` records what was refused, so the caller can turn ts-mls's generic ValidationError
 * into `CONVERSATION_UNKNOWN_DEVICE` naming the device.
 */
export function directoryAuthService(
  directory: Pick<DeviceDirectory, 'devicesOf'>,
  refused: DeviceRef[] = [],
): AuthenticationService & { readonly refused: DeviceRef[] } {
  return {
    refused,
    async validateCredential(credential, signaturePublicKey) {
      const who = deviceOfCredential(credential);
      if (who === undefined) {
        refused.push({ username: '?', deviceId: '?' });
        return false;
      }
      let listed: readonly ListedDevice[];
      try {
        listed = await directory.devicesOf(who.username);
      } catch {
        listed = [];
      }
      const ok = listed.some(
        (d) => d.deviceId === who.deviceId && bytesEqual(d.credentialKey, signaturePublicKey),
      );
      if (!ok) refused.push(who);
      return ok;
    },
  };
}
