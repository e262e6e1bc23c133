/**
 * Negative log-tree vectors (draft-ietf-keytrans-protocol-04 §11.1): edits of the example's valid
 * inclusion and consistency proofs, one file per defect. Written by generate.ts.
 */
import { concatBytes } from '../../../src/bytes/encoding.ts';
import { encodeInclusionProof } from '../../../src/kt/proof-codec.ts';
import { flip, hex, negative, tree } from './example.ts';

export function writeNegativeLogVectors(): void {
  // log-inclusion: leaf 2 of the tree of 7 entries (4 elements: [0,2), leaf 3, [4,6), leaf 6).
  {
    const index = 2;
    const size = 7;
    const elements = tree.log.inclusionProof(index, size);
    const base = { index, size, leaf: hex(tree.log.leafValue(index)), root: hex(tree.log.root(size)) };
    const enc = (els: Uint8Array[]) => hex(encodeInclusionProof({ elements: els }));
    const proof = encodeInclusionProof({ elements });
    const kind = 'log-inclusion';
    negative(
      `${kind}-modified-element@1-bit`,
      'Inclusion proof with one bit flipped in one element.',
      'KT_ROOT_MISMATCH',
      elements.map((_, i) => ({
        name: `element ${i}, bit ${i % 8} of byte ${(7 * i) % 32}`,
        input: {
          kind,
          ...base,
          proof: enc(elements.map((e, j) => (j === i ? flip(e, (7 * i) % 32, i % 8) : e))),
        },
      })),
    );
    negative(
      `${kind}-modified-leaf@1-bit`,
      'Valid proof, leaf value with one bit flipped.',
      'KT_ROOT_MISMATCH',
      [
        {
          name: 'leaf bit 0 of byte 0',
          input: { kind, ...base, leaf: hex(flip(tree.log.leafValue(index), 0, 0)), proof: hex(proof) },
        },
      ],
    );
    negative(
      `${kind}-modified-root@1-bit`,
      'Valid proof, expected root with one bit flipped.',
      'KT_ROOT_MISMATCH',
      [
        {
          name: 'root bit 7 of byte 31',
          input: { kind, ...base, root: hex(flip(tree.log.root(size), 31, 7)), proof: hex(proof) },
        },
      ],
    );
    negative(`${kind}-reordered-elements`, 'Two elements of a valid proof swapped.', 'KT_ROOT_MISMATCH', [
      {
        name: 'elements 0 and 1 swapped',
        input: { kind, ...base, proof: enc([elements[1]!, elements[0]!, ...elements.slice(2)]) },
      },
      { name: 'elements reversed', input: { kind, ...base, proof: enc([...elements].reverse()) } },
    ]);
    negative(`${kind}-truncated`, 'Encoded proof cut short.', 'CODEC_TRUNCATED', [
      {
        name: 'last byte missing',
        input: { kind, ...base, proof: hex(proof.subarray(0, proof.length - 1)) },
      },
      { name: 'only the count', input: { kind, ...base, proof: hex(proof.subarray(0, 2)) } },
      { name: 'half a count', input: { kind, ...base, proof: hex(proof.subarray(0, 1)) } },
    ]);
    negative(`${kind}-trailing-garbage`, 'Encoded proof followed by extra bytes.', 'CODEC_TRAILING_BYTES', [
      {
        name: 'one zero byte appended',
        input: { kind, ...base, proof: hex(concatBytes(proof, new Uint8Array(1))) },
      },
      {
        name: 'a whole extra element appended after the counted ones',
        input: { kind, ...base, proof: hex(concatBytes(proof, elements[0]!)) },
      },
    ]);
    negative(
      `${kind}-preceding-garbage`,
      'Encoded proof preceded by a zero byte (count becomes 0x0000 + trailing bytes).',
      'CODEC_TRAILING_BYTES',
      [
        {
          name: 'one zero byte prepended',
          input: { kind, ...base, proof: hex(concatBytes(new Uint8Array(1), proof)) },
        },
      ],
    );
    negative(`${kind}-empty-proof`, 'No elements for a leaf of a tree of 7.', 'KT_PROOF_MALFORMED', [
      { name: 'empty proof', input: { kind, ...base, proof: enc([]) } },
    ]);
    negative(
      `${kind}-wrong-size`,
      'Valid proof and root, tree size changed: the element count no longer fits.',
      'KT_PROOF_MALFORMED',
      [
        { name: 'size 6 (3 elements expected)', input: { kind, ...base, size: 6, proof: hex(proof) } },
        { name: 'size 8 (3 elements expected)', input: { kind, ...base, size: 8, proof: hex(proof) } },
        { name: 'extra element', input: { kind, ...base, proof: enc([...elements, elements[0]!]) } },
      ],
    );
    negative(`${kind}-wrong-index`, 'Valid proof for leaf 2 checked as leaf 3.', 'KT_ROOT_MISMATCH', [
      { name: 'index 3', input: { kind, ...base, index: 3, proof: hex(proof) } },
    ]);
    negative(`${kind}-index-out-of-range`, 'Requires 0 <= index < size.', 'KT_TREE_SIZE_INVALID', [
      { name: 'index = size', input: { kind, ...base, index: 7, proof: hex(proof) } },
      { name: 'size 0', input: { kind, ...base, index: 0, size: 0, proof: enc([]) } },
    ]);
    negative(
      `${kind}-count-over-limit`,
      'Element count above LIMITS.ktLogProofMaxElements, refused before reading.',
      'CODEC_LENGTH_LIMIT',
      [{ name: 'count 0xffff', input: { kind, ...base, proof: 'ffff' } }],
    );
  }

  // log-consistency: from 6 to 13 (retained [0,4), [4,6); elements [6,8), [8,12), leaf 12).
  {
    const size1 = 6;
    const size2 = 13;
    const elements = tree.log.consistencyProof(size1, size2);
    const kept = tree.log.fullSubtrees(size1);
    const base = {
      size1,
      root1: hex(tree.log.root(size1)),
      fullSubtrees1: kept.map(hex),
      size2,
      root2: hex(tree.log.root(size2)),
    };
    const enc = (els: Uint8Array[]) => hex(encodeInclusionProof({ elements: els }));
    const proof = encodeInclusionProof({ elements });
    const kind = 'log-consistency';
    negative(
      `${kind}-modified-element@1-bit`,
      'Consistency proof with one bit flipped in one element.',
      'KT_ROOT_MISMATCH',
      elements.map((_, i) => ({
        name: `element ${i}, bit ${(3 * i) % 8} of byte ${(11 * i) % 32}`,
        input: {
          kind,
          ...base,
          proof: enc(elements.map((e, j) => (j === i ? flip(e, (11 * i) % 32, (3 * i) % 8) : e))),
        },
      })),
    );
    negative(
      `${kind}-modified-retained@1-bit`,
      'Retained full subtree of size1 with one bit flipped: it no longer folds to root1.',
      'KT_ROOT_MISMATCH',
      kept.map((_, i) => ({
        name: `retained subtree ${i}, bit 0 of byte ${i}`,
        input: {
          kind,
          ...base,
          fullSubtrees1: kept.map((k, j) => hex(j === i ? flip(k, i, 0) : k)),
          proof: hex(proof),
        },
      })),
    );
    negative(
      `${kind}-modified-root@1-bit`,
      'Valid proof, one of the roots with one bit flipped.',
      'KT_ROOT_MISMATCH',
      [
        {
          name: 'root1, bit 1 of byte 0',
          input: { kind, ...base, root1: hex(flip(tree.log.root(size1), 0, 1)), proof: hex(proof) },
        },
        {
          name: 'root2, bit 1 of byte 0',
          input: { kind, ...base, root2: hex(flip(tree.log.root(size2), 0, 1)), proof: hex(proof) },
        },
      ],
    );
    negative(`${kind}-reordered-elements`, 'Two elements of a valid proof swapped.', 'KT_ROOT_MISMATCH', [
      {
        name: 'elements 0 and 1 swapped',
        input: { kind, ...base, proof: enc([elements[1]!, elements[0]!, ...elements.slice(2)]) },
      },
      {
        name: 'elements 1 and 2 swapped',
        input: { kind, ...base, proof: enc([elements[0]!, elements[2]!, elements[1]!]) },
      },
    ]);
    negative(`${kind}-truncated`, 'Encoded proof cut short.', 'CODEC_TRUNCATED', [
      {
        name: 'last byte missing',
        input: { kind, ...base, proof: hex(proof.subarray(0, proof.length - 1)) },
      },
      {
        name: 'last element missing, count unchanged',
        input: { kind, ...base, proof: hex(proof.subarray(0, proof.length - 32)) },
      },
    ]);
    negative(`${kind}-trailing-garbage`, 'Encoded proof followed by extra bytes.', 'CODEC_TRAILING_BYTES', [
      {
        name: 'one 0xff byte appended',
        input: { kind, ...base, proof: hex(concatBytes(proof, new Uint8Array([0xff]))) },
      },
    ]);
    negative(`${kind}-preceding-garbage`, 'Encoded proof preceded by a zero byte.', 'CODEC_TRAILING_BYTES', [
      {
        name: 'one zero byte prepended',
        input: { kind, ...base, proof: hex(concatBytes(new Uint8Array(1), proof)) },
      },
    ]);
    negative(`${kind}-empty-proof`, 'No elements, although 6 -> 13 needs three.', 'KT_PROOF_MALFORMED', [
      { name: 'empty proof', input: { kind, ...base, proof: enc([]) } },
    ]);
    negative(
      `${kind}-wrong-size`,
      'Valid proof and roots with a tree size changed so the element count no longer fits.',
      'KT_PROOF_MALFORMED',
      [
        { name: 'size2 12 (two elements expected)', input: { kind, ...base, size2: 12, proof: hex(proof) } },
        { name: 'size2 16 (two elements expected)', input: { kind, ...base, size2: 16, proof: hex(proof) } },
        {
          name: 'size1 4 (one retained subtree expected, two given)',
          input: { kind, ...base, size1: 4, proof: hex(proof) },
        },
        { name: 'extra element', input: { kind, ...base, proof: enc([...elements, elements[0]!]) } },
      ],
    );
    negative(
      `${kind}-wrong-size-same-shape`,
      'Valid proof with a size changed where the shape still fits: the roots differ.',
      'KT_ROOT_MISMATCH',
      [
        {
          name: 'size2 14 (three elements expected, root differs)',
          input: { kind, ...base, size2: 14, proof: hex(proof) },
        },
        {
          name: 'size1 5 (two retained subtrees, fold differs)',
          input: { kind, ...base, size1: 5, proof: hex(proof) },
        },
      ],
    );
    negative(`${kind}-size1-greater-than-size2`, 'Requires 0 < size1 <= size2.', 'KT_TREE_SIZE_INVALID', [
      { name: 'size1 13, size2 6', input: { kind, ...base, size1: 13, size2: 6, proof: enc([]) } },
      { name: 'size1 0', input: { kind, ...base, size1: 0, fullSubtrees1: [], proof: hex(proof) } },
    ]);
    negative(
      `${kind}-missing-retained`,
      'Fewer retained full subtrees than size1 has.',
      'KT_PROOF_MALFORMED',
      [
        {
          name: 'only the first retained subtree',
          input: { kind, ...base, fullSubtrees1: [hex(kept[0]!)], proof: hex(proof) },
        },
      ],
    );
  }
}
