/**
 * Reading blobs back: loads every index file into a `BlobIndex` (blob-index.ts, 48 bytes a blob),
 * then fetches whole packs (never byte ranges: a range would show the server where a blob starts and
 * ends, docs/backup-format.md §Restoring), checks each pack against its name, and opens blobs
 * (blob.ts: tag, length and keyed id all checked). A few recent packs are kept, since a file's
 * chunks usually sit together.
 */
import { SealpostError, toHex } from '@sealpost/core';
import { openBlob, type BlobType } from '@sealpost/core/backup/blob';
import { BlobIndex } from '@sealpost/core/backup/blob-index';
import { decodeIndexFile, loadIndexFile } from '@sealpost/core/backup/index-file';
import { BackupError } from './errors.ts';
import { BACKUP_ENGINE_LIMITS } from './limits.ts';
import type { ObjectName } from './repository.ts';
import { fetchVerified, type Session } from './session.ts';

/** Wraps a format error into BACKUP_DATA_CORRUPT naming the object; other errors pass through. */
export function corrupt(error: unknown, object: string, extra: Record<string, string> = {}): unknown {
  if (error instanceof BackupError && error.code === 'BACKUP_DATA_CORRUPT') {
    return Object.keys(extra).length === 0
      ? error
      : new BackupError(
          'BACKUP_DATA_CORRUPT',
          `${error.message}${describe(extra)}`,
          { ...error.details, ...extra },
          {
            cause: error,
          },
        );
  }
  if (error instanceof SealpostError) {
    return new BackupError(
      'BACKUP_DATA_CORRUPT',
      `${object}: ${error.message}${describe(extra)}`,
      { object, ...extra },
      {
        cause: error,
      },
    );
  }
  return error;
}

function describe(extra: Record<string, string>): string {
  return extra.path === undefined ? '' : ` (file ${extra.path})`;
}

export class BlobReader {
  readonly session: Session;
  readonly index: BlobIndex;
  /** Index file names that were loaded. */
  readonly indexFiles: readonly ObjectName[];
  readonly #packs = new Map<string, Uint8Array>();

  /** Prefer `load`; this takes an index built elsewhere (check.ts). */
  constructor(session: Session, index: BlobIndex, indexFiles: ObjectName[]) {
    this.session = session;
    this.index = index;
    this.indexFiles = indexFiles;
  }

  /** Loads every index file. BACKUP_DATA_CORRUPT naming the first one that does not open. */
  static async load(session: Session): Promise<BlobReader> {
    const { repo, deps, keys } = session;
    const index = new BlobIndex();
    const names: ObjectName[] = [];
    for (const { name } of await repo.list('index')) {
      try {
        const bytes = await fetchVerified(repo, deps, 'index', name);
        loadIndexFile(index, decodeIndexFile(deps.crypto, keys, bytes));
      } catch (error) {
        throw corrupt(error, `index/${name}`);
      }
      names.push(name);
    }
    index.compact();
    return new BlobReader(session, index, names);
  }

  /** A whole pack, checked against its name. */
  async pack(name: ObjectName): Promise<Uint8Array> {
    const cached = this.#packs.get(name);
    if (cached !== undefined) {
      this.#packs.delete(name);
      this.#packs.set(name, cached);
      return cached;
    }
    const bytes = await fetchVerified(this.session.repo, this.session.deps, 'packs', name);
    this.#packs.set(name, bytes);
    if (this.#packs.size > BACKUP_ENGINE_LIMITS.packCacheCount)
      this.#packs.delete(this.#packs.keys().next().value!);
    return bytes;
  }

  /** The plaintext of blob `id`, verified. BACKUP_DATA_CORRUPT naming the pack (and `path`, if given). */
  async read(id: Uint8Array, type: BlobType, path?: string): Promise<Uint8Array> {
    const extra: Record<string, string> = path === undefined ? {} : { path };
    const at = this.index.find(id);
    if (at === undefined || at.type !== type) {
      throw new BackupError(
        'BACKUP_DATA_CORRUPT',
        `${type} blob ${toHex(id)} is not in the index${describe(extra)}`,
        {
          blob: toHex(id),
          ...extra,
        },
      );
    }
    const packName = toHex(at.packId) as ObjectName;
    const object = `packs/${packName}`;
    try {
      const pack = await this.pack(packName);
      if (at.offset + at.length > pack.length) {
        throw new BackupError('BACKUP_DATA_CORRUPT', `${object}: blob runs past the end of the pack`, {
          object,
        });
      }
      const { deps, keys } = this.session;
      const sealed = pack.subarray(at.offset, at.offset + at.length);
      return openBlob(deps.crypto, keys, type, id, sealed, deps.decompress, at.rawLength);
    } catch (error) {
      throw corrupt(error, object, extra);
    }
  }
}
