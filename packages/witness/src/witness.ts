/**
 * The independent witness (DESIGN.md "Identity and the key directory"; docs/witness.md), sans I/O:
 * it follows one directory's log from its first entry, checks every new signed head, and cosigns the
 * heads it verified (cosignature.ts). Crypto, the clock (`now`, ms) and storage are injected; the feed
 * is only read by `follow`, a thin async driver over `observe`.
 *
 * For a head of size n2 after the last signed head (n1, root1) it checks, in this order:
 *   1. the directory's signature over (n2, root2) (§10.2 TreeHeadTBS);
 *   2. n2 >= n1 (no rollback); if n2 = n1, root2 = root1 (no split view) and nothing else to do;
 *   3. the entries given are exactly n1 .. n2-1, each leaf a 32-byte VRF output and commitment, no key
 *      already in the prefix tree (the directory never removes one), timestamps not decreasing (§4)
 *      and the newest at most `max_ahead` past the witness's clock (§10.4);
 *   4. the consistency proof from (n1, root1) to (n2, root2) (§3.2, log-verify.ts): append-only;
 *   5. applying the entries to its own prefix tree and log gives root2 (the check of the draft's
 *      third-party auditor, §13.2, on the witness's full copy of the prefix tree).
 * Any failure after 1 is the directory's signed statement contradicting what the witness signed or
 * verified: it keeps the evidence (both heads) and halts for good (witness-errors.ts).
 */
import { SealpostError, equalPublicBytes, type CryptoProvider } from '@sealpost/core';
import type { Configuration } from '@sealpost/core/kt/configuration';
import { verifyLogConsistency } from '@sealpost/core/kt/log-verify';
import { logLeafValue } from '@sealpost/core/kt/log-tree';
import type { PrefixLeaf } from '@sealpost/core/kt/prefix-proof';
import { PrefixTree } from '@sealpost/core/kt/prefix-tree';
import { verifyTreeHead } from '@sealpost/core/kt/tree-head';
import { CompactLog } from './compact-log.ts';
import { directoryIdOf, signCosignature, type Cosignature } from './cosignature.ts';
import type { DirectoryFeed, DirectoryHead, EntryUpdate } from './feed.ts';
import { WITNESS_LIMITS } from './limits.ts';
import { WitnessHaltedError, WitnessRefusedError, type Evidence } from './witness-errors.ts';

/** The last head the witness verified and signed, with what it needs to go on from there. */
export interface VerifiedHead extends DirectoryHead {
  /** The log's full subtrees at `treeSize` (§4.2), left to right. */
  readonly fullSubtrees: readonly Uint8Array[];
  /** The newest log entry's timestamp (ms). */
  readonly lastTimestamp: number;
  /** When the witness last cosigned it (seconds); cosignature timestamps never go back. */
  readonly cosignedAt: number;
}

/** The witness's persistent state (state-sqlite.ts). Calls are synchronous and each is atomic. */
export interface WitnessStore {
  /** The Ed25519 seed of the witness key. The store owns it; the witness does not wipe it. */
  readonly signingSeed: Uint8Array;
  load(): { head: VerifiedHead | undefined; leaves: PrefixLeaf[]; evidence: Evidence | undefined };
  /** Records `head` as the last verified head and `added` as new prefix-tree leaves, atomically. */
  commit(head: VerifiedHead, added: readonly PrefixLeaf[]): void;
  /** Records the evidence and the halt, for good. */
  recordEvidence(evidence: Evidence): void;
}

export interface WitnessOptions {
  readonly crypto: CryptoProvider;
  /** The followed directory's configuration: its signing key, mode and clock bounds. */
  readonly config: Configuration;
  readonly store: WitnessStore;
}

/** One step: a signed head, the entries since the last signed head, and the consistency proof. */
export interface Observation {
  readonly head: DirectoryHead;
  readonly entries: readonly EntryUpdate[];
  /** From the last signed head's size to `head.treeSize`; empty for the first head. */
  readonly proof: readonly Uint8Array[];
}

function refuse(reason: WitnessRefusedError['reason'], code: SealpostError['code'], message: string): never {
  throw new WitnessRefusedError(reason, code, message);
}

/** A caught error from core's checks, as the refusal it means. */
function asRefusal(e: unknown, reason: WitnessRefusedError['reason']): WitnessRefusedError {
  if (e instanceof WitnessRefusedError) return e;
  if (e instanceof SealpostError) return new WitnessRefusedError(reason, e.code, e.message, e.details);
  throw e;
}

export class Witness {
  readonly #crypto: CryptoProvider;
  readonly #config: Configuration;
  readonly #store: WitnessStore;
  readonly directoryId: Uint8Array;
  readonly publicKey: Uint8Array;
  #head: VerifiedHead | undefined;
  #prefix: PrefixTree;
  #evidence: Evidence | undefined;

  constructor(opts: WitnessOptions) {
    this.#crypto = opts.crypto;
    this.#config = opts.config;
    this.#store = opts.store;
    this.directoryId = directoryIdOf(opts.crypto, opts.config);
    this.publicKey = opts.crypto.ed25519.publicKey(opts.store.signingSeed);
    const state = opts.store.load();
    this.#head = state.head;
    this.#evidence = state.evidence;
    // One batch rebuilds the same tree as the entries did one by one: the shape is a function of the
    // set of keys (prefix-tree.ts).
    this.#prefix = PrefixTree.empty(opts.crypto).update({ add: state.leaves });
  }

  get head(): VerifiedHead | undefined {
    return this.#head;
  }

  /** The evidence that halted the witness, if it did. */
  get evidence(): Evidence | undefined {
    return this.#evidence;
  }

  /**
   * Checks `obs` (module comment) and returns a cosignature of its head at `now` (ms). Throws
   * WitnessHaltedError once halted, WitnessRefusedError for a head it will not sign (halting unless
   * the reason is bad-signature).
   */
  observe(obs: Observation, now: number): Cosignature {
    if (this.#evidence !== undefined) throw new WitnessHaltedError(this.#evidence);
    const { head } = obs;
    if (!Number.isSafeInteger(head.treeSize) || head.treeSize < 1 || head.root.length !== 32) {
      refuse('bad-signature', 'VALIDATION_FAILED', `tree size ${head.treeSize} or root length is invalid`);
    }
    try {
      verifyTreeHead(
        this.#crypto,
        this.#config,
        { treeSize: head.treeSize, signature: head.signature },
        head.root,
      );
    } catch (e) {
      throw asRefusal(e, 'bad-signature');
    }
    let next: { head: VerifiedHead; prefix: PrefixTree; added: PrefixLeaf[] };
    try {
      next = this.#verify(obs, now);
    } catch (e) {
      const refusal = asRefusal(e, 'fork');
      this.#halt(refusal, head, now);
      throw refusal;
    }
    const cosignedAt = Math.max(Math.floor(now / 1000), this.#head?.cosignedAt ?? 0);
    const verified: VerifiedHead = { ...next.head, cosignedAt };
    this.#store.commit(verified, next.added);
    this.#head = verified;
    this.#prefix = next.prefix;
    return signCosignature(
      this.#crypto,
      this.#store.signingSeed,
      { directoryId: this.directoryId, treeSize: head.treeSize, root: head.root },
      cosignedAt,
    );
  }

  #halt(refusal: WitnessRefusedError, offending: DirectoryHead, now: number): void {
    const last = this.#head;
    const evidence: Evidence = {
      reason: refusal.reason,
      code: refusal.code,
      message: refusal.message,
      detectedAt: now,
      signed: last && { treeSize: last.treeSize, root: last.root.slice(), signature: last.signature.slice() },
      offending: {
        treeSize: offending.treeSize,
        root: offending.root.slice(),
        signature: offending.signature.slice(),
      },
    };
    this.#store.recordEvidence(evidence);
    this.#evidence = evidence;
    refusal.evidence = evidence;
  }

  #verify(obs: Observation, now: number): { head: VerifiedHead; prefix: PrefixTree; added: PrefixLeaf[] } {
    const { head, entries } = obs;
    const last = this.#head;
    const size1 = last?.treeSize ?? 0;
    const signature = head.signature.slice();
    if (head.treeSize < size1) {
      refuse('rollback', 'KT_TREE_SIZE_INVALID', `head of size ${head.treeSize} after one of size ${size1}`);
    }
    if (entries.length !== head.treeSize - size1) {
      refuse(
        'entries-missing',
        'KT_TREE_SIZE_INVALID',
        `${entries.length} entries for sizes ${size1} to ${head.treeSize}`,
      );
    }
    if (last !== undefined && head.treeSize === size1) {
      if (!equalPublicBytes(head.root, last.root)) {
        refuse('split-view', 'KT_ROOT_MISMATCH', `a second root for size ${size1}`);
      }
      return { head: { ...last, signature }, prefix: this.#prefix, added: [] };
    }

    let prefix = this.#prefix;
    const log = new CompactLog(this.#crypto, size1, last?.fullSubtrees ?? []);
    const added: PrefixLeaf[] = [];
    let previous = last?.lastTimestamp ?? 0;
    for (const [i, entry] of entries.entries()) {
      if (entry.index !== size1 + i) {
        refuse('entries-missing', 'KT_TREE_SIZE_INVALID', `entry ${entry.index} where ${size1 + i} belongs`);
      }
      if (!Number.isSafeInteger(entry.timestamp) || entry.timestamp < previous) {
        refuse(
          'timestamp',
          'KT_TIMESTAMP_INVALID',
          `entry ${entry.index} at ${entry.timestamp} after ${previous}`,
        );
      }
      previous = entry.timestamp;
      if (entry.added.length > WITNESS_LIMITS.leavesPerEntry) {
        refuse(
          'malformed-update',
          'VALIDATION_FAILED',
          `entry ${entry.index} adds ${entry.added.length} leaves`,
        );
      }
      try {
        // Checks sizes, a key twice in the entry (VALIDATION_FAILED), a key already present (KT_PREFIX_KEY_EXISTS).
        prefix = prefix.update({ add: entry.added });
      } catch (e) {
        throw asRefusal(e, 'malformed-update');
      }
      added.push(...entry.added);
      log.append(logLeafValue(this.#crypto, { timestamp: entry.timestamp, prefixRoot: prefix.root }));
    }
    // §10.4: the newest entry may not be more than max_ahead in the future.
    if (previous > now + this.#config.maxAhead) {
      refuse(
        'timestamp',
        'KT_TIMESTAMP_INVALID',
        `newest entry at ${previous} is ahead of ${now} by more than max_ahead`,
      );
    }
    if (last !== undefined) {
      try {
        verifyLogConsistency(this.#crypto, {
          size1,
          root1: last.root,
          fullSubtrees1: last.fullSubtrees,
          size2: head.treeSize,
          root2: head.root,
          elements: obs.proof,
        });
      } catch (e) {
        throw asRefusal(e, 'fork');
      }
    }
    const root = log.root();
    if (!equalPublicBytes(root, head.root)) {
      refuse('root-mismatch', 'KT_ROOT_MISMATCH', `the entries give another root for size ${head.treeSize}`);
    }
    return {
      head: {
        treeSize: head.treeSize,
        root,
        signature,
        fullSubtrees: log.fullSubtrees(),
        lastTimestamp: previous,
        cosignedAt: last?.cosignedAt ?? 0,
      },
      prefix,
      added,
    };
  }
}

/**
 * Reads the feed's newest head, the entries since the witness's last head (in requests of
 * `WITNESS_LIMITS.entriesPerRequest`) and the consistency proof, and passes them to `observe`.
 */
export async function follow(witness: Witness, feed: DirectoryFeed, now: number): Promise<Cosignature> {
  if (witness.evidence !== undefined) throw new WitnessHaltedError(witness.evidence);
  const from = witness.head?.treeSize ?? 0;
  // An older head than the witness holds may be an instance behind its peers (one address, several
  // servers): asked again, a few times, before `observe` refuses it as a rollback with evidence.
  let head = await feed.treeHead(from);
  for (let attempt = 1; head.treeSize < from && attempt < WITNESS_LIMITS.headAttempts; attempt++) {
    await new Promise((r) => setTimeout(r, WITNESS_LIMITS.headRetryMs * 2 ** (attempt - 1)));
    head = await feed.treeHead(from);
  }
  const entries: EntryUpdate[] = [];
  for (let at = from; at < head.treeSize;) {
    const to = Math.min(at + WITNESS_LIMITS.entriesPerRequest, head.treeSize);
    const got = (await feed.updates(at, to)).slice(0, to - at);
    if (got.length === 0) break; // observe refuses the gap
    entries.push(...got);
    at += got.length;
  }
  const proof = from > 0 && head.treeSize > from ? await feed.consistencyProof(from, head.treeSize) : [];
  return witness.observe({ head, entries, proof }, now);
}
