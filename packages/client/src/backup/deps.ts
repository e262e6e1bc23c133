/**
 * Everything the engine is given rather than reaching for: cryptography, Argon2id, zstd, the file
 * system and the clock. packages/client/node/backup-node.ts assembles the Node set.
 */
import type { CryptoProvider } from '@sealpost/core';
import type { Compress, Decompress } from '@sealpost/core/backup/blob';
import type { Argon2id } from '@sealpost/core/backup/key-file';
import type { BackupFs } from './fs.ts';
import type { PackRestorerFactory } from './pack-restorer.ts';
import type { PackVerifierFactory } from './pack-verifier.ts';
import type { SealerFactory } from './sealer.ts';

export interface BackupDeps {
  readonly crypto: CryptoProvider;
  readonly argon2id: Argon2id;
  /** zstd for new blobs, fast (a first backup's bulk). */
  readonly compress: Compress;
  /** zstd that spends more CPU for fewer bytes (runs with a parent: sealer.ts CompressionEffort). */
  readonly compressSmall?: Compress;
  readonly decompress: Decompress;
  readonly fs: BackupFs;
  /** Milliseconds since 1970 (snapshot times). */
  readonly now: () => number;
  /**
   * Called after each pack the engine stores, writes out or checks, when memory held by dead
   * objects should be given back (Node: a minor GC frees dead zstd contexts, backup-reclaim.ts);
   * `after-phase` once a phase that left much garbage behind is over (loading the index, walking
   * every tree): Node then runs a full GC, which V8 would otherwise put off while the heap grows.
   */
  readonly reclaim?: (when?: 'after-phase') => void;
  /** Where new blobs are sealed (e.g. worker threads); on the engine's thread when absent. */
  readonly sealers?: SealerFactory;
  /** Where `check --read-data` opens packs' blobs (e.g. worker threads); on the engine's thread when absent. */
  readonly packVerifiers?: PackVerifierFactory;
  /**
   * Where `restore` opens packs' blobs and writes them to files (e.g. worker threads with blocking
   * file calls); on the engine's thread through `fs` when absent.
   */
  readonly packRestorers?: PackRestorerFactory;
}
