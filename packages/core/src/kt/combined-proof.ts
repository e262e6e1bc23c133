/**
 * Combined-tree proofs (draft-ietf-keytrans-protocol-04 §11.3): the timestamps, prefix proofs, prefix
 * roots and log inclusion proof a user needs to run the algorithms of §4 (view update), §6 and §7
 * (searches) and §8 (monitoring) against one tree head.
 *
 * §11.3: "There is no explicit indication as to which log entry the elements correspond to, as they are
 * provided in the order that the algorithm the user is executing would request them." So each
 * algorithm is written once, against `CombinedProofSource`, and run twice: the prover's
 * `CombinedProofBuilder` answers from its trees and records what it answered; the verifier's
 * `CombinedProofReader` answers from the proof, in the same order, and checks each answer. At the end
 * the reader checks the §11.3 MUSTs:
 *   - timestamps, prefix_proofs and prefix_roots hold exactly the expected number of entries;
 *   - a timestamp is sent once, and never for an entry the user retained (the previous frontier);
 *   - every prefix proof of one entry computes the same prefix root, and one for a retained entry
 *     computes the retained root;
 *   - all timestamps seen, retained ones included, never decrease from left to right;
 *   - `inclusion` with the leaves `LogEntry{timestamp, prefix root}` and the retained full subtrees
 *     recomputes the log root, which the caller then checks against the signed tree head (§12.1 4-5).
 * The root at an `AuditorTreeHead.tree_size` (§11.3, third-party auditing) is not computed yet.
 */
import type { CryptoProvider } from '../crypto/provider.ts';
import { equalPublicBytes, toHex } from '../bytes/encoding.ts';
import {
  RedundantLookups,
  SearchLadder,
  monitorLadder,
  walkLadder,
  type LadderOutcome,
} from './binary-ladder.ts';
import type { CombinedTree } from './combined-tree.ts';
import { bstFrontier } from './implicit-bst.ts';
import { evaluateLogBatch } from './log-verify.ts';
import { logLeafValue, type LogEntry } from './log-tree.ts';
import {
  evaluatePrefixProof,
  sharePrefixProof,
  type PrefixProof,
  type PrefixSearch,
  type SharedNodes,
} from './prefix-proof.ts';
import type { CombinedTreeProof } from './proof-codec.ts';
import { ProofMalformedError, RootMismatchError, TimestampError, TreeSizeError } from './proof-errors.ts';

/** What a user retains from the last tree head it verified (§4.2). */
export interface KtView {
  readonly size: number;
  /** Head values of the log's full subtrees, left to right. */
  readonly fullSubtrees: readonly Uint8Array[];
  /** The log entries along the frontier (§4.1), by index. */
  readonly frontier: ReadonlyMap<number, LogEntry>;
}

/** What the §4-§8 algorithms ask of a combined-tree proof, in the order they ask it. */
export interface CombinedProofSource {
  /** The log's size (the tree head's tree_size). */
  readonly size: number;
  /** The timestamp of log entry `index`. */
  timestamp(index: number): number;
  /**
   * A search binary ladder (§6.2) for `label` with target `target` in entry `index`'s prefix tree;
   * `omitRedundant`: leave out lookups earlier ones of this response imply (§6.2, second optimisation).
   */
  searchLadder(index: number, label: Uint8Array, target: number, omitRedundant?: boolean): LadderOutcome;
  /** A monitoring binary ladder (§8.1): true when every lookup is an inclusion. */
  monitorLadder(index: number, label: Uint8Array, target: number): boolean;
  /** One lookup of `version` (§7.2 step 6.3): true when included. */
  lookup(index: number, label: Uint8Array, version: number): boolean;
}

const checkIndex = (index: number, size: number): void => {
  if (!Number.isSafeInteger(index) || index < 0 || index >= size) {
    throw new TreeSizeError(`log entry ${index} is outside 0..${size - 1}`, { index, size });
  }
};

/** The frontier entries of `last` a user retains; none without a previous view. */
function retainedIndices(last: number | undefined): Set<number> {
  return new Set(last === undefined || last === 0 ? [] : bstFrontier(last));
}

/** The directory state the prover answers from. */
export interface ProverState {
  readonly crypto: CryptoProvider;
  readonly tree: CombinedTree;
  /** Greatest version of `label` in log entry `index`'s prefix tree; -1 if none. */
  greatestAt(label: Uint8Array, index: number): number;
  /** The search key (VRF output) of a label-version pair (§10.7). */
  searchKey(label: Uint8Array, version: number): Uint8Array;
}

/** The prover's side: answers from the trees at `size` and records the proof. */
export class CombinedProofBuilder implements CombinedProofSource {
  readonly size: number;
  readonly #state: ProverState;
  readonly #last: number | undefined;
  readonly #retained: Set<number>;
  readonly #sent: number[] = []; // entries whose timestamp is in the proof, in request order
  readonly #sentSet = new Set<number>();
  readonly #proved = new Set<number>();
  readonly #timestamps: number[] = [];
  readonly #proofs: PrefixProof[] = [];
  readonly #known = new RedundantLookups();
  readonly #shared: SharedNodes = new Map();
  /** Versions looked up per label (hex), for the caller to send their search keys and commitments. */
  readonly lookedUp = new Map<string, Set<number>>();

  /** Requires 0 < size <= tree size and, when the user advertised `last`, 0 < last <= size. */
  constructor(state: ProverState, size: number, last?: number) {
    if (!Number.isSafeInteger(size) || size < 1 || size > state.tree.size) {
      throw new TreeSizeError(`tree size ${size} is not in 1..${state.tree.size}`, { size });
    }
    if (last !== undefined && (!Number.isSafeInteger(last) || last < 1 || last > size)) {
      throw new TreeSizeError(`advertised size ${last} is not in 1..${size}`, { last, size });
    }
    this.#state = state;
    this.size = size;
    this.#last = last;
    this.#retained = retainedIndices(last);
  }

  timestamp(index: number): number {
    checkIndex(index, this.size);
    const ts = this.#state.tree.entry(index).timestamp;
    if (!this.#retained.has(index) && !this.#sentSet.has(index)) {
      this.#sentSet.add(index);
      this.#sent.push(index);
      this.#timestamps.push(ts);
    }
    return ts;
  }

  /** Proves `versions` (none: only the timestamp) in entry `index`. */
  #prove(index: number, label: Uint8Array, versions: readonly number[]): void {
    this.timestamp(index);
    if (versions.length === 0) return;
    const id = toHex(label);
    let seen = this.lookedUp.get(id);
    if (seen === undefined) this.lookedUp.set(id, (seen = new Set()));
    const greatest = this.#state.greatestAt(label, index);
    for (const v of versions) {
      seen.add(v);
      this.#known.record(id, v, index, v <= greatest);
    }
    const keys = versions.map((v) => this.#state.searchKey(label, v));
    const { proof, commitments } = this.#state.tree.searchProof(index, keys);
    const searches = keys.map((vrfOutput, i) => ({ vrfOutput, commitment: commitments[i] }));
    this.#proofs.push(sharePrefixProof(this.#state.crypto, searches, proof, this.#shared));
    this.#proved.add(index);
  }

  searchLadder(index: number, label: Uint8Array, target: number, omitRedundant = false): LadderOutcome {
    const greatest = this.#state.greatestAt(label, index);
    const id = toHex(label);
    const ladder = new SearchLadder(target);
    const looked = walkLadder(
      ladder,
      (v) => (omitRedundant ? this.#known.implied(id, v, index) : undefined),
      (v) => v <= greatest,
    );
    this.#prove(index, label, looked);
    return ladder.outcome;
  }

  monitorLadder(index: number, label: Uint8Array, target: number): boolean {
    this.#prove(index, label, monitorLadder(target));
    return this.#state.greatestAt(label, index) >= target;
  }

  lookup(index: number, label: Uint8Array, version: number): boolean {
    this.#prove(index, label, [version]);
    return this.#state.greatestAt(label, index) >= version;
  }

  /** The proof of everything answered so far. */
  finish(): CombinedTreeProof {
    const sorted = [...this.#sent].sort((a, b) => a - b);
    const prefixRoots = sorted
      .filter((i) => !this.#proved.has(i))
      .map((i) => this.#state.tree.entry(i).prefixRoot);
    const elements = this.#state.tree.log.batchProof(this.size, sorted, this.#last);
    return {
      timestamps: [...this.#timestamps],
      prefixProofs: [...this.#proofs],
      prefixRoots,
      inclusion: { elements },
    };
  }
}

/** A search key and, when the verifier holds one, the commitment of a label-version pair. */
export type LookupKeys = (
  label: Uint8Array,
  version: number,
) => { readonly vrfOutput: Uint8Array; readonly commitment?: Uint8Array | undefined } | undefined;

/** The verifier's side: answers from the proof, checking as it goes and in `finish`. */
export class CombinedProofReader implements CombinedProofSource {
  readonly size: number;
  readonly #crypto: CryptoProvider;
  readonly #proof: CombinedTreeProof;
  readonly #view: KtView | undefined;
  readonly #keys: LookupKeys;
  readonly #read = new Map<number, number>(); // index -> timestamp read from the proof
  readonly #order: number[] = [];
  readonly #roots = new Map<number, Uint8Array>(); // index -> prefix root computed by its proofs
  readonly #known = new RedundantLookups();
  readonly #shared: SharedNodes = new Map();
  #nextProof = 0;

  /** Requires 0 < size; a view of size <= size (else TreeSizeError). */
  constructor(
    crypto: CryptoProvider,
    proof: CombinedTreeProof,
    size: number,
    view: KtView | undefined,
    keys: LookupKeys,
  ) {
    if (!Number.isSafeInteger(size) || size < 1) throw new TreeSizeError(`tree size ${size} is not positive`);
    if (view !== undefined && view.size > size) {
      throw new TreeSizeError(`tree head size ${size} is smaller than the retained ${view.size}`, {
        size,
        retained: view.size,
      });
    }
    this.#crypto = crypto;
    this.#proof = proof;
    this.size = size;
    this.#view = view;
    this.#keys = keys;
  }

  timestamp(index: number): number {
    checkIndex(index, this.size);
    const retained = this.#view?.frontier.get(index);
    if (retained !== undefined) return retained.timestamp;
    const known = this.#read.get(index);
    if (known !== undefined) return known;
    const ts = this.#proof.timestamps[this.#order.length];
    if (ts === undefined) {
      throw new ProofMalformedError(`proof ends at timestamp ${this.#order.length} (log entry ${index})`);
    }
    this.#read.set(index, ts);
    this.#order.push(index);
    return ts;
  }

  /**
   * Replays the lookups of entry `index` with `walk`, which asks `next()` for the outcome of each
   * lookup in turn; the first ask reads the next prefix proof, whose results answer them in order.
   * Then verifies that proof (none when `walk` looked nothing up). Returns the outcomes.
   */
  #readProof(index: number, label: Uint8Array, walk: (next: () => boolean) => number[]): boolean[] {
    this.timestamp(index);
    let proof: PrefixProof | undefined;
    let k = 0;
    const versions = walk(() => {
      if (proof === undefined) {
        proof = this.#proof.prefixProofs[this.#nextProof];
        if (proof === undefined) {
          throw new ProofMalformedError(`proof ends at prefix proof ${this.#nextProof} (log entry ${index})`);
        }
        this.#nextProof += 1;
      }
      const result = proof.results[k];
      if (result === undefined) {
        throw new ProofMalformedError(`lookups at log entry ${index} end early`, { index });
      }
      k += 1;
      return result.type === 'inclusion';
    });
    if (proof === undefined) return [];
    if (k !== proof.results.length) {
      throw new ProofMalformedError(`log entry ${index}: ${proof.results.length} lookups, ${k} expected`, {
        index,
      });
    }
    const included = proof.results.map((r) => r.type === 'inclusion');
    const searches: PrefixSearch[] = versions.map((v, i) => {
      const keys = this.#keys(label, v);
      if (keys === undefined) throw new ProofMalformedError(`no search key for version ${v}`, { version: v });
      if (included[i] && keys.commitment === undefined) {
        throw new ProofMalformedError(`version ${v} is included but its commitment was not given`, {
          version: v,
        });
      }
      return { vrfOutput: keys.vrfOutput, commitment: included[i] ? keys.commitment : undefined };
    });
    const { root } = evaluatePrefixProof(this.#crypto, searches, proof, this.#shared);
    const earlier = this.#roots.get(index);
    if (earlier !== undefined && !equalPublicBytes(earlier, root)) {
      throw new RootMismatchError(`prefix root of log entry ${index}`, earlier, root, { index });
    }
    this.#roots.set(index, root);
    // Known only once the prefix root is; a result that lies is caught by the log root in `finish`.
    versions.forEach((v, i) => this.#known.record(toHex(label), v, index, included[i]!));
    return included;
  }

  searchLadder(index: number, label: Uint8Array, target: number, omitRedundant = false): LadderOutcome {
    const id = toHex(label);
    const ladder = new SearchLadder(target);
    this.#readProof(index, label, (next) =>
      walkLadder(ladder, (v) => (omitRedundant ? this.#known.implied(id, v, index) : undefined), next),
    );
    return ladder.outcome;
  }

  monitorLadder(index: number, label: Uint8Array, target: number): boolean {
    const versions = monitorLadder(target);
    const included = this.#readProof(index, label, (next) => {
      versions.forEach(() => next());
      return versions;
    });
    return included.every(Boolean);
  }

  lookup(index: number, label: Uint8Array, version: number): boolean {
    const included = this.#readProof(index, label, (next) => {
      next();
      return [version];
    });
    return included[0]!;
  }

  /**
   * The §11.3 checks; returns the log root the proof computes (to check against the tree head's
   * signature) and the view to retain once the whole response is verified (§12: not before).
   */
  finish(): { root: Uint8Array; view: KtView } {
    const p = this.#proof;
    if (this.#order.length !== p.timestamps.length) {
      throw new ProofMalformedError(
        `proof has ${p.timestamps.length} timestamps, ${this.#order.length} used`,
      );
    }
    if (this.#nextProof !== p.prefixProofs.length) {
      throw new ProofMalformedError(
        `proof has ${p.prefixProofs.length} prefix proofs, ${this.#nextProof} used`,
      );
    }
    const sent = [...this.#order].sort((a, b) => a - b);
    const entries = new Map<number, LogEntry>(this.#view?.frontier ?? []);
    let nextRoot = 0;
    for (const i of sent) {
      let root = this.#roots.get(i);
      if (root === undefined) {
        root = p.prefixRoots[nextRoot];
        if (root === undefined) throw new ProofMalformedError(`proof ends at prefix root ${nextRoot}`);
        nextRoot += 1;
      }
      entries.set(i, { timestamp: this.#read.get(i)!, prefixRoot: root });
    }
    if (nextRoot !== p.prefixRoots.length) {
      throw new ProofMalformedError(`proof has ${p.prefixRoots.length} prefix roots, ${nextRoot} used`);
    }
    // §11.3: a proof for an entry whose timestamp was retained must match the retained root.
    for (const [i, root] of this.#roots) {
      const retained = this.#view?.frontier.get(i);
      if (retained !== undefined && !this.#read.has(i)) {
        if (!equalPublicBytes(retained.prefixRoot, root)) {
          throw new RootMismatchError(`prefix root of retained log entry ${i}`, retained.prefixRoot, root, {
            index: i,
          });
        }
      }
    }
    let previous = -1;
    let previousIndex = -1;
    for (const i of [...entries.keys()].sort((a, b) => a - b)) {
      const ts = entries.get(i)!.timestamp;
      if (ts < previous) {
        throw new TimestampError(
          `log entry ${i} has timestamp ${ts}, before entry ${previousIndex}'s ${previous}`,
          {
            index: i,
          },
        );
      }
      previous = ts;
      previousIndex = i;
    }
    const batch = evaluateLogBatch(this.#crypto, {
      size: this.size,
      leaves: sent.map((i) => ({ index: i, value: logLeafValue(this.#crypto, entries.get(i)!) })),
      retained:
        this.#view === undefined
          ? undefined
          : { size: this.#view.size, fullSubtrees: this.#view.fullSubtrees },
      elements: p.inclusion.elements,
    });
    const frontier = new Map<number, LogEntry>();
    for (const i of bstFrontier(this.size)) {
      const e = entries.get(i);
      if (e === undefined)
        throw new ProofMalformedError(`frontier log entry ${i} was not provided`, { index: i });
      frontier.set(i, e);
    }
    return { root: batch.root, view: { size: this.size, fullSubtrees: batch.fullSubtrees, frontier } };
  }
}
