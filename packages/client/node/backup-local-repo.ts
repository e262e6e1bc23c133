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
 */
import { createHash, randomBytes } from 'node:crypto';
import * as fs from 'node:fs/promises';
import { join } from 'node:path';
import { BackupError } from '../src/backup/errors.ts';
import {
  objectNameArg,
  type ByteRange,
  type ObjectKind,
  type ObjectName,
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

export class LocalRepository implements Repository {
  readonly root: string;

  constructor(root: string) {
    this.root = root;
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
    const d = await fs.open(dir, 'r');
    try {
      await d.sync();
    } finally {
      await d.close();
    }
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
