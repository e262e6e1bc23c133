/**
 * Reading blobs back: loads every index file into a `BlobIndex` (blob-index.ts, 48 bytes a blob),
 * then fetches whole packs (never byte ranges: a range would show the server where a blob starts and
 * ends, docs/backup-format.md §Restoring), checks each pack against its name, and opens blobs
 * (blob.ts: tag, length and keyed id all checked). A few recent packs are kept, since a file's
 * chunks usually sit together.
 */
import { toHex } from '@sealpost/core';
import { openBlob, type BlobType } from '@sealpost/core/backup/blob';
import { BlobIndex } from '@sealpost/core/backup/blob-index';
import { decodeIndexFile, loadIndexFile, type IndexedPack } from '@sealpost/core/backup/index-file';
import { BackupError } from './errors.ts';
import { BACKUP_ENGINE_LIMITS } from './limits.ts';
import type { ObjectName } from './repository.ts';
import { fetchUnlessGone, fetchVerified, type Session } from './session.ts';
import { corrupt, damageOf, describe, type DamagedObject } from './damaged.ts';

export { corrupt } from './damaged.ts';

export interface IndexFiles {
  readonly files: readonly { readonly name: ObjectName; readonly packs: readonly IndexedPack[] }[];
  /** Packs some index file condemns (hex id -> the earliest time one does, ms). */
  readonly condemned: ReadonlyMap<string, number>;
  /** Packs some index file lists (hex ids), condemned or not. */
  readonly indexedPacks: ReadonlySet<string>;
}

/**
 * Fetches and decodes every index file. An index file removed while they are read (a prune
 * replaced it) starts the reading again, since its replacement may not have been listed; after
 * `indexReadAttempts` such restarts, BACKUP_DATA_CORRUPT. An index file that does not open is
 * BACKUP_DATA_CORRUPT naming it, or, when `damaged` is given, left out and added there: a reader
 * (restore, ls) then misses only the blobs that file alone lists. Writers (backup, prune) never
 * skip one: it may hold a condemnation they must see (docs/backup-engine.md §Concurrent writers).
 */
export async function readIndexFiles(session: Session, damaged?: DamagedObject[]): Promise<IndexFiles> {
  const { repo, deps, keys } = session;
  const files: { name: ObjectName; packs: IndexedPack[] }[] = [];
  for (let attempt = 1; ; attempt++) {
    files.length = 0;
    const skipped: DamagedObject[] = [];
    let gone: ObjectName | undefined;
    for (const { name } of await repo.list('index')) {
      try {
        const bytes = await fetchUnlessGone(repo, deps, 'index', name);
        if (bytes === undefined) {
          gone = name;
          break;
        }
        files.push({ name, packs: decodeIndexFile(deps.crypto, keys, bytes) });
      } catch (error) {
        if (damaged === undefined) throw corrupt(error, `index/${name}`);
        skipped.push(damageOf(error, `index/${name}`));
      }
    }
    if (gone === undefined) {
      damaged?.push(...skipped);
      break;
    }
    if (attempt >= BACKUP_ENGINE_LIMITS.indexReadAttempts) {
      throw new BackupError('BACKUP_DATA_CORRUPT', `index files kept changing while being read`, {
        object: `index/${gone}`,
      });
    }
  }
  const condemned = new Map<string, number>();
  const indexedPacks = new Set<string>();
  for (const { packs } of files) {
    for (const p of packs) {
      const hex = toHex(p.packId);
      indexedPacks.add(hex);
      if (p.condemnedMs !== undefined)
        condemned.set(hex, Math.min(p.condemnedMs, condemned.get(hex) ?? Infinity));
    }
  }
  return { files, condemned, indexedPacks };
}

export class BlobReader {
  readonly session: Session;
  readonly index: BlobIndex;
  /** Index file names that were loaded. */
  readonly indexFiles: readonly ObjectName[];
  /** Packs some index file condemns (hex id -> earliest time condemned, ms). */
  readonly condemned: ReadonlyMap<string, number>;
  /** Packs some index file lists (hex ids), condemned or not. */
  readonly indexedPacks: ReadonlySet<string>;
  readonly #packs = new Map<string, Uint8Array>();
  readonly #avoided = new Set<string>();

  /** Prefer `load`; this takes an index built elsewhere (check.ts). */
  constructor(
    session: Session,
    index: BlobIndex,
    indexFiles: ObjectName[],
    condemned: ReadonlyMap<string, number> = new Map(),
    indexedPacks: ReadonlySet<string> = new Set(),
  ) {
    this.session = session;
    this.index = index;
    this.indexFiles = indexFiles;
    this.condemned = condemned;
    this.indexedPacks = indexedPacks;
  }

  /**
   * Loads every index file. Live packs are added before condemned ones, so a blob stored in both
   * (a prune copied it out of a pack it condemned) is found at its live location.
   * BACKUP_DATA_CORRUPT naming the first index file that does not open, unless `damaged` is given
   * (readIndexFiles).
   */
  static async load(session: Session, damaged?: DamagedObject[]): Promise<BlobReader> {
    return BlobReader.fromIndexFiles(session, await readIndexFiles(session, damaged));
  }

  /** A reader over index files already read (prune.ts reads them once for both uses). */
  static fromIndexFiles(session: Session, read: IndexFiles): BlobReader {
    const { files, condemned, indexedPacks } = read;
    const index = new BlobIndex();
    for (const live of [true, false]) {
      for (const { packs } of files) {
        loadIndexFile(
          index,
          packs.filter((p) => condemned.has(toHex(p.packId)) !== live),
        );
      }
    }
    index.compact();
    return new BlobReader(
      session,
      index,
      files.map((f) => f.name),
      condemned,
      indexedPacks,
    );
  }

  /**
   * The pack (hex id) a new snapshot may refer to for blob `id` without storing it again: where the
   * index has it, unless that pack is condemned (docs/backup-engine.md §Concurrent writers and
   * prune). Undefined when the blob must be stored.
   */
  livePack(id: Uint8Array): string | undefined {
    const at = this.index.find(id);
    if (at === undefined) return undefined;
    const pack = toHex(at.packId);
    return this.condemned.has(pack) || this.#avoided.has(pack) ? undefined : pack;
  }

  /**
   * The ids `livePack` finds now, sorted (BlobIndex.sortedIdWords: 32 bytes each), or undefined
   * when there are none or more than BACKUP_ENGINE_LIMITS.knownIdsSharedMax.
   */
  liveIdWords(): Uint32Array | undefined {
    if (this.index.size === 0 || this.index.size > BACKUP_ENGINE_LIMITS.knownIdsSharedMax) return undefined;
    return this.index.sortedIdWords((packId) => {
      const pack = toHex(packId);
      return !this.condemned.has(pack) && !this.#avoided.has(pack);
    });
  }

  /** Treats `packs` (hex ids) like condemned ones for deduplication: e.g. indexed but not stored. */
  avoid(packs: Iterable<string>): void {
    for (const p of packs) this.#avoided.add(p);
  }

  /** Forgets the packs kept for later reads (a restore holds its own, restore.ts). */
  dropCache(): void {
    this.#packs.clear();
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
