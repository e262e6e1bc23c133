/**
 * Content-defined chunking: FastCDC (Xia et al., "FastCDC: a Fast and Efficient Content-Defined
 * Chunking Approach for Data Deduplication", USENIX ATC 2016) with a keyed gear table.
 *
 * Inside: the gear table derivation (from the repository's chunker key), the chunk-size parameters
 * with their masks, and `Chunker`, a streaming cut-point finder. The chunker never holds data: it is
 * fed buffers of any size and answers where chunks end, so its memory is constant whatever the input;
 * the caller keeps the bytes of the current chunk (at most `maxBytes`).
 *
 * Definition (docs/backup-format.md §Chunking). For a chunk whose bytes so far are b[0..L), L >= 1:
 *
 *   fp(L) = sum_{j=0}^{31} G[b[L-1-j]] << j   (mod 2^32; bytes before b[0] do not count)
 *
 * a 32-bit Gear hash (§3.1) over a 32-byte window. The chunk ends after b[L-1] at the first L with
 *
 *   L == maxBytes, or L >= minBytes and (fp(L) & (L <= avgBytes ? maskS : maskL)) == 0
 *
 * where maskS has log2(avgBytes) + 2 bits set and maskL log2(avgBytes) - 2 (normalized chunking level
 * 2, §4.4), both taken from the top of the word: bit k of fp depends on the last k + 1 bytes, so the
 * top bits mix the whole window. Bytes before L = minBytes - 32 are never hashed ("cut-point skipping",
 * §4.3): fp(L) for L >= minBytes only depends on the 32 bytes before it, which is what lets chunk
 * boundaries resynchronise after an insertion.
 *
 * Why keyed: with a public table anyone can chunk a known file and compare chunk sizes; with
 * G = HKDF(chunkerKey) the boundaries differ per repository. That is not enough on its own (eprint
 * 2025/532 recovers such keys from chunk sizes), so sizes are also hidden from the server: blobs sit
 * in packs with encrypted headers and padded lengths (pack.ts).
 */
import { ValidationError } from '../errors.ts';
import { LIMITS } from '../limits.ts';
import type { CryptoProvider } from '../crypto/provider.ts';
import { exactBytesArg } from '../crypto/arguments.ts';
import { KEY_BYTES } from './keys.ts';

/** Bytes in the Gear hash window: a 32-bit hash shifts each byte out after 32 steps. */
export const GEAR_WINDOW = 32;
const GEAR_TABLE_INFO = new TextEncoder().encode('sealpost/backup/v1/gear-table');
/** FastCDC normalization level: maskS has 2 more bits than log2(avg), maskL 2 fewer (§4.4). */
const NORMALIZATION_LEVEL = 2;

/**
 * The 256-entry gear table G of a repository: HKDF-SHA256(ikm = chunkerKey, salt = empty,
 * info = "sealpost/backup/v1/gear-table", L = 1024) read as 256 big-endian u32.
 */
export function deriveGearTable(crypto: CryptoProvider, chunkerKey: Uint8Array): Uint32Array {
  exactBytesArg(chunkerKey, KEY_BYTES, 'chunker key');
  const bytes = crypto.hkdfSha256(chunkerKey, new Uint8Array(0), GEAR_TABLE_INFO, 256 * 4);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const table = new Uint32Array(256);
  for (let i = 0; i < 256; i++) table[i] = view.getUint32(i * 4);
  bytes.fill(0);
  return table;
}

export interface ChunkSizes {
  readonly minBytes: number;
  /** A power of two; also where the small mask gives way to the large one. */
  readonly avgBytes: number;
  readonly maxBytes: number;
}

export const DEFAULT_CHUNK_SIZES: ChunkSizes = {
  minBytes: LIMITS.backupChunkMinBytes,
  avgBytes: LIMITS.backupChunkAvgBytes,
  maxBytes: LIMITS.backupChunkMaxBytes,
};

/** A mask with the top `bits` bits of a 32-bit word set, as a signed int32 (what `&` yields). */
function topBits(bits: number): number {
  return ~((1 << (32 - bits)) - 1) | 0;
}

/**
 * Requires 2 * GEAR_WINDOW <= minBytes < avgBytes < maxBytes <= 2^30, avgBytes a power of two with
 * 2^(2+level) <= avgBytes <= 2^(30-level).
 */
function checkSizes(s: ChunkSizes): void {
  const ok =
    Number.isInteger(s.minBytes) &&
    Number.isInteger(s.avgBytes) &&
    Number.isInteger(s.maxBytes) &&
    s.minBytes >= 2 * GEAR_WINDOW &&
    s.minBytes < s.avgBytes &&
    s.avgBytes < s.maxBytes &&
    s.maxBytes <= 2 ** 30 &&
    (s.avgBytes & (s.avgBytes - 1)) === 0;
  if (!ok) {
    throw new ValidationError('VALIDATION_FAILED', 'chunk sizes must satisfy 64 <= min < avg < max <= 2^30', {
      min: s.minBytes,
      avg: s.avgBytes,
      max: s.maxBytes,
    });
  }
}

/**
 * Streaming FastCDC cut-point finder. Feed it the input in order with `push`, then call `finish`.
 * Chunks are reported as lengths; their sum is the input's length. Memory: the table and four numbers.
 */
export class Chunker {
  readonly #gear: Uint32Array;
  readonly #min: number;
  readonly #normal: number;
  readonly #max: number;
  readonly #maskS: number;
  readonly #maskL: number;
  /** Bytes of the current chunk seen so far. */
  #size = 0;
  #fp = 0;

  /** Precondition: `gear` is a 256-entry table from `deriveGearTable`. */
  constructor(gear: Uint32Array, sizes: ChunkSizes = DEFAULT_CHUNK_SIZES) {
    if (!(gear instanceof Uint32Array) || gear.length !== 256) {
      throw new ValidationError('VALIDATION_FAILED', 'gear table must be a Uint32Array of 256 entries');
    }
    checkSizes(sizes);
    this.#gear = gear;
    this.#min = sizes.minBytes;
    this.#normal = sizes.avgBytes;
    this.#max = sizes.maxBytes;
    const bits = Math.log2(sizes.avgBytes);
    this.#maskS = topBits(bits + NORMALIZATION_LEVEL);
    this.#maskL = topBits(bits - NORMALIZATION_LEVEL);
  }

  /** Bytes pushed since the last chunk ended. */
  get pending(): number {
    return this.#size;
  }

  /**
   * Consumes `data` and returns the lengths of the chunks that ended inside it (the first may have
   * begun in an earlier push). Bytes after the last reported end belong to the next chunk.
   */
  push(data: Uint8Array): number[] {
    const out: number[] = [];
    const g = this.#gear;
    const n = data.length;
    const min = this.#min;
    const normal = this.#normal;
    const max = this.#max;
    const maskS = this.#maskS;
    const maskL = this.#maskL;
    const hashFrom = min - GEAR_WINDOW;
    let size = this.#size;
    let fp = this.#fp;
    let i = 0;
    while (i < n) {
      // Cut-point skipping (§4.3): bytes before the last window ahead of minBytes are not hashed.
      if (size < hashFrom) {
        const skip = Math.min(hashFrom - size, n - i);
        size += skip;
        i += skip;
        if (i === n) break;
      }
      // Fill the window: lengths up to minBytes - 1 are hashed but never cut.
      if (size < min - 1) {
        const end = Math.min(n, i + (min - 1 - size));
        const start = i;
        for (; i < end; i++) fp = ((fp << 1) + g[data[i]!]!) | 0;
        size += i - start;
        if (i === n) break;
      }
      let cut = false;
      // Lengths minBytes..avgBytes: the stricter mask (fewer cuts below the average).
      if (size < normal) {
        const end = Math.min(n, i + (normal - size));
        const start = i;
        for (; i < end; i++) {
          fp = ((fp << 1) + g[data[i]!]!) | 0;
          if ((fp & maskS) === 0) {
            cut = true;
            i++;
            break;
          }
        }
        size += i - start;
        if (!cut && i === n) break;
      }
      // Lengths avgBytes + 1..maxBytes: the looser mask, and a forced cut at maxBytes.
      if (!cut) {
        const end = Math.min(n, i + (max - size));
        const start = i;
        for (; i < end; i++) {
          fp = ((fp << 1) + g[data[i]!]!) | 0;
          if ((fp & maskL) === 0) {
            cut = true;
            i++;
            break;
          }
        }
        size += i - start;
      }
      if (cut || size === max) {
        out.push(size);
        size = 0;
        fp = 0;
      }
    }
    this.#size = size;
    this.#fp = fp;
    return out;
  }

  /** Ends the input: returns the length of the last chunk (0 if none is pending) and resets. */
  finish(): number {
    const last = this.#size;
    this.#size = 0;
    this.#fp = 0;
    return last;
  }
}

/** The chunk lengths of a whole buffer (a convenience over `Chunker` for tests and small inputs). */
export function chunkLengths(
  gear: Uint32Array,
  data: Uint8Array,
  sizes: ChunkSizes = DEFAULT_CHUNK_SIZES,
): number[] {
  const c = new Chunker(gear, sizes);
  const out = c.push(data);
  const last = c.finish();
  if (last > 0) out.push(last);
  return out;
}
