/**
 * TLS encodings of the key-transparency proof structures (draft-ietf-keytrans-protocol-04 §11):
 * `InclusionProof` (§11.1), `PrefixLeaf`, `PrefixSearchResult`, `PrefixProof` (§11.2) and
 * `CombinedTreeProof` (§11.3).
 *
 * Decoders are total and bounded: the input is capped at `LIMITS.ktProofMaxBytes`, every count is
 * checked against its named limit before anything is read into it, every failure is a CodecError,
 * and `decode*` refuses trailing bytes. Vectors of structures carry an item count (tls.ts explains
 * why). Semantic checks (depths against a tree, element counts against a tree size) belong to the
 * verifiers (log-verify.ts, prefix-verify.ts), which return typed proof errors.
 */
import { CodecError } from '../errors.ts';
import { LIMITS } from '../limits.ts';
import { decodeAll, type Reader } from '../codec/reader.ts';
import { Writer } from '../codec/writer.ts';
import { KT_SUITE } from './cipher-suite.ts';
import { readList, readOpaque, readU64, writeFixed, writeList, writeOpaque } from './tls.ts';
import {
  PREFIX_RESULT_TYPE,
  type PrefixLeaf,
  type PrefixProof,
  type PrefixSearchResult,
} from './prefix-proof.ts';

/** §11.1: `opaque HashValue[Hash.Nh]`. */
function readHash(r: Reader, what: string): Uint8Array {
  return r.fixed(KT_SUITE.hashBytes, what);
}
function writeHash(w: Writer, value: Uint8Array, what: string): void {
  writeFixed(w, value, KT_SUITE.hashBytes, what);
}

// ---------------------------------------------------------------------------------------------------
// §11.1 struct { HashValue elements<0..2^16-1>; } InclusionProof;

export interface InclusionProof {
  readonly elements: readonly Uint8Array[];
}

export function writeInclusionProof(w: Writer, proof: InclusionProof): void {
  if (proof.elements.length > LIMITS.ktLogProofMaxElements) {
    throw new CodecError(
      'CODEC_LENGTH_LIMIT',
      `InclusionProof: ${proof.elements.length} elements exceeds ${LIMITS.ktLogProofMaxElements}`,
    );
  }
  writeList(
    w,
    2,
    proof.elements,
    (w, e) => writeHash(w, e, 'InclusionProof element'),
    'InclusionProof.elements',
  );
}

export function readInclusionProof(r: Reader): InclusionProof {
  const elements = readList(
    r,
    2,
    LIMITS.ktLogProofMaxElements,
    (r) => readHash(r, 'InclusionProof element'),
    'InclusionProof.elements',
  );
  return { elements };
}

export function encodeInclusionProof(proof: InclusionProof): Uint8Array {
  const w = new Writer(2 + proof.elements.length * KT_SUITE.hashBytes);
  writeInclusionProof(w, proof);
  return w.finish();
}

export function decodeInclusionProof(bytes: Uint8Array): InclusionProof {
  return decodeAll(bytes, LIMITS.ktProofMaxBytes, readInclusionProof, 'InclusionProof');
}

// ---------------------------------------------------------------------------------------------------
// §11.2 PrefixLeaf, PrefixSearchResult, PrefixProof

export function writePrefixLeaf(w: Writer, leaf: PrefixLeaf): void {
  writeFixed(w, leaf.vrfOutput, KT_SUITE.vrfOutputBytes, 'PrefixLeaf.vrf_output');
  writeHash(w, leaf.commitment, 'PrefixLeaf.commitment');
}

export function readPrefixLeaf(r: Reader): PrefixLeaf {
  const vrfOutput = r.fixed(KT_SUITE.vrfOutputBytes, 'PrefixLeaf.vrf_output');
  return { vrfOutput, commitment: readHash(r, 'PrefixLeaf.commitment') };
}

export function writePrefixSearchResult(w: Writer, result: PrefixSearchResult): void {
  w.u8(PREFIX_RESULT_TYPE[result.type]);
  if (result.type === 'nonInclusionLeaf') writePrefixLeaf(w, result.leaf);
  w.u8(result.depth);
}

export function readPrefixSearchResult(r: Reader): PrefixSearchResult {
  const type = r.u8('PrefixSearchResult.result_type');
  if (type === PREFIX_RESULT_TYPE.inclusion)
    return { type: 'inclusion', depth: r.u8('PrefixSearchResult.depth') };
  if (type === PREFIX_RESULT_TYPE.nonInclusionParent) {
    return { type: 'nonInclusionParent', depth: r.u8('PrefixSearchResult.depth') };
  }
  if (type === PREFIX_RESULT_TYPE.nonInclusionLeaf) {
    const leaf = readPrefixLeaf(r);
    return { type: 'nonInclusionLeaf', leaf, depth: r.u8('PrefixSearchResult.depth') };
  }
  throw new CodecError('CODEC_INVALID_VALUE', `PrefixSearchResult.result_type: ${type} is not 1, 2 or 3`);
}

export function writePrefixProof(w: Writer, proof: PrefixProof): void {
  if (proof.reuse !== undefined) {
    throw new CodecError('CODEC_INVALID_VALUE', 'PrefixProof: a reuse bitmap belongs in a CombinedTreeProof');
  }
  checkElementCount(proof);
  writeList(w, 1, proof.results, writePrefixSearchResult, 'PrefixProof.results');
  writeList(w, 2, proof.elements, (w, e) => writeHash(w, e, 'PrefixProof element'), 'PrefixProof.elements');
}

function checkElementCount(proof: PrefixProof): void {
  if (proof.elements.length > LIMITS.ktPrefixProofMaxElements) {
    throw new CodecError(
      'CODEC_LENGTH_LIMIT',
      `PrefixProof: ${proof.elements.length} elements exceeds ${LIMITS.ktPrefixProofMaxElements}`,
    );
  }
}

export function readPrefixProof(r: Reader): PrefixProof {
  const results = readList(
    r,
    1,
    LIMITS.ktPrefixProofMaxResults,
    readPrefixSearchResult,
    'PrefixProof.results',
  );
  const elements = readList(
    r,
    2,
    LIMITS.ktPrefixProofMaxElements,
    (r) => readHash(r, 'PrefixProof element'),
    'PrefixProof.elements',
  );
  return { results, elements };
}

// Inside a CombinedTreeProof (deviation, docs/key-transparency.md: shared nodes, prefix-proof.ts):
//   struct {
//     PrefixSearchResult results<0..2^8-1>;
//     opaque reuse<0..2^16-1>;                  // one bit per copath node seen earlier in the proof
//     HashValue elements<0..2^16-1>;            // the copath values not reused
//   } SharedPrefixProof;

function writeSharedPrefixProof(w: Writer, proof: PrefixProof): void {
  checkElementCount(proof);
  writeList(w, 1, proof.results, writePrefixSearchResult, 'SharedPrefixProof.results');
  writeOpaque(w, 2, proof.reuse ?? new Uint8Array(0), 'SharedPrefixProof.reuse');
  writeList(w, 2, proof.elements, (w, e) => writeHash(w, e, 'PrefixProof element'), 'PrefixProof.elements');
}

function readSharedPrefixProof(r: Reader): PrefixProof {
  const results = readList(
    r,
    1,
    LIMITS.ktPrefixProofMaxResults,
    readPrefixSearchResult,
    'SharedPrefixProof.results',
  );
  const reuse = readOpaque(r, 2, LIMITS.ktPrefixReuseMaxBytes, 'SharedPrefixProof.reuse');
  const elements = readList(
    r,
    2,
    LIMITS.ktPrefixProofMaxElements,
    (r) => readHash(r, 'PrefixProof element'),
    'PrefixProof.elements',
  );
  // No bitmap and an empty one are the same proof; decoding gives one of them, so encodings round trip.
  return reuse.length === 0 ? { results, elements } : { results, reuse, elements };
}

export function encodePrefixProof(proof: PrefixProof): Uint8Array {
  const w = new Writer();
  writePrefixProof(w, proof);
  return w.finish();
}

export function decodePrefixProof(bytes: Uint8Array): PrefixProof {
  return decodeAll(bytes, LIMITS.ktProofMaxBytes, readPrefixProof, 'PrefixProof');
}

// ---------------------------------------------------------------------------------------------------
// §11.3, with SharedPrefixProof in place of PrefixProof (above)
//   struct {
//     uint64 timestamps<0..2^8-1>;
//     SharedPrefixProof prefix_proofs<0..2^8-1>;
//     HashValue prefix_roots<0..2^8-1>;
//     InclusionProof inclusion;
//   } CombinedTreeProof;

export interface CombinedTreeProof {
  readonly timestamps: readonly number[];
  readonly prefixProofs: readonly PrefixProof[];
  readonly prefixRoots: readonly Uint8Array[];
  readonly inclusion: InclusionProof;
}

export function writeCombinedTreeProof(w: Writer, proof: CombinedTreeProof): void {
  writeList(w, 1, proof.timestamps, (w, t) => w.u53(t), 'CombinedTreeProof.timestamps');
  writeList(w, 1, proof.prefixProofs, writeSharedPrefixProof, 'CombinedTreeProof.prefix_proofs');
  writeList(
    w,
    1,
    proof.prefixRoots,
    (w, h) => writeHash(w, h, 'prefix root'),
    'CombinedTreeProof.prefix_roots',
  );
  writeInclusionProof(w, proof.inclusion);
}

export function readCombinedTreeProof(r: Reader): CombinedTreeProof {
  const max = LIMITS.ktCombinedProofMaxItems;
  const timestamps = readList(r, 1, max, (r) => readU64(r, 'timestamp'), 'CombinedTreeProof.timestamps');
  const prefixProofs = readList(r, 1, max, readSharedPrefixProof, 'CombinedTreeProof.prefix_proofs');
  const prefixRoots = readList(
    r,
    1,
    max,
    (r) => readHash(r, 'prefix root'),
    'CombinedTreeProof.prefix_roots',
  );
  return { timestamps, prefixProofs, prefixRoots, inclusion: readInclusionProof(r) };
}

export function encodeCombinedTreeProof(proof: CombinedTreeProof): Uint8Array {
  const w = new Writer();
  writeCombinedTreeProof(w, proof);
  return w.finish();
}

export function decodeCombinedTreeProof(bytes: Uint8Array): CombinedTreeProof {
  return decodeAll(bytes, LIMITS.ktProofMaxBytes, readCombinedTreeProof, 'CombinedTreeProof');
}
