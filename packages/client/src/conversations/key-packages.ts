/**
 * KeyPackages (RFC 9420 §10): making this device's, and checking another device's against its
 * directory entry before it is added.
 */
import {
  type CiphersuiteImpl,
  decodeMlsMessage,
  defaultCapabilities,
  defaultLifetime,
  encodeMlsMessage,
  generateKeyPackageWithKey,
  type KeyPackage,
  type PrivateKeyPackage,
} from 'ts-mls';
import { ConversationError } from './errors.ts';
import {
  type DeviceRef,
  type DirectoryDevice,
  deviceCredential,
  deviceKey,
  deviceOfCredential,
} from './identity.ts';

export interface SignatureKeyPair {
  /** The MLS signature private key; it lives in every group state of this device. */
  readonly signKey: Uint8Array;
  /** What the directory lists as the device's `credentialKey`. */
  readonly publicKey: Uint8Array;
}

export interface OwnKeyPackage {
  readonly publicPackage: KeyPackage;
  readonly privatePackage: PrivateKeyPackage;
  /** `mls_key_package` wire bytes, as the KeyPackage store serves them. */
  readonly encoded: Uint8Array;
}

export async function makeKeyPackage(
  self: DeviceRef,
  keys: SignatureKeyPair,
  cs: CiphersuiteImpl,
): Promise<OwnKeyPackage> {
  const kp = await generateKeyPackageWithKey(
    deviceCredential(self),
    defaultCapabilities(),
    defaultLifetime,
    [],
    keys,
    cs,
  );
  const encoded = encodeMlsMessage({
    keyPackage: kp.publicPackage,
    wireformat: 'mls_key_package',
    version: 'mls10',
  });
  return { ...kp, encoded };
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.byteLength === b.byteLength && a.every((x, i) => x === b[i]);
}

/**
 * The KeyPackage of a directory entry, refused with CONVERSATION_UNKNOWN_DEVICE unless its
 * credential names exactly `device` and its signature key is the one the directory lists (the
 * KeyPackage store is the server's; the directory is the verified source). ts-mls then checks the
 * KeyPackage's own signature and the same credential again through the directory when committing.
 */
export function decodeAddableKeyPackage(entry: DirectoryDevice, device: DeviceRef): KeyPackage {
  let decoded: ReturnType<typeof decodeMlsMessage>;
  try {
    decoded = decodeMlsMessage(entry.keyPackage, 0);
  } catch {
    decoded = undefined;
  }
  const m = decoded?.[0];
  if (m?.wireformat !== 'mls_key_package' || decoded?.[1] !== entry.keyPackage.byteLength) {
    throw new ConversationError('CONVERSATION_MALFORMED', 'not one MLS KeyPackage', {
      username: device.username,
      deviceId: device.deviceId,
    });
  }
  const leaf = m.keyPackage.leafNode;
  const named = deviceOfCredential(leaf.credential);
  if (
    named === undefined ||
    deviceKey(named) !== deviceKey(device) ||
    !sameBytes(leaf.signaturePublicKey, entry.credentialKey)
  ) {
    throw new ConversationError('CONVERSATION_UNKNOWN_DEVICE', 'KeyPackage does not match the directory', {
      username: device.username,
      deviceId: device.deviceId,
    });
  }
  return m.keyPackage;
}
