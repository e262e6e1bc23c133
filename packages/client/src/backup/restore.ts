/**
 * `restore`: writes a snapshot, or one path of it, into a directory.
 *
 * Every blob is verified before a byte of it is written (blob-reader.ts: pack hash, tag, length,
 * keyed id). A file is written to "<name>.sealpost-partial" and renamed into place only once all of
 * it has been verified and written, so a corrupt repository never leaves a wrong file under the
 * right name: the restore stops with BACKUP_DATA_CORRUPT naming the file and the pack, and the
 * partial file is removed. Aligned 64 KiB blocks of zeros are skipped (a hole) and the file is sized at
 * the end, so sparse files stay sparse. Modes and times are set after the content (a directory's
 * after its children, so writing into it does not change its time and a read-only one can be filled).
 *
 * Restoring into a directory that holds older files: files are replaced by rename, a symlink or
 * file where a directory goes is removed first, and partial files are created exclusively, so
 * nothing is ever written through a symlink found in the target.
 */
import type { BlobId } from '@sealpost/core/backup/blob';
import type { DirNode, FileNode, TreeNode } from '@sealpost/core/backup/tree';
import { BlobReader } from './blob-reader.ts';
import { BackupError } from './errors.ts';
import { joinPath, type FsWriter } from './fs.ts';
import { BACKUP_ENGINE_LIMITS } from './limits.ts';
import type { Session } from './session.ts';
import { findSnapshot, lookupPath, nodeName, readTree } from './snapshots.ts';

export const PARTIAL_SUFFIX = '.sealpost-partial';

export interface RestoreOptions {
  /** A path inside the snapshot ("dir/file"); the whole snapshot when absent. */
  readonly path?: string;
  /** Called after each chunk written, with the files done and the bytes written so far. */
  readonly onProgress?: (progress: { readonly files: number; readonly bytesWritten: number }) => void;
}

export interface RestoreResult {
  files: number;
  dirs: number;
  symlinks: number;
  bytesWritten: number;
}

const textDecoder = new TextDecoder();

function allZero(bytes: Uint8Array): boolean {
  if (bytes.byteOffset % 4 === 0) {
    const words = new Uint32Array(bytes.buffer, bytes.byteOffset, bytes.length >>> 2);
    for (let i = 0; i < words.length; i++) if (words[i] !== 0) return false;
    for (let i = words.length * 4; i < bytes.length; i++) if (bytes[i] !== 0) return false;
    return true;
  }
  for (let i = 0; i < bytes.length; i++) if (bytes[i] !== 0) return false;
  return true;
}

/** Writes `data` at `position`, leaving `holeBlockBytes` blocks of zeros unwritten (sparse files). */
async function writeSparse(out: FsWriter, data: Uint8Array, position: number): Promise<void> {
  let runStart = -1;
  for (let at = 0; at < data.length; at += BACKUP_ENGINE_LIMITS.holeBlockBytes) {
    const block = data.subarray(at, Math.min(data.length, at + BACKUP_ENGINE_LIMITS.holeBlockBytes));
    const zero = allZero(block);
    if (!zero && runStart < 0) runStart = at;
    if (zero && runStart >= 0) {
      await out.write(data.subarray(runStart, at), position + runStart);
      runStart = -1;
    }
  }
  if (runStart >= 0) await out.write(data.subarray(runStart), position + runStart);
}

class RestoreRun {
  readonly session: Session;
  readonly reader: BlobReader;
  readonly result: RestoreResult = { files: 0, dirs: 0, symlinks: 0, bytesWritten: 0 };
  readonly onProgress: RestoreOptions['onProgress'];

  constructor(session: Session, reader: BlobReader, onProgress: RestoreOptions['onProgress']) {
    this.session = session;
    this.reader = reader;
    this.onProgress = onProgress;
  }

  /** Restores the children of tree `id` into directory `dest`; `path` is the tree's path in the snapshot. */
  async contents(id: BlobId, dest: string, path: string): Promise<void> {
    await this.session.deps.fs.mkdir(dest);
    for (const node of await readTree(this.reader, id, path === '' ? '/' : path)) {
      await this.node(node, joinPath(dest, nodeName(node)), joinPath(path, nodeName(node)));
    }
  }

  async node(node: TreeNode, dest: string, path: string): Promise<void> {
    const fs = this.session.deps.fs;
    if (node.kind === 'file') {
      await this.file(node, dest, path);
      this.result.files++;
    } else if (node.kind === 'dir') {
      await this.dir(node, dest, path);
      this.result.dirs++;
    } else {
      await fs.remove(dest);
      await fs.symlink(textDecoder.decode(node.target), dest);
      await fs.setMtime(dest, node.mtimeNs, true);
      this.result.symlinks++;
    }
  }

  async dir(node: DirNode, dest: string, path: string): Promise<void> {
    await this.replaceNonDirectory(dest);
    await this.contents(node.subtree, dest, path);
    await this.session.deps.fs.chmod(dest, node.mode);
    await this.session.deps.fs.setMtime(dest, node.mtimeNs, false);
  }

  /**
   * Removes whatever non-directory is at `dest` (a file, or a symlink left by an earlier restore)
   * so that a directory is created there and nothing is written through a link to elsewhere.
   */
  async replaceNonDirectory(dest: string): Promise<void> {
    const fs = this.session.deps.fs;
    let kind;
    try {
      kind = (await fs.lstat(dest)).kind;
    } catch {
      return; // Absent (or unreadable: mkdir reports it).
    }
    if (kind !== 'dir') await fs.remove(dest);
  }

  async file(node: FileNode, dest: string, path: string): Promise<void> {
    const fs = this.session.deps.fs;
    const partial = dest + PARTIAL_SUFFIX;
    await fs.remove(partial);
    const out = await fs.openWrite(partial);
    let done = false;
    try {
      let at = 0;
      for (const id of node.content) {
        const plain = await this.reader.read(id, 'data', path);
        await writeSparse(out, plain, at);
        at += plain.length;
        this.onProgress?.({ files: this.result.files, bytesWritten: this.result.bytesWritten + at });
      }
      if (at !== node.size) {
        throw new BackupError(
          'BACKUP_DATA_CORRUPT',
          `file ${path}: chunks hold ${at} bytes, the tree says ${node.size}`,
          {
            path,
          },
        );
      }
      await out.truncate(at);
      await out.close();
      done = true;
      this.result.bytesWritten += at;
    } finally {
      if (!done) {
        await out.close().catch(() => undefined);
        await fs.remove(partial);
      }
    }
    await fs.chmod(partial, node.mode);
    await fs.setMtime(partial, node.mtimeNs, false);
    await fs.rename(partial, dest);
  }
}

/**
 * Restores snapshot `snapshotId` (an id, a unique prefix, or "latest") into `target`. With
 * `options.path`, only that path: a directory's contents go into `target/<its name>`, a file to
 * `target/<its name>`. Errors: BACKUP_SNAPSHOT_NOT_FOUND, BACKUP_PATH_NOT_FOUND, BACKUP_DATA_CORRUPT.
 */
export async function restore(
  session: Session,
  snapshotId: string,
  target: string,
  options: RestoreOptions = {},
): Promise<RestoreResult> {
  const reader = await BlobReader.load(session);
  const { snapshot } = await findSnapshot(session, snapshotId);
  const run = new RestoreRun(session, reader, options.onProgress);
  const node = await lookupPath(reader, snapshot.tree, options.path ?? '');
  if (node === undefined) {
    await run.contents(snapshot.tree, target, '');
  } else {
    await session.deps.fs.mkdir(target);
    const path = (options.path ?? '')
      .split('/')
      .filter((p) => p !== '' && p !== '.')
      .join('/');
    await run.node(node, joinPath(target, nodeName(node)), path);
  }
  return run.result;
}
