/**
 * Search and monitor responses (after draft-ietf-keytrans-protocol-04 §12.1, §12.3) and their TLS
 * encodings. Total, bounded decoders: every failure is a CodecError, trailing bytes are refused.
 *
 *   struct {
 *     uint32 version;
 *     opaque proof[VRF.Np];               // §12.1 BinaryLadderStep.proof
 *     optional<HashValue> commitment;
 *   } LadderLookup;
 *   struct {
 *     TreeHead tree_head;
 *     uint32 version;                     // the target, or the greatest version
 *     LadderLookup lookups<0..2^8-1>;     // count-prefixed (tls.ts)
 *     CombinedTreeProof search;
 *   } SearchProof;
 *   struct { TreeHead tree_head; LadderLookup lookups<0..2^8-1>; CombinedTreeProof monitor; } OwnerMonitorProof;
 *
 * A lookup is the draft's `BinaryLadderStep` (the ECVRF proof of the label-version pair, from which
 * the user computes the search key, and the commitment when the version exists), one per distinct
 * version any ladder of the response looks up. Deviation (docs/key-transparency.md): a lookup names
 * its version, and the target's commitment is sent too; the FullTreeHead, opening and UpdateValue
 * travel beside the proof (the caller opens the commitment with commitment.ts). Versions must be
 * distinct and increasing, so a list has one encoding.
 */
import { CodecError } from '../errors.ts';
import { LIMITS } from '../limits.ts';
import { decodeAll, type Reader } from '../codec/reader.ts';
import { Writer } from '../codec/writer.ts';
import { KT_SUITE } from './cipher-suite.ts';
import { readCombinedTreeProof, writeCombinedTreeProof, type CombinedTreeProof } from './proof-codec.ts';
import { readList, readOptional, writeFixed, writeList, writeOptional } from './tls.ts';
import { readTreeHead, writeTreeHead, type TreeHead } from './tree-head.ts';

export interface LadderLookup {
  readonly version: number;
  /** The ECVRF proof (RFC 9381 pi, VRF.Np bytes) of VrfInput{label, version} (§10.7, §12.1). */
  readonly vrfProof: Uint8Array;
  readonly commitment?: Uint8Array | undefined;
}

export interface SearchProof {
  readonly treeHead: TreeHead;
  readonly version: number;
  readonly lookups: readonly LadderLookup[];
  readonly proof: CombinedTreeProof;
}

export interface OwnerMonitorProof {
  readonly treeHead: TreeHead;
  /** Search keys and commitments of the looked-up versions the owner may not know (§8.3). */
  readonly lookups: readonly LadderLookup[];
  readonly proof: CombinedTreeProof;
}

function writeLookup(w: Writer, l: LadderLookup): void {
  w.u32(l.version);
  writeFixed(w, l.vrfProof, KT_SUITE.vrfProofBytes, 'LadderLookup.proof');
  writeOptional(w, l.commitment, (w, c) => writeFixed(w, c, KT_SUITE.hashBytes, 'LadderLookup.commitment'));
}

function readLookup(r: Reader): LadderLookup {
  const version = r.u32('LadderLookup.version');
  const vrfProof = r.fixed(KT_SUITE.vrfProofBytes, 'LadderLookup.proof');
  const commitment = readOptional(
    r,
    (r) => r.fixed(KT_SUITE.hashBytes, 'commitment'),
    'LadderLookup.commitment',
  );
  return commitment === undefined ? { version, vrfProof } : { version, vrfProof, commitment };
}

function checkIncreasing(lookups: readonly LadderLookup[]): void {
  for (let i = 1; i < lookups.length; i++) {
    if (lookups[i]!.version <= lookups[i - 1]!.version) {
      throw new CodecError('CODEC_INVALID_VALUE', `lookups: version ${lookups[i]!.version} out of order`);
    }
  }
}

export function encodeSearchProof(p: SearchProof): Uint8Array {
  checkIncreasing(p.lookups);
  const w = new Writer();
  writeTreeHead(w, p.treeHead);
  w.u32(p.version);
  writeList(w, 1, p.lookups, writeLookup, 'SearchProof.lookups');
  writeCombinedTreeProof(w, p.proof);
  return w.finish();
}

export function decodeSearchProof(bytes: Uint8Array): SearchProof {
  return decodeAll(
    bytes,
    LIMITS.ktProofMaxBytes,
    (r) => {
      const treeHead = readTreeHead(r);
      const version = r.u32('SearchProof.version');
      const lookups = readList(r, 1, LIMITS.ktSearchMaxLookups, readLookup, 'SearchProof.lookups');
      checkIncreasing(lookups);
      return { treeHead, version, lookups, proof: readCombinedTreeProof(r) };
    },
    'SearchProof',
  );
}

export function encodeOwnerMonitorProof(p: OwnerMonitorProof): Uint8Array {
  checkIncreasing(p.lookups);
  const w = new Writer();
  writeTreeHead(w, p.treeHead);
  writeList(w, 1, p.lookups, writeLookup, 'OwnerMonitorProof.lookups');
  writeCombinedTreeProof(w, p.proof);
  return w.finish();
}

export function decodeOwnerMonitorProof(bytes: Uint8Array): OwnerMonitorProof {
  return decodeAll(
    bytes,
    LIMITS.ktProofMaxBytes,
    (r) => {
      const treeHead = readTreeHead(r);
      const lookups = readList(r, 1, LIMITS.ktSearchMaxLookups, readLookup, 'OwnerMonitorProof.lookups');
      checkIncreasing(lookups);
      return { treeHead, lookups, proof: readCombinedTreeProof(r) };
    },
    'OwnerMonitorProof',
  );
}
