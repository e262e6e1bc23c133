/**
 * The log tree (draft-ietf-keytrans-protocol-04 §3.2, §10.8, §11.1): roots against a naive
 * recursive definition, the figures of §3.2, every inclusion and consistency proof of small trees,
 * batch proofs with retained subtrees, typed failures, and fast-check properties.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { nodeCryptoProvider as crypto } from '../../node/crypto-provider.ts';
import { SealpostError, type ErrorCode } from '../errors.ts';
import { concatBytes } from '../bytes/encoding.ts';
import { LogTree, encodeLogEntry, decodeLogEntry, logLeafValue } from './log-tree.ts';
import { fullSubtrees, leftSubtreeSize, type LogNodeValue } from './log-batch.ts';
import {
  evaluateLogBatch,
  rootFromFullSubtrees,
  verifyLogConsistency,
  verifyLogInclusion,
} from './log-verify.ts';

const leafOf = (i: number): Uint8Array =>
  logLeafValue(crypto, { timestamp: 1_000 + i, prefixRoot: new Uint8Array(32).fill(i) });

function treeOf(n: number): LogTree {
  const t = new LogTree(crypto);
  for (let i = 0; i < n; i++) t.appendLeafValue(leafOf(i));
  return t;
}

/** §10.8 written as directly as possible: the tree over leaves [lo, hi). */
function naive(lo: number, hi: number): LogNodeValue {
  if (hi - lo === 1) return { leaf: true, value: leafOf(lo) };
  const k = leftSubtreeSize(hi - lo);
  const l = naive(lo, lo + k);
  const r = naive(lo + k, hi);
  const content = (n: LogNodeValue) => concatBytes(new Uint8Array([n.leaf ? 0 : 1]), n.value);
  return { leaf: false, value: crypto.sha256(concatBytes(content(l), content(r))) };
}

function assertCode(fn: () => unknown, code: ErrorCode): void {
  assert.throws(fn, (e: unknown) => e instanceof SealpostError && e.code === code);
}

const N = 33;
const big = treeOf(N);

describe('LogEntry (§10.8)', () => {
  test('encodes as uint64 timestamp || prefix_tree[32] and round trips', () => {
    const entry = { timestamp: 0x0102030405, prefixRoot: new Uint8Array(32).fill(7) };
    const bytes = encodeLogEntry(entry);
    assert.deepEqual([...bytes.subarray(0, 8)], [0, 0, 0, 1, 2, 3, 4, 5]);
    assert.equal(bytes.length, 40);
    assert.deepEqual(decodeLogEntry(bytes), entry);
  });
  test('the leaf value is SHA-256 of the encoding', () => {
    const entry = { timestamp: 5, prefixRoot: new Uint8Array(32) };
    assert.deepEqual(logLeafValue(crypto, entry), crypto.sha256(encodeLogEntry(entry)));
  });
});

describe('LogTree roots', () => {
  test('a single leaf is its own root', () => assert.deepEqual(treeOf(1).root(), leafOf(0)));
  test(`roots of every size 1..${N} match the naive recursive definition`, () => {
    for (let n = 1; n <= N; n++) assert.deepEqual(big.root(n), naive(0, n).value, `size ${n}`);
  });
  test('full subtrees are the binary decomposition of the size (§4.2)', () => {
    assert.deepEqual(fullSubtrees(7), [
      { start: 0, size: 4 },
      { start: 4, size: 2 },
      { start: 6, size: 1 },
    ]);
    assert.deepEqual(fullSubtrees(8), [{ start: 0, size: 8 }]);
    for (let n = 1; n <= N; n++)
      assert.deepEqual(rootFromFullSubtrees(crypto, n, big.fullSubtrees(n)), big.root(n));
  });
  test('refuses sizes outside 1..size with KT_TREE_SIZE_INVALID', () => {
    for (const n of [0, -1, N + 1, 1.5, Number.NaN]) assertCode(() => big.root(n), 'KT_TREE_SIZE_INVALID');
  });
});

describe('inclusion proofs (§3.2 Figure 3)', () => {
  test('leaf 2 of 6 is proved by leaf 3, the head of [0, 2) and the head of [4, 6)', () => {
    const t = treeOf(6);
    assert.deepEqual(t.inclusionProof(2), [naive(0, 2).value, leafOf(3), naive(4, 6).value]);
  });
  test(`every leaf of every size 1..${N} verifies and returns the full subtrees`, () => {
    for (let n = 1; n <= N; n++) {
      for (let i = 0; i < n; i++) {
        const elements = big.inclusionProof(i, n);
        const kept = verifyLogInclusion(crypto, {
          index: i,
          size: n,
          leaf: leafOf(i),
          elements,
          root: big.root(n),
        });
        assert.deepEqual(kept, big.fullSubtrees(n));
      }
    }
  });
  test('a proof for one leaf does not verify another leaf', () =>
    assertCode(
      () =>
        verifyLogInclusion(crypto, {
          index: 3,
          size: 7,
          leaf: leafOf(4),
          elements: big.inclusionProof(3, 7),
          root: big.root(7),
        }),
      'KT_ROOT_MISMATCH',
    ));
  test('an index at or past the size is KT_TREE_SIZE_INVALID', () =>
    assertCode(
      () =>
        verifyLogInclusion(crypto, { index: 7, size: 7, leaf: leafOf(7), elements: [], root: big.root(7) }),
      'KT_TREE_SIZE_INVALID',
    ));
  test('a missing or an extra element is KT_PROOF_MALFORMED', () => {
    const elements = big.inclusionProof(3, 7);
    const root = big.root(7);
    assertCode(
      () =>
        verifyLogInclusion(crypto, { index: 3, size: 7, leaf: leafOf(3), elements: elements.slice(1), root }),
      'KT_PROOF_MALFORMED',
    );
    assertCode(
      () =>
        verifyLogInclusion(crypto, {
          index: 3,
          size: 7,
          leaf: leafOf(3),
          elements: [...elements, elements[0]!],
          root,
        }),
      'KT_PROOF_MALFORMED',
    );
  });
});

describe('consistency proofs (§3.2 Figure 4)', () => {
  test('from 5 to 7 the proof is leaves 5 and 6', () =>
    assert.deepEqual(treeOf(7).consistencyProof(5, 7), [leafOf(5), leafOf(6)]));
  test('from a size to itself the proof is empty', () => assert.deepEqual(big.consistencyProof(6, 6), []));
  test(`every pair 0 < size1 <= size2 <= ${N} verifies`, () => {
    for (let m = 1; m <= N; m++) {
      for (let n = m; n <= N; n++) {
        const kept = verifyLogConsistency(crypto, {
          size1: m,
          root1: big.root(m),
          fullSubtrees1: big.fullSubtrees(m),
          size2: n,
          root2: big.root(n),
          elements: big.consistencyProof(m, n),
        });
        assert.deepEqual(kept, big.fullSubtrees(n), `${m} -> ${n}`);
      }
    }
  });
  test('size1 > size2 is KT_TREE_SIZE_INVALID for the prover and the verifier', () => {
    assertCode(() => big.consistencyProof(7, 5), 'KT_TREE_SIZE_INVALID');
    assertCode(
      () =>
        verifyLogConsistency(crypto, {
          size1: 7,
          root1: big.root(7),
          fullSubtrees1: big.fullSubtrees(7),
          size2: 5,
          root2: big.root(5),
          elements: [],
        }),
      'KT_TREE_SIZE_INVALID',
    );
  });
  test('retained subtrees that do not fold to root1 are KT_ROOT_MISMATCH', () => {
    const kept = big.fullSubtrees(5);
    kept[1] = leafOf(9);
    assertCode(
      () =>
        verifyLogConsistency(crypto, {
          size1: 5,
          root1: big.root(5),
          fullSubtrees1: kept,
          size2: 7,
          root2: big.root(7),
          elements: big.consistencyProof(5, 7),
        }),
      'KT_ROOT_MISMATCH',
    );
  });
});

describe('batch proofs (§11.1)', () => {
  test('several leaves at once, with and without retained subtrees', () => {
    for (const [size, leaves, retainedSize] of [
      [13, [0, 5, 12], undefined],
      [13, [2, 3], 6],
      [20, [1, 17], 11],
      [16, [15], 16],
      [9, [], 9],
    ] as const) {
      const elements = big.batchProof(size, leaves, retainedSize);
      const result = evaluateLogBatch(crypto, {
        size,
        leaves: leaves.map((index) => ({ index, value: leafOf(index) })),
        retained:
          retainedSize === undefined
            ? undefined
            : { size: retainedSize, fullSubtrees: big.fullSubtrees(retainedSize) },
        elements,
      });
      assert.deepEqual(result.root, big.root(size), `${size} ${leaves.join(',')} ${retainedSize}`);
    }
  });
  test('a leaf under a retained subtree must recompute the retained value (KT_ROOT_MISMATCH otherwise)', () => {
    const elements = big.batchProof(13, [2], 6);
    const kept = big.fullSubtrees(6);
    kept[0] = leafOf(30);
    assertCode(
      () =>
        evaluateLogBatch(crypto, {
          size: 13,
          leaves: [{ index: 2, value: leafOf(2) }],
          retained: { size: 6, fullSubtrees: kept },
          elements,
        }),
      'KT_ROOT_MISMATCH',
    );
  });
  test('duplicate leaf indices are KT_TREE_SIZE_INVALID', () =>
    assertCode(
      () =>
        evaluateLogBatch(crypto, {
          size: 4,
          leaves: [
            { index: 1, value: leafOf(1) },
            { index: 1, value: leafOf(1) },
          ],
          elements: [],
        }),
      'KT_TREE_SIZE_INVALID',
    ));
  test('an element that is not 32 bytes is KT_PROOF_MALFORMED', () =>
    assertCode(
      () =>
        evaluateLogBatch(crypto, {
          size: 2,
          leaves: [{ index: 0, value: leafOf(0) }],
          elements: [new Uint8Array(31)],
        }),
      'KT_PROOF_MALFORMED',
    ));
});

describe('properties', () => {
  const sizes = fc
    .integer({ min: 1, max: 300 })
    .chain((n) =>
      fc.tuple(fc.constant(n), fc.integer({ min: 1, max: n }), fc.integer({ min: 0, max: n - 1 })),
    );
  test('inclusion and consistency proofs of random trees verify; a flipped bit never does', () => {
    fc.assert(
      fc.property(sizes, fc.nat(), ([n, m, i], bit) => {
        const t = treeOf(n);
        verifyLogInclusion(crypto, {
          index: i,
          size: n,
          leaf: leafOf(i),
          elements: t.inclusionProof(i),
          root: t.root(),
        });
        const elements = t.consistencyProof(m, n);
        const args = {
          size1: m,
          root1: t.root(m),
          fullSubtrees1: t.fullSubtrees(m),
          size2: n,
          root2: t.root(),
          elements,
        };
        verifyLogConsistency(crypto, args);
        if (elements.length > 0) {
          const bad = elements.map((e) => e.slice());
          const which = bit % bad.length;
          bad[which]![(bit >> 3) % 32]! ^= 1 << (bit & 7);
          assertCode(() => verifyLogConsistency(crypto, { ...args, elements: bad }), 'KT_ROOT_MISMATCH');
        }
      }),
      { numRuns: 150 },
    );
  });
});
