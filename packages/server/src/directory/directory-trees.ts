/**
 * The directory's in-memory trees and the indexes beside them (docs/key-transparency.md "Server"):
 * core's `Directory` (prefix and log trees, signed heads) plus what the HTTP answers need that the
 * trees do not keep (device lists and openings by version, the log entries the witness feed shows,
 * every head's root, each label's newest accepted device list).
 *
 * Two ways in, both one log entry at a time, in log order:
 *   appendEntry   the publisher's new entry: publish, compute commitments; returns what to store;
 *   replayEntry   a stored entry (start, or a follower tailing kt_epochs): publish it again and
 *                 check that the rebuilt root and signature equal the stored ones, and that every
 *                 device list continues its label's chain (docs/identity.md "Rules").
 * The caller serialises calls, and drops the trees when `appendEntry` was not stored (the trees
 * cannot be rolled back): they are rebuilt from the store.
 */
import { CryptoVerificationError, type CryptoProvider, type Username } from '@sealpost/core';
import { KT_128_SHA256_ED25519 } from '@sealpost/core/kt/cipher-suite';
import { computeCommitment } from '@sealpost/core/kt/commitment';
import { encodeConfiguration, type Configuration } from '@sealpost/core/kt/configuration';
import { Directory } from '@sealpost/core/kt/directory';
import { proveSearchKey } from '@sealpost/core/kt/vrf-input';
import { ecvrfPublicKey } from '@sealpost/core/vrf';
import { acceptDeviceList, type AcceptedDeviceList } from '@sealpost/core/identity/device-list';
import type { KtEpoch, KtKeys, KtLoggedUpdate, KtLogUpdate, KtQueuedUpdate } from '../store/store.ts';

/** The directory's long-term parameters (ms), signed into every head's Configuration (§10.2). */
export const DIRECTORY_CONFIGURATION = {
  /** Configuration.max_ahead (§10.2): how far a head's timestamp may be ahead of a client's clock. */
  maxAheadMs: 10_000,
  /** Configuration.max_behind: a head older than this is stale to a client. */
  maxBehindMs: 86_400_000,
  /** Configuration.reasonable_monitoring_window (§6.1). */
  reasonableMonitoringWindowMs: 3_600_000,
  /** Configuration.max_auditor_lag (thirdPartyAuditing). */
  maxAuditorLagMs: 60_000,
} as const;

/** One log entry as the witness feed shows it: no label, no value (docs/witness.md). */
export interface FeedEntry {
  readonly index: number;
  readonly timestamp: number;
  readonly added: readonly { readonly vrfOutput: Uint8Array; readonly commitment: Uint8Array }[];
}

/** A queued update with its label, as an entry adds it. */
export type EntryUpdate = KtQueuedUpdate & { readonly username: Username };

export interface DirectoryTrees {
  readonly config: Configuration;
  readonly configBytes: Uint8Array;
  readonly directory: Directory;
  readonly vrfSecret: Uint8Array;
  /** `${username}/${version}` -> VRF output, filled at ingestion and on rebuild. */
  readonly searchKeys: Map<string, Uint8Array>;
  /** `${username}/${version}` -> VRF proof sent with lookups: kept from ingestion, else proved on demand. */
  readonly vrfProofs: Map<string, Uint8Array>;
  /** username -> published values by version. */
  readonly values: Map<string, { deviceList: Uint8Array; opening: Uint8Array }[]>;
  /** username -> the log entry that added each version. */
  readonly positions: Map<string, number[]>;
  /**
   * username -> its newest published list as a replay accepted it, with its version: the link the
   * next replayed version is checked against. Absent after `appendEntry` (which checks nothing: its
   * lists were checked when queued), and then rebuilt from `values`.
   */
  readonly accepted: Map<string, { version: number; list: AcceptedDeviceList }>;
  readonly entries: FeedEntry[];
  readonly heads: { root: Uint8Array; timestamp: number }[];
}

const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s);
export const keyOf = (username: string, version: number): string => `${username}/${version}`;

/** Empty trees under the directory's keys. */
export function newTrees(crypto: CryptoProvider, keys: KtKeys): DirectoryTrees {
  const config: Configuration = {
    ciphersuite: KT_128_SHA256_ED25519,
    mode: 'thirdPartyAuditing',
    signaturePublicKey: crypto.ed25519.publicKey(keys.signingSeed),
    vrfPublicKey: ecvrfPublicKey(keys.vrfSecret),
    maxAuditorLag: DIRECTORY_CONFIGURATION.maxAuditorLagMs,
    auditorStartPos: 0,
    // No auditor key yet: witnesses cosign heads on their own (docs/witness.md).
    auditorPublicKey: new Uint8Array(0),
    maxAhead: DIRECTORY_CONFIGURATION.maxAheadMs,
    maxBehind: DIRECTORY_CONFIGURATION.maxBehindMs,
    reasonableMonitoringWindow: DIRECTORY_CONFIGURATION.reasonableMonitoringWindowMs,
  };
  const searchKeys = new Map<string, Uint8Array>();
  const vrfProofs = new Map<string, Uint8Array>();
  // A version a proof looks up but nobody added (one past the greatest), or a proof not kept since a
  // restart (the store keeps outputs only): proved on demand and kept.
  const prove = (label: Uint8Array, version: number): { proof: Uint8Array; searchKey: Uint8Array } => {
    const k = keyOf(new TextDecoder().decode(label), version);
    const proof = vrfProofs.get(k);
    const searchKey = searchKeys.get(k);
    if (proof !== undefined && searchKey !== undefined) return { proof, searchKey };
    const fresh = proveSearchKey(keys.vrfSecret, label, version);
    vrfProofs.set(k, fresh.proof);
    searchKeys.set(k, fresh.searchKey);
    return fresh;
  };
  const searchKey = (label: Uint8Array, version: number): Uint8Array =>
    searchKeys.get(keyOf(new TextDecoder().decode(label), version)) ?? prove(label, version).searchKey;
  const vrfProof = (label: Uint8Array, version: number): Uint8Array => prove(label, version).proof;
  return {
    config,
    configBytes: encodeConfiguration(config),
    directory: new Directory({ crypto, config, signingSeed: keys.signingSeed, searchKey, vrfProof }),
    vrfSecret: keys.vrfSecret,
    searchKeys,
    vrfProofs,
    values: new Map(),
    positions: new Map(),
    accepted: new Map(),
    entries: [],
    heads: [],
  };
}

/**
 * Publishes `updates` as the next log entry at `timestamp` (ms, not before the last entry's) and
 * returns the entry to store. Throws KT_VERSION_MISMATCH when an update's version is not its label's
 * next one: the trees are then inconsistent and must be dropped.
 */
export function appendEntry(
  crypto: CryptoProvider,
  trees: DirectoryTrees,
  timestamp: number,
  updates: readonly EntryUpdate[],
): KtEpoch {
  const epoch = trees.directory.size;
  for (const u of updates) trees.searchKeys.set(keyOf(u.username, u.version), u.vrfOutput);
  const result = trees.directory.publish(
    timestamp,
    updates.map((u) => ({ label: utf8(u.username), update: { value: u.deviceList }, opening: u.opening })),
  );
  const logged: KtLogUpdate[] = updates.map((u, i) => {
    if (result.versions[i] !== u.version) {
      throw new CryptoVerificationError('KT_VERSION_MISMATCH', `label version ${u.version} out of order`, {
        epoch,
      });
    }
    const commitment = computeCommitment(
      crypto,
      { opening: u.opening, label: utf8(u.username), version: u.version, update: { value: u.deviceList } },
      trees.config.mode,
    );
    trees.accepted.delete(u.username);
    const list = trees.values.get(u.username) ?? [];
    list[u.version] = { deviceList: u.deviceList, opening: u.opening };
    trees.values.set(u.username, list);
    const positions = trees.positions.get(u.username) ?? [];
    positions[u.version] = epoch;
    trees.positions.set(u.username, positions);
    return { ...u, commitment };
  });
  const added = logged.map((u) => ({ vrfOutput: u.vrfOutput, commitment: u.commitment }));
  const root = trees.directory.log.root();
  trees.entries.push({ index: epoch, timestamp, added });
  trees.heads.push({ root, timestamp });
  return {
    epoch,
    timestampMs: timestamp,
    root,
    signature: trees.directory.treeHead.signature,
    updates: logged.map((u) => ({
      accountId: u.accountId,
      version: u.version,
      vrfOutput: u.vrfOutput,
      commitment: u.commitment,
      deviceList: u.deviceList,
      opening: u.opening,
    })),
  };
}

/**
 * Replays a stored entry, which must be the next one. Throws KT_ROOT_MISMATCH when it is not the
 * next entry or the rebuilt head differs from the stored one, IDENTITY_* when a stored list does not
 * continue its label's chain: the trees must then be dropped (the store holds a log this key never
 * published, or one a compromised server wrote).
 */
export function replayEntry(
  crypto: CryptoProvider,
  trees: DirectoryTrees,
  stored: Omit<KtEpoch, 'updates'> & { readonly updates: readonly KtLoggedUpdate[] },
): void {
  if (stored.epoch !== trees.directory.size) {
    throw new CryptoVerificationError('KT_ROOT_MISMATCH', `epoch ${stored.epoch} is not the next log entry`, {
      epoch: stored.epoch,
    });
  }
  const chained = new Map<string, { version: number; list: AcceptedDeviceList }>();
  for (const u of stored.updates) {
    const previous = chained.get(u.username)?.list ?? publishedList(crypto, trees, u.username, u.version - 1);
    chained.set(u.username, {
      version: u.version,
      list: acceptDeviceList(crypto, previous, u.deviceList),
    });
  }
  appendEntry(crypto, trees, stored.timestampMs, stored.updates);
  for (const [username, link] of chained) trees.accepted.set(username, link);
  const rebuilt = trees.directory.treeHead;
  const head = trees.heads.at(-1)!;
  if (
    !crypto.timingSafeEqual(head.root, stored.root) ||
    !crypto.timingSafeEqual(rebuilt.signature, stored.signature)
  ) {
    throw new CryptoVerificationError(
      'KT_ROOT_MISMATCH',
      `epoch ${stored.epoch} rebuilt from the stored log does not give the stored head`,
      { epoch: stored.epoch },
    );
  }
}

/** The published list of `username` at `version` as accepted (undefined below version 0). */
function publishedList(
  crypto: CryptoProvider,
  trees: DirectoryTrees,
  username: string,
  version: number,
): AcceptedDeviceList | undefined {
  if (version < 0) return undefined;
  const link = trees.accepted.get(username);
  if (link?.version === version) return link.list;
  const value = trees.values.get(username)?.[version];
  if (value === undefined) {
    throw new CryptoVerificationError('KT_VERSION_MISMATCH', `label version ${version} was never published`);
  }
  // Taken on its own word: it was checked against its predecessor when queued or replayed.
  return acceptDeviceList(crypto, undefined, value.deviceList);
}
