/**
 * Buffers for packs being read (check.ts: whole packs; restore.ts: ranges of them), reused from
 * pack to pack: the reading side of pack-buffers.ts.
 *
 * Why: a pack fetched into a new 16 MiB array lives while its blobs are opened and written (restore)
 * or verified (check), so it survives the frequent minor GCs, is promoted, and waits for a major GC:
 * a restore of 1.9 GB held 133 MiB of array buffers. A repository that reads into the caller's
 * memory (`Repository.getInto`) fills one of a few long-lived buffers instead; one that cannot
 * (`get` only: the server target) returns its own array, used as is.
 *
 * Ownership: `fetch` lends a buffer until its loan is released, and the pool hands it to the next
 * fetch only then, so whoever reads a pack (a blob being opened, a worker verifying it) must be done
 * before the release. The buffers are in shared memory where there is any (SharedArrayBuffer), so a
 * worker thread reads a pack in place, neither copied nor transferred (backup-workers.ts). A buffer
 * taken anyway (transferred: detached) is dropped and replaced.
 *
 * A buffer starts at a full data pack's usual size and grows to fit a longer pack (at most
 * LIMITS.backupPackMaxBytes); that one pack is read into the repository's own array. The pages of
 * a buffer's unused end are never touched.
 */
import { LIMITS } from '@sealpost/core';
import type { BackupDeps } from './deps.ts';
import { BackupError } from './errors.ts';
import type { ByteRange, ObjectName, Repository } from './repository.ts';
import { nameOf } from './session.ts';

/** A full pack's usual size: the target, its last blob (a chunk), header and padding. */
const INITIAL_BYTES = LIMITS.backupPackTargetBytes + LIMITS.backupChunkMaxBytes + 1024 * 1024;
const MiB = 1024 * 1024;

/** A pack's bytes, lent by a PackReadPool until `release`. */
export interface PackLoan {
  /** The whole pack, checked against its name. Not to be read after `release`. */
  readonly bytes: Uint8Array;
  /** Gives the buffer back for the next pack (once; later calls do nothing). */
  release(): void;
}

function allocate(length: number): Uint8Array {
  return new Uint8Array(
    typeof SharedArrayBuffer === 'function' ? new SharedArrayBuffer(length) : new ArrayBuffer(length),
  );
}

export class PackReadPool {
  readonly #repo: Repository;
  readonly #deps: BackupDeps;
  readonly #free: Uint8Array[] = [];

  constructor(repo: Repository, deps: BackupDeps) {
    this.#repo = repo;
    this.#deps = deps;
  }

  /**
   * Fetches pack `name` whole and checks it against its name (BACKUP_DATA_CORRUPT otherwise, or
   * when it is missing). With `checked: false` the caller checks the name itself (check.ts has its
   * verifier do it, on a worker). The pool holds at most as many buffers as were lent at once.
   */
  fetch(name: ObjectName, options: { readonly checked?: boolean } = {}): Promise<PackLoan> {
    return this.#fetch(name, undefined, (bytes) =>
      options.checked === false ? bytes : this.#verified(name, bytes),
    );
  }

  /**
   * Fetches `range` of pack `name` (restore.ts: the blobs it needs, each authenticated as it is
   * opened; a range cannot be checked against the pack's name). BACKUP_DATA_CORRUPT when the pack
   * is missing or shorter.
   */
  fetchRange(name: ObjectName, range: ByteRange): Promise<PackLoan> {
    return this.#fetch(name, range, (bytes) => bytes);
  }

  async #fetch(
    name: ObjectName,
    range: ByteRange | undefined,
    verified: (bytes: Uint8Array) => Uint8Array,
  ): Promise<PackLoan> {
    const repo = this.#repo;
    if (repo.getInto === undefined) {
      const bytes = verified(await repo.get('packs', name, range));
      return { bytes, release: () => undefined };
    }
    const buffer = this.#free.pop() ?? allocate(INITIAL_BYTES);
    let released = false;
    const release = (read?: Uint8Array) => {
      if (released) return;
      released = true;
      this.#giveBack(buffer, read);
    };
    try {
      const read = await repo.getInto('packs', name, buffer, range);
      const bytes = verified(read);
      return { bytes, release: () => release(read) };
    } catch (error) {
      release();
      throw error;
    }
  }

  #verified(name: ObjectName, bytes: Uint8Array): Uint8Array {
    if (nameOf(this.#deps, bytes) !== name) {
      throw new BackupError('BACKUP_DATA_CORRUPT', `packs/${name} does not match its name`, {
        object: `packs/${name}`,
      });
    }
    return bytes;
  }

  #giveBack(buffer: Uint8Array, read: Uint8Array | undefined): void {
    if (buffer.buffer.byteLength === 0) return; // transferred away: a new one next time
    if (read !== undefined && read.buffer !== buffer.buffer) {
      // The pack did not fit: the next buffer fits it.
      const grown = Math.min(Math.ceil(read.length / MiB) * MiB, LIMITS.backupPackMaxBytes);
      this.#free.push(allocate(Math.max(grown, buffer.length)));
      return;
    }
    this.#free.push(buffer);
  }
}
