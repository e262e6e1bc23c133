/**
 * The first half of a restore: walk the snapshot's trees, make the directories and symlinks, and
 * plan the files by pack (restic's restorer). Every chunk of every file is looked up in the index
 * once, and grouped under the pack that holds it, so that the second half (restore.ts, through a
 * PackRestorer: pack-restorer.ts) fetches each pack once, verifies it once, and writes each of its
 * blobs to every file (and place in a file) that needs it. Packs are kept in the order the walk
 * first needs them, so files finish roughly in walk order and few stay open at once.
 *
 * A chunk missing from the index, of the wrong type, or a file whose chunks do not add up to its
 * size, is BACKUP_DATA_CORRUPT naming the file, found here before any file content is written.
 *
 * The plan is columns of numbers, not an object per file, blob and place: a file is its name, its
 * directory's number, size, mode, time and chunk count (its paths are joined when a pack needs
 * them); a pack's blobs are offsets, lengths and ids end to end, and its targets three numbers
 * each. Objects per file and chunk (with their path strings and ids) held ~90 MiB of heap over the
 * Debian set's 80,000 files.
 */
import { toHex } from '@sealpost/core';
import { BLOB_ID_BYTES, type BlobId } from '@sealpost/core/backup/blob';
import type { FileNode, TreeNode } from '@sealpost/core/backup/tree';
import type { BlobReader } from './blob-reader.ts';
import { BackupError } from './errors.ts';
import { joinPath } from './fs.ts';
import type { ObjectName } from './repository.ts';
import type { Session } from './session.ts';
import { nodeName, readTree } from './snapshots.ts';

export const PARTIAL_SUFFIX = '.sealpost-partial';

/** A restore's files, by number (from 0). */
export class PlannedFiles {
  readonly names: string[] = [];
  /** Each file's directory (an index into `dirPaths` / `dirDests`). */
  readonly dirs: number[] = [];
  readonly sizes: number[] = [];
  readonly modes: number[] = [];
  readonly mtimesNs: bigint[] = [];
  /** Chunks each file has (its chunk places: a chunk twice in a file counts twice). */
  readonly chunks: number[] = [];
  /** Each directory's path in the snapshot, and where it is restored. */
  readonly dirPaths: string[] = [];
  readonly dirDests: string[] = [];

  get count(): number {
    return this.names.length;
  }

  /** File `n`'s path in the snapshot (named by errors). */
  path(n: number): string {
    return joinPath(this.dirPaths[this.dirs[n]!]!, this.names[n]!);
  }

  /** Where file `n` is restored. */
  dest(n: number): string {
    return joinPath(this.dirDests[this.dirs[n]!]!, this.names[n]!);
  }
}

/** One pack's blobs that the restore needs, and the places each goes. */
export class PackPlan {
  readonly name: ObjectName;
  /** Per blob: offset in the pack, sealed length, plaintext length. */
  readonly offsets: number[] = [];
  readonly lengths: number[] = [];
  readonly rawLengths: number[] = [];
  /** The blobs' ids end to end (BLOB_ID_BYTES each; the array grows). */
  ids = new Uint8Array(16 * BLOB_ID_BYTES);
  /** A blob's number by its offset (unique within a pack). */
  readonly byOffset = new Map<number, number>();
  /** Per place, in the order planned: the blob, the file, the position in the file. */
  readonly targetBlobs: number[] = [];
  readonly targetFiles: number[] = [];
  readonly targetPositions: number[] = [];

  constructor(name: ObjectName) {
    this.name = name;
  }

  get blobCount(): number {
    return this.offsets.length;
  }

  /** The blob at `offset`, added when new. */
  blob(id: BlobId, offset: number, length: number, rawLength: number): number {
    let b = this.byOffset.get(offset);
    if (b !== undefined) return b;
    b = this.offsets.length;
    this.byOffset.set(offset, b);
    this.offsets.push(offset);
    this.lengths.push(length);
    this.rawLengths.push(rawLength);
    if ((b + 1) * BLOB_ID_BYTES > this.ids.length) {
      const grown = new Uint8Array(this.ids.length * 2);
      grown.set(this.ids);
      this.ids = grown;
    }
    this.ids.set(id, b * BLOB_ID_BYTES);
    return b;
  }
}

export interface DirJob {
  readonly dest: string;
  readonly mode: number;
  readonly mtimeNs: bigint;
}

export interface RestorePlan {
  readonly files: PlannedFiles;
  /** Packs in the order the walk first needed them. */
  readonly packs: Map<string, PackPlan>;
  /** Files with no content (created empty), by number. */
  readonly empty: number[];
  /** Directories, children before parents (their modes and times are set last, in this order). */
  readonly dirs: DirJob[];
  symlinks: number;
}

const textDecoder = new TextDecoder();

export class Planner {
  readonly #session: Session;
  readonly #reader: BlobReader;
  readonly plan: RestorePlan = {
    files: new PlannedFiles(),
    packs: new Map(),
    empty: [],
    dirs: [],
    symlinks: 0,
  };

  constructor(session: Session, reader: BlobReader) {
    this.#session = session;
    this.#reader = reader;
  }

  /** Plans the children of tree `id` into directory `dest`; `path` is the tree's path in the snapshot. */
  async contents(id: BlobId, dest: string, path: string): Promise<void> {
    await this.#session.deps.fs.mkdir(dest);
    const files = this.plan.files;
    const dir = files.dirPaths.length;
    files.dirPaths.push(path);
    files.dirDests.push(dest);
    for (const node of await readTree(this.#reader, id, path === '' ? '/' : path)) {
      const name = nodeName(node);
      if (node.kind === 'file') this.#file(node, dir, name);
      else await this.node(node, joinPath(dest, name), joinPath(path, name));
    }
  }

  /** Plans `node` to be restored at `dest`; `path` is its path in the snapshot. */
  async node(node: TreeNode, dest: string, path: string): Promise<void> {
    const fs = this.#session.deps.fs;
    if (node.kind === 'file') {
      const files = this.plan.files;
      const slash = path.lastIndexOf('/');
      const destSlash = dest.lastIndexOf('/');
      files.dirPaths.push(slash < 0 ? '' : path.slice(0, slash));
      files.dirDests.push(destSlash < 0 ? '' : dest.slice(0, destSlash));
      this.#file(node, files.dirPaths.length - 1, dest.slice(destSlash + 1));
    } else if (node.kind === 'dir') {
      await this.#replaceNonDirectory(dest);
      await this.contents(node.subtree, dest, path);
      this.plan.dirs.push({ dest, mode: node.mode, mtimeNs: node.mtimeNs });
    } else {
      await fs.remove(dest);
      await fs.symlink(textDecoder.decode(node.target), dest);
      await fs.setMtime(dest, node.mtimeNs, true);
      this.plan.symlinks++;
    }
  }

  /**
   * Removes whatever non-directory is at `dest` (a file, or a symlink left by an earlier restore)
   * so that a directory is created there and nothing is written through a link to elsewhere.
   */
  async #replaceNonDirectory(dest: string): Promise<void> {
    const fs = this.#session.deps.fs;
    let kind;
    try {
      kind = (await fs.lstat(dest)).kind;
    } catch {
      return; // Absent (or unreadable: mkdir reports it).
    }
    if (kind !== 'dir') await fs.remove(dest);
  }

  #file(node: FileNode, dir: number, name: string): void {
    const files = this.plan.files;
    const n = files.count;
    files.names.push(name);
    files.dirs.push(dir);
    files.sizes.push(node.size);
    files.modes.push(node.mode);
    files.mtimesNs.push(node.mtimeNs);
    files.chunks.push(node.content.length);
    let position = 0;
    for (const id of node.content) {
      const at = this.#reader.index.find(id);
      if (at === undefined || at.type !== 'data') {
        const path = files.path(n);
        throw new BackupError(
          'BACKUP_DATA_CORRUPT',
          `data blob ${toHex(id)} is not in the index (file ${path})`,
          { blob: toHex(id), path },
        );
      }
      const packHex = toHex(at.packId);
      let pack = this.plan.packs.get(packHex);
      if (pack === undefined) {
        pack = new PackPlan(packHex as ObjectName);
        this.plan.packs.set(packHex, pack);
      }
      pack.targetBlobs.push(pack.blob(id, at.offset, at.length, at.rawLength));
      pack.targetFiles.push(n);
      pack.targetPositions.push(position);
      position += at.rawLength;
    }
    if (position !== node.size) {
      const path = files.path(n);
      throw new BackupError(
        'BACKUP_DATA_CORRUPT',
        `file ${path}: chunks hold ${position} bytes, the tree says ${node.size}`,
        { path },
      );
    }
    if (node.content.length === 0) this.plan.empty.push(n);
  }
}
