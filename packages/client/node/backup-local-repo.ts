/**
 * `LocalRepository`: a backup repository in a local directory (../src/backup/repository.ts).
 *
 *   <root>/
 *     keys/<name>              key files
 *     index/<name>             index files
 *     snapshots/<name>         snapshot files
 *     packs/<name[0..2]>/<name> packs, fanned out over 256 directories
 *     tmp/                     objects being written
 *
 * `<name>` is SHA-256 of the file's bytes in lowercase hex. A put writes to tmp/, fsyncs, renames
 * into place and fsyncs the directory, so an object is either whole under its name or absent, and
 * survives a crash once put returns. A put of an object already there reads it back and writes
 * only if it does not hash to its name (a damaged copy is replaced).
 *
 * A pack is written as it fills (`spoolPack`: appended to a file in tmp/ and hashed as it goes),
 * then fsynced and renamed into place the same way, so a backup holds no pack in memory. A killed
 * run leaves its open packs in tmp/; a later backup removes what has gone untouched for
 * BACKUP_ENGINE_LIMITS.localTmpStaleMs.
 */
import { createHash, randomBytes, type Hash } from 'node:crypto';
import {
  closeSync,
  fsync as fsyncCallback,
  mkdirSync,
  openSync,
  readdirSync,
  readSync,
  rmSync,
  statSync,
  writeSync,
} from 'node:fs';
import * as fs from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { BackupError } from '../src/backup/errors.ts';
import { BACKUP_ENGINE_LIMITS } from '../src/backup/limits.ts';
import {
  objectNameArg,
  type ByteRange,
  type ObjectKind,
  type ObjectName,
  type PackSpool,
  type PutOptions,
  type Repository,
} from '../src/backup/repository.ts';

function sha256Hex(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

function isCode(error: unknown, ...codes: string[]): boolean {
  return error instanceof Error && codes.includes((error as NodeJS.ErrnoException).code ?? '');
}

const NAME = /^[0-9a-f]{64}$/;

function missing(kind: ObjectKind, name: ObjectName): BackupError {
  return new BackupError('BACKUP_DATA_CORRUPT', `${kind}/${name} is missing`, { object: `${kind}/${name}` });
}

const fsync = promisify(fsyncCallback);

/** fsyncs a directory, so that a rename into it survives a crash. */
async function syncDir(dir: string): Promise<void> {
  const d = await fs.open(dir, 'r');
  try {
    await d.sync();
  } finally {
    await d.close();
  }
}

export class LocalRepository implements Repository {
  readonly root: string;
  /** Whether this instance has made tmp/ and cleared it of stale leftovers (spoolPack). */
  #tmpReady = false;

  constructor(root: string) {
    this.root = root;
  }

  /** A pack written to tmp/ as it fills (PackSpool). */
  spoolPack(): PackSpool {
    const tmpDir = join(this.root, 'tmp');
    if (!this.#tmpReady) {
      mkdirSync(tmpDir, { recursive: true });
      removeStale(tmpDir, Date.now() - BACKUP_ENGINE_LIMITS.localTmpStaleMs);
      this.#tmpReady = true;
    }
    return new LocalPackSpool(join(tmpDir, `pack.${randomBytes(8).toString('hex')}`), (name) =>
      this.#dir('packs', name),
    );
  }

  #dir(kind: ObjectKind, name?: ObjectName): string {
    return kind === 'packs' && name !== undefined
      ? join(this.root, kind, name.slice(0, 2))
      : join(this.root, kind);
  }

  #path(kind: ObjectKind, name: ObjectName): string {
    return join(this.#dir(kind, objectNameArg(name)), name);
  }

  async put(kind: ObjectKind, name: ObjectName, bytes: Uint8Array, options?: PutOptions): Promise<void> {
    const path = this.#path(kind, name);
    // A caller that hashed these bytes for their name (a pack: 16 MiB) is not checked twice.
    if (options?.hashed !== true && sha256Hex(bytes) !== name) {
      throw new BackupError('BACKUP_OBJECT_NAME_INVALID', `${kind}/${name}: bytes do not hash to the name`);
    }
    try {
      if (sha256Hex(await fs.readFile(path)) === name) return;
    } catch (error) {
      if (!isCode(error, 'ENOENT')) throw error;
    }
    const tmpDir = join(this.root, 'tmp');
    await fs.mkdir(tmpDir, { recursive: true });
    const dir = this.#dir(kind, name);
    await fs.mkdir(dir, { recursive: true });
    const tmp = join(tmpDir, `${name}.${randomBytes(8).toString('hex')}`);
    const handle = await fs.open(tmp, 'wx', 0o600);
    try {
      await handle.writeFile(bytes);
      await handle.sync();
    } catch (error) {
      await handle.close();
      await fs.rm(tmp, { force: true });
      throw error;
    }
    await handle.close();
    await fs.rename(tmp, path);
    await syncDir(dir);
  }

  async get(kind: ObjectKind, name: ObjectName, range?: ByteRange): Promise<Uint8Array> {
    if (range !== undefined) return this.#read(kind, name, range, undefined);
    try {
      const b = await fs.readFile(this.#path(kind, name));
      return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
    } catch (error) {
      if (isCode(error, 'ENOENT')) throw missing(kind, name);
      throw error;
    }
  }

  /** Reads into `target` when the object (or range) fits in it (repository.ts). */
  getInto(kind: ObjectKind, name: ObjectName, target: Uint8Array, range?: ByteRange): Promise<Uint8Array> {
    return this.#read(kind, name, range, target);
  }

  async #read(
    kind: ObjectKind,
    name: ObjectName,
    range: ByteRange | undefined,
    target: Uint8Array | undefined,
  ): Promise<Uint8Array> {
    const path = this.#path(kind, name);
    if (range !== undefined) {
      const { offset, length } = range;
      if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0) {
        throw new BackupError('BACKUP_DATA_CORRUPT', `${kind}/${name}: invalid range`, {
          object: `${kind}/${name}`,
        });
      }
    }
    let handle: fs.FileHandle;
    try {
      handle = await fs.open(path, 'r');
    } catch (error) {
      if (isCode(error, 'ENOENT')) throw missing(kind, name);
      throw error;
    }
    try {
      const offset = range?.offset ?? 0;
      const length = range?.length ?? (await handle.stat()).size;
      const out =
        target !== undefined && length <= target.length ? target.subarray(0, length) : new Uint8Array(length);
      let done = 0;
      while (done < length) {
        const { bytesRead } = await handle.read(out, done, length - done, offset + done);
        if (bytesRead === 0) {
          const what = range === undefined ? 'ended while being read' : 'range runs past the end';
          throw new BackupError('BACKUP_DATA_CORRUPT', `${kind}/${name}: ${what}`, {
            object: `${kind}/${name}`,
          });
        }
        done += bytesRead;
      }
      return out;
    } finally {
      await handle.close();
    }
  }

  async list(kind: ObjectKind): Promise<{ name: ObjectName; length: number }[]> {
    const dirs = kind === 'packs' ? await this.#subdirs(join(this.root, kind)) : [join(this.root, kind)];
    const out: { name: ObjectName; length: number }[] = [];
    for (const dir of dirs) {
      let names: string[];
      try {
        names = await fs.readdir(dir);
      } catch (error) {
        if (isCode(error, 'ENOENT', 'ENOTDIR')) continue;
        throw error;
      }
      for (const n of names) {
        if (!NAME.test(n)) continue;
        // Deleted since readdir (a concurrent prune or forget): not listed.
        const st = await fs.stat(join(dir, n)).catch((error: unknown) => {
          if (isCode(error, 'ENOENT')) return undefined;
          throw error;
        });
        if (st?.isFile() === true) out.push({ name: n as ObjectName, length: st.size });
      }
    }
    return out;
  }

  async #subdirs(dir: string): Promise<string[]> {
    try {
      return (await fs.readdir(dir)).filter((d) => /^[0-9a-f]{2}$/.test(d)).map((d) => join(dir, d));
    } catch (error) {
      if (isCode(error, 'ENOENT', 'ENOTDIR')) return [];
      throw error;
    }
  }

  async exists(kind: ObjectKind, name: ObjectName): Promise<boolean> {
    try {
      return (await fs.stat(this.#path(kind, name))).isFile();
    } catch (error) {
      if (isCode(error, 'ENOENT', 'ENOTDIR')) return false;
      throw error;
    }
  }

  async delete(kind: ObjectKind, name: ObjectName): Promise<void> {
    await fs.rm(this.#path(kind, name), { force: true });
  }
}

/** Removes the files of `dir` last modified before `before` (ms since the epoch). */
function removeStale(dir: string, before: number): void {
  for (const n of readdirSync(dir)) {
    const path = join(dir, n);
    try {
      const st = statSync(path);
      if (st.isFile() && st.mtimeMs < before) rmSync(path, { force: true });
    } catch (error) {
      // Renamed or removed since readdir: by the run that wrote it, or another's clean-up.
      if (!isCode(error, 'ENOENT')) throw error;
    }
  }
}

/**
 * A pack appended to a file in tmp/ as it fills and hashed as it goes (LocalRepository.spoolPack).
 * Appends are synchronous writes into the page cache, from the caller's bytes straight to the file;
 * `store` fsyncs, renames the file into packs/ and fsyncs that directory, as `put` does.
 */
class LocalPackSpool implements PackSpool {
  readonly #path: string;
  readonly #dirOf: (name: ObjectName) => string;
  #fd: number | undefined;
  #hash: Hash | undefined = createHash('sha256');
  #name: ObjectName | undefined;
  #length = 0;
  #stored = false;

  constructor(path: string, dirOf: (name: ObjectName) => string) {
    this.#path = path;
    this.#dirOf = dirOf;
    this.#fd = openSync(path, 'wx+', 0o600);
  }

  get length(): number {
    return this.#length;
  }

  #open(): number {
    if (this.#fd === undefined) throw new Error('pack spool used after it was stored or discarded');
    return this.#fd;
  }

  append(bytes: Uint8Array): void {
    const fd = this.#open();
    if (this.#hash === undefined) throw new Error('pack spool appended to after it was sealed');
    let done = 0;
    while (done < bytes.length) done += writeSync(fd, bytes, done, bytes.length - done, this.#length + done);
    this.#hash.update(bytes);
    this.#length += bytes.length;
  }

  read(offset: number, length: number): Uint8Array {
    const fd = this.#open();
    if (offset < 0 || length < 0 || offset + length > this.#length) {
      throw new RangeError(`pack spool read of ${length} bytes at ${offset} runs past its ${this.#length}`);
    }
    const out = new Uint8Array(length);
    let done = 0;
    while (done < length) {
      const n = readSync(fd, out, done, length - done, offset + done);
      if (n === 0) throw new Error('pack spool file ended before what was appended to it');
      done += n;
    }
    return out;
  }

  seal(): Uint8Array {
    if (this.#hash === undefined) throw new Error('pack spool sealed twice');
    const digest = this.#hash.digest();
    this.#hash = undefined;
    this.#name = digest.toString('hex') as ObjectName;
    return new Uint8Array(digest.buffer, digest.byteOffset, digest.byteLength);
  }

  async store(): Promise<void> {
    const fd = this.#open();
    const name = this.#name;
    if (name === undefined) throw new Error('pack spool stored before it was sealed');
    await fsync(fd);
    this.#fd = undefined;
    closeSync(fd);
    const dir = this.#dirOf(name);
    await fs.mkdir(dir, { recursive: true });
    // A pack of this name already there holds these very bytes (or is damaged): replaced either way.
    await fs.rename(this.#path, join(dir, name));
    this.#stored = true;
    await syncDir(dir);
  }

  async discard(): Promise<void> {
    if (this.#fd !== undefined) {
      closeSync(this.#fd);
      this.#fd = undefined;
    }
    if (!this.#stored) await fs.rm(this.#path, { force: true });
  }
}
