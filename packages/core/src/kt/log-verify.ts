/**
 * Verification of log-tree proofs (draft-ietf-keytrans-protocol-04 §11.1, §3.2, §4.2).
 *
 * A verifier knows leaf values it wants proved, possibly the full subtrees it retained from an earlier
 * tree head (§4.2 item 2), and a proof: the balanced-subtree heads of §11.1 in left-to-right order.
 * It recomputes the root, compares it with the root it trusts, and gets back the full subtrees of the
 * new size to retain. Failures are typed (proof-errors.ts):
 *   TreeSizeError        a precondition in the doc comment is violated (size1 > size2, index >= size)
 *   ProofMalformedError  too few or too many elements, an element not Hash.Nh bytes, retained state of
 *                        the wrong length
 *   RootMismatchError    a recomputed root, old root or retained subtree differs from the trusted one
 *
 * A verifier that kept only an old root (a witness restarting) may take the full subtrees of size1 from
 * the log: `verifyLogConsistency` checks them against `root1` first, so they are as good as retained.
 */
import type { CryptoProvider } from '../crypto/provider.ts';
import { equalPublicBytes } from '../bytes/encoding.ts';
import { KT_SUITE } from './cipher-suite.ts';
import { checkLogBatchShape, fullSubtrees, walkLogBatch, type LogBatchResult } from './log-batch.ts';
import { foldFullSubtrees } from './log-tree.ts';
import { ProofMalformedError, RootMismatchError, TreeSizeError } from './proof-errors.ts';

export interface LogBatchInput {
  readonly size: number;
  /** Leaves whose inclusion is proved, by index with their values (Hash(LogEntry)). */
  readonly leaves: readonly { readonly index: number; readonly value: Uint8Array }[];
  /** Full subtrees retained from an earlier tree head (§4.2), left to right. */
  readonly retained?: { readonly size: number; readonly fullSubtrees: readonly Uint8Array[] } | undefined;
  /** The proof: `InclusionProof.elements` (§11.1). */
  readonly elements: readonly Uint8Array[];
}

function checkHash(value: Uint8Array, what: string): void {
  if (!(value instanceof Uint8Array) || value.length !== KT_SUITE.hashBytes) {
    throw new ProofMalformedError(`${what} is not a ${KT_SUITE.hashBytes}-byte hash`);
  }
}

/**
 * Recomputes the root of a §11.1 batch proof. Requires 0 < size; leaf indices distinct and in
 * [0, size); 0 < retained.size <= size. Throws TreeSizeError, ProofMalformedError, RootMismatchError
 * (a retained subtree that the proved leaves recompute differently).
 */
export function evaluateLogBatch(crypto: CryptoProvider, input: LogBatchInput): LogBatchResult {
  const sorted = [...input.leaves].sort((a, b) => a.index - b.index);
  const leaves = sorted.map((l) => l.index);
  const retainedSize = input.retained?.size;
  checkLogBatchShape({ size: input.size, leaves, retainedSize });
  sorted.forEach((l, i) => checkHash(l.value, `leaf ${leaves[i]} value`));
  const kept = input.retained?.fullSubtrees ?? [];
  const expectedKept = fullSubtrees(retainedSize ?? 0).length;
  if (kept.length !== expectedKept) {
    throw new ProofMalformedError(
      `${kept.length} retained full subtrees for size ${retainedSize}, expected ${expectedKept}`,
    );
  }
  kept.forEach((v, i) => checkHash(v, `retained full subtree ${i}`));
  input.elements.forEach((e, i) => checkHash(e, `proof element ${i}`));

  const byIndex = new Map(sorted.map((l) => [l.index, l.value]));
  let next = 0;
  const result = walkLogBatch(
    crypto,
    { size: input.size, leaves, retainedSize },
    {
      leaf: (index) => byIndex.get(index)!,
      retained: (i) => kept[i]!,
      element: (start, n) => {
        const e = input.elements[next];
        if (e === undefined) {
          throw new ProofMalformedError(
            `proof ends at element ${next}; subtree [${start}, ${start + n}) is missing`,
            {
              elements: input.elements.length,
              size: input.size,
            },
          );
        }
        next += 1;
        return e;
      },
    },
  );
  if (next !== input.elements.length) {
    throw new ProofMalformedError(`proof has ${input.elements.length} elements, ${next} expected`, {
      elements: input.elements.length,
      expected: next,
      size: input.size,
    });
  }
  return result;
}

/** Throws RootMismatchError unless `calculated` equals the trusted `expected`. */
export function checkRoot(what: string, expected: Uint8Array, calculated: Uint8Array): void {
  checkHash(expected, `${what} (expected)`);
  if (!equalPublicBytes(expected, calculated)) throw new RootMismatchError(what, expected, calculated);
}

/**
 * Verifies that leaf `index` with value `leaf` is in the tree of `size` leaves with root `root`.
 * Requires 0 <= index < size. Returns the full subtrees of `size` (to retain, §4.2).
 */
export function verifyLogInclusion(
  crypto: CryptoProvider,
  args: {
    readonly index: number;
    readonly size: number;
    readonly leaf: Uint8Array;
    readonly elements: readonly Uint8Array[];
    readonly root: Uint8Array;
  },
): Uint8Array[] {
  const result = evaluateLogBatch(crypto, {
    size: args.size,
    leaves: [{ index: args.index, value: args.leaf }],
    elements: args.elements,
  });
  checkRoot(`root of the tree of size ${args.size}`, args.root, result.root);
  return result.fullSubtrees;
}

/** The root of a tree of `size` leaves from its full subtrees. Requires 0 < size. */
export function rootFromFullSubtrees(
  crypto: CryptoProvider,
  size: number,
  values: readonly Uint8Array[],
): Uint8Array {
  if (!Number.isSafeInteger(size) || size < 1) throw new TreeSizeError(`tree size ${size} is not positive`);
  const subtrees = fullSubtrees(size);
  if (values.length !== subtrees.length) {
    throw new ProofMalformedError(
      `${values.length} full subtrees for size ${size}, expected ${subtrees.length}`,
    );
  }
  values.forEach((v, i) => checkHash(v, `full subtree ${i}`));
  return foldFullSubtrees(crypto, subtrees, values);
}

/**
 * Verifies that the tree of `size2` leaves with root `root2` extends the tree of `size1` leaves with
 * root `root1`, given the full subtrees of size1 (retained, or received and checked here against
 * root1) and the consistency proof. Requires 0 < size1 <= size2. Returns the full subtrees of size2.
 */
export function verifyLogConsistency(
  crypto: CryptoProvider,
  args: {
    readonly size1: number;
    readonly root1: Uint8Array;
    readonly fullSubtrees1: readonly Uint8Array[];
    readonly size2: number;
    readonly root2: Uint8Array;
    readonly elements: readonly Uint8Array[];
  },
): Uint8Array[] {
  const { size1, size2 } = args;
  if (!Number.isSafeInteger(size1) || !Number.isSafeInteger(size2) || size1 < 1 || size1 > size2) {
    throw new TreeSizeError(`consistency requires 0 < size1 <= size2, got ${size1} and ${size2}`, {
      size1,
      size2,
    });
  }
  checkRoot(
    `root of the tree of size ${size1}`,
    args.root1,
    rootFromFullSubtrees(crypto, size1, args.fullSubtrees1),
  );
  const result = evaluateLogBatch(crypto, {
    size: size2,
    leaves: [],
    retained: { size: size1, fullSubtrees: args.fullSubtrees1 },
    elements: args.elements,
  });
  checkRoot(`root of the tree of size ${size2}`, args.root2, result.root);
  return result.fullSubtrees;
}
