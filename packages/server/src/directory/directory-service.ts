/**
 * The server's key-transparency directory (docs/key-transparency.md "Server"): a thin I/O shell
 * around core's sans-I/O `Directory` (draft-ietf-keytrans-protocol-04), on any number of instances
 * sharing one store.
 *
 *   submit(list)   on any instance: verify the signed device list (signature, devices, chain after
 *                  the label's greatest version, queued or published), compute its VRF output (ECVRF
 *                  prove, RFC 9381) and store it in the durable queue (kt_queue) before answering;
 *                  the VRF is never computed in an epoch's critical path;
 *   publish        on the one publisher (the holder of the store's publisher lock: a PostgreSQL
 *                  advisory lock; SQLite's single process always holds it), every `epochSeconds`: the
 *                  queue becomes one log entry, stored with its head in the transaction that deletes
 *                  it from the queue, before anyone is shown the new head;
 *   follow         the other instances tail kt_epochs every `followPollMs` and replay new entries
 *                  (each rebuilt head must equal the stored one), so every instance serves the newest
 *                  heads and proofs; each one tries to take the lock every epoch, so when the
 *                  publisher dies (its lock goes with its connection) another takes over;
 *   catch up       a request naming a tree size this instance has not replayed (a client or witness
 *                  that another instance showed a newer head: `atLeast`, `last`, `to`, a cosigned
 *                  head's size) replays the store once, at once, before it is answered; the publisher
 *                  stores an entry before anyone sees its head, so one replay finds every head shown;
 *                  a size the store does not have either is answered with the newest head (the
 *                  client refuses it as a rollback); NOT_READY when the replay takes longer than
 *                  LIMITS.ktCatchUpMaxMs;
 *   start          keys come from the store (generated on first start); the trees are rebuilt from
 *                  the stored log. The queue needs no reload: it is read from the store each epoch.
 * A crash between accept and publish loses nothing. Two instances that both believe they publish
 * cannot fork the log: the store refuses a second entry under one epoch number, and the loser
 * rebuilds its trees from the store.
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
import { newOpening } from '@sealpost/core/kt/commitment';
import type { OwnerMonitorProof, SearchProof } from '@sealpost/core/kt/response-codec';
import type { TreeHead } from '@sealpost/core/kt/tree-head';
import { proveSearchKey } from '@sealpost/core/kt/vrf-input';
import { acceptDeviceList, type AcceptedDeviceList } from '@sealpost/core/identity/device-list';
import type { KtCosignature, KtPublisherLock, Store } from '../store/store.ts';
import { CosignatureCollector } from './cosignatures.ts';
import {
  DIRECTORY_CONFIGURATION,
  appendEntry,
  keyOf,
  newTrees,
  replayEntry,
  type DirectoryTrees,
  type FeedEntry,
} from './directory-trees.ts';

export type { FeedEntry } from './directory-trees.ts';

/** The directory's limits and long-term parameters (ms), in one table. */
export const DIRECTORY_LIMITS = {
  ...DIRECTORY_CONFIGURATION,
  /** Label versions waiting for the next epoch (kt_queue); a submit beyond it is refused. */
  pendingMax: 10_000,
  /** A submit that lost the race for a version to another instance tries again this many times. */
  submitAttempts: 3,
  /** How often an instance that does not publish reads new epochs from the store. */
  followPollMs: 250,
  /** Log entries per answer of the witness feed. */
  feedEntriesPerRequest: 256,
  /** Distinct witness keys whose cosignatures one head keeps (docs/witness.md "Server"). */
  cosignaturesPerHead: 32,
} as const;

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

const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s);

export class DirectoryService {
  readonly #opts: DirectoryServiceOptions;
  #trees: Promise<DirectoryTrees> | undefined;
  #timers: NodeJS.Timeout[] = [];
  /** Held while this instance publishes. */
  #lock: KtPublisherLock | undefined;
  /** A lock attempt in progress. */
  #locking: Promise<void> | undefined;
  /** Serialises submits, publishes, replays and reads: each sees the effects of the one before. */
  #queue: Promise<unknown> = Promise.resolve();
  #closed = false;
  /** Set by `holdFollowingForTest`: the timers do nothing (requests still catch up). */
  #followHeld = false;
  /** username -> the newest list this instance queued, with its version (spares re-verifying it). */
  readonly #submitted = new Map<string, { version: number; list: AcceptedDeviceList }>();
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

  /** True while this instance holds the publisher lock. */
  get publishing(): boolean {
    return this.#lock !== undefined;
  }

  /**
   * Loads keys and rebuilds the trees, tries to become the publisher, then publishes every
   * `epochSeconds` (or tries again to become the publisher) and follows the store in between.
   */
  async start(): Promise<void> {
    await this.#ready();
    if (this.#closed || this.#timers.length > 0) return;
    await this.#tryLock();
    const onError = (e: unknown) => this.#opts.onError?.(e);
    const epoch = setInterval(() => {
      if (this.#followHeld) return;
      this.#tryLock()
        .then(() => this.publishNow())
        .catch(onError);
    }, this.#opts.epochSeconds * 1000);
    const follow = setInterval(() => {
      if (this.#lock === undefined && !this.#followHeld) this.#serial(() => this.#follow()).catch(onError);
    }, DIRECTORY_LIMITS.followPollMs);
    this.#timers = [epoch, follow];
    for (const t of this.#timers) t.unref();
  }

  #ready(): Promise<DirectoryTrees> {
    if (this.#trees === undefined) {
      const loading = this.#load();
      this.#trees = loading;
      loading.catch(() => {
        if (this.#trees === loading) this.#trees = undefined; // a later call tries again
      });
    }
    return this.#trees;
  }

  #serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(fn, fn);
    this.#queue = run.catch(() => undefined);
    return run;
  }

  async #load(): Promise<DirectoryTrees> {
    const { store, crypto } = this.#opts;
    const keys = await store.ktKeys({
      signingSeed: crypto.randomBytes(32),
      vrfSecret: crypto.randomBytes(32),
    });
    const trees = newTrees(crypto, keys);
    for (const epoch of await store.loadKtLog()) replayEntry(crypto, trees, epoch);
    return trees;
  }

  /** Replays the entries stored since the trees' newest (another instance published them). */
  async #follow(): Promise<DirectoryTrees> {
    const trees = await this.#ready();
    const { store, crypto } = this.#opts;
    try {
      for (const epoch of await store.loadKtLog(trees.directory.size - 1)) replayEntry(crypto, trees, epoch);
    } catch (e) {
      this.#drop(trees);
      throw e;
    }
    return trees;
  }

  /**
   * Replays the store once when a request names a tree size beyond this instance's newest head
   * (`sizes`: the ones it names, undefined when absent), so that a client shown a head by another
   * instance is not answered with an older one. Resolves once replayed, whether or not the store
   * held that size (a size no instance published is answered with the newest head). Requires the
   * trees to be loaded or loadable. Throws UnavailableError NOT_READY after LIMITS.ktCatchUpMaxMs.
   */
  async #catchUp(...sizes: (number | undefined)[]): Promise<void> {
    const wanted = Math.max(
      0,
      ...sizes.filter((n): n is number => n !== undefined && Number.isSafeInteger(n)),
    );
    const behind = (trees: DirectoryTrees) => wanted > trees.heads.length;
    if (!behind(await this.#ready())) return;
    // Queued catch-ups behind one that got there replay nothing: the check is repeated in turn.
    const replayed = this.#serial(async () => {
      const trees = await this.#ready();
      if (behind(trees)) await this.#follow();
    });
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () =>
          reject(
            new UnavailableError(
              'NOT_READY',
              `the directory could not replay up to tree size ${wanted}; retry`,
            ),
          ),
        LIMITS.ktCatchUpMaxMs,
      );
    });
    try {
      await Promise.race([replayed, late]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Forgets trees that no longer match the store; the next call rebuilds them. */
  #drop(trees: DirectoryTrees): void {
    if (this.#trees !== undefined) {
      void this.#trees.then((current) => {
        if (current === trees) this.#trees = undefined;
      });
    }
  }

  /** Takes the publisher lock if no one holds it; keeps it until it is lost or `close`. */
  #tryLock(): Promise<void> {
    if (this.#lock !== undefined || this.#closed) return Promise.resolve();
    this.#locking ??= this.#opts.store
      .ktPublisherLock()
      .then(async (lock) => {
        if (lock === undefined) return;
        if (this.#closed) return lock.release();
        this.#lock = lock;
        void lock.lost.then(() => {
          if (this.#lock === lock) this.#lock = undefined;
        });
      })
      .finally(() => {
        this.#locking = undefined;
      });
    return this.#locking;
  }

  /**
   * Accepts a signed device list for its username's account: signature and devices, then the chain
   * after the label's greatest version, queued or published (docs/identity.md "Rules"); a first list
   * must carry the account's registered key. Stores it in the queue with its VRF output before
   * resolving to its label version. Throws ACCOUNT_NOT_FOUND, IDENTITY_* and CODEC_* errors, and
   * NOT_READY when the queue is full or other instances kept taking the version; nothing is queued then.
   */
  submit(deviceList: Uint8Array): Promise<{ username: Username; version: number }> {
    return this.#serial(async () => {
      const trees = await this.#ready();
      const { crypto, store } = this.#opts;
      if (this.#closed) throw new UnavailableError('SHUTTING_DOWN', 'the directory is closing');
      // Decode and verify on its own first, so the account lookup uses a well-formed username.
      const alone = acceptDeviceList(crypto, undefined, deviceList);
      const username = alone.list.username as Username;
      const account = await store.getAccount(username);
      if (account === undefined) throw new NotFoundError('ACCOUNT_NOT_FOUND', 'no such account');
      for (let attempt = 0; attempt < DIRECTORY_LIMITS.submitAttempts; attempt++) {
        const latest = await store.ktLatest(account.id);
        const previous = latest === undefined ? undefined : this.#acceptedAt(trees, username, latest);
        const accepted = previous === undefined ? alone : acceptDeviceList(crypto, previous, deviceList);
        if (previous === undefined && !crypto.timingSafeEqual(accepted.list.accountKey, account.accountKey)) {
          throw new CryptoVerificationError(
            'IDENTITY_SIGNATURE_INVALID',
            "device list is not signed by the account's key",
          );
        }
        const version = latest === undefined ? 0 : latest.version + 1;
        const { proof, searchKey: vrfOutput } = proveSearchKey(trees.vrfSecret, utf8(username), version);
        const queued = await store.queueKtUpdate(
          {
            accountId: account.id,
            version,
            vrfOutput,
            deviceList: deviceList.slice(),
            opening: newOpening(crypto),
          },
          DIRECTORY_LIMITS.pendingMax,
        );
        if (queued === 'full') {
          throw new UnavailableError('NOT_READY', 'the directory queue is full; retry after the next epoch');
        }
        if (queued === 'queued') {
          trees.searchKeys.set(keyOf(username, version), vrfOutput);
          trees.vrfProofs.set(keyOf(username, version), proof);
          this.#submitted.set(username, { version, list: accepted });
          return { username, version };
        }
        // 'taken': another instance queued this version meanwhile; continue after it.
      }
      throw new UnavailableError('NOT_READY', 'the username is being updated elsewhere; retry');
    });
  }

  /** The label's list at `latest.version` as accepted: from a cache, else taken on its own word. */
  #acceptedAt(
    trees: DirectoryTrees,
    username: string,
    latest: { version: number; deviceList: Uint8Array },
  ): AcceptedDeviceList {
    for (const link of [this.#submitted.get(username), trees.accepted.get(username)]) {
      if (link?.version === latest.version) return link.list;
    }
    // Checked against its own predecessor when it was queued.
    return acceptDeviceList(this.#opts.crypto, undefined, latest.deviceList);
  }

  /**
   * On the publisher: publishes the queue as one epoch, stored in the transaction that removes it
   * from the queue; resolves to its index, or undefined when nothing was queued. Elsewhere: replays
   * the epochs stored since the last look and resolves to undefined. If the store refuses the epoch
   * (another instance published that number), the trees are rebuilt from the store; the queue is
   * still in the store for the next epoch.
   */
  publishNow(): Promise<number | undefined> {
    return this.#serial(async () => {
      const trees = await this.#follow();
      if (this.#lock === undefined) return undefined;
      const batch = await this.#opts.store.ktQueue(DIRECTORY_LIMITS.pendingMax);
      if (batch.length === 0) return undefined;
      const timestamp = Math.max(this.#opts.now(), trees.heads.at(-1)?.timestamp ?? 0);
      try {
        const epoch = appendEntry(this.#opts.crypto, trees, timestamp, batch);
        await this.#opts.store.appendKtEpoch(epoch);
        return epoch.epoch;
      } catch (e) {
        this.#drop(trees);
        throw e;
      }
    });
  }

  /** The newest signed head (as replayed: no catch-up). Throws KT_VERSION_NOT_FOUND before the first epoch. */
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
   * With `atLeast`, a tree size the caller was shown (by another instance), the store is replayed
   * first when this instance is behind it (`#catchUp`).
   * Throws KT_VERSION_NOT_FOUND before the first epoch, NOT_READY when the catch-up is too slow.
   */
  async witnessedHead(atLeast?: number): Promise<WitnessedHead> {
    await this.#catchUp(atLeast);
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
          fullSubtrees: state.directory.log.fullSubtrees(treeSize),
          consistency: state.directory.log.consistencyProof(treeSize, size),
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

  /**
   * Greatest-version search (§12.1) with the value and opening of that version, for a client whose
   * last head had size `last` and whose current one has size `atLeast` (both caught up to).
   */
  async search(
    username: Username,
    last?: number,
    atLeast?: number,
  ): Promise<{ proof: SearchProof; deviceList: Uint8Array; opening: Uint8Array }> {
    await this.#catchUp(last, atLeast);
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

  /**
   * Owner monitoring (§8.3) for the owner who verified up to the distinguished entry `rightmost`;
   * `last` and `atLeast` as in `search` (every size named is caught up to).
   */
  async monitor(
    username: Username,
    opts: { rightmost?: number | undefined; last?: number | undefined; atLeast?: number | undefined },
  ): Promise<{ proof: OwnerMonitorProof; positions: number[] }> {
    await this.#catchUp(
      opts.rightmost === undefined ? undefined : opts.rightmost + 1,
      opts.last,
      opts.atLeast,
    );
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

  /**
   * The witness feed: entries after `after` (-1 for all), at most `feedEntriesPerRequest`. A reader
   * that holds entry `after` was shown a log of `after + 1`: caught up to.
   */
  async updates(after: number): Promise<{ treeSize: number; entries: readonly FeedEntry[] }> {
    await this.#catchUp(after + 1);
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
   * for witnesses; `size2` is caught up to. Throws KT_TREE_SIZE_INVALID unless
   * 0 < size1 <= size2 <= the newest size.
   */
  async consistencyProof(size1: number, size2: number): Promise<Uint8Array[]> {
    await this.#catchUp(size2);
    return this.#serial(async () => {
      const state = await this.#ready();
      if (!(size1 > 0 && size1 <= size2 && size2 <= state.entries.length)) {
        throw new ValidationError(
          'KT_TREE_SIZE_INVALID',
          `no consistency proof from ${size1} to ${size2} in a log of ${state.entries.length}`,
        );
      }
      return state.directory.log.consistencyProof(size1, size2);
    });
  }

  /**
   * The root this directory signed at `treeSize` and its encoded configuration: what a witness's
   * cosignature of that head must cover (caught up to). Throws KT_TREE_SIZE_INVALID for a head it
   * never signed.
   */
  async signedRoot(treeSize: number): Promise<{ root: Uint8Array; configuration: Uint8Array }> {
    await this.#catchUp(treeSize);
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
      const { store, crypto } = this.#opts;
      const version = ((await store.ktLatest(accountId))?.version ?? -1) + 1;
      const { proof, searchKey: vrfOutput } = proveSearchKey(state.vrfSecret, utf8(username), version);
      const opening = newOpening(crypto);
      const queued = await store.queueKtUpdate(
        { accountId, version, vrfOutput, deviceList, opening },
        DIRECTORY_LIMITS.pendingMax,
      );
      if (queued !== 'queued') throw new UnavailableError('NOT_READY', `not queued: ${queued}`);
      state.searchKeys.set(keyOf(username, version), vrfOutput);
      state.vrfProofs.set(keyOf(username, version), proof);
      return version;
    });
  }

  /**
   * TEST SEAM, reachable from no route and no configuration: while `held`, this instance's timers
   * do nothing (no poll of the store, no attempt at the lock, no epoch), so a follower stays behind
   * the publisher as long as a test needs (test/kt-multi-instance.test.ts); requests naming a newer
   * size still catch up (`#catchUp`), and `publishNow` still replays.
   */
  holdFollowingForTest(held: boolean): void {
    this.#followHeld = held;
  }

  /**
   * Stops the timers; the publisher publishes what is queued (best effort: the queue is durable, the
   * next publisher would) and releases its lock, so another instance takes over at its next epoch.
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const t of this.#timers) clearInterval(t);
    if (this.#trees !== undefined && this.#lock !== undefined) {
      await this.publishNow().catch((e: unknown) => this.#opts.onError?.(e));
    }
    await this.#locking?.catch(() => undefined);
    const lock = this.#lock;
    this.#lock = undefined;
    await lock?.release();
  }
}
