/**
 * The in-memory blob index: blob id -> (pack, offset, length, type, raw length), in packed typed
 * arrays at 48 bytes an entry (a JS Map of objects costs ~200; DESIGN.md "Backups").
 *
 * Layout, entry i:
 *   ids   Uint32Array words [8i, 8i + 8)   the 32-byte id as 8 big-endian u32 (compared word by word)
 *   meta  Uint32Array words [4i, 4i + 4)   pack number, offset, sealed length, type << 30 | raw length
 * Pack ids (32 bytes each) are stored once, in `#packIds`, and entries name them by number.
 *
 * Entries [0, sorted) are sorted by id and searched by bisection; entries added since sit in an
 * unsorted tail with a small open-addressing table over it (ids are HMAC outputs, so their first word
 * is a uniform hash). When the tail outgrows an eighth of the sorted part it is sorted and merged in
 * place, from the back: adding costs O(1) amortized, a lookup O(log n). An id is kept once: a blob
 * written twice (two devices racing) keeps its first location.
 */
import { ValidationError } from '../errors.ts';
import { BLOB_TYPE, blobIdArg, blobTypeFromByte, type BlobType } from './blob.ts';
import { PACK_ID_BYTES, type PackEntry } from './pack.ts';

const ID_WORDS = 8;
const META_WORDS = 4;
/** Raw lengths take the low 30 bits of the last meta word, the type the top 2. */
const RAW_BITS = 30;
const RAW_MASK = 2 ** RAW_BITS - 1;
/** The tail is merged once it holds more than max(TAIL_MIN, sorted / TAIL_RATIO) entries. */
const TAIL_MIN = 4096;
const TAIL_RATIO = 8;

export interface BlobLocation {
  readonly packId: Uint8Array;
  readonly type: BlobType;
  readonly offset: number;
  readonly length: number;
  readonly rawLength: number;
}

export class BlobIndex {
  #ids: Uint32Array;
  #meta: Uint32Array;
  #count = 0;
  #sorted = 0;
  #packIds: Uint8Array;
  #packCount = 0;
  /** Tail table: entry number + 1, or 0 for an empty slot. Length is a power of two. */
  #slots = new Int32Array(2 * TAIL_MIN);
  readonly #probe = new Uint32Array(ID_WORDS);

  /** `capacity`: entries to allocate for up front (exact sizing when loading known index files). */
  constructor(capacity = 1024, packCapacity = 64) {
    this.#ids = new Uint32Array(Math.max(1, capacity) * ID_WORDS);
    this.#meta = new Uint32Array(Math.max(1, capacity) * META_WORDS);
    this.#packIds = new Uint8Array(Math.max(1, packCapacity) * PACK_ID_BYTES);
  }

  get size(): number {
    return this.#count;
  }
  get packCount(): number {
    return this.#packCount;
  }
  /** Bytes held by the arrays (the memory cost of the index). */
  get byteLength(): number {
    return this.#ids.byteLength + this.#meta.byteLength + this.#packIds.byteLength + this.#slots.byteLength;
  }

  /** Registers a pack and returns its number for `add`. The caller registers each pack once. */
  addPack(packId: Uint8Array): number {
    if (!(packId instanceof Uint8Array) || packId.length !== PACK_ID_BYTES) {
      throw new ValidationError('VALIDATION_FAILED', `pack id must be ${PACK_ID_BYTES} bytes`);
    }
    if ((this.#packCount + 1) * PACK_ID_BYTES > this.#packIds.length) {
      const next = new Uint8Array(Math.ceil(this.#packIds.length * 1.5) + PACK_ID_BYTES);
      next.set(this.#packIds);
      this.#packIds = next;
    }
    this.#packIds.set(packId, this.#packCount * PACK_ID_BYTES);
    return this.#packCount++;
  }

  /** Adds the blob of `entry`, stored in pack `packNumber`. Returns false if its id is already known. */
  add(packNumber: number, entry: PackEntry): boolean {
    if (!Number.isInteger(packNumber) || packNumber < 0 || packNumber >= this.#packCount) {
      throw new ValidationError('VALIDATION_FAILED', 'unknown pack number');
    }
    const { offset, length, rawLength } = entry;
    if (
      !u32(offset) ||
      !u32(length) ||
      !Number.isInteger(rawLength) ||
      rawLength < 0 ||
      rawLength > RAW_MASK
    ) {
      throw new ValidationError('VALIDATION_FAILED', 'blob entry out of range');
    }
    if (entry.type !== 'data' && entry.type !== 'tree') {
      throw new ValidationError('VALIDATION_FAILED', 'blob type must be "data" or "tree"');
    }
    this.#load(blobIdArg(entry.id));
    if (this.#lookup() >= 0) return false;
    this.#reserve(this.#count + 1);
    const i = this.#count++;
    this.#ids.set(this.#probe, i * ID_WORDS);
    const m = i * META_WORDS;
    this.#meta[m] = packNumber;
    this.#meta[m + 1] = offset;
    this.#meta[m + 2] = length;
    this.#meta[m + 3] = (BLOB_TYPE[entry.type] * 2 ** RAW_BITS + rawLength) >>> 0;
    this.#insertTail(i);
    if (this.#count - this.#sorted > Math.max(TAIL_MIN, this.#sorted / TAIL_RATIO)) this.compact();
    return true;
  }

  has(id: Uint8Array): boolean {
    this.#load(blobIdArg(id));
    return this.#lookup() >= 0;
  }

  find(id: Uint8Array): BlobLocation | undefined {
    this.#load(blobIdArg(id));
    const i = this.#lookup();
    if (i < 0) return undefined;
    const m = i * META_WORDS;
    const pack = this.#meta[m]!;
    const last = this.#meta[m + 3]!;
    return {
      packId: this.#packIds.slice(pack * PACK_ID_BYTES, (pack + 1) * PACK_ID_BYTES),
      type: blobTypeFromByte(Math.floor(last / 2 ** RAW_BITS))!,
      offset: this.#meta[m + 1]!,
      length: this.#meta[m + 2]!,
      rawLength: last & RAW_MASK,
    };
  }

  /**
   * The ids of the entries whose pack `includePack` accepts (asked once per pack), sorted, as 8
   * big-endian u32 words each: a list `sortedIdsHave` searches (a copy: the index may change).
   */
  sortedIdWords(includePack: (packId: Uint8Array) => boolean): Uint32Array {
    this.compact();
    const keep = new Uint8Array(this.#packCount);
    for (let p = 0; p < this.#packCount; p++) {
      keep[p] = includePack(this.#packIds.slice(p * PACK_ID_BYTES, (p + 1) * PACK_ID_BYTES)) ? 1 : 0;
    }
    let n = 0;
    for (let i = 0; i < this.#count; i++) n += keep[this.#meta[i * META_WORDS]!]!;
    const out = new Uint32Array(n * ID_WORDS);
    for (let i = 0, o = 0; i < this.#count; i++) {
      if (keep[this.#meta[i * META_WORDS]!] === 0) continue;
      copyWords(this.#ids, i * ID_WORDS, out, o, ID_WORDS);
      o += ID_WORDS;
    }
    return out;
  }

  /** Sorts the tail into the sorted part (also done automatically as the tail grows). */
  compact(): void {
    const sorted = this.#sorted;
    const t = this.#count - sorted;
    if (t === 0) return;
    const ids = this.#ids;
    const meta = this.#meta;
    const order = new Uint32Array(t);
    for (let k = 0; k < t; k++) order[k] = sorted + k;
    order.sort((a, b) => compareAt(ids, a, ids, b));
    const tIds = new Uint32Array(t * ID_WORDS);
    const tMeta = new Uint32Array(t * META_WORDS);
    for (let k = 0; k < t; k++) {
      const from = order[k]!;
      copyWords(ids, from * ID_WORDS, tIds, k * ID_WORDS, ID_WORDS);
      copyWords(meta, from * META_WORDS, tMeta, k * META_WORDS, META_WORDS);
    }
    // Merge from the back: the sorted part moves up into the room the tail leaves.
    let i = sorted - 1;
    let j = t - 1;
    for (let k = this.#count - 1; j >= 0; k--) {
      if (i >= 0 && compareAt(ids, i, tIds, j) > 0) {
        ids.copyWithin(k * ID_WORDS, i * ID_WORDS, (i + 1) * ID_WORDS);
        meta.copyWithin(k * META_WORDS, i * META_WORDS, (i + 1) * META_WORDS);
        i--;
      } else {
        copyWords(tIds, j * ID_WORDS, ids, k * ID_WORDS, ID_WORDS);
        copyWords(tMeta, j * META_WORDS, meta, k * META_WORDS, META_WORDS);
        j--;
      }
    }
    this.#sorted = this.#count;
    const slotsWanted = nextPow2(2 * Math.max(TAIL_MIN, this.#sorted / TAIL_RATIO) + 2);
    this.#slots = slotsWanted === this.#slots.length ? this.#slots.fill(0) : new Int32Array(slotsWanted);
  }

  /** Copies a 32-byte id into `#probe` as big-endian words. */
  #load(id: Uint8Array): void {
    for (let w = 0; w < ID_WORDS; w++) {
      const o = w * 4;
      this.#probe[w] = ((id[o]! << 24) | (id[o + 1]! << 16) | (id[o + 2]! << 8) | id[o + 3]!) >>> 0;
    }
  }

  /** Entry number of `#probe`, or -1. */
  #lookup(): number {
    const ids = this.#ids;
    const p = this.#probe;
    let lo = 0;
    let hi = this.#sorted - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      const c = compareAt(ids, mid, p, 0);
      if (c === 0) return mid;
      if (c < 0) lo = mid + 1;
      else hi = mid - 1;
    }
    const slots = this.#slots;
    const mask = slots.length - 1;
    for (let s = p[0]! & mask; ; s = (s + 1) & mask) {
      const e = slots[s]!;
      if (e === 0) return -1;
      if (compareAt(ids, e - 1, p, 0) === 0) return e - 1;
    }
  }

  #insertTail(i: number): void {
    const tail = this.#count - this.#sorted;
    if (2 * tail + 2 > this.#slots.length) {
      // The tail outgrew its table before a merge (only with a tiny sorted part): double it.
      this.#slots = new Int32Array(this.#slots.length * 2);
      for (let k = this.#sorted; k < this.#count; k++) this.#place(k);
      return;
    }
    this.#place(i);
  }

  #place(i: number): void {
    const slots = this.#slots;
    const mask = slots.length - 1;
    let s = this.#ids[i * ID_WORDS]! & mask;
    while (slots[s] !== 0) s = (s + 1) & mask;
    slots[s] = i + 1;
  }

  #reserve(entries: number): void {
    if (entries * ID_WORDS <= this.#ids.length) return;
    const cap = Math.ceil((this.#ids.length / ID_WORDS) * 1.5) + 16;
    const ids = new Uint32Array(cap * ID_WORDS);
    ids.set(this.#ids);
    this.#ids = ids;
    const meta = new Uint32Array(cap * META_WORDS);
    meta.set(this.#meta);
    this.#meta = meta;
  }
}

function u32(v: number): boolean {
  return Number.isInteger(v) && v >= 0 && v <= 0xffffffff;
}

/** Copies `n` words from `from` at `at` to `to` at `into` (a loop: no view made per entry). */
function copyWords(from: Uint32Array, at: number, to: Uint32Array, into: number, n: number): void {
  for (let w = 0; w < n; w++) to[into + w] = from[at + w]!;
}

/** Whether `words` (from `BlobIndex.sortedIdWords`, in any typed array over its words) holds `id`. */
export function sortedIdsHave(words: Uint32Array, id: Uint8Array): boolean {
  if (id.length !== 32) return false;
  const probe = new Uint32Array(ID_WORDS);
  for (let w = 0; w < ID_WORDS; w++) {
    const o = w * 4;
    probe[w] = ((id[o]! << 24) | (id[o + 1]! << 16) | (id[o + 2]! << 8) | id[o + 3]!) >>> 0;
  }
  let lo = 0;
  let hi = words.length / ID_WORDS - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1;
    const c = compareAt(words, mid, probe, 0);
    if (c === 0) return true;
    if (c < 0) lo = mid + 1;
    else hi = mid - 1;
  }
  return false;
}

function compareAt(a: Uint32Array, i: number, b: Uint32Array, j: number): number {
  const ai = i * ID_WORDS;
  const bj = j * ID_WORDS;
  for (let w = 0; w < ID_WORDS; w++) {
    const x = a[ai + w]!;
    const y = b[bj + w]!;
    if (x !== y) return x < y ? -1 : 1;
  }
  return 0;
}

function nextPow2(n: number): number {
  return 2 ** Math.ceil(Math.log2(n));
}
