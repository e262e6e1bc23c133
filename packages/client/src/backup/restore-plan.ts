/**
 * The first half of a restore: walk the snapshot's trees, make the directories and symlinks, and
 * plan the files by pack (restic's restorer). Every chunk of every file is looked up in the index
 * once, and grouped under the pack that holds it, so that the second half (restore.ts) fetches each
 * pack once, verifies it once, and writes each of its blobs to every file (and place in a file) that
 * needs it. Packs are kept in the order the walk first needs them, so files finish roughly in walk
 * order and few stay open at once.
 *
 * A chunk missing from the index, of the wrong type, or a file whose chunks do not add up to its
 * size, is BACKUP_DATA_CORRUPT naming the file, found here before any file content is written.
 * The plan holds no tree node and no chunk id but the blob's own: ~100 bytes a chunk.
 */
import { toHex } from '@sealpost/core';
import type { BlobId } from '@sealpost/core/backup/blob';
import type { FileNode, TreeNode } from '@sealpost/core/backup/tree';
import type { BlobReader } from './blob-reader.ts';
import { BackupError } from './errors.ts';
import { joinPath, type FsWriter } from './fs.ts';
import type { ObjectName } from './repository.ts';
import type { Session } from './session.ts';
import { nodeName, readTree } from './snapshots.ts';

export const PARTIAL_SUFFIX = '.sealpost-partial';

/** One file to restore: written to `partial`, renamed to `dest` once every chunk is in. */
export interface FileJob {
  /** Its number in the restore, from 0 (pack-restorer.ts RestoreFileState). */
  readonly number: number;
  /** Its path in the snapshot (named by errors). */
  readonly path: string;
  readonly dest: string;
  readonly partial: string;
  readonly size: number;
  readonly mode: number;
  readonly mtimeNs: bigint;
  /** Chunk places not yet written. */
  remaining: number;
  /** End of the last byte written so far (a trailing hole needs the file sized). */
  end: number;
  /** Whether this run created the partial file (and must remove it on failure). */
  created: boolean;
  /** Open while the file is being written; restore.ts bounds how many are. */
  writer: FsWriter | undefined;
  /** Operations on this file run one after another (open, writes, close, rename). */
  queue: Promise<void>;
}

/** One place a blob's plaintext goes. */
export interface BlobTarget {
  readonly file: FileJob;
  readonly position: number;
}

export interface BlobPlan {
  readonly id: BlobId;
  readonly offset: number;
  readonly length: number;
  readonly rawLength: number;
  readonly targets: BlobTarget[];
}

export interface PackPlan {
  readonly name: ObjectName;
  /** The pack's needed blobs by offset (unique within a pack). */
  readonly blobs: Map<number, BlobPlan>;
}

export interface DirJob {
  readonly dest: string;
  readonly mode: number;
  readonly mtimeNs: bigint;
}

export interface RestorePlan {
  /** Packs in the order the walk first needed them. */
  readonly packs: Map<string, PackPlan>;
  /** Files with no content (created empty). */
  readonly empty: FileJob[];
  /** Directories, children before parents (their modes and times are set last, in this order). */
  readonly dirs: DirJob[];
  files: number;
  symlinks: number;
}

const textDecoder = new TextDecoder();

export class Planner {
  readonly #session: Session;
  readonly #reader: BlobReader;
  readonly plan: RestorePlan = { packs: new Map(), empty: [], dirs: [], files: 0, symlinks: 0 };

  constructor(session: Session, reader: BlobReader) {
    this.#session = session;
    this.#reader = reader;
  }

  /** Plans the children of tree `id` into directory `dest`; `path` is the tree's path in the snapshot. */
  async contents(id: BlobId, dest: string, path: string): Promise<void> {
    await this.#session.deps.fs.mkdir(dest);
    for (const node of await readTree(this.#reader, id, path === '' ? '/' : path)) {
      await this.node(node, joinPath(dest, nodeName(node)), joinPath(path, nodeName(node)));
    }
  }

  async node(node: TreeNode, dest: string, path: string): Promise<void> {
    const fs = this.#session.deps.fs;
    if (node.kind === 'file') {
      this.file(node, dest, path);
      this.plan.files++;
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

  file(node: FileNode, dest: string, path: string): void {
    const job: FileJob = {
      number: this.plan.files,
      path,
      dest,
      partial: dest + PARTIAL_SUFFIX,
      size: node.size,
      mode: node.mode,
      mtimeNs: node.mtimeNs,
      remaining: node.content.length,
      end: 0,
      created: false,
      writer: undefined,
      queue: Promise.resolve(),
    };
    let position = 0;
    for (const id of node.content) {
      const at = this.#reader.index.find(id);
      if (at === undefined || at.type !== 'data') {
        throw new BackupError(
          'BACKUP_DATA_CORRUPT',
          `data blob ${toHex(id)} is not in the index (file ${path})`,
          {
            blob: toHex(id),
            path,
          },
        );
      }
      const packHex = toHex(at.packId);
      let pack = this.plan.packs.get(packHex);
      if (pack === undefined) {
        pack = { name: packHex as ObjectName, blobs: new Map() };
        this.plan.packs.set(packHex, pack);
      }
      let blob = pack.blobs.get(at.offset);
      if (blob === undefined) {
        blob = { id, offset: at.offset, length: at.length, rawLength: at.rawLength, targets: [] };
        pack.blobs.set(at.offset, blob);
      }
      blob.targets.push({ file: job, position });
      position += at.rawLength;
    }
    if (position !== node.size) {
      throw new BackupError(
        'BACKUP_DATA_CORRUPT',
        `file ${path}: chunks hold ${position} bytes, the tree says ${node.size}`,
        { path },
      );
    }
    if (job.remaining === 0) this.plan.empty.push(job);
  }
}
