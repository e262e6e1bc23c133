/**
 * The directory's head answer (GET /v1/kt/head, docs/protocol.md "Key transparency") decoded from
 * parsed JSON into narrow types, before anything in it is believed:
 *
 *   {treeSize, timestamp (ms), root, signature, configuration,
 *    cosignatures: [{witnessKey, timestamp (s), signature}],
 *    cosignedHeads: [{treeSize, root, fullSubtrees: [b64], consistency: [b64], cosignatures: [...]}]}
 *
 * Total: any other shape, a field of the wrong size or a list over its bound is a CodecError (or the
 * configuration decoder's CODEC_* error). Verifying the head's signature, the consistency proofs and
 * the cosignatures is directory-client.ts's, through core.
 */
import { CodecError, LIMITS, fromBase64url } from '@sealpost/core';
import { decodeConfiguration, type Configuration } from '@sealpost/core/kt/configuration';
import { cosignatureFromJson, type Cosignature } from '@sealpost/core/kt/cosignature';
import type { EarlierCosignedHead } from '@sealpost/core/kt/witness-quorum';

/** SHA-256 hashes: roots and subtree values. */
const HASH_BYTES = 32;
/** An encoded Configuration (§10.2): keys and a few integers. */
const CONFIGURATION_MAX_BYTES = 4_096;
/** Full subtrees of one log size: one per set bit, at most 53 for sizes below 2^53. */
const FULL_SUBTREES_MAX = 64;

export interface HeadAnswer {
  readonly treeSize: number;
  /** The newest log entry's timestamp, ms. */
  readonly timestamp: number;
  readonly root: Uint8Array;
  readonly signature: Uint8Array;
  readonly config: Configuration;
  /** The witnesses' cosignatures of this head, as the server collected them. */
  readonly cosignatures: readonly Cosignature[];
  /** Earlier heads with cosignatures, each with the proof that this head extends it. */
  readonly earlier: readonly EarlierCosignedHead[];
}

const malformed = (what: string): CodecError =>
  new CodecError('CODEC_INVALID_VALUE', `server answer: ${what} is missing or malformed`);

export function asObject(value: unknown, what: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw malformed(what);
  return value as Record<string, unknown>;
}

/** A base64url field of at most `maxBytes` bytes. */
export function bytesField(body: Record<string, unknown>, name: string, maxBytes: number): Uint8Array {
  const value = body[name];
  if (typeof value !== 'string') throw malformed(name);
  return fromBase64url(value, Math.ceil((maxBytes * 4) / 3), `server answer: ${name}`);
}

function exactBytes(value: unknown, length: number, what: string): Uint8Array {
  if (typeof value !== 'string') throw malformed(what);
  const bytes = fromBase64url(value, Math.ceil((length * 4) / 3), `server answer: ${what}`);
  if (bytes.length !== length) throw malformed(what);
  return bytes;
}

function sizeField(body: Record<string, unknown>, name: string, min: number): number {
  const v = body[name];
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min) throw malformed(name);
  return v;
}

function listField(body: Record<string, unknown>, name: string, max: number, optional = false): unknown[] {
  const v = body[name];
  if (v === undefined && optional) return [];
  if (!Array.isArray(v)) throw malformed(name);
  if (v.length > max) {
    throw new CodecError('CODEC_LENGTH_LIMIT', `server answer: ${name} has ${v.length} items, over ${max}`);
  }
  return v;
}

function cosignaturesField(body: Record<string, unknown>): Cosignature[] {
  return listField(body, 'cosignatures', LIMITS.ktCosignaturesMax, true).map((c) =>
    cosignatureFromJson(c, 'server answer: cosignature'),
  );
}

function hashes(body: Record<string, unknown>, name: string, max: number): Uint8Array[] {
  return listField(body, name, max).map((h) => exactBytes(h, HASH_BYTES, name));
}

/** Decodes a head answer (parsed JSON). Throws CodecError (or a CODEC_* error of the configuration). */
export function decodeHeadAnswer(value: unknown): HeadAnswer {
  const body = asObject(value, 'head');
  const earlier = listField(body, 'cosignedHeads', LIMITS.ktCosignedHeadsMax, true).map((item) => {
    const h = asObject(item, 'cosigned head');
    return {
      treeSize: sizeField(h, 'treeSize', 1),
      root: exactBytes(h['root'], HASH_BYTES, 'cosigned head root'),
      fullSubtrees: hashes(h, 'fullSubtrees', FULL_SUBTREES_MAX),
      consistency: hashes(h, 'consistency', LIMITS.ktLogProofMaxElements),
      cosignatures: cosignaturesField(h),
    };
  });
  return {
    treeSize: sizeField(body, 'treeSize', 1),
    timestamp: sizeField(body, 'timestamp', 0),
    root: exactBytes(body['root'], HASH_BYTES, 'root'),
    signature: bytesField(body, 'signature', LIMITS.signatureBytes),
    config: decodeConfiguration(bytesField(body, 'configuration', CONFIGURATION_MAX_BYTES)),
    cosignatures: cosignaturesField(body),
    earlier,
  };
}
