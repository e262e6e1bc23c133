/**
 * The key directory's server side (draft-ietf-keytrans-protocol-04 §3.4, §6-§8, §12), sans I/O: it
 * holds the combined tree in memory, publishes batches of label versions as log entries with a signed
 * tree head, and answers search and owner-monitoring requests with proofs. Crypto, the clock (the
 * caller passes timestamps) and the VRF (`searchKey`, `vrfProof`) are injected: the server proves
 * each label version once, at ingestion, outside an epoch's critical path.
 *
 * Per label it keeps, for each version, the log entry that added it and its commitment (§10.6):
 *   labels: labelId(label) -> { positions: [entry of v0, entry of v1, ...], commitments: [c0, c1, ...] }
 * so "the greatest version of a label in entry i" is a binary search over `positions`.
 */
import type { CryptoProvider } from '../crypto/provider.ts';
import { toHex } from '../bytes/encoding.ts';
import { ValidationError } from '../errors.ts';
import { LIMITS } from '../limits.ts';
import { CombinedProofBuilder, type ProverState } from './combined-proof.ts';
import { CombinedTree } from './combined-tree.ts';
import { computeCommitment, type UpdateValue } from './commitment.ts';
import type { Configuration } from './configuration.ts';
import { ownerMonitor } from './monitor.ts';
import type { LadderLookup, OwnerMonitorProof, SearchProof } from './response-codec.ts';
import { fixedVersionSearch, greatestVersionSearch } from './search.ts';
import { VersionMismatchError, VersionNotFoundError } from './proof-errors.ts';
import { signTreeHead, type TreeHead } from './tree-head.ts';
import { updateView } from './view.ts';

export interface DirectoryOptions {
  readonly crypto: CryptoProvider;
  readonly config: Configuration;
  /** Ed25519 seed of `config.signaturePublicKey`. */
  readonly signingSeed: Uint8Array;
  /** The VRF output of a label-version pair (§10.7); the ECVRF in production, a stand-in in tests. */
  readonly searchKey: (label: Uint8Array, version: number) => Uint8Array;
  /**
   * The ECVRF proof of that output (VRF.Np bytes, `proveSearchKey` in vrf-input.ts), sent with every
   * lookup (§12.1 BinaryLadderStep). Required by `search` and `monitorOwner`; a directory that only
   * publishes (a witness's test log) may leave it out.
   */
  readonly vrfProof?: ((label: Uint8Array, version: number) => Uint8Array) | undefined;
}

/** One new version: the label, its value and the commitment opening chosen for it (§10.6). */
export interface DirectoryUpdate {
  readonly label: Uint8Array;
  readonly update: UpdateValue;
  readonly opening: Uint8Array;
}

interface LabelState {
  readonly positions: number[];
  readonly commitments: Uint8Array[];
}

/**
 * The key of a label in the directory's map: one character per byte. A flat string, so a lookup among
 * a million labels hashes it at once (a hex string built by concatenation is flattened first).
 * Requires `label.length <= LIMITS.ktLabelMaxBytes`.
 */
const labelId = (label: Uint8Array): string => String.fromCharCode(...label);

export class Directory {
  readonly #opts: DirectoryOptions;
  readonly #tree: CombinedTree;
  readonly #labels = new Map<string, LabelState>();
  #head: TreeHead | undefined;
  readonly #state: ProverState;

  constructor(opts: DirectoryOptions) {
    this.#opts = opts;
    this.#tree = new CombinedTree(opts.crypto);
    this.#state = {
      crypto: opts.crypto,
      tree: this.#tree,
      greatestAt: (label, index) => this.#greatestAt(label, index),
      searchKey: opts.searchKey,
    };
  }

  get size(): number {
    return this.#tree.size;
  }

  /** The log tree (read only): its root, full subtrees and consistency proofs, for witnesses. */
  get log(): CombinedTree['log'] {
    return this.#tree.log;
  }

  /** The signed head of the newest entry. Requires a published entry. */
  get treeHead(): TreeHead {
    if (this.#head === undefined) throw new VersionNotFoundError('the directory has no log entry yet');
    return this.#head;
  }

  /** The greatest version of `label` in the newest entry; -1 if the label has none. */
  greatestVersion(label: Uint8Array): number {
    return (this.#label(label)?.positions.length ?? 0) - 1;
  }

  #label(label: Uint8Array): LabelState | undefined {
    return label.length > LIMITS.ktLabelMaxBytes ? undefined : this.#labels.get(labelId(label));
  }

  #greatestAt(label: Uint8Array, index: number): number {
    const positions = this.#label(label)?.positions ?? [];
    let lo = 0;
    let hi = positions.length; // count of positions <= index
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (positions[mid]! <= index) lo = mid + 1;
      else hi = mid;
    }
    return lo - 1;
  }

  /**
   * Adds every update as the next version of its label (in order; a label may appear several times)
   * in one new log entry at `timestamp` (ms; not before the previous entry), signs the new head.
   * Returns the entry's index and each update's version.
   */
  publish(timestamp: number, updates: readonly DirectoryUpdate[]): { index: number; versions: number[] } {
    const { crypto, config } = this.#opts;
    const index = this.#tree.size;
    const pending = new Map<string, LabelState>();
    const add = updates.map((u) => {
      if (u.label.length > LIMITS.ktLabelMaxBytes) {
        throw new ValidationError('VALIDATION_FAILED', `label of ${u.label.length} bytes is too long`);
      }
      const id = labelId(u.label);
      // The label's state is copied once per entry and only stored once the entry is appended.
      let next = pending.get(id);
      if (next === undefined) {
        const current = this.#labels.get(id);
        next = { positions: [...(current?.positions ?? [])], commitments: [...(current?.commitments ?? [])] };
        pending.set(id, next);
      }
      const version = next.positions.length;
      const commitment = computeCommitment(
        crypto,
        { opening: u.opening, label: u.label, version, update: u.update },
        config.mode,
      );
      next.positions.push(index);
      next.commitments.push(commitment);
      return { version, leaf: { vrfOutput: this.#opts.searchKey(u.label, version), commitment } };
    });
    this.#tree.append(timestamp, { add: add.map((a) => a.leaf) });
    for (const [id, s] of pending) this.#labels.set(id, s);
    this.#head = signTreeHead(crypto, this.#opts.signingSeed, config, this.#tree.size, this.#tree.log.root());
    return { index, versions: add.map((a) => a.version) };
  }

  #lookups(builder: CombinedProofBuilder, label: Uint8Array): LadderLookup[] {
    const prove = this.#opts.vrfProof;
    if (prove === undefined) {
      throw new ValidationError('VALIDATION_FAILED', 'this directory was built without a VRF prover');
    }
    const s = this.#label(label);
    const versions = [...(builder.lookedUp.get(toHex(label)) ?? [])].sort((a, b) => a - b);
    return versions.map((version) => ({
      version,
      vrfProof: prove(label, version),
      commitment: s?.commitments[version],
    }));
  }

  /**
   * A search (§12.1) for `version`, or for the greatest version when it is omitted, for a user who
   * last saw a head of size `last`. A missing version still gets a proof of its absence (§7.2 step 6);
   * a label with no version at all is VersionNotFoundError.
   */
  search(
    label: Uint8Array,
    opts: { version?: number | undefined; last?: number | undefined } = {},
  ): SearchProof {
    const builder = new CombinedProofBuilder(this.#state, this.size, opts.last);
    updateView(builder, opts.last);
    let version = opts.version;
    if (version === undefined) {
      version = this.greatestVersion(label);
      if (version < 0) throw new VersionNotFoundError('the label has no version');
      greatestVersionSearch(builder, label, version, this.#opts.config.reasonableMonitoringWindow);
    } else {
      try {
        fixedVersionSearch(builder, label, version);
      } catch (e) {
        if (!(e instanceof VersionNotFoundError)) throw e;
      }
    }
    return {
      treeHead: this.treeHead,
      version,
      lookups: this.#lookups(builder, label),
      proof: builder.finish(),
    };
  }

  /**
   * Owner monitoring (§8.3, §12.3) for an owner whose greatest known version is `greatest` and who
   * verified up to the distinguished entry `rightmost`. The ladders' targets are what the owner
   * expects: the greatest version in each entry, capped at `greatest`.
   */
  monitorOwner(
    label: Uint8Array,
    opts: { greatest: number; rightmost?: number | undefined; last?: number | undefined },
  ): OwnerMonitorProof {
    const builder = new CombinedProofBuilder(this.#state, this.size, opts.last);
    updateView(builder, opts.last);
    try {
      ownerMonitor(builder, {
        label,
        rightmost: opts.rightmost,
        expectedAt: (x) => Math.min(this.#greatestAt(label, x), opts.greatest),
        rmw: this.#opts.config.reasonableMonitoringWindow,
      });
    } catch (e) {
      // A version the owner does not know of: the proof up to that ladder shows it to the owner.
      if (!(e instanceof VersionMismatchError)) throw e;
    }
    return { treeHead: this.treeHead, lookups: this.#lookups(builder, label), proof: builder.finish() };
  }
}
