/**
 * The server's key-transparency directory (docs/key-transparency.md "Server"): a thin I/O shell
 * around core's sans-I/O `Directory` (draft-ietf-keytrans-protocol-04).
 *
 *   submit(list)   verify the signed device list (signature, devices, chain after the label's last
 *                  list), compute its VRF output (ECVRF prove, RFC 9381) and queue it: the VRF is
 *                  never computed in an epoch's critical path;
 *   publish        every `epochSeconds`, the queue becomes one log entry: `Directory.publish`, then
 *                  the entry (VRF outputs, commitments, versions, values, signed head) is appended
 *                  to the store in one transaction before anyone is shown the new head;
 *   start          keys come from the store (generated on first start); the trees are rebuilt from
 *                  the stored log, and every rebuilt head must equal the stored one.
 *
 * One publisher per store (several instances would each publish their own epochs: docs, remaining).
 * Queued updates live in memory until their epoch is stored; `close` publishes what is queued.
 */
import {
  CryptoVerificationError,
  LIMITS,
  NotFoundError,
  UnavailableError,
  ValidationError,
  type CryptoProvider,
  type Username,
} from '@sealpost/core';
import { KT_128_SHA256_ED25519 } from '@sealpost/core/kt/cipher-suite';
import { CombinedTree } from '@sealpost/core/kt/combined-tree';
import { computeCommitment, newOpening } from '@sealpost/core/kt/commitment';
import { encodeConfiguration, type Configuration } from '@sealpost/core/kt/configuration';
import { Directory } from '@sealpost/core/kt/directory';
import type { OwnerMonitorProof, SearchProof } from '@sealpost/core/kt/response-codec';
import type { TreeHead } from '@sealpost/core/kt/tree-head';
import { proveSearchKey } from '@sealpost/core/kt/vrf-input';
import { ecvrfPublicKey } from '@sealpost/core/vrf';
import { acceptDeviceList, type AcceptedDeviceList } from '@sealpost/core/identity/device-list';
import type { KtCosignature, KtEpoch, KtLogUpdate, Store } from '../store/store.ts';
import { CosignatureCollector } from './cosignatures.ts';

/** The directory's limits and long-term parameters (ms), in one table. */
export const DIRECTORY_LIMITS = {
  /** Configuration.max_ahead (§10.2): how far a head's timestamp may be ahead of a client's clock. */
  maxAheadMs: 10_000,
  /** Configuration.max_behind: a head older than this is stale to a client. */
  maxBehindMs: 86_400_000,
  /** Configuration.reasonable_monitoring_window (§6.1). */
  reasonableMonitoringWindowMs: 3_600_000,
  /** Configuration.max_auditor_lag (thirdPartyAuditing). */
  maxAuditorLagMs: 60_000,
  /** Label versions waiting for the next epoch; a submit beyond it is refused. */
  pendingMax: 10_000,
  /** Log entries per answer of the witness feed. */
  feedEntriesPerRequest: 256,
  /** Distinct witness keys whose cosignatures one head keeps (docs/witness.md "Server"). */
  cosignaturesPerHead: 32,
} as const;

/** One log entry as the witness feed shows it: no label, no value (docs/witness.md). */
export interface FeedEntry {
  readonly index: number;
  readonly timestamp: number;
  readonly added: readonly { readonly vrfOutput: Uint8Array; readonly commitment: Uint8Array }[];
}

export interface SignedHead {
  readonly treeHead: TreeHead;
  /** The log root the head signs (§10.2 TreeHeadTBS.root), for witnesses. */
  readonly root: Uint8Array;
  readonly timestamp: number;
  /** The encoded §10.2 Configuration every head signature covers. */
  readonly configuration: Uint8Array;
}

/** An earlier head served with the newest because witnesses cosigned it (docs/witness.md "Server"). */
export interface CosignedEarlierHead {
  readonly treeSize: number;
  readonly root: Uint8Array;
  /** The log's full subtrees at `treeSize` (§4.2): what a client starts the consistency proof from. */
  readonly fullSubtrees: Uint8Array[];
  /** Consistency proof from `treeSize` to the newest head (§3.2, §11.1). */
  readonly consistency: Uint8Array[];
  readonly cosignatures: KtCosignature[];
}

/** The newest head with its cosignatures and the earlier cosigned heads (GET /v1/kt/head). */
export interface WitnessedHead extends SignedHead {
  readonly cosignatures: KtCosignature[];
  /** Greatest first, at most LIMITS.ktCosignedHeadsMax. */
  readonly earlier: CosignedEarlierHead[];
}

export interface DirectoryServiceOptions {
  readonly store: Store;
  readonly crypto: CryptoProvider;
  readonly now: () => number;
  /** Seconds between epochs (config key `epochSeconds`). */
  readonly epochSeconds: number;
  /** The witnesses whose cosignatures the directory keeps (config `witnessKeys`); none when absent. */
  readonly witnessKeys?: readonly Uint8Array[] | undefined;
  readonly onError?: (error: unknown) => void;
}

interface Queued {
  readonly accountId: number;
  readonly username: Username;
  readonly label: Uint8Array;
  readonly version: number;
  readonly vrfOutput: Uint8Array;
  readonly deviceList: Uint8Array;
  readonly opening: Uint8Array;
}

interface State {
  readonly config: Configuration;
  readonly configBytes: Uint8Array;
  readonly directory: Directory;
  /** Mirror of the combined tree: the directory keeps its root private; witnesses need it. */
  readonly mirror: CombinedTree;
  readonly vrfSecret: Uint8Array;
  /** `${username}/${version}` -> VRF output, filled at ingestion and on rebuild. */
  readonly searchKeys: Map<string, Uint8Array>;
  /** `${username}/${version}` -> VRF proof sent with lookups: kept from ingestion, else proved on demand. */
  readonly vrfProofs: Map<string, Uint8Array>;
  /** username -> published values by version. */
  readonly values: Map<string, { deviceList: Uint8Array; opening: Uint8Array }[]>;
  /** username -> the log entry that added each version. */
  readonly positions: Map<string, number[]>;
  /** username -> the newest accepted list, queued or published (the chain a submit must continue). */
  readonly accepted: Map<string, AcceptedDeviceList>;
  /** username -> next version to give, counting queued ones. */
  readonly nextVersion: Map<string, number>;
  readonly entries: FeedEntry[];
  readonly heads: { root: Uint8Array; timestamp: number }[];
  pending: Queued[];
}

const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s);
const keyOf = (username: string, version: number): string => `${username}/${version}`;

export class DirectoryService {
  readonly #opts: DirectoryServiceOptions;
  #state: Promise<State> | undefined;
  #timer: NodeJS.Timeout | undefined;
  /** Serialises submits and publishes: each sees the effects of the one before. */
  #queue: Promise<unknown> = Promise.resolve();
  #closed = false;
  /** Witness cosignatures of this directory's heads (cosignatures.ts). */
  readonly cosignatures: CosignatureCollector;

  constructor(opts: DirectoryServiceOptions) {
    if (!(opts.epochSeconds > 0)) throw new ValidationError('VALIDATION_FAILED', 'epochSeconds must be > 0');
    this.#opts = opts;
    this.cosignatures = new CosignatureCollector({
      store: opts.store,
      crypto: opts.crypto,
      witnessKeys: opts.witnessKeys ?? [],
      perHead: DIRECTORY_LIMITS.cosignaturesPerHead,
      signedRoot: (treeSize) => this.signedRoot(treeSize),
    });
  }

  /** Loads keys and rebuilds the trees (once), then publishes every `epochSeconds`. */
  start(): Promise<void> {
    return this.#ready().then(() => undefined);
  }

  #ready(): Promise<State> {
    if (this.#state === undefined) {
      this.#state = this.#load();
      this.#state.then(
        () => {
          if (this.#closed) return;
          this.#timer = setInterval(() => {
            this.publishNow().catch((e: unknown) => this.#opts.onError?.(e));
          }, this.#opts.epochSeconds * 1000);
          this.#timer.unref();
        },
        () => {
          this.#state = undefined; // a later call tries again
        },
      );
    }
    return this.#state;
  }

  #serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(fn, fn);
    this.#queue = run.catch(() => undefined);
    return run;
  }

  async #load(): Promise<State> {
    const { store, crypto } = this.#opts;
    const keys = await store.ktKeys({
      signingSeed: crypto.randomBytes(32),
      vrfSecret: crypto.randomBytes(32),
    });
    const config: Configuration = {
      ciphersuite: KT_128_SHA256_ED25519,
      mode: 'thirdPartyAuditing',
      signaturePublicKey: crypto.ed25519.publicKey(keys.signingSeed),
      vrfPublicKey: ecvrfPublicKey(keys.vrfSecret),
      maxAuditorLag: DIRECTORY_LIMITS.maxAuditorLagMs,
      auditorStartPos: 0,
      // No auditor key yet: witnesses cosign heads on their own (docs/witness.md).
      auditorPublicKey: new Uint8Array(0),
      maxAhead: DIRECTORY_LIMITS.maxAheadMs,
      maxBehind: DIRECTORY_LIMITS.maxBehindMs,
      reasonableMonitoringWindow: DIRECTORY_LIMITS.reasonableMonitoringWindowMs,
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
    const state: State = {
      config,
      configBytes: encodeConfiguration(config),
      directory: new Directory({ crypto, config, signingSeed: keys.signingSeed, searchKey, vrfProof }),
      mirror: new CombinedTree(crypto),
      vrfSecret: keys.vrfSecret,
      searchKeys,
      vrfProofs,
      values: new Map(),
      positions: new Map(),
      accepted: new Map(),
      nextVersion: new Map(),
      entries: [],
      heads: [],
      pending: [],
    };
    for (const epoch of await store.loadKtLog()) {
      for (const u of epoch.updates) {
        searchKeys.set(keyOf(u.username, u.version), u.vrfOutput);
        state.accepted.set(
          u.username,
          acceptDeviceList(crypto, state.accepted.get(u.username), u.deviceList),
        );
      }
      const updates = epoch.updates.map((u) => ({ ...u, label: utf8(u.username) }));
      this.#apply(state, epoch.epoch, epoch.timestampMs, updates);
      const rebuilt = state.directory.treeHead;
      const head = state.heads.at(-1)!;
      if (
        !crypto.timingSafeEqual(head.root, epoch.root) ||
        !crypto.timingSafeEqual(rebuilt.signature, epoch.signature)
      ) {
        throw new CryptoVerificationError(
          'KT_ROOT_MISMATCH',
          `epoch ${epoch.epoch} rebuilt from the stored log does not give the stored head`,
          { epoch: epoch.epoch },
        );
      }
    }
    return state;
  }

  /** Publishes one entry in memory; returns what the store must append. */
  #apply(
    state: State,
    epoch: number,
    timestamp: number,
    updates: readonly (Omit<KtLogUpdate, 'commitment'> & { username: Username; label: Uint8Array })[],
  ): KtEpoch {
    const { crypto } = this.#opts;
    if (epoch !== state.directory.size) {
      throw new CryptoVerificationError('KT_ROOT_MISMATCH', `epoch ${epoch} is not the next log entry`, {
        epoch,
      });
    }
    const result = state.directory.publish(
      timestamp,
      updates.map((u) => ({ label: u.label, update: { value: u.deviceList }, opening: u.opening })),
    );
    const logged: KtLogUpdate[] = updates.map((u, i) => {
      if (result.versions[i] !== u.version) {
        throw new CryptoVerificationError('KT_VERSION_MISMATCH', `label version ${u.version} out of order`, {
          epoch,
        });
      }
      const commitment = computeCommitment(
        crypto,
        { opening: u.opening, label: u.label, version: u.version, update: { value: u.deviceList } },
        state.config.mode,
      );
      const list = state.values.get(u.username) ?? [];
      list[u.version] = { deviceList: u.deviceList, opening: u.opening };
      state.values.set(u.username, list);
      const positions = state.positions.get(u.username) ?? [];
      positions[u.version] = epoch;
      state.positions.set(u.username, positions);
      state.nextVersion.set(u.username, Math.max(state.nextVersion.get(u.username) ?? 0, u.version + 1));
      return {
        accountId: u.accountId,
        version: u.version,
        vrfOutput: u.vrfOutput,
        commitment,
        deviceList: u.deviceList,
        opening: u.opening,
      };
    });
    const added = logged.map((u) => ({ vrfOutput: u.vrfOutput, commitment: u.commitment }));
    state.mirror.append(timestamp, { add: added });
    const root = state.mirror.log.root();
    state.entries.push({ index: epoch, timestamp, added });
    state.heads.push({ root, timestamp });
    return {
      epoch,
      timestampMs: timestamp,
      root,
      signature: state.directory.treeHead.signature,
      updates: logged,
    };
  }

  /**
   * Accepts a signed device list for its username's account: signature and devices, then the chain
   * after the label's last list (docs/identity.md "Rules"); a first list must carry the account's
   * registered key. Queues it with its VRF output. Returns its label version.
   * Throws ACCOUNT_NOT_FOUND, IDENTITY_* and CODEC_* errors; nothing is queued then.
   */
  submit(deviceList: Uint8Array): Promise<{ username: Username; version: number }> {
    return this.#serial(async () => {
      const state = await this.#ready();
      const { crypto, store } = this.#opts;
      if (this.#closed) throw new UnavailableError('SHUTTING_DOWN', 'the directory is closing');
      if (state.pending.length >= DIRECTORY_LIMITS.pendingMax) {
        throw new UnavailableError('NOT_READY', 'the directory queue is full; retry after the next epoch');
      }
      // Decode and verify on its own first, so the account lookup uses a well-formed username.
      const alone = acceptDeviceList(crypto, undefined, deviceList);
      const username = alone.list.username as Username;
      const account = await store.getAccount(username);
      if (account === undefined) throw new NotFoundError('ACCOUNT_NOT_FOUND', 'no such account');
      const previous = state.accepted.get(username);
      const accepted = previous === undefined ? alone : acceptDeviceList(crypto, previous, deviceList);
      if (previous === undefined && !crypto.timingSafeEqual(accepted.list.accountKey, account.accountKey)) {
        throw new CryptoVerificationError(
          'IDENTITY_SIGNATURE_INVALID',
          "device list is not signed by the account's key",
        );
      }
      const version = state.nextVersion.get(username) ?? 0;
      const label = utf8(username);
      const { proof, searchKey: vrfOutput } = proveSearchKey(state.vrfSecret, label, version);
      state.searchKeys.set(keyOf(username, version), vrfOutput);
      state.vrfProofs.set(keyOf(username, version), proof);
      state.pending.push({
        accountId: account.id,
        username,
        label,
        version,
        vrfOutput,
        deviceList: deviceList.slice(),
        opening: newOpening(crypto),
      });
      state.accepted.set(username, accepted);
      state.nextVersion.set(username, version + 1);
      return { username, version };
    });
  }

  /**
   * Publishes the queue as one epoch and stores it; resolves to its index, or undefined when nothing
   * was queued. If the store refuses, the in-memory trees are rebuilt from the store and the
   * queue is kept for the next epoch.
   */
  publishNow(): Promise<number | undefined> {
    return this.#serial(async () => {
      const state = await this.#ready();
      if (state.pending.length === 0) return undefined;
      const batch = state.pending;
      state.pending = [];
      const timestamp = Math.max(this.#opts.now(), state.heads.at(-1)?.timestamp ?? 0);
      const epoch = this.#apply(state, state.directory.size, timestamp, batch);
      try {
        await this.#opts.store.appendKtEpoch(epoch);
      } catch (e) {
        const rebuilt = this.#load();
        this.#state = rebuilt;
        const fresh = await rebuilt;
        fresh.pending = batch;
        for (const q of batch) {
          fresh.nextVersion.set(q.username, q.version + 1);
          fresh.searchKeys.set(keyOf(q.username, q.version), q.vrfOutput);
        }
        for (const [u, a] of state.accepted) fresh.accepted.set(u, a);
        throw e;
      }
      return epoch.epoch;
    });
  }

  /** The newest signed head. Throws KT_VERSION_NOT_FOUND before the first epoch. */
  head(): Promise<SignedHead> {
    return this.#serial(async () => {
      const state = await this.#ready();
      const last = state.heads.at(-1);
      if (last === undefined)
        throw new NotFoundError('KT_VERSION_NOT_FOUND', 'the directory has no epoch yet');
      return {
        treeHead: state.directory.treeHead,
        root: last.root,
        timestamp: last.timestamp,
        configuration: state.configBytes,
      };
    });
  }

  /**
   * The newest head with its cosignatures, and the LIMITS.ktCosignedHeadsMax greatest earlier heads
   * that witnesses cosigned, each with the log's full subtrees at its size and a consistency proof to
   * the newest (draft-ietf-keytrans-protocol-04 §10.3: the FullTreeHead's older auditor head, here
   * the witnesses'). A head just published has no cosignatures until the witnesses' next poll; with
   * these, a client accepts it on a quorum over an earlier head it extends (core witness-quorum.ts).
   * Throws KT_VERSION_NOT_FOUND before the first epoch.
   */
  witnessedHead(): Promise<WitnessedHead> {
    return this.#serial(async () => {
      const state = await this.#ready();
      const last = state.heads.at(-1);
      if (last === undefined)
        throw new NotFoundError('KT_VERSION_NOT_FOUND', 'the directory has no epoch yet');
      const size = state.heads.length;
      const { cosignatures } = this;
      const earlier: CosignedEarlierHead[] = [];
      for (const [treeSize, list] of await cosignatures.below(size, LIMITS.ktCosignedHeadsMax)) {
        const head = state.heads[treeSize - 1];
        if (head === undefined) continue; // no such head (the store outlived a log it no longer holds)
        earlier.push({
          treeSize,
          root: head.root,
          fullSubtrees: state.mirror.log.fullSubtrees(treeSize),
          consistency: state.mirror.log.consistencyProof(treeSize, size),
          cosignatures: list,
        });
      }
      return {
        treeHead: state.directory.treeHead,
        root: last.root,
        timestamp: last.timestamp,
        configuration: state.configBytes,
        cosignatures: await cosignatures.forHead(size),
        earlier,
      };
    });
  }

  /** Greatest-version search (§12.1) with the value and opening of that version. */
  search(
    username: Username,
    last?: number,
  ): Promise<{ proof: SearchProof; deviceList: Uint8Array; opening: Uint8Array }> {
    return this.#serial(async () => {
      const state = await this.#ready();
      const label = utf8(username);
      if (state.directory.size === 0 || state.directory.greatestVersion(label) < 0) {
        throw new NotFoundError('KT_VERSION_NOT_FOUND', 'the username has no version in the directory');
      }
      const proof = state.directory.search(label, { last });
      const value = state.values.get(username)![proof.version]!;
      return { proof, deviceList: value.deviceList, opening: value.opening };
    });
  }

  /** Owner monitoring (§8.3) for the owner who verified up to the distinguished entry `rightmost`. */
  monitor(
    username: Username,
    opts: { rightmost?: number | undefined; last?: number | undefined },
  ): Promise<{ proof: OwnerMonitorProof; positions: number[] }> {
    return this.#serial(async () => {
      const state = await this.#ready();
      const label = utf8(username);
      const greatest = state.directory.size === 0 ? -1 : state.directory.greatestVersion(label);
      if (greatest < 0) throw new NotFoundError('KT_VERSION_NOT_FOUND', 'the username has no version');
      if (opts.rightmost !== undefined && opts.rightmost >= state.directory.size) {
        throw new ValidationError('KT_TREE_SIZE_INVALID', `entry ${opts.rightmost} is beyond the log`);
      }
      const proof = state.directory.monitorOwner(label, {
        greatest,
        rightmost: opts.rightmost,
        last: opts.last,
      });
      const positions = [...(state.positions.get(username) ?? [])];
      return { proof, positions };
    });
  }

  /** The witness feed: entries after `after` (-1 for all), at most `feedEntriesPerRequest`. */
  updates(after: number): Promise<{ treeSize: number; entries: readonly FeedEntry[] }> {
    return this.#serial(async () => {
      const state = await this.#ready();
      const from = Math.max(0, after + 1);
      return {
        treeSize: state.entries.length,
        entries: state.entries.slice(from, from + DIRECTORY_LIMITS.feedEntriesPerRequest),
      };
    });
  }

  /**
   * The log-tree consistency proof from the head of `size1` to the head of `size2` (§3.2, §11.1),
   * for witnesses. Throws KT_TREE_SIZE_INVALID unless 0 < size1 <= size2 <= the newest size.
   */
  consistencyProof(size1: number, size2: number): Promise<Uint8Array[]> {
    return this.#serial(async () => {
      const state = await this.#ready();
      if (!(size1 > 0 && size1 <= size2 && size2 <= state.entries.length)) {
        throw new ValidationError(
          'KT_TREE_SIZE_INVALID',
          `no consistency proof from ${size1} to ${size2} in a log of ${state.entries.length}`,
        );
      }
      return state.mirror.log.consistencyProof(size1, size2);
    });
  }

  /**
   * The root this directory signed at `treeSize` and its encoded configuration: what a witness's
   * cosignature of that head must cover. Throws KT_TREE_SIZE_INVALID for a head it never signed.
   */
  signedRoot(treeSize: number): Promise<{ root: Uint8Array; configuration: Uint8Array }> {
    return this.#serial(async () => {
      const state = await this.#ready();
      const head = Number.isSafeInteger(treeSize) ? state.heads[treeSize - 1] : undefined;
      if (head === undefined) {
        throw new ValidationError('KT_TREE_SIZE_INVALID', `the directory signed no head of size ${treeSize}`);
      }
      return { root: head.root, configuration: state.configBytes };
    });
  }

  /**
   * TEST SEAM, reachable from no route and no configuration: queues `deviceList` as the next version
   * of the account's label WITHOUT the checks of `submit`, as a compromised server would log a list
   * its owner never signed (test/kt-malicious-server.test.ts shows that owners catch it). A restart
   * refuses such a log (the rebuild checks every stored list).
   */
  queueUncheckedForTest(accountId: number, username: Username, deviceList: Uint8Array): Promise<number> {
    return this.#serial(async () => {
      const state = await this.#ready();
      const version = state.nextVersion.get(username) ?? 0;
      const label = utf8(username);
      const { proof, searchKey: vrfOutput } = proveSearchKey(state.vrfSecret, label, version);
      state.searchKeys.set(keyOf(username, version), vrfOutput);
      state.vrfProofs.set(keyOf(username, version), proof);
      const opening = newOpening(this.#opts.crypto);
      state.pending.push({ accountId, username, label, version, vrfOutput, deviceList, opening });
      state.nextVersion.set(username, version + 1);
      return version;
    });
  }

  /** Stops the timer and publishes what is queued (best effort). */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#timer !== undefined) clearInterval(this.#timer);
    if (this.#state === undefined) return;
    await this.publishNow().catch((e: unknown) => this.#opts.onError?.(e));
  }
}
