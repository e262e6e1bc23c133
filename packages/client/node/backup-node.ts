/**
 * `nodeBackupDeps`: the backup engine's injected capabilities for Node (../src/backup/deps.ts):
 * node:crypto (core's provider) and its Argon2id (backup-argon2id.ts), zstd from node:zlib, node:fs/promises.
 *
 * zstd at `BACKUP_ENGINE_LIMITS.zstdLevel` (1) by default, and `zstdLevelSmall` (3) for runs that
 * compress for size (runs with a parent snapshot: backup.ts `compression`). `workers`: seal new blobs (zstd and
 * AES-GCM, the slowest stage), open packs' blobs for `check --read-data`, and write restores out
 * (with blocking file calls: backup-restore-sync.ts) on that many worker threads
 * (backup-workers.ts); 0, the default, does all three on the calling thread.
 */
import { nodeCryptoProvider } from '@sealpost/core/node';
import type { Compress } from '@sealpost/core/backup/blob';
import type { BackupDeps } from '../src/backup/deps.ts';
import { BACKUP_ENGINE_LIMITS } from '../src/backup/limits.ts';
import { nodeArgon2id } from './backup-argon2id.ts';
import { nodeBackupFs } from './backup-fs.ts';
import { reclaimNativeMemory } from './backup-reclaim.ts';
import { workerPackRestorers, workerPackVerifiers, workerSealers } from './backup-workers.ts';
import { zstdCompressor, zstdDecompress } from './backup-zstd.ts';

export function nodeBackupDeps(
  options: {
    zstdLevel?: number;
    zstdLevelSmall?: number;
    now?: () => number;
    workers?: number;
    /** Worker threads for `check --read-data` (default: `workers`). */
    verifierWorkers?: number;
    /** Worker threads for `restore` (default: `workers`). */
    restorerWorkers?: number;
  } = {},
): BackupDeps {
  const level = options.zstdLevel ?? BACKUP_ENGINE_LIMITS.zstdLevel;
  const levelSmall = options.zstdLevelSmall ?? BACKUP_ENGINE_LIMITS.zstdLevelSmall;
  const workers = options.workers ?? 0;
  let small: Compress | undefined; // made on first use: most commands never compress
  return {
    ...(workers > 0
      ? {
          sealers: workerSealers(workers, { zstdLevel: level, zstdLevelSmall: levelSmall }),
          packVerifiers: workerPackVerifiers(options.verifierWorkers ?? workers),
          packRestorers: workerPackRestorers(options.restorerWorkers ?? workers),
        }
      : {}),
    crypto: nodeCryptoProvider,
    argon2id: nodeArgon2id,
    compress: zstdCompressor(level),
    compressSmall: (bytes) => (small ??= zstdCompressor(levelSmall))(bytes),
    decompress: zstdDecompress,
    reclaim: reclaimNativeMemory,
    fs: nodeBackupFs,
    now: options.now ?? Date.now,
  };
}
