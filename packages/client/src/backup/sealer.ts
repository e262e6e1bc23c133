/**
 * Sealing blobs (blob.ts: zstd, then AES-256-GCM) behind an interface, so the slow part of a backup
 * can run elsewhere: compression is the bottleneck on one core (DESIGN.md "Backups"), and
 * packages/client/node/backup-workers.ts spreads it over worker threads. The engine keeps chunking,
 * ids, deduplication and pack order on its own thread (pack-sink.ts), with a bounded number of
 * blobs in flight (BACKUP_ENGINE_LIMITS.sealQueueBlobs) so memory stays flat.
 */
import { sealBlob, type BlobId, type BlobType, type SealedBlob } from '@sealpost/core/backup/blob';
import type { RepositoryKeys } from '@sealpost/core/backup/keys';
import type { BackupDeps } from './deps.ts';

export interface BlobSealer {
  /**
   * Seals one blob. `plaintext` belongs to the caller again once the call returns (the caller reuses
   * it): a sealer that works later copies it first. `id`: the blob's id, computed by the caller
   * (`blobId`), so that it is not computed twice.
   */
  seal(type: BlobType, plaintext: Uint8Array, id: BlobId): Promise<SealedBlob>;
  /** Ends the sealer and wipes its copy of the keys. */
  close(): Promise<void>;
}

/** Makes a sealer for one session's keys (a run calls it once, and closes what it gets). */
export type SealerFactory = (keys: RepositoryKeys) => BlobSealer;

/** Seals on the calling thread, at once (the default). */
export function inlineSealer(deps: BackupDeps, keys: RepositoryKeys): BlobSealer {
  return {
    seal: (type, plaintext, id) => {
      try {
        return Promise.resolve(sealBlob(deps.crypto, keys, type, plaintext, deps.compress, id));
      } catch (error) {
        return Promise.reject(error as Error);
      }
    },
    close: () => Promise.resolve(),
  };
}
