/**
 * The prefix tree (draft-ietf-keytrans-protocol-04 §3.3, §10.9, §11.2): the figures of §3.3, roots
 * against a naive recursive definition, persistence of old versions, batch search proofs, typed
 * failures, and fast-check properties over random insert and remove sequences.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { nodeCryptoProvider as crypto } from '../../node/crypto-provider.ts';
import { SealpostError, type ErrorCode } from '../errors.ts';
import { toHex } from '../bytes/encoding.ts';
import { KT_ZERO_HASH } from './cipher-suite.ts';
import { PrefixTree } from './prefix-tree.ts';
import {
  evaluatePrefixProof,
  keyBit,
  prefixLeafValue,
  prefixParentValue,
  sharePrefixProof,
  verifyPrefixProof,
  type SharedNodes,
  type PrefixLeaf,
  type PrefixProof,
} from './prefix-proof.ts';

function assertCode(fn: () => unknown, code: ErrorCode): void {
  assert.throws(fn, (e: unknown) => e instanceof SealpostError && e.code === code);
}

/** A 32-byte key whose leading bits are `bits` ("00010"), the rest `fill`. */
function keyFromBits(bits: string, fill = 0): Uint8Array {
  const key = new Uint8Array(32).fill(fill);
  for (let i = 0; i < bits.length; i++) {
    const mask = 1 << (7 - (i % 8));
    key[i >> 3] = bits[i] === '1' ? key[i >> 3]! | mask : key[i >> 3]! & ~mask;
  }
  return key;
}
const commitmentOf = (key: Uint8Array): Uint8Array => crypto.sha256(key);
const leafOf = (key: Uint8Array): PrefixLeaf => ({ vrfOutput: key, commitment: commitmentOf(key) });
const hex = (b: Uint8Array): string => toHex(b);

/** §10.9 over a set of leaves, as directly as possible: the canonical shape of §3.3. */
function naiveRoot(leaves: readonly PrefixLeaf[], depth = 0): Uint8Array {
  if (leaves.length === 0) return KT_ZERO_HASH;
  if (leaves.length === 1) return prefixLeafValue(crypto, leaves[0]!);
  const left = leaves.filter((l) => keyBit(l.vrfOutput, depth) === 0);
  const right = leaves.filter((l) => keyBit(l.vrfOutput, depth) === 1);
  return prefixParentValue(crypto, naiveRoot(left, depth + 1), naiveRoot(right, depth + 1));
}

/** Searches for `keys` in `tree`, checks the proof against the tree's root, returns the results. */
function searchAndVerify(tree: PrefixTree, keys: readonly Uint8Array[]): PrefixProof {
  const { proof, commitments } = tree.prove(keys);
  const searches = keys.map((vrfOutput, i) => ({ vrfOutput, commitment: commitments[i] }));
  verifyPrefixProof(crypto, searches, proof, tree.root);
  return proof;
}

const [A, B, C, D, E, F] = ['00010', '00101', '10001', '10111', '11011', '01101'].map((b) => keyFromBits(b));

describe('the shapes of §3.3 Figures 5 and 6', () => {
  const five = PrefixTree.empty(crypto).insert([A!, B!, C!, D!, E!].map(leafOf));
  test('five entries: A, B, C, D at depth 3 and E at depth 2', () => {
    const { results } = searchAndVerify(five, [A!, B!, C!, D!, E!]);
    assert.deepEqual(
      results.map((r) => [r.type, r.depth]),
      [
        ['inclusion', 3],
        ['inclusion', 3],
        ['inclusion', 3],
        ['inclusion', 3],
        ['inclusion', 2],
      ],
    );
  });
  test('adding 01101 -> F puts F at depth 2 beside the parent of A and B', () => {
    const six = five.insert([leafOf(F!)]);
    assert.deepEqual(searchAndVerify(six, [F!]).results, [{ type: 'inclusion', depth: 2 }]);
    assert.deepEqual(six.root, naiveRoot([A!, B!, C!, D!, E!, F!].map(leafOf)));
  });
  test('searching 01101 in the five-entry tree ends at the missing right child of node 0 (depth 2)', () => {
    assert.deepEqual(searchAndVerify(five, [F!]).results, [{ type: 'nonInclusionParent', depth: 2 }]);
  });
  test('searching 00011 ends at leaf A: non-inclusion with the leaf provided', () => {
    const proof = searchAndVerify(five, [keyFromBits('00011')]);
    assert.equal(proof.results[0]!.type, 'nonInclusionLeaf');
    assert.equal(proof.results[0]!.depth, 3);
  });
});

describe('PrefixTree', () => {
  test('the empty tree has the all-zero root and proves non-inclusion at depth 0', () => {
    const empty = PrefixTree.empty(crypto);
    assert.deepEqual(empty.root, KT_ZERO_HASH);
    assert.deepEqual(searchAndVerify(empty, [A!]), {
      results: [{ type: 'nonInclusionParent', depth: 0 }],
      elements: [],
    });
  });
  test('a single entry is the root', () => {
    const one = PrefixTree.empty(crypto).insert([leafOf(A!)]);
    assert.deepEqual(one.root, prefixLeafValue(crypto, leafOf(A!)));
    assert.deepEqual(searchAndVerify(one, [A!, B!]).results, [
      { type: 'inclusion', depth: 0 },
      { type: 'nonInclusionLeaf', leaf: leafOf(A!), depth: 0 },
    ]);
  });
  test('an old version keeps its root and proofs after later inserts (structural sharing)', () => {
    const v1 = PrefixTree.empty(crypto).insert([A!, B!].map(leafOf));
    const root1 = v1.root;
    const v2 = v1.insert([C!, D!, E!].map(leafOf));
    assert.deepEqual(v1.root, root1);
    assert.equal(v1.size, 2);
    assert.equal(v2.size, 5);
    searchAndVerify(v1, [A!, C!]);
    assert.equal(v1.lookup(C!), undefined);
    assert.deepEqual(v2.lookup(C!), commitmentOf(C!));
  });
  test('inserting a present key is KT_PREFIX_KEY_EXISTS; removing an absent one KT_PREFIX_KEY_MISSING', () => {
    const t = PrefixTree.empty(crypto).insert([A!, B!].map(leafOf));
    assertCode(() => t.insert([leafOf(A!)]), 'KT_PREFIX_KEY_EXISTS');
    assertCode(() => t.update({ remove: [C!] }), 'KT_PREFIX_KEY_MISSING');
    assertCode(() => PrefixTree.empty(crypto).update({ remove: [C!] }), 'KT_PREFIX_KEY_MISSING');
  });
  test('a key twice in one batch, or both added and removed, is VALIDATION_FAILED', () => {
    const t = PrefixTree.empty(crypto).insert([leafOf(A!)]);
    assertCode(() => t.insert([leafOf(B!), leafOf(B!)]), 'VALIDATION_FAILED');
    assertCode(() => t.update({ add: [leafOf(B!)], remove: [B!] }), 'VALIDATION_FAILED');
    assertCode(
      () => t.insert([{ vrfOutput: new Uint8Array(31), commitment: new Uint8Array(32) }]),
      'VALIDATION_FAILED',
    );
    assertCode(() => t.insert([{ vrfOutput: C!, commitment: new Uint8Array(33) }]), 'VALIDATION_FAILED');
  });
  test('removing restores the shape a fresh tree of the remaining keys has', () => {
    const all = PrefixTree.empty(crypto).insert([A!, B!, C!, D!, E!, F!].map(leafOf));
    const fewer = all.update({ remove: [B!, D!, E!] });
    assert.deepEqual(fewer.root, PrefixTree.empty(crypto).insert([A!, C!, F!].map(leafOf)).root);
    assert.deepEqual(all.update({ remove: [A!, B!, C!, D!, E!, F!] }).root, KT_ZERO_HASH);
  });
});

describe('prefix proof verification failures', () => {
  const tree = PrefixTree.empty(crypto).insert([A!, B!, C!, D!, E!].map(leafOf));
  const keys = [A!, F!, keyFromBits('00011')];
  const { proof, commitments } = tree.prove(keys);
  const searches = keys.map((vrfOutput, i) => ({ vrfOutput, commitment: commitments[i] }));
  test('a flipped bit in any element is KT_ROOT_MISMATCH', () => {
    for (let i = 0; i < proof.elements.length; i++) {
      const elements = proof.elements.map((e) => e.slice());
      elements[i]![0]! ^= 0x80;
      assertCode(
        () => verifyPrefixProof(crypto, searches, { ...proof, elements }, tree.root),
        'KT_ROOT_MISMATCH',
      );
    }
  });
  test('a wrong depth, a missing or extra element, or too few results is KT_PROOF_MALFORMED', () => {
    const deeper = proof.results.map((r, i) => (i === 0 ? { ...r, depth: r.depth + 1 } : r));
    assertCode(
      () => verifyPrefixProof(crypto, searches, { ...proof, results: deeper }, tree.root),
      'KT_PROOF_MALFORMED',
    );
    assertCode(
      () => verifyPrefixProof(crypto, searches, { ...proof, elements: proof.elements.slice(1) }, tree.root),
      'KT_PROOF_MALFORMED',
    );
    assertCode(
      () =>
        verifyPrefixProof(
          crypto,
          searches,
          { ...proof, elements: [...proof.elements, KT_ZERO_HASH] },
          tree.root,
        ),
      'KT_PROOF_MALFORMED',
    );
    assertCode(
      () => verifyPrefixProof(crypto, searches, { ...proof, results: proof.results.slice(1) }, tree.root),
      'KT_PROOF_MALFORMED',
    );
  });
  test('claiming non-inclusion with the searched key as the leaf is KT_PROOF_MALFORMED', () => {
    const results = [
      { type: 'nonInclusionLeaf' as const, leaf: leafOf(A!), depth: 3 },
      ...proof.results.slice(1),
    ];
    assertCode(() => evaluatePrefixProof(crypto, searches, { ...proof, results }), 'KT_PROOF_MALFORMED');
  });
  test('an inclusion the verifier did not expect, or the reverse, is KT_PROOF_MALFORMED', () => {
    const noCommitment = searches.map((s) => ({ vrfOutput: s.vrfOutput }));
    assertCode(() => verifyPrefixProof(crypto, noCommitment, proof, tree.root), 'KT_PROOF_MALFORMED');
    const expectsAll = searches.map((s) => ({
      vrfOutput: s.vrfOutput,
      commitment: commitmentOf(s.vrfOutput),
    }));
    assertCode(() => verifyPrefixProof(crypto, expectsAll, proof, tree.root), 'KT_PROOF_MALFORMED');
  });
  test('swapped results are rejected with a typed error', () => {
    const results = [proof.results[1]!, proof.results[0]!, proof.results[2]!];
    assert.throws(
      () => verifyPrefixProof(crypto, searches, { ...proof, results }, tree.root),
      (e: unknown) =>
        e instanceof SealpostError && (e.code === 'KT_PROOF_MALFORMED' || e.code === 'KT_ROOT_MISMATCH'),
    );
  });
});

describe('properties', () => {
  // Keys that share long prefixes (one byte varied, the rest zero) as well as random ones.
  const key = fc.oneof(
    fc.uint8Array({ minLength: 32, maxLength: 32 }),
    fc.tuple(fc.nat(255), fc.nat(31), fc.integer({ min: 1, max: 255 })).map(([a, pos, c]) => {
      const k = new Uint8Array(32);
      k[0] = a;
      k[pos]! ^= c;
      return k;
    }),
  );
  const batches = fc.array(fc.uniqueArray(key, { minLength: 1, maxLength: 12, selector: hex }), {
    minLength: 1,
    maxLength: 6,
  });

  test('random insert sequences: every version proves every key against its own root', () => {
    fc.assert(
      fc.property(batches, fc.array(key, { maxLength: 4 }), (batchList, probes) => {
        const versions: { tree: PrefixTree; root: Uint8Array; keys: Uint8Array[] }[] = [];
        let tree = PrefixTree.empty(crypto);
        const seen = new Set<string>();
        const inserted: Uint8Array[] = [];
        for (const batch of batchList) {
          const fresh = batch.filter((k) => !seen.has(hex(k)));
          fresh.forEach((k) => seen.add(hex(k)));
          inserted.push(...fresh);
          tree = tree.insert(fresh.map(leafOf));
          versions.push({ tree, root: tree.root, keys: [...inserted] });
        }
        for (const v of versions) {
          assert.deepEqual(v.tree.root, v.root);
          assert.deepEqual(v.root, naiveRoot(v.keys.map(leafOf)));
          const unique = [...new Map([...v.keys, ...probes].map((k) => [hex(k), k])).values()];
          searchAndVerify(v.tree, unique);
        }
      }),
      { numRuns: 60 },
    );
  });

  test('removals leave the root a fresh tree of the remaining keys has', () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(key, { minLength: 1, maxLength: 24, selector: hex }),
        fc.array(fc.boolean(), { minLength: 24, maxLength: 24 }),
        (keys, drop) => {
          const full = PrefixTree.empty(crypto).insert(keys.map(leafOf));
          const gone = keys.filter((_, i) => drop[i]);
          const kept = keys.filter((_, i) => !drop[i]);
          const after = full.update({ remove: gone });
          assert.deepEqual(after.root, naiveRoot(kept.map(leafOf)));
          assert.equal(after.size, kept.length);
          searchAndVerify(after, keys);
        },
      ),
      { numRuns: 60 },
    );
  });
});

describe('shared nodes between the prefix proofs of one response', () => {
  test('a later version reuses the copath values that did not change and computes the same roots', () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.uint8Array({ minLength: 32, maxLength: 32 }), {
          minLength: 3,
          maxLength: 40,
          selector: toHex,
        }),
        fc.nat(),
        (keys, pick) => {
          const leaves = keys.map((k) => ({ vrfOutput: k, commitment: crypto.sha256(k) }));
          const half = Math.max(1, leaves.length >> 1);
          const v1 = PrefixTree.empty(crypto).insert(leaves.slice(0, half));
          const v2 = v1.insert(leaves.slice(half, -1));
          const searched = [keys[pick % (keys.length - 1)]!, keys.at(-1)!]; // the last key is in neither
          const shared: SharedNodes = new Map();
          const sentElements: number[] = [];
          for (const tree of [v1, v2, v2]) {
            const { proof, commitments } = tree.prove(searched);
            const searches = searched.map((vrfOutput, i) => ({ vrfOutput, commitment: commitments[i] }));
            const sent = sharePrefixProof(crypto, searches, proof, new Map(shared));
            const { root } = evaluatePrefixProof(crypto, searches, sent, shared);
            assert.deepEqual(root, tree.root);
            sentElements.push(sent.elements.length);
          }
          // The same proof twice: every copath value of the second is the first's.
          assert.equal(sentElements[2], 0);
        },
      ),
      { numRuns: 60 },
    );
  });
});
