/**
 * A set of 32-byte blob ids in one typed array: open addressing with linear probing over 8-word
 * slots, doubled when half full. Ids are keyed hashes (HMAC outputs), so their first word is a
 * uniform hash already. Used for the ids a backup run has added (pack-sink.ts), 85,000 on the
 * Debian set: a lookup and an add for each of 85,000 ids took a BlobIndex (kept sorted, for
 * bisection, and merging its tail as it grows) 81-102 ms, and take this 24-31 ms; a Set of hex
 * strings cost a string per id and its garbage.
 *
 * Whole ids are compared: a blob taken for stored because another shared a prefix with it would
 * be lost.
 */
import { blobIdArg } from './blob.ts';

const ID_WORDS = 8;

export class IdSet {
  /** Slot s holds an id in words [8s, 8s + 8); `#used[s]` says whether it does. */
  #words: Uint32Array;
  #used: Uint8Array;
  #count = 0;
  readonly #probe = new Uint32Array(ID_WORDS);

  /** `capacity`: ids to hold before the first growth. */
  constructor(capacity = 1024) {
    const slots = nextPow2(Math.max(16, 2 * capacity));
    this.#words = new Uint32Array(slots * ID_WORDS);
    this.#used = new Uint8Array(slots);
  }

  get size(): number {
    return this.#count;
  }

  /** Bytes the set holds in its arrays. */
  get byteLength(): number {
    return this.#words.byteLength + this.#used.byteLength;
  }

  /** Adds `id` (32 bytes; ValidationError otherwise); false when it was there already. */
  add(id: Uint8Array): boolean {
    this.#load(blobIdArg(id));
    const s = this.#find();
    if (this.#used[s] === 1) return false;
    if (2 * (this.#count + 1) > this.#used.length) {
      this.#grow();
      this.#put(this.#find());
    } else {
      this.#put(s);
    }
    this.#count++;
    return true;
  }

  /** Whether `id` (32 bytes; ValidationError otherwise) is in the set. */
  has(id: Uint8Array): boolean {
    this.#load(blobIdArg(id));
    return this.#used[this.#find()] === 1;
  }

  /** Copies `id` into `#probe` as words. */
  #load(id: Uint8Array): void {
    for (let w = 0; w < ID_WORDS; w++) {
      const o = w * 4;
      this.#probe[w] = (id[o]! | (id[o + 1]! << 8) | (id[o + 2]! << 16) | (id[o + 3]! << 24)) >>> 0;
    }
  }

  /** The slot of `#probe`: where it is, or the free slot where it would go. */
  #find(): number {
    const words = this.#words;
    const used = this.#used;
    const p = this.#probe;
    const mask = used.length - 1;
    for (let s = p[0]! & mask; ; s = (s + 1) & mask) {
      if (used[s] === 0) return s;
      const at = s * ID_WORDS;
      let w = 0;
      while (w < ID_WORDS && words[at + w] === p[w]) w++;
      if (w === ID_WORDS) return s;
    }
  }

  #put(s: number): void {
    this.#words.set(this.#probe, s * ID_WORDS);
    this.#used[s] = 1;
  }

  /** Doubles the table, placing every id again. */
  #grow(): void {
    const oldWords = this.#words;
    const oldUsed = this.#used;
    this.#words = new Uint32Array(oldWords.length * 2);
    this.#used = new Uint8Array(oldUsed.length * 2);
    const mask = this.#used.length - 1;
    for (let o = 0; o < oldUsed.length; o++) {
      if (oldUsed[o] === 0) continue;
      const from = o * ID_WORDS;
      let s = oldWords[from]! & mask;
      while (this.#used[s] === 1) s = (s + 1) & mask;
      for (let w = 0; w < ID_WORDS; w++) this.#words[s * ID_WORDS + w] = oldWords[from + w]!;
      this.#used[s] = 1;
    }
  }
}

function nextPow2(n: number): number {
  let p = 1;
  while (p < n) p *= 2;
  return p;
}
