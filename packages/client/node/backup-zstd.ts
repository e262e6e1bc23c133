/**
 * zstd for the backup engine on node:zlib (RFC 8878): the engine's `compress` and `decompress`
 * (../src/backup/deps.ts), shared by the engine thread (backup-node.ts) and the workers
 * (backup-workers.ts).
 *
 * Compression keeps one zstd context per compressor (one per thread) and ends a frame per blob:
 * `zstdCompressSync` makes a context (and a stream object around it) per call, which cost ~25-35 µs
 * a call whatever the input's size: over the Debian set's 80,000 small files that was 2.5x the
 * compression itself (4,000 kernel source files: 230 ms of CPU per call against 90 with one
 * context). node:zlib has no public way to reuse a context synchronously, so the compressor drives
 * the native handle of one `ZstdCompress` the way `zstdCompressSync` does (`writeSync` with
 * ZSTD_e_end and the whole input, so the frame records the content size, byte for byte the same
 * output), into an output buffer of zstd's bound, so one call ends the frame. A self-test on a
 * sample when made, and a check of every call's state, fall back to `zstdCompressSync` when those
 * internals are missing or behave differently (another Node version).
 *
 * Decompression keeps one context too (`zstdDecompressor`, reset before each frame), and may keep
 * its output buffer for callers done with each result before the next call (workers). Backup's forced minor GCs stay: without
 * them (no context to free any more) a backup of the quick set peaked 30-50 MiB higher for the
 * same CPU time (dead chunk copies and sealed blobs wait for V8's own scavenges).
 */
import { constants, ZstdCompress, ZstdDecompress, zstdCompressSync, zstdDecompressSync } from 'node:zlib';
import { LIMITS } from '@sealpost/core';
import type { Compress, Decompress } from '@sealpost/core/backup/blob';

/** The output buffer a compressor keeps between calls; a larger blob gets a buffer of its own. */
const KEPT_OUTPUT_BYTES = 2 * 1024 * 1024;

/** zstd's ZSTD_COMPRESSBOUND, rounded up: an output buffer this long ends any frame in one call. */
function compressBound(n: number): number {
  return n + (n >>> 8) + (n < 128 * 1024 ? (128 * 1024 - n) >>> 11 : 0) + 64;
}

/** The parts of node:zlib's `ZstdCompress` that the compressor drives (node:zlib internals). */
interface NativeEngine {
  readonly _handle?: {
    writeSync?: (
      flush: number,
      input: Uint8Array,
      inOffset: number,
      inLength: number,
      output: Uint8Array,
      outOffset: number,
      outLength: number,
    ) => void;
  };
  readonly _writeState?: Uint32Array;
  readonly destroyed: boolean;
  on(event: 'error', listener: () => void): unknown;
}

/** One context ending a frame per call; throws when the engine does not behave as expected. */
function contextCompressor(level: number): Compress {
  const params = { params: { [constants.ZSTD_c_compressionLevel]: level } };
  let engine: NativeEngine | undefined;
  let kept = new Uint8Array(0);
  const open = (): NativeEngine => {
    const made = new ZstdCompress(params) as unknown as NativeEngine;
    // An error is also reported by the stream (on the next tick): seen here through `destroyed`.
    made.on('error', () => undefined);
    if (typeof made._handle?.writeSync !== 'function' || !(made._writeState instanceof Uint32Array)) {
      throw new Error('node:zlib ZstdCompress has no synchronous handle');
    }
    return made;
  };
  return (data) => {
    const bound = compressBound(data.length);
    let out = kept;
    if (out.length < bound) {
      out = new Uint8Array(bound);
      if (bound <= KEPT_OUTPUT_BYTES) kept = out;
    }
    engine ??= open();
    engine._handle!.writeSync!(constants.ZSTD_e_end, data, 0, data.length, out, 0, out.length);
    const [availOut, availIn] = engine._writeState!;
    if (engine.destroyed || availIn !== 0 || availOut === undefined || availOut === 0) {
      // A failed or unfinished frame leaves the context in an unknown state: the next call makes another.
      engine = undefined;
      throw new Error('zstd compression did not end its frame');
    }
    // A view of the kept buffer: valid until the next call (sealBlob copies it, then wipes it).
    return out.subarray(0, out.length - availOut);
  };
}

/** One context per call (node:zlib's public API). */
function callCompressor(level: number): Compress {
  const params = { params: { [constants.ZSTD_c_compressionLevel]: level } };
  return (data) => zstdCompressSync(data, params);
}

const SAMPLE = new TextEncoder().encode('sealpost zstd self-test '.repeat(200) + 'the end');

/**
 * A zstd compressor at `level`. The result of a call is a view that the next call may overwrite:
 * read (or copy) it first (blob.ts `Compress`). One compressor per thread; not re-entrant.
 */
export function zstdCompressor(level: number): Compress {
  const fallback = callCompressor(level);
  let context: Compress;
  try {
    context = contextCompressor(level);
    const got = context(SAMPLE);
    const want = zstdCompressSync(SAMPLE, { params: { [constants.ZSTD_c_compressionLevel]: level } });
    if (got.length !== want.length || !got.every((b, i) => b === want[i])) return fallback;
  } catch {
    return fallback;
  }
  return (data) => {
    try {
      return context(data);
    } catch {
      return fallback(data);
    }
  };
}

// maxOutputLength makes zlib refuse (RangeError) rather than allocate past the blob's length.
// chunkSize: one output buffer of the expected length, not a list of 16 KiB pieces joined.
const callDecompress: Decompress = (data, max) =>
  zstdDecompressSync(data, {
    maxOutputLength: Math.max(1, max),
    chunkSize: Math.max(64, Math.min(max, LIMITS.backupChunkMaxBytes)),
  });

/** The parts of node:zlib's `ZstdDecompress` that the decompressor drives (node:zlib internals). */
type NativeDecompressEngine = NativeEngine & { readonly _handle?: { reset?: () => void } };

/**
 * One context for every call: reset before each frame (so a frame that did not end cannot run into
 * the next), then the whole input in one `writeSync` into an output one byte longer than `max`. The
 * frame fits when the input is used up and that last byte is not reached; anything else (more
 * output than `max`, an error: `destroyed`, input left over) drops the context and throws, and the
 * caller falls back to `zstdDecompressSync`, whose answer is final. A frame cut short decodes to
 * fewer bytes than the blob's length, which blob.ts refuses, as it refuses any wrong plaintext by
 * its keyed id.
 */
function contextDecompressor(keepOutput: boolean): Decompress {
  let engine: NativeDecompressEngine | undefined;
  let kept = new Uint8Array(0);
  const open = (): NativeDecompressEngine => {
    const made = new ZstdDecompress() as unknown as NativeDecompressEngine;
    made.on('error', () => undefined);
    if (
      typeof made._handle?.writeSync !== 'function' ||
      typeof made._handle.reset !== 'function' ||
      !(made._writeState instanceof Uint32Array)
    ) {
      throw new Error('node:zlib ZstdDecompress has no synchronous handle');
    }
    return made;
  };
  return (data, max) => {
    const room = max + 1;
    let out = kept;
    if (!keepOutput || out.length < room) {
      out = new Uint8Array(room);
      if (keepOutput) kept = out;
    }
    const current = (engine ??= open());
    current._handle!.reset!();
    current._handle!.writeSync!(constants.ZSTD_e_end, data, 0, data.length, out, 0, room);
    const [availOut, availIn] = current._writeState!;
    if (current.destroyed || availIn !== 0 || availOut === undefined || availOut === 0) {
      engine = undefined;
      throw new Error('zstd decompression did not fit its frame');
    }
    return out.subarray(0, room - availOut);
  };
}

/** Outputs longer than this go to `zstdDecompressSync` (an output of `max + 1` bytes is allocated). */
const CONTEXT_MAX_OUTPUT_BYTES = LIMITS.backupChunkMaxBytes;

/**
 * A zstd decompressor that keeps one context (zstdDecompressSync makes one per call: ~25-35 µs,
 * most of a small blob's cost, and native memory left for the GC). With `keepOutput`, the result is
 * a view of a buffer the next call overwrites (for callers that are done with it by then: check's
 * verifying, restore's writing on workers); otherwise each result is a new array. One per thread;
 * not re-entrant. Falls back to zstdDecompressSync when node:zlib's internals are not as expected.
 */
export function zstdDecompressor(options: { readonly keepOutput?: boolean } = {}): Decompress {
  let context: Decompress | undefined;
  try {
    context = contextDecompressor(options.keepOutput === true);
    const sample = zstdCompressSync(SAMPLE);
    const got = context(sample, SAMPLE.length);
    if (got.length !== SAMPLE.length || !got.every((b, i) => b === SAMPLE[i])) context = undefined;
  } catch {
    context = undefined;
  }
  if (context === undefined) return callDecompress;
  const fast = context;
  return (data, max) => {
    if (max > CONTEXT_MAX_OUTPUT_BYTES) return callDecompress(data, max);
    try {
      return fast(data, max);
    } catch {
      return callDecompress(data, max);
    }
  };
}

/** A decompressor for this thread whose every result is a new array. */
export const zstdDecompress: Decompress = zstdDecompressor();
