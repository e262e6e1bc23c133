/**
 * This account's own device list in the key directory (docs/identity.md "Publishing and monitoring
 * one's own list"): making the first list and each next one, and owner monitoring that tells the
 * versions the account made from the ones it did not.
 *
 * Convention: a list's signed `version` equals the label version it is published as (0 for the
 * first). A device publishes the next list only on top of the newest list the directory PROVED
 * (`DirectoryClient.lookup` with the account key), and only when that list's version equals its
 * label version. Hence, by induction over the chain, a list at label version n that the account
 * key signed and whose version is n vouches for every version below n: each was checked by the
 * device of the account that built on it. That is how one device of an account accepts the
 * versions its other devices made (it holds no record of them), and why a version inserted
 * behind the account's back is caught: it is not signed by the account key, or it shifts every
 * later list off its label version.
 */
import { ValidationError, deviceIdOf, type CryptoProvider, type Username } from '@sealpost/core';
import {
  FIRST_LIST_PREVIOUS_HASH,
  deviceListHash,
  encodeDeviceList,
  signDeviceList,
  type Device,
} from '@sealpost/core/identity/device-list';
import type { DirectoryClient, DirectoryHeadStatus, VerifiedDeviceList } from './directory-client.ts';
import { UnexpectedVersionAlert } from './directory-errors.ts';

const MS_PER_DAY = 86_400_000;

/** The day `now` falls on (days since 1970-01-01 UTC), as device lists record it. */
export function dayOf(now: number): number {
  return Math.floor(now / MS_PER_DAY);
}

function sortDevices(devices: Device[]): Device[] {
  return devices.sort((a, b) => {
    for (let i = 0; i < a.deviceId.length; i++) {
      const d = a.deviceId[i]! - b.deviceId[i]!;
      if (d !== 0) return d;
    }
    return 0;
  });
}

function newDevice(crypto: CryptoProvider, signatureKey: Uint8Array, day: number): Device {
  return {
    deviceId: deviceIdOf(crypto, signatureKey),
    signatureKey,
    mlsCredentialKey: new Uint8Array(0),
    addedAtDay: day,
  };
}

/** The first list of an account (version 0): its devices, the account key, the recovery key. */
export function firstDeviceList(
  crypto: CryptoProvider,
  args: {
    readonly username: Username;
    readonly accountSeed: Uint8Array;
    readonly recoveryKey: Uint8Array;
    readonly deviceKeys: readonly Uint8Array[];
    readonly day: number;
  },
): Uint8Array {
  return signDeviceList(
    crypto,
    {
      username: args.username,
      version: 0,
      accountKey: crypto.ed25519.publicKey(args.accountSeed),
      recoveryKey: args.recoveryKey,
      previousHash: FIRST_LIST_PREVIOUS_HASH,
      devices: sortDevices(args.deviceKeys.map((k) => newDevice(crypto, k, args.day))),
    },
    args.accountSeed,
  );
}

/**
 * The list that follows `current` (the newest list the directory proved, with its label version):
 * `add` device keys joined today, `remove` device ids dropped, everything else kept as it was.
 * Refuses (typed) to build on a list whose version is not its label version: the chain was
 * shifted behind the account's back, and building on it would vouch for that.
 */
export function nextDeviceList(
  crypto: CryptoProvider,
  current: VerifiedDeviceList,
  change: {
    readonly accountSeed: Uint8Array;
    readonly add?: readonly Uint8Array[];
    readonly remove?: readonly Uint8Array[];
    readonly day: number;
  },
): Uint8Array {
  if (current.list.version !== current.version) {
    throw new UnexpectedVersionAlert(current.username, [current.version]);
  }
  const removed = (id: Uint8Array) => (change.remove ?? []).some((r) => sameBytes(r, id));
  const kept = current.list.devices.filter((d) => !removed(d.deviceId));
  const added = (change.add ?? [])
    .map((k) => newDevice(crypto, k, change.day))
    .filter((d) => !kept.some((k) => sameBytes(k.deviceId, d.deviceId)));
  if (kept.length + added.length === 0) {
    throw new ValidationError('VALIDATION_FAILED', 'a device list keeps at least one device');
  }
  return signDeviceList(
    crypto,
    {
      username: current.username,
      version: current.version + 1,
      accountKey: crypto.ed25519.publicKey(change.accountSeed),
      recoveryKey: current.list.recoveryKey,
      previousHash: deviceListHash(crypto, encodeDeviceList(current.list)),
      devices: sortDevices([...kept, ...added]),
    },
    change.accountSeed,
  );
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/** What `monitorOwnAccount` found. */
export interface OwnMonitorResult {
  readonly head: DirectoryHeadStatus;
  /** Versions this device did not record, vouched for by the account's newest list (module header). */
  readonly vouched: readonly number[];
}

/**
 * Owner monitoring of `username` for a device holding the account key: `DirectoryClient.monitorOwn`
 * with the versions this device recorded as its own; versions it did not record are accepted only
 * when the newest list the directory proves is signed by `accountKey` and carries its own label
 * version (module header). Throws UnexpectedVersionAlert (KT_VERSION_MISMATCH) naming the versions
 * the account did not make, and core's KT_* / IDENTITY_* errors when proofs do not verify.
 */
export async function monitorOwnAccount(
  client: DirectoryClient,
  username: string,
  accountKey: Uint8Array,
  ownVersions: ReadonlySet<number>,
): Promise<OwnMonitorResult> {
  try {
    return { head: await client.monitorOwn(username, ownVersions), vouched: [] };
  } catch (e) {
    if (!(e instanceof UnexpectedVersionAlert)) throw e;
    let newest: VerifiedDeviceList;
    try {
      newest = await client.lookup(username, { accountKey });
    } catch {
      throw e; // the newest list is not the account's: the alert stands
    }
    const vouched = newest.list.version === newest.version;
    const unexplained = vouched ? e.versions.filter((v) => v > newest.version) : e.versions;
    if (unexplained.length > 0) throw new UnexpectedVersionAlert(e.username, unexplained);
    const all = new Set([...ownVersions, ...e.versions]);
    return { head: await client.monitorOwn(username, all), vouched: e.versions };
  }
}
