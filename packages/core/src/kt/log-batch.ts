/**
 * The shape of a log-tree batch proof (draft-ietf-keytrans-protocol-04 §11.1, §3.2): which node
 * values an `InclusionProof` carries, in which order, and how they hash back to the root.
 *
 * One walk serves both sides, so the prover and the verifier cannot disagree on the shape:
 * the prover's source answers `element` from its tree (and records the value), the verifier's source
 * answers it from the proof's next element.
 *
 * §11.1: "considering the leaf values which will be proved included, and any node values the user is
 * understood to have retained, the Transparency Log provides the minimum set of head values from
 * balanced subtrees that allows the user to compute the root value". Elements are listed left to right
 * ("if a node is present in the root's left subtree, then its value is listed before the values of any
 * nodes in the root's right subtree"). A consistency proof is the batch with no leaves and the full
 * subtrees of the previous size retained; an inclusion proof is the batch with one leaf and nothing
 * retained. Where a proved leaf lies under a retained full subtree, the proof carries what is needed to
 * recompute that subtree from the leaf, and the walk checks the result against the retained value
 * (§11.1: "Users MUST verify that the computed value for the head of any such subtree matches the
 * retained value").
 *
 * Tree sizes and indices are JS safe integers (uint64 values above 2^53-1 are refused by the codec);
 * the arithmetic below never uses 32-bit bitwise operators for that reason.
 */
import type { CryptoProvider } from '../crypto/provider.ts';
import { equalPublicBytes } from '../bytes/encoding.ts';
import { InternalError } from '../errors.ts';
import { KT_SUITE } from './cipher-suite.ts';
import { RootMismatchError, TreeSizeError } from './proof-errors.ts';

/** A log-tree node as its parent hashes it (§10.8 `hashContent`): its value and whether it is a leaf. */
export interface LogNodeValue {
  readonly leaf: boolean;
  readonly value: Uint8Array;
}

/** The leaves `[start, start + size)` of the tree. */
export interface Subtree {
  readonly start: number;
  readonly size: number;
}

/**
 * §10.8: `parent.value = Hash(hashContent(parent.leftChild) || hashContent(parent.rightChild))` where
 * `hashContent` is `0x00 || value` for a leaf and `0x01 || value` for a parent.
 */
export function logParentValue(crypto: CryptoProvider, left: LogNodeValue, right: LogNodeValue): Uint8Array {
  const n = KT_SUITE.hashBytes;
  const buf = new Uint8Array(2 + 2 * n);
  buf[0] = left.leaf ? 0x00 : 0x01;
  buf.set(left.value, 1);
  buf[1 + n] = right.leaf ? 0x00 : 0x01;
  buf.set(right.value, 2 + n);
  return crypto.sha256(buf);
}

export function isPowerOfTwo(n: number): boolean {
  if (n < 1) return false;
  while (n % 2 === 0) n /= 2;
  return n === 1;
}

/** The largest power of two strictly less than `n`: the left subtree's size (§3.2). Requires n >= 2. */
export function leftSubtreeSize(n: number): number {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

/**
 * The full subtrees of a tree of `size` leaves (§4.2: "the balanced subtrees which are as large as
 * possible"), left to right: one per bit set in `size`, largest first. Requires size >= 0.
 */
export function fullSubtrees(size: number): Subtree[] {
  const out: Subtree[] = [];
  let start = 0;
  let rest = size;
  while (rest > 0) {
    let k = 1;
    while (k * 2 <= rest) k *= 2;
    out.push({ start, size: k });
    start += k;
    rest -= k;
  }
  return out;
}

/** What a batch proves: leaves (sorted, distinct) in a tree of `size`, given the retained state. */
export interface LogBatchShape {
  readonly size: number;
  readonly leaves: readonly number[];
  /** The tree size whose full subtrees the verifier retained (§4.2), if any. */
  readonly retainedSize?: number | undefined;
}

/** Where the walk gets each value it needs. */
export interface LogBatchSource {
  /** The value of proved leaf `index`. */
  leaf(index: number): Uint8Array;
  /** The retained value of full subtree number `i` of `retainedSize`. */
  retained(i: number): Uint8Array;
  /** The head of the balanced subtree `[start, start + size)`, carried by the proof. */
  element(start: number, size: number): Uint8Array;
}

export interface LogBatchResult {
  readonly root: Uint8Array;
  /** Values of the full subtrees of `size`, left to right: what a verifier retains next (§4.2). */
  readonly fullSubtrees: Uint8Array[];
}

const isSize = (n: number): boolean => Number.isSafeInteger(n) && n >= 1;

/**
 * Checks the shape's preconditions: 0 < size; leaves strictly increasing, each in [0, size);
 * 0 < retainedSize <= size when present. Throws TreeSizeError.
 */
export function checkLogBatchShape(shape: LogBatchShape): void {
  const { size, leaves, retainedSize } = shape;
  if (!isSize(size)) throw new TreeSizeError(`tree size ${size} is not a positive safe integer`);
  let previous = -1;
  for (const index of leaves) {
    if (!Number.isSafeInteger(index) || index < 0 || index >= size) {
      throw new TreeSizeError(`leaf index ${index} is outside a tree of size ${size}`, { index, size });
    }
    if (index <= previous) {
      throw new TreeSizeError(`leaf indices must be strictly increasing (${index} after ${previous})`);
    }
    previous = index;
  }
  if (retainedSize !== undefined && (!isSize(retainedSize) || retainedSize > size)) {
    throw new TreeSizeError(`retained size ${retainedSize} is not in 1..${size}`, { retainedSize, size });
  }
}

/**
 * Walks the left-balanced tree of `shape.size` leaves, asking `source` for each value the batch needs,
 * and returns the root with the full subtrees of `shape.size`. Requires `checkLogBatchShape(shape)`.
 * Throws RootMismatchError when a retained value differs from the one recomputed from proved leaves.
 */
export function walkLogBatch(
  crypto: CryptoProvider,
  shape: LogBatchShape,
  source: LogBatchSource,
): LogBatchResult {
  const { size, leaves } = shape;
  const retainedSize = shape.retainedSize ?? 0;
  const retainedList = fullSubtrees(retainedSize);
  const retained = new Map<number, number>();
  retainedList.forEach((s, i) => retained.set(s.start, i));
  const full = new Map<number, number>();
  const fullOut = fullSubtrees(size);
  fullOut.forEach((s, i) => full.set(s.start, i));
  const fullValues: Uint8Array[] = new Array<Uint8Array>(fullOut.length);

  const retainedIndex = (start: number, n: number): number => {
    const i = retained.get(start);
    return i !== undefined && retainedList[i]!.size === n ? i : -1;
  };

  // leaves[lo..hi) are the proved leaves inside [start, start + n).
  const walk = (start: number, n: number, inside: boolean, lo: number, hi: number): LogNodeValue => {
    const ri = inside ? -1 : retainedIndex(start, n);
    let node: LogNodeValue;
    if (lo === hi && ri >= 0) {
      node = { leaf: n === 1, value: source.retained(ri) };
    } else if (lo === hi && (inside || start >= retainedSize) && isPowerOfTwo(n)) {
      node = { leaf: n === 1, value: source.element(start, n) };
    } else if (n === 1) {
      // An unproved leaf is always retained, inside a retained subtree, or past it: handled above.
      if (lo === hi) throw new InternalError(`log batch walk reached unknown leaf ${start}`);
      node = { leaf: true, value: source.leaf(start) };
    } else {
      const k = leftSubtreeSize(n);
      let mid = lo;
      while (mid < hi && leaves[mid]! < start + k) mid++;
      const within = inside || ri >= 0;
      const left = walk(start, k, within, lo, mid);
      const right = walk(start + k, n - k, within, mid, hi);
      node = { leaf: false, value: logParentValue(crypto, left, right) };
    }
    if (ri >= 0 && lo < hi) {
      const kept = source.retained(ri);
      if (!equalPublicBytes(kept, node.value)) {
        throw new RootMismatchError(`retained full subtree [${start}, ${start + n})`, kept, node.value, {
          start,
          size: n,
        });
      }
    }
    const fi = full.get(start);
    if (fi !== undefined && fullOut[fi]!.size === n) fullValues[fi] = node.value;
    return node;
  };

  const root = walk(0, size, false, 0, leaves.length).value;
  return { root, fullSubtrees: fullValues };
}
