/**
 * Prefix-tree search proofs (draft-ietf-keytrans-protocol-04 §11.2, §10.9, §3.3): the `PrefixProof`
 * structure and its verification. The tree and the prover are in prefix-tree.ts; the TLS encoding in
 * proof-codec.ts.
 *
 *   struct { opaque vrf_output[VRF.Nh]; opaque commitment[Hash.Nh]; } PrefixLeaf;
 *   struct {
 *     PrefixSearchResultType result_type;        // inclusion(1), nonInclusionLeaf(2), nonInclusionParent(3)
 *     select (result_type) { case nonInclusionLeaf: PrefixLeaf leaf; };
 *     uint8 depth;
 *   } PrefixSearchResult;
 *   struct { PrefixSearchResult results<0..2^8-1>; HashValue elements<0..2^16-1>; } PrefixProof;
 *
 * Verification rebuilds the skeleton of the tree the searches walked: each result places its terminal
 * node (the searched leaf, another leaf, or the empty stand-in of a missing child) at its depth on the
 * path given by the search key's bits; the elements then fill every other child of that skeleton, left
 * to right (§11.2: "if a node is present in the root's left subtree, its value is listed before any
 * values from nodes that are in the root's right subtree"); the skeleton is hashed as in §10.9.
 *
 * `depth` follows the draft authors' implementation (Bren2010/katie): for nonInclusionParent it is the
 * depth of the missing child's stand-in, one below the parent that lacks it (docs/key-transparency.md).
 *
 * Shared nodes (Sealpost's deviation, docs/key-transparency.md): the prefix proofs of one
 * CombinedTreeProof walk the same paths in successive versions of the tree, so most of their copath
 * values repeat. A `SharedNodes` remembers the value of every node position (the bit prefix leading
 * to it) that an earlier proof of the response computed or carried; a later proof marks, in its
 * `reuse` bitmap, which of its copath nodes at such a position hold that same value, and leaves their
 * elements out. One bit per copath node whose position was seen before, in element order, most
 * significant bit first, padding zero. The root computed is the one the full proof would give.
 */
import type { CryptoProvider } from '../crypto/provider.ts';
import { equalPublicBytes } from '../bytes/encoding.ts';
import { ValidationError } from '../errors.ts';
import { KT_SUITE, KT_ZERO_HASH } from './cipher-suite.ts';
import { ProofMalformedError, RootMismatchError } from './proof-errors.ts';

/** §11.2 PrefixLeaf: a search key (VRF output) and the commitment stored under it. */
export interface PrefixLeaf {
  readonly vrfOutput: Uint8Array;
  readonly commitment: Uint8Array;
}

/** §11.2 PrefixSearchResultType code points. */
export const PREFIX_RESULT_TYPE = { inclusion: 1, nonInclusionLeaf: 2, nonInclusionParent: 3 } as const;

export type PrefixSearchResult =
  | { readonly type: 'inclusion'; readonly depth: number }
  | { readonly type: 'nonInclusionLeaf'; readonly leaf: PrefixLeaf; readonly depth: number }
  | { readonly type: 'nonInclusionParent'; readonly depth: number };

export interface PrefixProof {
  readonly results: readonly PrefixSearchResult[];
  readonly elements: readonly Uint8Array[];
  /** Inside a CombinedTreeProof only: which copath values repeat an earlier proof's (`SharedNodes`). */
  readonly reuse?: Uint8Array | undefined;
}

/** Node values seen by the earlier prefix proofs of one response, by position (bit prefix). */
export type SharedNodes = Map<string, Uint8Array>;

/** One lookup: the search key, and its commitment when the verifier expects it to be included. */
export interface PrefixSearch {
  readonly vrfOutput: Uint8Array;
  readonly commitment?: Uint8Array | undefined;
}

/** Bit `i` of a search key, most significant bit of byte 0 first (§3.3: "the first bit"). */
export function keyBit(key: Uint8Array, i: number): 0 | 1 {
  return ((key[i >> 3]! >> (7 - (i & 7))) & 1) as 0 | 1;
}

/**
 * The inputs of the two node hashes are built in these buffers, reused: a publish hashes about ten
 * nodes per update, and a fresh 65-byte array each time would be an allocation outside V8's heap
 * (typed arrays over 64 bytes get their own backing store), several times the cost of the hash.
 * `crypto.sha256` reads its input before it returns, and the values are public.
 */
const LEAF_INPUT = new Uint8Array(1 + KT_SUITE.vrfOutputBytes + KT_SUITE.hashBytes);
const PARENT_INPUT = new Uint8Array(1 + 2 * KT_SUITE.hashBytes);

/** §10.9: `leaf.value = Hash(0x01 || vrf_output || commitment)`. */
export function prefixLeafValue(crypto: CryptoProvider, leaf: PrefixLeaf): Uint8Array {
  LEAF_INPUT[0] = 0x01;
  LEAF_INPUT.set(leaf.vrfOutput, 1);
  LEAF_INPUT.set(leaf.commitment, 1 + KT_SUITE.vrfOutputBytes);
  return crypto.sha256(LEAF_INPUT);
}

/** §10.9: `parent.value = Hash(0x02 || left.value || right.value)`, zeros for a missing child. */
export function prefixParentValue(crypto: CryptoProvider, left: Uint8Array, right: Uint8Array): Uint8Array {
  PARENT_INPUT[0] = 0x02;
  PARENT_INPUT.set(left, 1);
  PARENT_INPUT.set(right, 1 + KT_SUITE.hashBytes);
  return crypto.sha256(PARENT_INPUT);
}

/** Checks caller-supplied search keys: VRF.Nh bytes each, no key twice. Throws VALIDATION_FAILED. */
export function checkSearchKeys(keys: readonly Uint8Array[]): void {
  const seen = new Set<string>();
  for (const key of keys) {
    if (!(key instanceof Uint8Array) || key.length !== KT_SUITE.vrfOutputBytes) {
      throw new ValidationError('VALIDATION_FAILED', `search key must be ${KT_SUITE.vrfOutputBytes} bytes`);
    }
    const id = String.fromCharCode(...key);
    if (seen.has(id))
      throw new ValidationError('VALIDATION_FAILED', 'the same search key is looked up twice');
    seen.add(id);
  }
}

type Skeleton =
  | { t: 'unknown' }
  | { t: 'parent'; left: Slot; right: Slot }
  | { t: 'leaf'; leaf: PrefixLeaf }
  | { t: 'empty' };
interface Slot {
  node: Skeleton;
}

const sameLeaf = (a: PrefixLeaf, b: PrefixLeaf): boolean =>
  equalPublicBytes(a.vrfOutput, b.vrfOutput) && equalPublicBytes(a.commitment, b.commitment);

function sharesPrefix(a: Uint8Array, b: Uint8Array, bits: number): boolean {
  for (let i = 0; i < bits; i++) if (keyBit(a, i) !== keyBit(b, i)) return false;
  return true;
}

/** The terminal node result `i` claims for `search`, after checking it is a possible one. */
function terminal(search: PrefixSearch, result: PrefixSearchResult, i: number): Skeleton {
  if (result.type === 'inclusion') {
    if (search.commitment === undefined) {
      throw new ProofMalformedError(`result ${i} claims inclusion of a key whose commitment is not known`, {
        result: i,
      });
    }
    return { t: 'leaf', leaf: { vrfOutput: search.vrfOutput, commitment: search.commitment } };
  }
  if (result.type === 'nonInclusionLeaf') {
    const other = result.leaf.vrfOutput;
    if (other.length !== KT_SUITE.vrfOutputBytes || result.leaf.commitment.length !== KT_SUITE.hashBytes) {
      throw new ProofMalformedError(`result ${i}: leaf of the wrong size`, { result: i });
    }
    if (equalPublicBytes(other, search.vrfOutput)) {
      throw new ProofMalformedError(`result ${i}: non-inclusion leaf holds the searched key`, { result: i });
    }
    if (!sharesPrefix(other, search.vrfOutput, result.depth)) {
      throw new ProofMalformedError(`result ${i}: leaf at depth ${result.depth} is not on the search path`, {
        result: i,
      });
    }
    return { t: 'leaf', leaf: result.leaf };
  }
  return { t: 'empty' };
}

/** Places result `i`'s terminal node in the skeleton, or checks it against one already placed. */
function place(root: Slot, search: PrefixSearch, result: PrefixSearchResult, i: number): void {
  const claimed = terminal(search, result, i);
  let slot = root;
  for (let depth = 0; ; depth++) {
    const node = slot.node;
    if (node.t === 'unknown') {
      if (depth === result.depth) {
        slot.node = claimed;
        return;
      }
      slot.node = { t: 'parent', left: { node: { t: 'unknown' } }, right: { node: { t: 'unknown' } } };
    } else if (node.t !== 'parent') {
      const agrees =
        depth === result.depth &&
        node.t === claimed.t &&
        (node.t === 'empty' || sameLeaf(node.leaf, (claimed as { leaf: PrefixLeaf }).leaf));
      if (!agrees) {
        throw new ProofMalformedError(`result ${i} contradicts an earlier result at depth ${depth}`, {
          result: i,
        });
      }
      return;
    }
    const parent = slot.node as { t: 'parent'; left: Slot; right: Slot };
    if (depth >= result.depth || depth >= 8 * KT_SUITE.vrfOutputBytes) {
      throw new ProofMalformedError(`result ${i}: depth ${result.depth} is above a parent on its path`, {
        result: i,
      });
    }
    slot = keyBit(search.vrfOutput, depth) === 1 ? parent.right : parent.left;
  }
}

/**
 * Recomputes the prefix-tree root from a batch search proof. `searches[i]` is the lookup answered by
 * `proof.results[i]`; a search whose result is `inclusion` must carry its commitment. Returns the root
 * and, per search, whether it was included. Throws VALIDATION_FAILED (bad or repeated keys) and
 * ProofMalformedError (wrong number of results or elements, impossible or contradictory results).
 */
export function evaluatePrefixProof(
  crypto: CryptoProvider,
  searches: readonly PrefixSearch[],
  proof: PrefixProof,
  shared?: SharedNodes,
): { root: Uint8Array; included: boolean[] } {
  if (proof.reuse !== undefined && shared === undefined) {
    throw new ProofMalformedError('a reuse bitmap outside a combined proof');
  }
  checkSearchKeys(searches.map((s) => s.vrfOutput));
  for (const s of searches) {
    if (s.commitment !== undefined && s.commitment.length !== KT_SUITE.hashBytes) {
      throw new ValidationError('VALIDATION_FAILED', `commitment must be ${KT_SUITE.hashBytes} bytes`);
    }
  }
  if (searches.length !== proof.results.length) {
    throw new ProofMalformedError(`${proof.results.length} results for ${searches.length} searches`);
  }
  const root: Slot = { node: { t: 'unknown' } };
  searches.forEach((s, i) => place(root, s, proof.results[i]!, i));

  let next = 0;
  const reuse = new BitReader(proof.reuse ?? new Uint8Array(0));
  const element = (position: string): Uint8Array => {
    const earlier = shared?.get(position);
    if (earlier !== undefined && reuse.next()) return earlier;
    const e = proof.elements[next];
    if (e === undefined) throw new ProofMalformedError(`proof ends at element ${next}`);
    if (e.length !== KT_SUITE.hashBytes) throw new ProofMalformedError(`element ${next} is not a hash`);
    next += 1;
    return e;
  };
  const value = hashSkeleton(crypto, root.node, '', element, shared);
  if (next !== proof.elements.length) {
    throw new ProofMalformedError(`proof has ${proof.elements.length} elements, ${next} expected`, {
      elements: proof.elements.length,
      expected: next,
    });
  }
  reuse.end();
  return { root: value, included: proof.results.map((r) => r.type === 'inclusion') };
}

/** §10.9 over a skeleton; `element(position)` gives each unknown node; every value goes to `shared`. */
function hashSkeleton(
  crypto: CryptoProvider,
  node: Skeleton,
  position: string,
  element: (position: string) => Uint8Array,
  shared: SharedNodes | undefined,
): Uint8Array {
  let value: Uint8Array;
  switch (node.t) {
    case 'unknown':
      value = element(position);
      break;
    case 'empty':
      value = KT_ZERO_HASH;
      break;
    case 'leaf':
      value = prefixLeafValue(crypto, node.leaf);
      break;
    case 'parent':
      value = prefixParentValue(
        crypto,
        hashSkeleton(crypto, node.left.node, position + '0', element, shared),
        hashSkeleton(crypto, node.right.node, position + '1', element, shared),
      );
  }
  shared?.set(position, value);
  return value;
}

/** Reads a reuse bitmap, most significant bit first; `end` checks it was used exactly, padding zero. */
class BitReader {
  readonly #bytes: Uint8Array;
  #bit = 0;
  constructor(bytes: Uint8Array) {
    this.#bytes = bytes;
  }
  next(): boolean {
    const byte = this.#bytes[this.#bit >> 3];
    if (byte === undefined) throw new ProofMalformedError(`reuse bitmap ends at bit ${this.#bit}`);
    const bit = (byte >> (7 - (this.#bit & 7))) & 1;
    this.#bit += 1;
    return bit === 1;
  }
  end(): void {
    if (this.#bytes.length !== (this.#bit + 7) >> 3) {
      throw new ProofMalformedError(
        `reuse bitmap has ${this.#bytes.length} bytes, ${(this.#bit + 7) >> 3} used`,
      );
    }
    while (this.#bit & 7) {
      if (this.next()) throw new ProofMalformedError('reuse bitmap padding is not zero');
    }
  }
}

/**
 * The prover's side of shared nodes: `proof` (complete, as PrefixTree.prove gives it) with every
 * copath value that repeats the value `shared` holds for its position left out and marked in `reuse`.
 * Records every node value in `shared`, as evaluation does. `searches` are the proof's lookups.
 */
export function sharePrefixProof(
  crypto: CryptoProvider,
  searches: readonly PrefixSearch[],
  proof: PrefixProof,
  shared: SharedNodes,
): PrefixProof {
  const root: Slot = { node: { t: 'unknown' } };
  searches.forEach((s, i) => place(root, s, proof.results[i]!, i));
  const elements: Uint8Array[] = [];
  const bits: boolean[] = [];
  let next = 0;
  hashSkeleton(
    crypto,
    root.node,
    '',
    (position) => {
      const e = proof.elements[next++]!;
      const earlier = shared.get(position);
      if (earlier !== undefined) bits.push(equalPublicBytes(earlier, e));
      if (earlier === undefined || !equalPublicBytes(earlier, e)) elements.push(e);
      return e;
    },
    shared,
  );
  const reuse = new Uint8Array((bits.length + 7) >> 3);
  bits.forEach((b, i) => {
    if (b) reuse[i >> 3]! |= 0x80 >> (i & 7);
  });
  return { results: proof.results, elements, reuse };
}

/**
 * Verifies a batch search proof against a trusted prefix-tree root. Each search is expected to be
 * included exactly when its commitment is given (the binary ladder predicts every outcome, §5);
 * any other outcome is ProofMalformedError, a different root RootMismatchError.
 */
export function verifyPrefixProof(
  crypto: CryptoProvider,
  searches: readonly PrefixSearch[],
  proof: PrefixProof,
  root: Uint8Array,
): void {
  const result = evaluatePrefixProof(crypto, searches, proof);
  searches.forEach((s, i) => {
    if ((s.commitment !== undefined) !== result.included[i]) {
      throw new ProofMalformedError(`result ${i}: expected ${s.commitment ? 'inclusion' : 'non-inclusion'}`, {
        result: i,
      });
    }
  });
  if (!equalPublicBytes(root, result.root))
    throw new RootMismatchError('prefix tree root', root, result.root);
}
