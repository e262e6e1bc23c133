/**
 * The prefix tree of key transparency (draft-ietf-keytrans-protocol-04 §3.3, §10.9, §11.2): a binary
 * trie keyed by 32-byte VRF outputs whose leaves hold commitments (§10.6).
 *
 * Persistent: a `PrefixTree` is one immutable version. `update` returns a new version that shares every
 * untouched subtree with the old one, so the root of every epoch stays provable after later inserts at
 * the cost of O(k log n) new nodes per batch of k changes. Every node carries its hash.
 *
 * Shape (§3.3): a search follows the key's bits from the most significant; it ends at a leaf (the key
 * or another one) or at a missing child. A new key that ends at another leaf pushes that leaf down
 * until their bits differ, so a leaf sits at the shallowest depth where its prefix is unique and the
 * shape is a function of the set of keys. Removal (used by §13.2 AuditorUpdate) restores that shape:
 * a parent left with one leaf and one missing child is replaced by the leaf. As in the draft authors'
 * implementation (Bren2010/katie), the root itself may be a leaf (one key) or missing (no key, root
 * value Hash.Nh zero bytes); the draft leaves both cases unspecified (docs/key-transparency.md).
 */
import type { CryptoProvider } from '../crypto/provider.ts';
import { equalPublicBytes } from '../bytes/encoding.ts';
import { ConflictError, NotFoundError, ValidationError } from '../errors.ts';
import { KT_SUITE, KT_ZERO_HASH } from './cipher-suite.ts';
import {
  checkSearchKeys,
  keyBit,
  prefixLeafValue,
  prefixParentValue,
  type PrefixLeaf,
  type PrefixProof,
  type PrefixSearchResult,
} from './prefix-proof.ts';

type PrefixNode =
  | { readonly kind: 'empty'; readonly hash: Uint8Array }
  | { readonly kind: 'leaf'; readonly leaf: PrefixLeaf; readonly hash: Uint8Array }
  | {
      readonly kind: 'parent';
      readonly left: PrefixNode;
      readonly right: PrefixNode;
      readonly hash: Uint8Array;
    };

const EMPTY: PrefixNode = { kind: 'empty', hash: KT_ZERO_HASH };

function compareKeys(a: Uint8Array, b: Uint8Array): number {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return a[i]! - b[i]!;
  return 0;
}

/**
 * Index of the first key in `items[lo..hi)` (sorted by key, sharing bits < depth) whose bit `depth` is 1;
 * `hi` if none. Binary search: the keys with bit 0 come first.
 */
function split<T>(
  items: readonly T[],
  key: (t: T) => Uint8Array,
  depth: number,
  lo = 0,
  hi = items.length,
): number {
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (keyBit(key(items[mid]!), depth) === 0) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

const leafKey = (l: PrefixLeaf): Uint8Array => l.vrfOutput;
const sameKey = (k: Uint8Array): Uint8Array => k;

export interface PrefixTreeChanges {
  /** Leaves to insert; their keys must not be in the tree. */
  readonly add?: readonly PrefixLeaf[];
  /** Keys to remove; they must be in the tree. */
  readonly remove?: readonly Uint8Array[];
}

/** One immutable version of the prefix tree. */
export class PrefixTree {
  readonly #crypto: CryptoProvider;
  readonly #root: PrefixNode;
  /** Number of leaves. */
  readonly size: number;

  /** Use `PrefixTree.empty(crypto)`; versions come from `update`. */
  constructor(crypto: CryptoProvider, root: PrefixNode = EMPTY, size = 0) {
    this.#crypto = crypto;
    this.#root = root;
    this.size = size;
  }

  static empty(crypto: CryptoProvider): PrefixTree {
    return new PrefixTree(crypto);
  }

  /** The root value (§10.9); 32 zero bytes for the empty tree. */
  get root(): Uint8Array {
    return this.#root.hash.slice();
  }

  /** The commitment stored under `vrfOutput`, if any. */
  lookup(vrfOutput: Uint8Array): Uint8Array | undefined {
    checkSearchKeys([vrfOutput]);
    let node = this.#root;
    for (let depth = 0; node.kind === 'parent'; depth++) {
      node = keyBit(vrfOutput, depth) === 1 ? node.right : node.left;
    }
    return node.kind === 'leaf' && equalPublicBytes(node.leaf.vrfOutput, vrfOutput)
      ? node.leaf.commitment.slice()
      : undefined;
  }

  /** Every leaf, in key order. */
  entries(): PrefixLeaf[] {
    const out: PrefixLeaf[] = [];
    const walk = (n: PrefixNode): void => {
      if (n.kind === 'leaf') out.push(n.leaf);
      else if (n.kind === 'parent') {
        walk(n.left);
        walk(n.right);
      }
    };
    walk(this.#root);
    return out;
  }

  insert(leaves: readonly PrefixLeaf[]): PrefixTree {
    return this.update({ add: leaves });
  }

  /**
   * A new version with `add` inserted and `remove` removed; this version is unchanged. Throws
   * VALIDATION_FAILED (wrong sizes, a key both added and removed, a key twice), KT_PREFIX_KEY_EXISTS
   * (an added key is present) and KT_PREFIX_KEY_MISSING (a removed key is absent).
   */
  update(changes: PrefixTreeChanges): PrefixTree {
    const add = [...(changes.add ?? [])].map((l) => ({
      vrfOutput: l.vrfOutput.slice(),
      commitment: l.commitment.slice(),
    }));
    const remove = [...(changes.remove ?? [])];
    checkSearchKeys([...add.map((l) => l.vrfOutput), ...remove]);
    for (const l of add) {
      if (!(l.commitment instanceof Uint8Array) || l.commitment.length !== KT_SUITE.hashBytes) {
        throw new ValidationError('VALIDATION_FAILED', `commitment must be ${KT_SUITE.hashBytes} bytes`);
      }
    }
    add.sort((a, b) => compareKeys(a.vrfOutput, b.vrfOutput));
    remove.sort(compareKeys);
    const root = this.#apply(this.#root, add, 0, add.length, remove, 0, remove.length, 0);
    return new PrefixTree(this.#crypto, root, this.size + add.length - remove.length);
  }

  #leaf(leaf: PrefixLeaf): PrefixNode {
    return { kind: 'leaf', leaf, hash: prefixLeafValue(this.#crypto, leaf) };
  }

  /**
   * `node` at `depth` with `add[aLo..aHi)` inserted and `remove[rLo..rHi)` removed. The batches are
   * passed as index ranges of the two sorted arrays, so a batch of k changes costs no copy per level.
   */
  #apply(
    node: PrefixNode,
    add: readonly PrefixLeaf[],
    aLo: number,
    aHi: number,
    remove: readonly Uint8Array[],
    rLo: number,
    rHi: number,
    depth: number,
  ): PrefixNode {
    if (aLo === aHi && rLo === rHi) return node;
    if (node.kind === 'parent') {
      return this.#applyParent(node.left, node.right, add, aLo, aHi, remove, rLo, rHi, depth, node);
    }
    if (node.kind === 'empty') {
      if (rLo < rHi)
        throw new NotFoundError('KT_PREFIX_KEY_MISSING', 'removed key is not in the prefix tree');
      return aHi - aLo === 1
        ? this.#leaf(add[aLo]!)
        : this.#applyParent(EMPTY, EMPTY, add, aLo, aHi, remove, rHi, rHi, depth);
    }
    const own = node.leaf.vrfOutput;
    for (let i = aLo; i < aHi; i++) {
      if (equalPublicBytes(add[i]!.vrfOutput, own)) {
        throw new ConflictError('KT_PREFIX_KEY_EXISTS', 'added key is already in the prefix tree');
      }
    }
    let removesOwn = false;
    for (let i = rLo; i < rHi; i++) if (equalPublicBytes(remove[i]!, own)) removesOwn = true;
    if (rHi - rLo > (removesOwn ? 1 : 0)) {
      throw new NotFoundError('KT_PREFIX_KEY_MISSING', 'removed key is not in the prefix tree');
    }
    if (removesOwn) return this.#apply(EMPTY, add, aLo, aHi, remove, rHi, rHi, depth);
    // §3.3: "one or more intermediate nodes are added until the new leaf and the existing leaf would no
    // longer reside in the same place": push the existing leaf one level down and continue.
    return keyBit(own, depth) === 1
      ? this.#applyParent(EMPTY, node, add, aLo, aHi, remove, rHi, rHi, depth)
      : this.#applyParent(node, EMPTY, add, aLo, aHi, remove, rHi, rHi, depth);
  }

  #applyParent(
    left: PrefixNode,
    right: PrefixNode,
    add: readonly PrefixLeaf[],
    aLo: number,
    aHi: number,
    remove: readonly Uint8Array[],
    rLo: number,
    rHi: number,
    depth: number,
    unchanged?: PrefixNode,
  ): PrefixNode {
    const a = split(add, leafKey, depth, aLo, aHi);
    const r = split(remove, sameKey, depth, rLo, rHi);
    const l2 = this.#apply(left, add, aLo, a, remove, rLo, r, depth + 1);
    const r2 = this.#apply(right, add, a, aHi, remove, r, rHi, depth + 1);
    if (unchanged !== undefined && l2 === left && r2 === right) return unchanged;
    // Keep the canonical shape: a lone leaf under a parent moves up; a parent of nothing disappears.
    if (l2.kind === 'empty' && r2.kind !== 'parent') return r2;
    if (r2.kind === 'empty' && l2.kind === 'leaf') return l2;
    return { kind: 'parent', left: l2, right: r2, hash: prefixParentValue(this.#crypto, l2.hash, r2.hash) };
  }

  /**
   * A batch search proof (§11.2) for `vrfOutputs`, results in the order requested, with the commitment
   * found for each included key. Throws VALIDATION_FAILED for a key of the wrong size or a key twice.
   */
  prove(vrfOutputs: readonly Uint8Array[]): { proof: PrefixProof; commitments: (Uint8Array | undefined)[] } {
    checkSearchKeys(vrfOutputs);
    const order = vrfOutputs.map((key, index) => ({ key, index })).sort((x, y) => compareKeys(x.key, y.key));
    const results: PrefixSearchResult[] = new Array<PrefixSearchResult>(vrfOutputs.length);
    const commitments: (Uint8Array | undefined)[] = new Array<Uint8Array | undefined>(vrfOutputs.length).fill(
      undefined,
    );
    const elements: Uint8Array[] = [];
    const build = (
      node: PrefixNode,
      keys: readonly { key: Uint8Array; index: number }[],
      depth: number,
    ): void => {
      if (keys.length === 0) {
        elements.push(node.hash.slice());
        return;
      }
      if (node.kind === 'parent') {
        const s = split(keys, (k) => k.key, depth);
        build(node.left, keys.slice(0, s), depth + 1);
        build(node.right, keys.slice(s), depth + 1);
        return;
      }
      for (const { key, index } of keys) {
        if (node.kind === 'empty') {
          results[index] = { type: 'nonInclusionParent', depth };
        } else if (equalPublicBytes(node.leaf.vrfOutput, key)) {
          results[index] = { type: 'inclusion', depth };
          commitments[index] = node.leaf.commitment.slice();
        } else {
          const leaf = { vrfOutput: node.leaf.vrfOutput.slice(), commitment: node.leaf.commitment.slice() };
          results[index] = { type: 'nonInclusionLeaf', leaf, depth };
        }
      }
    };
    build(this.#root, order, 0);
    return { proof: { results, elements }, commitments };
  }
}
