/**
 * The implicit binary search tree over log entries (draft-ietf-keytrans-protocol-04 §4.1, Appendix A).
 *
 * The entries of a log of `n` entries, read as a flat array, form a binary search tree: the root is
 * `2^floor(log2(n)) - 1`, its left subtree the tree over the smaller indices, its right subtree the
 * tree over the larger ones. Users check timestamps and search labels along this tree, so that every
 * user inspects the same few entries. For 14 entries (§4.1 Figure 8):
 *
 *                 7
 *          3             11
 *       1     5      9        13
 *      0 2   4 6   8  10   12
 *
 * Every function is pure arithmetic on indices; `n` is the log's size. Precondition everywhere:
 * 0 <= x < n, n a safe integer (the callers validate sizes at the boundary).
 */

/** Appendix A `log2`: the exponent of the largest power of two <= x (0 for x = 0). */
function log2(x: number): number {
  let k = 0;
  while (2 ** (k + 1) <= x) k += 1;
  return k;
}

/** Appendix A `level`: leaves (even indices) are level 0; x with k trailing one bits is level k. */
export function bstLevel(x: number): number {
  let k = 0;
  while (Math.floor(x / 2 ** k) % 2 === 1) k += 1;
  return k;
}

/** §4.1: `i_root = 2^floor(log2(n)) - 1`. Requires n > 0. */
export function bstRoot(n: number): number {
  return 2 ** log2(n) - 1;
}

/** Appendix A `left(x)`: `x ^ (1 << (k - 1))`. Requires level(x) > 0. */
export function bstLeft(x: number): number {
  return x - 2 ** (bstLevel(x) - 1);
}

/** Whether x has a left child (every parent does: its left subtree is complete). */
export function bstHasLeft(x: number): boolean {
  return bstLevel(x) > 0;
}

/** Whether x has a right child in a log of n entries: its right subtree starts at x + 1. */
export function bstHasRight(x: number, n: number): boolean {
  return bstLevel(x) > 0 && x + 1 < n;
}

/**
 * Appendix A `right(x, n)`: `x ^ (3 << (k - 1))`, then left while outside the log.
 * Requires bstHasRight(x, n).
 */
export function bstRight(x: number, n: number): number {
  let r = x + 2 ** (bstLevel(x) - 1);
  while (r >= n) r = bstLeft(r);
  return r;
}

/** The direct path of x (§3.1): its parent, the parent's parent, ... up to the root; [] for the root. */
export function bstDirectPath(x: number, n: number): number[] {
  const path: number[] = [];
  let node = bstRoot(n);
  const down: number[] = [];
  while (node !== x) {
    down.push(node);
    node = x < node ? bstLeft(node) : bstRight(node, n);
  }
  for (let i = down.length - 1; i >= 0; i--) path.push(down[i]!);
  return path;
}

/** §4.1 frontier: the root, then right children until the rightmost entry (50 entries: 31, 47, 49). */
export function bstFrontier(n: number): number[] {
  const out = [bstRoot(n)];
  while (bstHasRight(out.at(-1)!, n)) out.push(bstRight(out.at(-1)!, n));
  return out;
}

/** The part of the frontier from x (which must lie on it) to the rightmost entry. */
export function bstFrontierFrom(x: number, n: number): number[] {
  const out = [x];
  while (bstHasRight(out.at(-1)!, n)) out.push(bstRight(out.at(-1)!, n));
  return out;
}
