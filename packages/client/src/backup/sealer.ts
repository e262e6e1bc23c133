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

/** Blobs of one file sealed elsewhere (`BlobSealer.sealFile`), in file order, and the bytes read so far. */
export interface SealedFilePart {
  readonly blobs: readonly SealedBlob[];
  /** Bytes of the file read so far, this part's included. */
  readonly bytesRead: number;
}

/**
 * A source file could not be opened or read where it was being sealed (`sealFile`): the file
 * system's message; backup.ts reports the file and goes on, as for a read on its own thread.
 */
export class FileSourceError extends Error {}

export interface BlobSealer {
  /**
   * Seals one blob. `plaintext` belongs to the caller again once the call returns (the caller reuses
   * it): a sealer that works later copies it first. `id`: the blob's id, computed by the caller
   * (`blobId`), so that it is not computed twice.
   */
  seal(type: BlobType, plaintext: Uint8Array, id: BlobId): Promise<SealedBlob>;
  /**
   * Reads, chunks and seals the whole regular file at `path` elsewhere (worker threads), where the
   * reads are cheap blocking calls and the chunks never cross threads as plaintext; absent, the
   * engine reads the file itself and seals chunk by chunk. A chunk may be sent unsealed (no bytes)
   * when its id is in the factory's `known`, or when the sealer sent it sealed, or will send it
   * sealed, for another file of the same run (whose job may end later, but sends it before it ends,
   * even when it fails); others are sealed whether the caller holds them or not: the caller
   * deduplicates on the ids (so it is used for files with no parent entry, whose chunks are likely
   * new). `onPart` gets the blobs in file order; a part's bytes are the caller's only until it
   * returns, or until the promise it returns settles (the sealer may then reuse them, as the
   * workers' rings do), which bounds what the sealer sends ahead. Resolves to the file's size once
   * every part is handled. Errors: FileSourceError (the file could not be read), the signal's reason once it
   * aborts, or onPart's failure.
   */
  sealFile?(
    path: string,
    expected: number,
    onPart: (part: SealedFilePart) => Promise<void> | undefined,
    signal?: AbortSignal,
  ): Promise<number>;
  /** Ends the sealer and wipes its copy of the keys. */
  close(): Promise<void>;
}

/**
 * How hard a run compresses: `fast` (`BackupDeps.compress`, zstd level 1 in Node) or `small`
 * (`BackupDeps.compressSmall`, zstd level 3: ~6% smaller on source code for 1.3-1.8x the sealing
 * CPU, docs/backup-engine.md "Compression"). Readers do not care: a zstd frame is a zstd frame.
 */
export type CompressionEffort = 'fast' | 'small';

/**
 * Makes a sealer for one session's keys (a run calls it once, and closes what it gets). `known`:
 * ids the repository holds in live packs (BlobReader.liveIdWords); a sealer that reads whole files
 * (`sealFile`) may return a chunk with one of these ids unsealed (no bytes: the caller
 * deduplicates it), which spares compressing and encrypting what is stored already (a resumed run,
 * a renamed directory, a second machine with the same files). It may also send unsealed a chunk
 * it seals for another file of the run (see `sealFile`).
 */
export type SealerFactory = (
  keys: RepositoryKeys,
  effort?: CompressionEffort,
  known?: Uint32Array,
) => BlobSealer;

/** The compressor of `effort` (`compress` when the deps have no `compressSmall`). */
export function compressorOf(deps: BackupDeps, effort: CompressionEffort = 'fast'): BackupDeps['compress'] {
  return effort === 'small' ? (deps.compressSmall ?? deps.compress) : deps.compress;
}

/** Seals on the calling thread, at once (the default). */
export function inlineSealer(
  deps: BackupDeps,
  keys: RepositoryKeys,
  effort: CompressionEffort = 'fast',
): BlobSealer {
  const compress = compressorOf(deps, effort);
  return {
    seal: (type, plaintext, id) => {
      try {
        return Promise.resolve(sealBlob(deps.crypto, keys, type, plaintext, compress, id));
      } catch (error) {
        return Promise.reject(error as Error);
      }
    },
    close: () => Promise.resolve(),
  };
}
