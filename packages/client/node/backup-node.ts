/**
 * `nodeBackupDeps`: the backup engine's injected capabilities for Node (../src/backup/deps.ts):
 * node:crypto (core's provider) and its Argon2id (backup-argon2id.ts), zstd from node:zlib, node:fs/promises.
 *
 * zstd at `BACKUP_ENGINE_LIMITS.zstdLevel` (1) by default. `workers`: seal new blobs (zstd and
 * AES-GCM, the slowest stage) on that many worker threads (backup-workers.ts); 0, the default,
 * seals on the calling thread.
 */
import { constants, zstdCompressSync, zstdDecompressSync } from 'node:zlib';
import { LIMITS } from '@sealpost/core';
import { nodeCryptoProvider } from '@sealpost/core/node';
import type { BackupDeps } from '../src/backup/deps.ts';
import { BACKUP_ENGINE_LIMITS } from '../src/backup/limits.ts';
import { nodeArgon2id } from './backup-argon2id.ts';
import { nodeBackupFs } from './backup-fs.ts';
import { reclaimNativeMemory } from './backup-reclaim.ts';
import { workerSealers } from './backup-workers.ts';

export function nodeBackupDeps(
  options: { zstdLevel?: number; now?: () => number; workers?: number } = {},
): BackupDeps {
  const level = options.zstdLevel ?? BACKUP_ENGINE_LIMITS.zstdLevel;
  const workers = options.workers ?? 0;
  return {
    ...(workers > 0 ? { sealers: workerSealers(workers, { zstdLevel: level }) } : {}),
    crypto: nodeCryptoProvider,
    argon2id: nodeArgon2id,
    compress: (data) => zstdCompressSync(data, { params: { [constants.ZSTD_c_compressionLevel]: level } }),
    // maxOutputLength makes zlib refuse (RangeError) rather than allocate past the blob's length.
    // chunkSize: one output buffer of the expected length, not a list of 16 KiB pieces joined.
    decompress: (data, max) =>
      zstdDecompressSync(data, {
        maxOutputLength: Math.max(1, max),
        chunkSize: Math.max(64, Math.min(max, LIMITS.backupChunkMaxBytes)),
      }),
    reclaim: reclaimNativeMemory,
    fs: nodeBackupFs,
    now: options.now ?? Date.now,
  };
}
