/**
 * The log tree of key transparency (draft-ietf-keytrans-protocol-04 §3.2, §10.8, §11.1): a
 * left-balanced binary Merkle tree whose leaves are `LogEntry` values, one per published version of the
 * prefix tree (the combined tree of §3.4). Append-only: every earlier size stays provable.
 *
 * Inside: the `LogEntry` encoding and leaf value (§10.8), `LogTree` (in-memory storage, roots of any
 * earlier size, full subtrees, batch, inclusion and consistency proofs). Verification lives in
 * log-verify.ts and the proof's shape in log-batch.ts, shared by both sides.
 *
 * Storage layout (`#levels`), for a tree of 5 leaves:
 *   levels[2] = [ h(0..3) ]
 *   levels[1] = [ h(0..1), h(2..3) ]
 *   levels[0] = [ l0, l1, l2, l3, l4 ]
 * `levels[k][j]` is the head of the balanced subtree of leaves [j*2^k, (j+1)*2^k), kept once complete.
 * Heads of non-balanced subtrees are never stored: proofs only carry balanced heads (§3.2) and roots
 * are folded from the full subtrees, O(log n) hashes.
 */
import type { CryptoProvider } from '../crypto/provider.ts';
import { decodeAll, type Reader } from '../codec/reader.ts';
import { Writer } from '../codec/writer.ts';
import { KT_SUITE } from './cipher-suite.ts';
import {
  checkLogBatchShape,
  fullSubtrees,
  logParentValue,
  walkLogBatch,
  type LogNodeValue,
  type Subtree,
} from './log-batch.ts';
import { readU64, writeFixed } from './tls.ts';
import { TreeSizeError } from './proof-errors.ts';

/**
 * §10.8:
 *   struct {
 *     uint64 timestamp;
 *     opaque prefix_tree[Hash.Nh];
 *   } LogEntry;
 * `timestamp` in milliseconds since the Unix epoch; `prefixRoot` the prefix tree's root after the update.
 */
export interface LogEntry {
  readonly timestamp: number;
  readonly prefixRoot: Uint8Array;
}

const LOG_ENTRY_BYTES = 8 + KT_SUITE.hashBytes;

export function writeLogEntry(w: Writer, entry: LogEntry): void {
  w.u53(entry.timestamp);
  writeFixed(w, entry.prefixRoot, KT_SUITE.hashBytes, 'LogEntry.prefix_tree');
}

export function readLogEntry(r: Reader): LogEntry {
  const timestamp = readU64(r, 'LogEntry.timestamp');
  return { timestamp, prefixRoot: r.fixed(KT_SUITE.hashBytes, 'LogEntry.prefix_tree') };
}

export function encodeLogEntry(entry: LogEntry): Uint8Array {
  const w = new Writer(LOG_ENTRY_BYTES);
  writeLogEntry(w, entry);
  return w.finish();
}

export function decodeLogEntry(bytes: Uint8Array): LogEntry {
  return decodeAll(bytes, LOG_ENTRY_BYTES, readLogEntry, 'LogEntry');
}

/** §10.8: "The value of a leaf node in the log tree is computed as the hash ... of" the `LogEntry`. */
export function logLeafValue(crypto: CryptoProvider, entry: LogEntry): Uint8Array {
  return crypto.sha256(encodeLogEntry(entry));
}

/** Folds full-subtree values (left to right, sizes `fullSubtrees(size)`) into the root (§3.2). */
export function foldFullSubtrees(
  crypto: CryptoProvider,
  subtrees: readonly Subtree[],
  values: readonly Uint8Array[],
): Uint8Array {
  let i = subtrees.length - 1;
  let acc: LogNodeValue = { leaf: subtrees[i]!.size === 1, value: values[i]! };
  for (i -= 1; i >= 0; i--) {
    acc = {
      leaf: false,
      value: logParentValue(crypto, { leaf: subtrees[i]!.size === 1, value: values[i]! }, acc),
    };
  }
  return acc.value;
}

/** In-memory, append-only log tree over leaf values. */
export class LogTree {
  readonly #crypto: CryptoProvider;
  readonly #levels: Uint8Array[][] = [[]];

  constructor(crypto: CryptoProvider) {
    this.#crypto = crypto;
  }

  get size(): number {
    return this.#levels[0]!.length;
  }

  /** Appends the entry's leaf value (§10.8); returns its index. */
  append(entry: LogEntry): number {
    return this.appendLeafValue(logLeafValue(this.#crypto, entry));
  }

  /** Appends a precomputed leaf value (Hash(LogEntry)); returns its index. */
  appendLeafValue(value: Uint8Array): number {
    if (value.length !== KT_SUITE.hashBytes) {
      throw new TreeSizeError(`leaf value must be ${KT_SUITE.hashBytes} bytes, got ${value.length}`);
    }
    const index = this.size;
    if (index >= Number.MAX_SAFE_INTEGER) throw new TreeSizeError('log tree is full (2^53-1 leaves)');
    this.#levels[0]!.push(value.slice());
    // Complete every balanced subtree that this leaf closes (§3.2 Figure 2: only the new path changes).
    let j = index;
    let k = 0;
    while (j % 2 === 1) {
      const level = this.#levels[k]!;
      const left = { leaf: k === 0, value: level[j - 1]! };
      const right = { leaf: k === 0, value: level[j]! };
      if (this.#levels[k + 1] === undefined) this.#levels.push([]);
      this.#levels[k + 1]!.push(logParentValue(this.#crypto, left, right));
      j = (j - 1) / 2;
      k += 1;
    }
    return index;
  }

  /** Requires 0 <= index < size. */
  leafValue(index: number): Uint8Array {
    this.#checkSize(index + 1, 'leaf');
    return this.#levels[0]![index]!.slice();
  }

  /** Head of a complete balanced subtree, which storage keeps. Requires it to be aligned and complete. */
  #head(start: number, size: number): Uint8Array {
    let k = 0;
    for (let s = size; s > 1; s /= 2) k += 1;
    return this.#levels[k]![start / size]!;
  }

  #checkSize(size: number, what: string): void {
    if (!Number.isSafeInteger(size) || size < 1 || size > this.size) {
      throw new TreeSizeError(`${what}: size ${size} is not in 1..${this.size}`, {
        size,
        treeSize: this.size,
      });
    }
  }

  /** Values of the full subtrees of the tree as it was at `size` (§4.2). Requires 0 < size <= this.size. */
  fullSubtrees(size: number = this.size): Uint8Array[] {
    this.#checkSize(size, 'full subtrees');
    return fullSubtrees(size).map((s) => this.#head(s.start, s.size).slice());
  }

  /** Root of the tree as it was at `size`. Requires 0 < size <= this.size. */
  root(size: number = this.size): Uint8Array {
    this.#checkSize(size, 'root');
    const subtrees = fullSubtrees(size);
    return foldFullSubtrees(
      this.#crypto,
      subtrees,
      subtrees.map((s) => this.#head(s.start, s.size)),
    );
  }

  /**
   * §11.1 batch proof: the balanced-subtree heads, left to right, that let a verifier holding the
   * `leaves`' values and the full subtrees of `retainedSize` recompute the root at `size`.
   * Requires 0 < size <= this.size, leaves strictly increasing in [0, size), 0 < retainedSize <= size.
   */
  batchProof(size: number, leaves: readonly number[], retainedSize?: number): Uint8Array[] {
    this.#checkSize(size, 'batch proof');
    checkLogBatchShape({ size, leaves, retainedSize });
    const elements: Uint8Array[] = [];
    const retained = fullSubtrees(retainedSize ?? 0);
    walkLogBatch(
      this.#crypto,
      { size, leaves, retainedSize },
      {
        leaf: (index) => this.#levels[0]![index]!,
        retained: (i) => this.#head(retained[i]!.start, retained[i]!.size),
        element: (start, n) => {
          const head = this.#head(start, n);
          elements.push(head.slice());
          return head;
        },
      },
    );
    return elements;
  }

  /** Inclusion proof of leaf `index` in the tree at `size` (§3.2 Figure 3). Requires 0 <= index < size. */
  inclusionProof(index: number, size: number = this.size): Uint8Array[] {
    return this.batchProof(size, [index]);
  }

  /**
   * Consistency proof from `size1` to `size2` (§3.2 Figure 4): what a verifier that retained the full
   * subtrees of `size1` needs to compute the root at `size2`. Requires 0 < size1 <= size2 <= this.size.
   */
  consistencyProof(size1: number, size2: number = this.size): Uint8Array[] {
    if (Number.isSafeInteger(size1) && Number.isSafeInteger(size2) && size1 > size2) {
      throw new TreeSizeError(`consistency proof: size1 ${size1} > size2 ${size2}`, { size1, size2 });
    }
    return this.batchProof(size2, [], size1);
  }
}
