/**
 * The combined tree (draft-ietf-keytrans-protocol-04 §3.4, §10.8): a log tree whose entries record,
 * with a timestamp, every version of the prefix tree. Entry `i` of the log is "log entry i"; the prefix
 * tree version published there is identified by it (§3.4: "Different versions of the prefix tree are
 * identified by the log entry where their root value was stored").
 *
 * The in-memory directory state the server keeps: `append` applies one batch of prefix-tree changes and
 * publishes the new root; every earlier version stays searchable and provable (PrefixTree shares
 * structure between versions; LogTree is append-only).
 *
 * Timestamps must not decrease (§4: log entries have "monotonically increasing timestamps"; users
 * check it through the implicit binary search tree: implicit-bst.ts, combined-proof.ts).
 */
import type { CryptoProvider } from '../crypto/provider.ts';
import { ValidationError } from '../errors.ts';
import { LogTree, type LogEntry } from './log-tree.ts';
import { PrefixTree, type PrefixTreeChanges } from './prefix-tree.ts';
import type { PrefixProof } from './prefix-proof.ts';
import { TreeSizeError } from './proof-errors.ts';

export class CombinedTree {
  readonly #log: LogTree;
  readonly #versions: { readonly timestamp: number; readonly prefix: PrefixTree }[] = [];
  readonly #empty: PrefixTree;

  constructor(crypto: CryptoProvider) {
    this.#log = new LogTree(crypto);
    this.#empty = PrefixTree.empty(crypto);
  }

  /** The log tree (read it; append through `append`). */
  get log(): Pick<
    LogTree,
    'size' | 'root' | 'fullSubtrees' | 'leafValue' | 'batchProof' | 'inclusionProof' | 'consistencyProof'
  > {
    return this.#log;
  }

  get size(): number {
    return this.#versions.length;
  }

  /** The newest prefix tree (the empty tree before the first entry). */
  get latestPrefixTree(): PrefixTree {
    return this.#versions.at(-1)?.prefix ?? this.#empty;
  }

  /**
   * Applies `changes` to the newest prefix tree and appends `LogEntry{timestamp, new root}` (§10.8).
   * Requires `timestamp` (ms since the Unix epoch) >= the previous entry's. Returns the entry's index.
   */
  append(timestamp: number, changes: PrefixTreeChanges): number {
    const previous = this.#versions.at(-1)?.timestamp ?? 0;
    if (!Number.isSafeInteger(timestamp) || timestamp < previous) {
      throw new ValidationError(
        'VALIDATION_FAILED',
        `timestamp ${timestamp} precedes the previous entry's ${previous}`,
      );
    }
    const prefix = this.latestPrefixTree.update(changes);
    const index = this.#log.append({ timestamp, prefixRoot: prefix.root });
    this.#versions.push({ timestamp, prefix });
    return index;
  }

  #version(index: number): { readonly timestamp: number; readonly prefix: PrefixTree } {
    const v = Number.isSafeInteger(index) ? this.#versions[index] : undefined;
    if (v === undefined)
      throw new TreeSizeError(`log entry ${index} is outside 0..${this.size - 1}`, { index });
    return v;
  }

  /** The log entry at `index`. Requires 0 <= index < size. */
  entry(index: number): LogEntry {
    const v = this.#version(index);
    return { timestamp: v.timestamp, prefixRoot: v.prefix.root };
  }

  /** The prefix tree as published in log entry `index`. Requires 0 <= index < size. */
  prefixTree(index: number): PrefixTree {
    return this.#version(index).prefix;
  }

  /** A search proof (§11.2) for `vrfOutputs` in the prefix tree of log entry `index`. */
  searchProof(
    index: number,
    vrfOutputs: readonly Uint8Array[],
  ): { proof: PrefixProof; commitments: (Uint8Array | undefined)[] } {
    return this.#version(index).prefix.prove(vrfOutputs);
  }
}
