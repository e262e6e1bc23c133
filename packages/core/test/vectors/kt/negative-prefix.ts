/**
 * Negative prefix-tree and tree-head vectors (draft-ietf-keytrans-protocol-04 §11.2, §10.2): edits of
 * the example's valid search proofs and signatures, one file per defect. Written by generate.ts.
 */
import { concatBytes, toHex } from '../../../src/bytes/encoding.ts';
import { encodeConfiguration } from '../../../src/kt/configuration.ts';
import { encodePrefixProof } from '../../../src/kt/proof-codec.ts';
import type { PrefixProof } from '../../../src/kt/prefix-proof.ts';
import {
  absentKeys,
  config,
  epochs,
  flip,
  hex,
  N,
  negative,
  root,
  tree,
  treeHead,
  versions,
} from './example.ts';

export function writeNegativePrefixVectors(): void {
  // prefix-proof: entry 6, the three searches of prefix-tree.json's second case (an inclusion, a
  // later key, an absent key); elements and results edited.
  {
    const epoch = 6;
    const present = versions.filter((v) => epochs.findIndex((e) => e.added.includes(v)) <= epoch);
    const later = versions.find((v) => !present.includes(v))!;
    const keys = [present[2]!.vrfOutput, later.vrfOutput, absentKeys[1]!];
    const { proof, commitments } = tree.searchProof(epoch, keys);
    const searchesIn = keys.map((k, i) => ({
      vrfOutput: hex(k),
      commitment: commitments[i] ? hex(commitments[i]) : null,
    }));
    const base = { root: hex(tree.entry(epoch).prefixRoot), searches: searchesIn };
    const enc = (p: PrefixProof) => hex(encodePrefixProof(p));
    const kind = 'prefix-proof';
    const types = proof.results.map((r) => r.type).join(', ');
    negative(
      `${kind}-modified-element@1-bit`,
      `Search proof (${types}) with one bit flipped in one copath element.`,
      'KT_ROOT_MISMATCH',
      proof.elements.map((_, i) => ({
        name: `element ${i}, bit ${i % 8} of byte ${(5 * i) % 32}`,
        input: {
          kind,
          ...base,
          proof: enc({
            ...proof,
            elements: proof.elements.map((e, j) => (j === i ? flip(e, (5 * i) % 32, i % 8) : e)),
          }),
        },
      })),
    );
    const leafIndex = proof.results.findIndex((r) => r.type === 'nonInclusionLeaf');
    if (leafIndex < 0 || proof.results[0]!.type !== 'inclusion')
      throw new Error('the example no longer has the result types these vectors edit');
    const leafResult = proof.results[leafIndex] as Extract<
      PrefixProof['results'][number],
      { type: 'nonInclusionLeaf' }
    >;
    // Results that end at the same leaf carry it each; an edit applies to all of them (or to one only,
    // which the verifier must see as a contradiction).
    const sameLeaf = (x: PrefixProof['results'][number]): boolean =>
      x.type === 'nonInclusionLeaf' && toHex(x.leaf.vrfOutput) === toHex(leafResult.leaf.vrfOutput);
    const withResult = (r: PrefixProof['results'][number]) =>
      enc({ ...proof, results: proof.results.map((x) => (sameLeaf(x) ? { ...r, depth: x.depth } : x)) });
    const withFirstOnly = (r: PrefixProof['results'][number]) =>
      enc({ ...proof, results: proof.results.map((x, i) => (i === leafIndex ? r : x)) });
    if (proof.results.filter(sameLeaf).length < 2)
      throw new Error('the example no longer has two searches ending at one leaf');
    negative(
      `${kind}-inconsistent-leaf`,
      'Two searches end at the same leaf; the leaf given in one of their results has one bit flipped.',
      'KT_PROOF_MALFORMED',
      [
        {
          name: 'leaf commitment of the first such result, bit 4 of byte 9',
          input: {
            kind,
            ...base,
            proof: withFirstOnly({
              ...leafResult,
              leaf: { ...leafResult.leaf, commitment: flip(leafResult.leaf.commitment, 9, 4) },
            }),
          },
        },
      ],
    );
    negative(
      `${kind}-modified-leaf@1-bit`,
      'The leaf of a nonInclusionLeaf result with one bit flipped beyond the search path.',
      'KT_ROOT_MISMATCH',
      [
        {
          name: 'leaf vrf_output, bit 0 of byte 31',
          input: {
            kind,
            ...base,
            proof: withResult({
              ...leafResult,
              leaf: { ...leafResult.leaf, vrfOutput: flip(leafResult.leaf.vrfOutput, 31, 0) },
            }),
          },
        },
        {
          name: 'leaf commitment, bit 4 of byte 9',
          input: {
            kind,
            ...base,
            proof: withResult({
              ...leafResult,
              leaf: { ...leafResult.leaf, commitment: flip(leafResult.leaf.commitment, 9, 4) },
            }),
          },
        },
      ],
    );
    negative(
      `${kind}-modified-result@1-bit`,
      'A result whose depth, leaf prefix or type had one bit flipped: no tree has that shape.',
      'KT_PROOF_MALFORMED',
      [
        ...proof.results.map((r, i) => ({
          name: `result ${i} (${r.type}): depth ${r.depth} -> ${r.depth ^ 1}`,
          input: {
            kind,
            ...base,
            proof: enc({
              ...proof,
              results: proof.results.map((x, j) => (j === i ? { ...x, depth: x.depth ^ 1 } : x)),
            }),
          },
        })),
        {
          name: 'nonInclusionLeaf leaf vrf_output, bit 7 of byte 0 (off the search path)',
          input: {
            kind,
            ...base,
            proof: withResult({
              ...leafResult,
              leaf: { ...leafResult.leaf, vrfOutput: flip(leafResult.leaf.vrfOutput, 0, 7) },
            }),
          },
        },
        {
          name: 'result 0 type inclusion(1) -> nonInclusionParent(3)',
          input: {
            kind,
            ...base,
            proof: enc({
              ...proof,
              results: [
                { type: 'nonInclusionParent', depth: proof.results[0]!.depth },
                ...proof.results.slice(1),
              ],
            }),
          },
        },
      ],
    );
    negative(
      `${kind}-modified-commitment@1-bit`,
      "The verifier's commitment for the included key with one bit flipped.",
      'KT_ROOT_MISMATCH',
      [
        {
          name: 'commitment bit 2 of byte 17',
          input: {
            kind,
            ...base,
            searches: searchesIn.map((s, i) =>
              i === 0 ? { ...s, commitment: hex(flip(commitments[0]!, 17, 2)) } : s,
            ),
            proof: enc(proof),
          },
        },
      ],
    );
    negative(
      `${kind}-modified-root@1-bit`,
      'Valid proof, expected root with one bit flipped.',
      'KT_ROOT_MISMATCH',
      [
        {
          name: 'root bit 3 of byte 3',
          input: { kind, ...base, root: hex(flip(tree.entry(epoch).prefixRoot, 3, 3)), proof: enc(proof) },
        },
      ],
    );
    negative(`${kind}-reordered-elements`, 'Two copath elements swapped.', 'KT_ROOT_MISMATCH', [
      {
        name: 'elements 0 and 1 swapped',
        input: {
          kind,
          ...base,
          proof: enc({
            ...proof,
            elements: [proof.elements[1]!, proof.elements[0]!, ...proof.elements.slice(2)],
          }),
        },
      },
    ]);
    negative(
      `${kind}-reordered-results`,
      'Results no longer in the order of the searches.',
      'KT_PROOF_MALFORMED',
      [
        {
          name: 'results 0 and 2 swapped',
          input: {
            kind,
            ...base,
            proof: enc({ ...proof, results: [proof.results[2]!, proof.results[1]!, proof.results[0]!] }),
          },
        },
      ],
    );
    const bytes = encodePrefixProof(proof);
    negative(`${kind}-truncated`, 'Encoded proof cut short.', 'CODEC_TRUNCATED', [
      {
        name: 'last byte missing',
        input: { kind, ...base, proof: hex(bytes.subarray(0, bytes.length - 1)) },
      },
      {
        name: 'results only',
        input: {
          kind,
          ...base,
          proof: hex(bytes.subarray(0, bytes.length - 2 - 32 * proof.elements.length)),
        },
      },
    ]);
    negative(`${kind}-trailing-garbage`, 'Encoded proof followed by an extra byte.', 'CODEC_TRAILING_BYTES', [
      {
        name: 'one zero byte appended',
        input: { kind, ...base, proof: hex(concatBytes(bytes, new Uint8Array(1))) },
      },
    ]);
    negative(`${kind}-empty-proof`, 'No results and no elements for three searches.', 'KT_PROOF_MALFORMED', [
      { name: 'empty proof', input: { kind, ...base, proof: enc({ results: [], elements: [] }) } },
    ]);
    negative(`${kind}-wrong-element-count`, 'One element too many or too few.', 'KT_PROOF_MALFORMED', [
      {
        name: 'extra zero element',
        input: { kind, ...base, proof: enc({ ...proof, elements: [...proof.elements, new Uint8Array(32)] }) },
      },
      {
        name: 'last element dropped',
        input: { kind, ...base, proof: enc({ ...proof, elements: proof.elements.slice(0, -1) }) },
      },
    ]);
    negative(
      `${kind}-unexpected-outcome`,
      'A valid proof whose outcomes differ from what the verifier expects (the binary ladder predicts them).',
      'KT_PROOF_MALFORMED',
      [
        {
          name: 'inclusion not expected',
          input: {
            kind,
            ...base,
            searches: searchesIn.map((s) => ({ ...s, commitment: null })),
            proof: enc(proof),
          },
        },
        {
          name: 'inclusion expected of a later key',
          input: {
            kind,
            ...base,
            searches: searchesIn.map((s, i) => (i === 1 ? { ...s, commitment: hex(later.commitment) } : s)),
            proof: enc(proof),
          },
        },
      ],
    );
  }

  // tree-head: signature checks.
  {
    const kind = 'tree-head';
    const base = {
      configuration: hex(encodeConfiguration(config)),
      treeSize: N,
      root: hex(root),
      signature: hex(treeHead.signature),
    };
    negative(
      `${kind}-modified-signature@1-bit`,
      'Operator TreeHead signature with one bit flipped.',
      'CRYPTO_VERIFICATION_FAILED',
      [
        {
          name: 'signature bit 0 of byte 0',
          input: { kind, ...base, signature: hex(flip(treeHead.signature, 0, 0)) },
        },
        {
          name: 'signature bit 5 of byte 40',
          input: { kind, ...base, signature: hex(flip(treeHead.signature, 40, 5)) },
        },
      ],
    );
    negative(
      `${kind}-wrong-size`,
      'Valid signature checked against another tree size or root.',
      'CRYPTO_VERIFICATION_FAILED',
      [
        { name: 'tree size + 1', input: { kind, ...base, treeSize: N + 1 } },
        { name: 'root of size - 1', input: { kind, ...base, root: hex(tree.log.root(N - 1)) } },
      ],
    );
  }
}
