/**
 * Witness cosignatures (docs/witness.md), after C2SP tlog-cosignature in spirit: a witness states,
 * with Ed25519 and a timestamp of its own clock, that it verified the directory's head of `treeSize`
 * and `root` to extend every head it signed before, and that the head's entries produce that root.
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
 */
import { Writer, ValidationError, type CryptoProvider } from '@sealpost/core';
import { encodeConfiguration, type Configuration } from '@sealpost/core/kt/configuration';

export const COSIGNATURE_LABEL: Uint8Array = new TextEncoder().encode('sealpost kt witness cosig/v1\n\0');

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

export function encodeCosignatureTBS(head: CosignedHead, timestamp: number): Uint8Array {
  if (head.directoryId.length !== 32 || head.root.length !== 32) {
    throw new ValidationError('VALIDATION_FAILED', 'directory id and root must be 32 bytes');
  }
  return new Writer(30 + 32 + 8 + 32 + 8)
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
  if (head.directoryId.length !== 32 || head.root.length !== 32) return false;
  return crypto.ed25519.verify(c.witnessKey, encodeCosignatureTBS(head, c.timestamp), c.signature);
}
