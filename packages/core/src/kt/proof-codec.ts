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
import { readList, writeFixed, writeList } from './tls.ts';

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
