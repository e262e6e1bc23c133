/**
 * The chunk ids a run's sealing workers have claimed (backup-workers.ts): a chunk met twice in one
 * run, by one worker or by both, is compressed and encrypted once. Before a worker seals a chunk
 * the repository does not hold, it claims the chunk's id here: the first claim seals, every later
 * one sends the chunk unsealed (no bytes), and the engine thread takes it from the pack the first
 * one goes into (pack-sink.ts, which checks at the end of the run that every chunk it was sent
 * unsealed did arrive). The Debian set holds one 25.8 MB driver under 13 names as separate files
 * (the benchmark's copy makes every hard link a file): without claims it was sealed 13 times.
 *
 * An open-addressing table of the ids' first 16 bytes (ids are keyed hashes, so uniform: two ids
 * of a run sharing 128 bits is out of reach), in shared memory, behind a lock of three states
 * (0 free, 1 held, 2 held with waiters: Drepper's "Futexes are tricky"), so that its words are
 * read and written by one thread at a time. A claim takes well under a microsecond; the workers
 * make one per chunk.
 *
 * Bounded (BACKUP_ENGINE_LIMITS.backupClaimSlots): once three quarters of the slots are taken,
 * every further chunk is sealed, and the engine thread drops the repeats as it always did.
 */
import { BACKUP_ENGINE_LIMITS } from '../src/backup/limits.ts';

/** Words before the slots: the lock, and the count of claims. */
const LOCK = 0;
const COUNT = 1;
const HEADER_WORDS = 2;
/** Words a slot takes: an id's first 16 bytes. */
const SLOT_WORDS = 4;

export class ClaimTable {
  readonly buffer: SharedArrayBuffer;
  readonly #words: Int32Array;
  readonly #mask: number;
  readonly #max: number;

  /** A new table of `slots` slots (a power of two), or the table in `buffer` (another thread's). */
  constructor(from: SharedArrayBuffer | number = BACKUP_ENGINE_LIMITS.backupClaimSlots) {
    if (typeof from === 'number') {
      if (!Number.isInteger(from) || from < 1 || (from & (from - 1)) !== 0)
        throw new RangeError('claim slots must be a power of two');
      from = new SharedArrayBuffer((HEADER_WORDS + from * SLOT_WORDS) * Int32Array.BYTES_PER_ELEMENT);
    }
    this.buffer = from;
    this.#words = new Int32Array(from);
    const slots = (this.#words.length - HEADER_WORDS) / SLOT_WORDS;
    this.#mask = slots - 1;
    this.#max = Math.floor((slots * 3) / 4);
  }

  /** Claims made so far. */
  get count(): number {
    return Atomics.load(this.#words, COUNT);
  }

  /**
   * Claims chunk `id` (at least 16 bytes): true when the caller is to seal it (the first claim, or
   * the table is full, or the id's first 16 bytes are all zero, which marks a free slot), false when
   * it was claimed before (by this thread or another).
   */
  claim(id: Uint8Array): boolean {
    const w0 = word(id, 0);
    const w1 = word(id, 4);
    const w2 = word(id, 8);
    const w3 = word(id, 12);
    if ((w0 | w1 | w2 | w3) === 0) return true;
    const words = this.#words;
    this.#lock();
    try {
      for (let slot = w0 & this.#mask; ; slot = (slot + 1) & this.#mask) {
        const at = HEADER_WORDS + slot * SLOT_WORDS;
        const s0 = words[at]!;
        const s1 = words[at + 1]!;
        const s2 = words[at + 2]!;
        const s3 = words[at + 3]!;
        if ((s0 | s1 | s2 | s3) === 0) {
          // Free: the id was never claimed (a slot, once taken, is never freed).
          if (words[COUNT]! >= this.#max) return true;
          words[at] = w0;
          words[at + 1] = w1;
          words[at + 2] = w2;
          words[at + 3] = w3;
          words[COUNT]!++;
          return true;
        }
        if (s0 === w0 && s1 === w1 && s2 === w2 && s3 === w3) return false;
      }
    } finally {
      this.#unlock();
    }
  }

  #lock(): void {
    const words = this.#words;
    let state = Atomics.compareExchange(words, LOCK, 0, 1);
    if (state === 0) return;
    do {
      if (state === 2 || Atomics.compareExchange(words, LOCK, 1, 2) !== 0) Atomics.wait(words, LOCK, 2);
      state = Atomics.compareExchange(words, LOCK, 0, 2);
    } while (state !== 0);
  }

  #unlock(): void {
    if (Atomics.sub(this.#words, LOCK, 1) !== 1) {
      Atomics.store(this.#words, LOCK, 0);
      Atomics.notify(this.#words, LOCK, 1);
    }
  }
}

/** The little-endian 32-bit word of `bytes` at `at`. */
function word(bytes: Uint8Array, at: number): number {
  return bytes[at]! | (bytes[at + 1]! << 8) | (bytes[at + 2]! << 16) | (bytes[at + 3]! << 24);
}
