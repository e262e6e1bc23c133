/**
 * Signed device lists: the value the key-transparency directory maps a username to (DESIGN.md
 * "Identity and the key directory"). The account key signs the list; each new list names the hash
 * of the one it replaces, so a client that accepted one list accepts a later one only as its
 * continuation. Byte layout and client rules: docs/identity.md.
 *
 *   struct {
 *     opaque deviceId[8];              // deviceIdOf(signatureKey)
 *     opaque signatureKey[32];         // Ed25519
 *     opaque mlsCredentialKey<0..2592>;  // empty until MLS credentials are bound here
 *     uint32 addedAtDay;               // days since 1970-01-01 UTC
 *   } Device;
 *
 *   struct {
 *     uint8  format = 1;
 *     string username;                 // canonical (account/username.ts)
 *     uint64 version;                  // < 2^53; strictly increasing along the chain
 *     opaque accountKey[32];           // signs this list
 *     opaque recoveryKey[32];          // fixed by the first list (recovery-key.ts)
 *     opaque previousHash[32];         // deviceListHash of the replaced list; zeros in a first list
 *     Device devices<0..16>;           // strictly increasing deviceId
 *     optional<AccountKeyRotation> rotation;  // present iff accountKey changed (account-key-chain.ts)
 *   } DeviceListTBS;
 *
 *   struct { DeviceListTBS tbs; opaque signature[64]; } SignedDeviceList;
 *   signature = Ed25519(accountKey, string("sealpost/v1/device-list") || tbs)
 */
import { Reader } from '../codec/reader.ts';
import { Writer } from '../codec/writer.ts';
import { CodecError, CryptoVerificationError, ValidationError } from '../errors.ts';
import { LIMITS } from '../limits.ts';
import { bytesArg, exactBytesArg, integerArg } from '../crypto/arguments.ts';
import type { CryptoProvider } from '../crypto/provider.ts';
import { deviceIdOf } from '../account/statements.ts';
import { parseUsername, type Username } from '../account/username.ts';
import { equalPublicBytes } from '../bytes/encoding.ts';
import {
  LIST_HASH_BYTES,
  decodeRotation,
  encodeRotation,
  verifyAccountKeyTransition,
  type AccountKeyRotation,
} from './account-key-chain.ts';

export const DEVICE_LIST_FORMAT = 1;
export const DEVICE_LIST_LABEL = 'sealpost/v1/device-list';
const HASH_LABEL = new TextEncoder().encode('sealpost/v1/device-list-hash');
const UINT32_MAX = 0xffffffff;

export interface Device {
  readonly deviceId: Uint8Array;
  readonly signatureKey: Uint8Array;
  /** Empty until MLS credential keys are bound to the device list. */
  readonly mlsCredentialKey: Uint8Array;
  readonly addedAtDay: number;
}

/** Everything the account key signs. */
export interface DeviceListContent {
  readonly username: Username;
  readonly version: number;
  readonly accountKey: Uint8Array;
  readonly recoveryKey: Uint8Array;
  readonly previousHash: Uint8Array;
  readonly devices: readonly Device[];
  readonly rotation?: AccountKeyRotation | undefined;
}

export interface DeviceList extends DeviceListContent {
  readonly signature: Uint8Array;
}

/** The hash-chain anchor of a first list. */
export const FIRST_LIST_PREVIOUS_HASH: Uint8Array = new Uint8Array(LIST_HASH_BYTES);

// ---------------------------------------------------------------- encoding

function writeDevice(w: Writer, d: Device): void {
  w.fixed(d.deviceId).fixed(d.signatureKey).opaque(d.mlsCredentialKey).u32(d.addedAtDay);
}

/** `DeviceListTBS`. Precondition: fields of the declared sizes (see `checkDeviceListContent`). */
function encodeTbs(content: DeviceListContent): Writer {
  const w = new Writer(512)
    .u8(DEVICE_LIST_FORMAT)
    .string(content.username)
    .u53(content.version)
    .fixed(content.accountKey)
    .fixed(content.recoveryKey)
    .fixed(content.previousHash)
    .vector(content.devices, writeDevice);
  if (content.rotation === undefined) w.u8(0);
  else encodeRotation(w.u8(1), content.rotation);
  return w;
}

/** The bytes the account key signs: the label, then `DeviceListTBS`. */
export function deviceListSignedBytes(content: DeviceListContent): Uint8Array {
  const checked = checkDeviceListContent(content);
  return new Writer().string(DEVICE_LIST_LABEL).fixed(encodeTbs(checked).finish()).finish();
}

/** `SignedDeviceList`, as stored in the directory. Does not check order or signature. */
export function encodeDeviceList(list: DeviceList): Uint8Array {
  const checked = checkDeviceListContent(list);
  const signature = exactBytesArg(list.signature, LIMITS.signatureBytes, 'signature');
  return encodeTbs(checked).fixed(signature).finish();
}

function readDevice(r: Reader): Device {
  return {
    deviceId: r.fixed(LIMITS.deviceIdBytes, 'device id'),
    signatureKey: r.fixed(LIMITS.publicKeyBytes, 'device signature key'),
    mlsCredentialKey: r.opaque(LIMITS.identityMlsKeyMaxBytes, 'device MLS credential key'),
    addedAtDay: r.u32('device added-at day'),
  };
}

function readDeviceList(r: Reader): DeviceList {
  const format = r.u8('device list format');
  if (format !== DEVICE_LIST_FORMAT) {
    throw new CodecError('CODEC_INVALID_VALUE', `device list format ${format} is not ${DEVICE_LIST_FORMAT}`);
  }
  const raw = r.string(LIMITS.usernameMaxLength, 'username');
  let username: Username;
  try {
    username = parseUsername(raw);
  } catch {
    throw new CodecError('CODEC_INVALID_VALUE', 'username is not a valid username');
  }
  if (username !== raw)
    throw new CodecError('CODEC_INVALID_VALUE', 'username is not in canonical (lowercase) form');
  const version = r.u53('version');
  const accountKey = r.fixed(LIMITS.publicKeyBytes, 'account key');
  const recoveryKey = r.fixed(LIMITS.publicKeyBytes, 'recovery key');
  const previousHash = r.fixed(LIST_HASH_BYTES, 'previous hash');
  const devices = r.vector(LIMITS.devicesPerAccount, readDevice, 'devices');
  const rotation = r.bool('rotation present') ? decodeRotation(r) : undefined;
  const signature = r.fixed(LIMITS.signatureBytes, 'signature');
  return { username, version, accountKey, recoveryKey, previousHash, devices, rotation, signature };
}

/** Total decoder: a `DeviceList` or a CodecError, for any input. Checks no signature and no order. */
export function decodeDeviceList(bytes: Uint8Array): DeviceList {
  const r = new Reader(bytes, LIMITS.identityDeviceListMaxBytes);
  const list = readDeviceList(r);
  r.end('device list');
  return list;
}

/** SHA-256(string("sealpost/v1/device-list-hash") || SignedDeviceList): what the next list names. */
export function deviceListHash(crypto: CryptoProvider, encoded: Uint8Array): Uint8Array {
  bytesArg(encoded, 'encoded device list');
  return crypto.sha256(new Writer().opaque(HASH_LABEL).fixed(encoded).finish());
}

// ---------------------------------------------------------------- checks

function compareBytes(a: Uint8Array, b: Uint8Array): number {
  for (let i = 0; i < Math.min(a.length, b.length); i++) {
    const d = (a[i] ?? 0) - (b[i] ?? 0);
    if (d !== 0) return d;
  }
  return a.length - b.length;
}

/**
 * Devices in strictly increasing device-id order, each id derived from its key. Throws
 * IDENTITY_DEVICE_DUPLICATE, IDENTITY_DEVICES_UNSORTED or IDENTITY_DEVICE_ID_MISMATCH.
 */
export function checkDeviceOrder(crypto: CryptoProvider, devices: readonly Device[]): void {
  if (!Array.isArray(devices) || devices.length > LIMITS.devicesPerAccount) {
    throw new ValidationError(
      'VALIDATION_FAILED',
      `devices must be an array of at most ${LIMITS.devicesPerAccount}`,
    );
  }
  devices.forEach(checkDevice);
  for (let i = 0; i < devices.length; i++) {
    const d = devices[i] as Device;
    if (!equalPublicBytes(deviceIdOf(crypto, d.signatureKey), d.deviceId)) {
      throw new ValidationError(
        'IDENTITY_DEVICE_ID_MISMATCH',
        `device ${i}: id is not derived from its key`,
        { index: i },
      );
    }
    if (i === 0) continue;
    const order = compareBytes((devices[i - 1] as Device).deviceId, d.deviceId);
    if (order === 0)
      throw new ValidationError('IDENTITY_DEVICE_DUPLICATE', `device ${i}: same id as device ${i - 1}`, {
        index: i,
      });
    if (order > 0)
      throw new ValidationError('IDENTITY_DEVICES_UNSORTED', `device ${i}: id sorts before device ${i - 1}`, {
        index: i,
      });
  }
}

function checkDevice(value: unknown, i: number): Device {
  if (typeof value !== 'object' || value === null) {
    throw new ValidationError('VALIDATION_FAILED', `device ${i} must be an object`);
  }
  const d = value as Record<string, unknown>;
  const mls = bytesArg(d['mlsCredentialKey'], `device ${i} MLS credential key`);
  if (mls.length > LIMITS.identityMlsKeyMaxBytes) {
    throw new ValidationError(
      'VALIDATION_FAILED',
      `device ${i}: MLS credential key over ${LIMITS.identityMlsKeyMaxBytes} bytes`,
    );
  }
  return {
    deviceId: exactBytesArg(d['deviceId'], LIMITS.deviceIdBytes, `device ${i} id`),
    signatureKey: exactBytesArg(d['signatureKey'], LIMITS.publicKeyBytes, `device ${i} signature key`),
    mlsCredentialKey: mls,
    addedAtDay: integerArg(d['addedAtDay'], 0, UINT32_MAX, `device ${i} added-at day`),
  };
}

/** Shape checks of a caller-built content (hostile values give ValidationError, never a TypeError). */
function checkDeviceListContent(value: unknown): DeviceListContent {
  if (typeof value !== 'object' || value === null) {
    throw new ValidationError('VALIDATION_FAILED', 'device list must be an object');
  }
  const c = value as Record<string, unknown>;
  const devices = c['devices'];
  if (!Array.isArray(devices) || devices.length > LIMITS.devicesPerAccount) {
    throw new ValidationError(
      'VALIDATION_FAILED',
      `devices must be an array of at most ${LIMITS.devicesPerAccount}`,
    );
  }
  const rotation = c['rotation'];
  if (rotation !== undefined && (typeof rotation !== 'object' || rotation === null)) {
    throw new ValidationError('VALIDATION_FAILED', 'rotation must be an object or undefined');
  }
  return {
    username: parseUsername(c['username']),
    version: integerArg(c['version'], 0, Number.MAX_SAFE_INTEGER, 'version'),
    accountKey: exactBytesArg(c['accountKey'], LIMITS.publicKeyBytes, 'account key'),
    recoveryKey: exactBytesArg(c['recoveryKey'], LIMITS.publicKeyBytes, 'recovery key'),
    previousHash: exactBytesArg(c['previousHash'], LIST_HASH_BYTES, 'previous hash'),
    devices: devices.map(checkDevice),
    rotation: rotation as AccountKeyRotation | undefined,
  };
}

// ---------------------------------------------------------------- signing and verification

/**
 * Signs a device list with the account key's seed and returns its encoding. Refuses (typed) a list
 * a client would refuse: devices out of order or with ids not derived from their keys, or a seed
 * that is not the list's account key.
 */
export function signDeviceList(
  crypto: CryptoProvider,
  content: DeviceListContent,
  accountSeed: Uint8Array,
): Uint8Array {
  const checked = checkDeviceListContent(content);
  checkDeviceOrder(crypto, checked.devices);
  const seed = exactBytesArg(accountSeed, 32, 'account seed');
  if (!equalPublicBytes(crypto.ed25519.publicKey(seed), checked.accountKey)) {
    throw new ValidationError('VALIDATION_FAILED', 'the seed is not the seed of the list account key');
  }
  const signature = crypto.ed25519.sign(seed, deviceListSignedBytes(checked));
  return encodeTbs(checked).fixed(signature).finish();
}

/**
 * Decodes and checks one list on its own: the account key's signature (IDENTITY_SIGNATURE_INVALID),
 * then device order and ids. Says nothing about whether it continues a list accepted before.
 */
export function verifyDeviceList(crypto: CryptoProvider, encoded: Uint8Array): DeviceList {
  const list = decodeDeviceList(encoded);
  if (!crypto.ed25519.verify(list.accountKey, deviceListSignedBytes(list), list.signature)) {
    throw new CryptoVerificationError(
      'IDENTITY_SIGNATURE_INVALID',
      'device list is not signed by its account key',
      {
        version: list.version,
      },
    );
  }
  checkDeviceOrder(crypto, list.devices);
  return list;
}

declare const acceptedBrand: unique symbol;
/** A list a client accepted, with its hash; only `acceptDeviceList` makes one. */
export interface AcceptedDeviceList {
  readonly list: DeviceList;
  readonly hash: Uint8Array;
  readonly [acceptedBrand]: true;
}
const ACCEPTED = new WeakSet<object>();

function chainBroken(message: string, details: Record<string, number> = {}): CryptoVerificationError {
  return new CryptoVerificationError('IDENTITY_CHAIN_BROKEN', message, details);
}

/**
 * The client rule (docs/identity.md "Rules"): accepts `encoded` as the successor of `last` (the
 * last list this client accepted for the account), or as the first list it sees when `last` is
 * undefined. Checks, in order: codec, signature, devices, then against `last`: username, version
 * (strictly greater), previous hash, recovery key, account-key rotation. A first list (zero
 * previous hash) may carry no rotation. A list first seen later in its chain is taken on the
 * directory's word: only key transparency shows its history.
 */
export function acceptDeviceList(
  crypto: CryptoProvider,
  last: AcceptedDeviceList | undefined,
  encoded: Uint8Array,
): AcceptedDeviceList {
  if (last !== undefined && (typeof last !== 'object' || last === null || !ACCEPTED.has(last))) {
    throw new ValidationError('VALIDATION_FAILED', 'last must be a list returned by acceptDeviceList');
  }
  const next = verifyDeviceList(crypto, encoded);
  const isFirst = equalPublicBytes(next.previousHash, FIRST_LIST_PREVIOUS_HASH);
  if (last === undefined) {
    if (isFirst && next.rotation !== undefined) throw chainBroken('a first device list carries a rotation');
  } else {
    const prev = last.list;
    if (next.username !== prev.username) throw chainBroken('device list is for another username');
    if (next.version <= prev.version) {
      throw new ValidationError(
        'IDENTITY_VERSION_NOT_INCREASING',
        `device list version ${next.version} does not exceed the accepted ${prev.version}`,
        { version: next.version, accepted: prev.version },
      );
    }
    if (!equalPublicBytes(next.previousHash, last.hash)) {
      throw chainBroken('device list does not name the hash of the last accepted list', {
        version: next.version,
      });
    }
    if (!equalPublicBytes(next.recoveryKey, prev.recoveryKey))
      throw chainBroken('device list changes the recovery key');
    verifyAccountKeyTransition(
      crypto,
      { accountKey: prev.accountKey, recoveryKey: prev.recoveryKey },
      {
        username: next.username,
        previousListHash: last.hash,
        previousAccountKey: prev.accountKey,
        newAccountKey: next.accountKey,
      },
      next.rotation,
    );
  }
  const accepted = Object.freeze({
    list: Object.freeze({ ...next, devices: Object.freeze(next.devices.map((d) => Object.freeze(d))) }),
    hash: deviceListHash(crypto, encoded),
  }) as AcceptedDeviceList;
  ACCEPTED.add(accepted);
  return accepted;
}
