/**
 * Witness cosignatures of directory heads (docs/witness.md "Cosignature format"), after C2SP
 * tlog-cosignature in spirit: a witness states, with Ed25519 and a timestamp of its own clock, that it
 * verified the directory's head of `treeSize` and `root` to extend every head it signed before, and
 * that the head's entries produce that root. The one definition of the format: the witness signs
 * with it, the server checks what it keeps with it, clients count quorums with it (witness-quorum.ts).
 *
 *   struct {
 *     opaque label[30] = "sealpost kt witness cosig/v1\n\0";  // domain separation, fixed length
 *     opaque directory_id[32];   // SHA-256(Configuration) (§10.2): the log, its keys, its mode
 *     uint64 tree_size;
 *     opaque root[32];           // the log tree's root at tree_size (§10.2 TreeHeadTBS.root)
 *     uint64 timestamp;          // seconds since the Unix epoch, the witness's clock
 *   } CosignatureTBS;
 *
 * As in tlog-cosignature, the timestamp is the time of cosigning (what a client's lag bound reads),
 * not the log entry's: the entry's timestamp is already bound by the root (§10.8 LogEntry).
 *
 * On the wire (JSON, docs/protocol.md) a cosignature is `{witnessKey, timestamp, signature}`, keys and
 * signatures base64url; `cosignatureFromJson` is its total decoder.
 */
import type { CryptoProvider } from '../crypto/provider.ts';
import { fromBase64urlExact } from '../bytes/encoding.ts';
import { CodecError, ValidationError } from '../errors.ts';
import { LIMITS } from '../limits.ts';
import { Writer } from '../codec/writer.ts';
import { encodeConfiguration, type Configuration } from './configuration.ts';

export const COSIGNATURE_LABEL: Uint8Array = new TextEncoder().encode('sealpost kt witness cosig/v1\n\0');

/** Bytes of a directory id and of a log root (SHA-256, KT_128_SHA256_Ed25519). */
const HASH_BYTES = 32;

/** What a cosignature covers. */
export interface CosignedHead {
  readonly directoryId: Uint8Array;
  readonly treeSize: number;
  readonly root: Uint8Array;
}

export interface Cosignature {
  /** The witness's Ed25519 public key. */
  readonly witnessKey: Uint8Array;
  /** Seconds since the Unix epoch. */
  readonly timestamp: number;
  readonly signature: Uint8Array;
}

/** The directory's identity: SHA-256 of its encoded Configuration (§10.2), which every head signs. */
export function directoryIdOf(crypto: CryptoProvider, config: Configuration): Uint8Array {
  return crypto.sha256(encodeConfiguration(config));
}

/** Requires 32-byte directory id and root, and a tree size and timestamp that are uint53 (else VALIDATION_FAILED). */
export function encodeCosignatureTBS(head: CosignedHead, timestamp: number): Uint8Array {
  if (head.directoryId.length !== HASH_BYTES || head.root.length !== HASH_BYTES) {
    throw new ValidationError('VALIDATION_FAILED', 'directory id and root must be 32 bytes');
  }
  return new Writer(COSIGNATURE_LABEL.length + HASH_BYTES + 8 + HASH_BYTES + 8)
    .fixed(COSIGNATURE_LABEL)
    .fixed(head.directoryId)
    .u53(head.treeSize)
    .fixed(head.root)
    .u53(timestamp)
    .finish();
}

export function signCosignature(
  crypto: CryptoProvider,
  seed: Uint8Array,
  head: CosignedHead,
  timestamp: number,
): Cosignature {
  return {
    witnessKey: crypto.ed25519.publicKey(seed),
    timestamp,
    signature: crypto.ed25519.sign(seed, encodeCosignatureTBS(head, timestamp)),
  };
}

/** True when `c` is `c.witnessKey`'s signature over `head` at `c.timestamp`; false for anything malformed. */
export function verifyCosignature(crypto: CryptoProvider, head: CosignedHead, c: Cosignature): boolean {
  if (!Number.isSafeInteger(c.timestamp) || c.timestamp < 0) return false;
  if (!Number.isSafeInteger(head.treeSize) || head.treeSize < 1) return false;
  if (head.directoryId.length !== HASH_BYTES || head.root.length !== HASH_BYTES) return false;
  if (c.witnessKey.length !== LIMITS.publicKeyBytes || c.signature.length !== LIMITS.signatureBytes) {
    return false;
  }
  return crypto.ed25519.verify(c.witnessKey, encodeCosignatureTBS(head, c.timestamp), c.signature);
}

/**
 * Decodes one cosignature from its JSON form `{witnessKey, timestamp, signature}` (parsed JSON, any
 * value). Total: anything else is CodecError naming `what`; nothing is verified here.
 */
export function cosignatureFromJson(value: unknown, what = 'cosignature'): Cosignature {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new CodecError('CODEC_INVALID_VALUE', `${what} is not an object`);
  }
  const o = value as Record<string, unknown>;
  const timestamp = o['timestamp'];
  if (typeof timestamp !== 'number' || !Number.isSafeInteger(timestamp) || timestamp < 0) {
    throw new CodecError('CODEC_INVALID_VALUE', `${what}: timestamp is not seconds since 1970`);
  }
  const bytes = (name: string, length: number): Uint8Array => {
    const v = o[name];
    if (typeof v !== 'string') throw new CodecError('CODEC_INVALID_VALUE', `${what}: ${name} is missing`);
    return fromBase64urlExact(v, length, `${what}: ${name}`);
  };
  return {
    witnessKey: bytes('witnessKey', LIMITS.publicKeyBytes),
    timestamp,
    signature: bytes('signature', LIMITS.signatureBytes),
  };
}
