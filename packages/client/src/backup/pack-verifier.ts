/**
 * Verifying whole packs for `check --read-data` (check.ts) behind an interface, as sealing is
 * (sealer.ts): opening every blob (AES-GCM, zstd, the keyed id) is most of a check's work, and
 * packages/client/node/backup-workers.ts runs it on worker threads while this thread reads and
 * hashes the next packs.
 *
 * A damaged pack is a result, not a failure: `verify` resolves with the problem's text (the
 * error's stable code and message, as check reports it), so a worker can hand it back as is.
 * Anything else thrown (a bug) rejects.
 */
import { SealpostError, toHex, type CryptoProvider } from '@sealpost/core';
import { openBlob } from '@sealpost/core/backup/blob';
import type { RepositoryKeys } from '@sealpost/core/backup/keys';
import { encodePackHeaderContent, readPack, type PackEntry } from '@sealpost/core/backup/pack';
import type { BackupDeps } from './deps.ts';
import { BackupError } from './errors.ts';
import { BACKUP_ENGINE_LIMITS } from './limits.ts';

/**
 * An intact pack's verdict is the digest of its entries (`packEntriesDigest`), which is all check
 * compares with the index: a worker's verdict crosses threads as 32 bytes, not as an object and an
 * id array per blob (the engine thread's heap grew by tens of MiB of them over a check).
 */
export type PackVerdict = { readonly entriesDigest: Uint8Array } | { readonly problem: string };

/** The SHA-256 of a pack's entries as its header encodes them: equal exactly when the entries are. */
export function packEntriesDigest(crypto: CryptoProvider, entries: readonly PackEntry[]): Uint8Array {
  return crypto.sha256(encodePackHeaderContent(entries));
}

export interface PackVerifier {
  /**
   * Opens `pack`'s trailer, header and every blob; its name was checked by the caller. `pack` is lent
   * until the returned promise settles: the caller then reuses its memory for another pack
   * (pack-reads.ts), so nothing may read it after. A worker reads a pack in shared memory
   * (SharedArrayBuffer) in place; any other it may take (transfer) without a copy. With `name`
   * (hex), it first checks that the pack hashes to it (SHA-256 of the whole pack: done here, not
   * by the thread that read it, which then only reads).
   */
  verify(pack: Uint8Array, name?: string): Promise<PackVerdict>;
  /** Ends the verifier and wipes its copy of the keys. */
  close(): Promise<void>;
}

export type PackVerifierFactory = (keys: RepositoryKeys) => PackVerifier;

/** The text check reports for a typed error; rethrows anything else. */
export function problemText(error: unknown): string {
  if (error instanceof SealpostError || error instanceof BackupError)
    return `${error.code}: ${error.message}`;
  throw error;
}

/**
 * Opens every blob of `pack` and returns its entries' digest. `reclaim` runs every
 * BACKUP_ENGINE_LIMITS.reclaimEveryBlobs blobs (each decompression makes a zstd context).
 */
export function verifyPack(
  deps: Pick<BackupDeps, 'crypto' | 'decompress' | 'reclaim'>,
  keys: RepositoryKeys,
  pack: Uint8Array,
  name?: string,
): PackVerdict {
  try {
    if (name !== undefined && toHex(deps.crypto.sha256(pack)) !== name) {
      throw new BackupError('BACKUP_DATA_CORRUPT', `packs/${name} does not match its name`, {
        object: `packs/${name}`,
      });
    }
    const entries = readPack(deps.crypto, keys, pack);
    let opened = 0;
    for (const e of entries) {
      const sealed = pack.subarray(e.offset, e.offset + e.length);
      openBlob(deps.crypto, keys, e.type, e.id, sealed, deps.decompress, e.rawLength).fill(0);
      if (++opened % BACKUP_ENGINE_LIMITS.reclaimEveryBlobs === 0) deps.reclaim?.();
    }
    return { entriesDigest: packEntriesDigest(deps.crypto, entries) };
  } catch (error) {
    return { problem: problemText(error) };
  }
}

/** Verifies on the calling thread (the default). */
export function inlinePackVerifier(deps: BackupDeps, keys: RepositoryKeys): PackVerifier {
  return {
    verify: (pack, name) => {
      try {
        return Promise.resolve(verifyPack(deps, keys, pack, name));
      } catch (error) {
        return Promise.reject(error as Error);
      }
    },
    close: () => Promise.resolve(),
  };
}
