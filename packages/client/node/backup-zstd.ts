/**
 * zstd for the backup engine on node:zlib (RFC 8878): the engine's `compress` and `decompress`
 * (../src/backup/deps.ts), shared by the engine thread (backup-node.ts) and the workers
 * (backup-workers.ts).
 *
 * Each call makes its own zstd context: node:zlib's synchronous calls close their context on return
 * and its streams are asynchronous. One stream per worker with a frame ended per blob was measured
 * (1 MiB and 16 KiB text chunks): no faster, and 4% larger output on small blobs (no content size in
 * the frame). Dead contexts are freed by backup-reclaim.ts.
 */
import { constants, zstdCompressSync, zstdDecompressSync } from 'node:zlib';
import { LIMITS } from '@sealpost/core';
import type { Compress, Decompress } from '@sealpost/core/backup/blob';

export function zstdCompressor(level: number): Compress {
  return (data) => zstdCompressSync(data, { params: { [constants.ZSTD_c_compressionLevel]: level } });
}

// maxOutputLength makes zlib refuse (RangeError) rather than allocate past the blob's length.
// chunkSize: one output buffer of the expected length, not a list of 16 KiB pieces joined.
export const zstdDecompress: Decompress = (data, max) =>
  zstdDecompressSync(data, {
    maxOutputLength: Math.max(1, max),
    chunkSize: Math.max(64, Math.min(max, LIMITS.backupChunkMaxBytes)),
  });
