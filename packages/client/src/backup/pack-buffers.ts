/**
 * Buffers for packs being filled and stored, reused from one pack to the next (pack-sink.ts).
 *
 * Why: a pack assembled in a new 16 MiB array lives through its upload (an fsync, or an HTTP
 * request), so it survives the frequent minor GCs, is promoted, and waits for a major GC: a backup
 * held several dead packs at once. A few long-lived buffers are allocated once instead, and each
 * sealed blob is copied into one as soon as it is added (it then dies young).
 *
 * A buffer grows when a pack needs more (a large last blob, a large tree blob), never past
 * LIMITS.backupPackMaxBytes; the pages of its unused end are never touched.
 */
import { LIMITS, toHex } from '@sealpost/core';
import type { ObjectName, PackSpool, Repository } from './repository.ts';

export class PackBuffer {
  #bytes: Uint8Array;
  #length = 0;

  constructor(capacity: number) {
    this.#bytes = new Uint8Array(capacity);
  }

  /** Bytes written so far. */
  get length(): number {
    return this.#length;
  }

  /** Appends `bytes`, growing the buffer when needed. */
  append(bytes: Uint8Array): void {
    const needed = this.#length + bytes.length;
    if (needed > this.#bytes.length) {
      const grown = new Uint8Array(
        Math.min(Math.max(needed, Math.ceil(this.#bytes.length * 1.5)), LIMITS.backupPackMaxBytes),
      );
      grown.set(this.#bytes.subarray(0, this.#length));
      this.#bytes = grown;
    }
    this.#bytes.set(bytes, this.#length);
    this.#length = needed;
  }

  /** The bytes written: a view, valid until the buffer is released. */
  view(): Uint8Array {
    return this.#bytes.subarray(0, this.#length);
  }

  reset(): void {
    this.#length = 0;
  }
}

/** A free list of PackBuffers; it holds at most as many as were in use at once. */
export class PackBufferPool {
  readonly #free: PackBuffer[] = [];
  readonly #capacity: number;

  /** `capacity`: the size of a new buffer (a typical pack's). */
  constructor(capacity: number) {
    this.#capacity = capacity;
  }

  acquire(): PackBuffer {
    return this.#free.pop() ?? new PackBuffer(this.#capacity);
  }

  /** Gives a buffer back once nothing reads its bytes any more. */
  release(buffer: PackBuffer): void {
    buffer.reset();
    this.#free.push(buffer);
  }
}

/**
 * A pack assembled in a pooled buffer and stored with one `put`: the PackSpool of a repository
 * that has no `spoolPack` of its own (the server's blob store).
 */
export class BufferedPackSpool implements PackSpool {
  readonly #pool: PackBufferPool;
  readonly #repo: Repository;
  readonly #sha256: (bytes: Uint8Array) => Uint8Array;
  #buffer: PackBuffer | undefined;
  #name: ObjectName | undefined;

  constructor(pool: PackBufferPool, repo: Repository, sha256: (bytes: Uint8Array) => Uint8Array) {
    this.#pool = pool;
    this.#repo = repo;
    this.#sha256 = sha256;
    this.#buffer = pool.acquire();
  }

  #open(): PackBuffer {
    if (this.#buffer === undefined) throw new Error('pack spool used after it was stored or discarded');
    return this.#buffer;
  }

  get length(): number {
    return this.#open().length;
  }

  append(bytes: Uint8Array): void {
    if (this.#name !== undefined) throw new Error('pack spool appended to after it was sealed');
    this.#open().append(bytes);
  }

  read(offset: number, length: number): Uint8Array {
    return this.#open()
      .view()
      .slice(offset, offset + length);
  }

  seal(): Uint8Array {
    const digest = this.#sha256(this.#open().view());
    this.#name = toHex(digest) as ObjectName;
    return digest;
  }

  async store(): Promise<void> {
    const buffer = this.#open();
    if (this.#name === undefined) throw new Error('pack spool stored before it was sealed');
    try {
      // The name is SHA-256 of these bytes (seal): the repository need not hash them again.
      await this.#repo.put('packs', this.#name, buffer.view(), { hashed: true });
    } finally {
      this.#release();
    }
  }

  discard(): Promise<void> {
    this.#release();
    return Promise.resolve();
  }

  #release(): void {
    if (this.#buffer === undefined) return;
    this.#pool.release(this.#buffer);
    this.#buffer = undefined;
  }
}
