/**
 * `backup`: one snapshot of a directory tree.
 *
 * Walks the tree depth first. A regular file is read in `readBufferBytes` pieces and fed to the
 * chunker (chunker.ts); the bytes of the current chunk are kept in one buffer of the largest chunk
 * size, reused for every chunk of every file, so memory does not grow with file size: one read
 * buffer, one chunk buffer, one open pack per blob type (pack-sink.ts) and the index. Each chunk is
 * a data blob, stored unless its id is known already; a directory becomes a tree blob (tree.ts)
 * once its children are done. Symlinks keep their target, empty directories their empty tree,
 * everything its permission bits and modification time. Other kinds (sockets, devices, FIFOs) are
 * skipped and reported; an entry the file system fails to read is left out and reported with its
 * error, and the run goes on (only an unreadable source directory stops it).
 *
 * Order of writes: packs, then one index file for the run's packs, then the snapshot. A run that
 * stops early leaves packs that no index names; they are unused, never wrong (`prune` will remove
 * them).
 */
import { fromHex, LIMITS } from '@sealpost/core';
import type { BlobId } from '@sealpost/core/backup/blob';
import { Chunker } from '@sealpost/core/backup/chunker';
import { encodeIndexFile, type IndexedPack } from '@sealpost/core/backup/index-file';
import { PACK_ENTRY_BYTES } from '@sealpost/core/backup/pack';
import { encodeSnapshot } from '@sealpost/core/backup/snapshot';
import { encodeTree, MODE_MAX, sortTreeNodes, type TreeNode } from '@sealpost/core/backup/tree';
import { BlobReader } from './blob-reader.ts';
import { joinPath } from './fs.ts';
import { BACKUP_ENGINE_LIMITS } from './limits.ts';
import { PackSink, type SinkStats } from './pack-sink.ts';
import { nameOf, type Session } from './session.ts';
import { listSnapshots } from './snapshots.ts';

export interface BackupOptions {
  readonly hostname: string;
  readonly tags?: readonly string[];
}

export interface BackupResult extends SinkStats {
  readonly snapshotId: string;
  readonly files: number;
  readonly dirs: number;
  readonly symlinks: number;
  /** Bytes of file content read. */
  readonly bytesRead: number;
  /** Paths of entries that are neither files, directories nor symlinks. */
  readonly skipped: readonly string[];
  /** Entries that could not be read (left out of the snapshot), with the file system's message. */
  readonly errors: readonly { path: string; message: string }[];
}

const utf8 = new TextEncoder();

/** A source entry that could not be read (the file system's error, with the path). */
class SourceError extends Error {
  readonly path: string;
  constructor(path: string, cause: unknown) {
    super(cause instanceof Error ? cause.message : String(cause), { cause });
    this.path = path;
  }
}

/** Runs one file-system call on the source, turning its failure into a SourceError. */
async function fromSource<T>(path: string, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (error) {
    throw error instanceof SourceError ? error : new SourceError(path, error);
  }
}

class Run {
  readonly session: Session;
  readonly sink: PackSink;
  readonly readBuffer = new Uint8Array(BACKUP_ENGINE_LIMITS.readBufferBytes);
  readonly chunkBuffer = new Uint8Array(LIMITS.backupChunkMaxBytes);
  files = 0;
  dirs = 0;
  symlinks = 0;
  bytesRead = 0;
  readonly skipped: string[] = [];
  readonly errors: { path: string; message: string }[] = [];

  constructor(session: Session, sink: PackSink) {
    this.session = session;
    this.sink = sink;
  }

  /** Stores the tree of directory `path` and returns its id. */
  async dir(path: string): Promise<BlobId> {
    const fs = this.session.deps.fs;
    const nodes: TreeNode[] = [];
    for (const name of await fromSource(path, () => fs.readdir(path))) {
      const child = joinPath(path, name);
      try {
        const node = await this.entry(child, name);
        if (node !== undefined) nodes.push(node);
      } catch (error) {
        // A source entry that cannot be read is reported and left out; the run goes on.
        if (!(error instanceof SourceError)) throw error;
        this.errors.push({ path: error.path, message: error.message });
      }
    }
    return this.sink.add('tree', encodeTree(sortTreeNodes(nodes)));
  }

  /** The tree node of one entry, or undefined for a kind that is skipped. */
  async entry(path: string, name: string): Promise<TreeNode | undefined> {
    const fs = this.session.deps.fs;
    const stat = await fromSource(path, () => fs.lstat(path));
    const base = { name: utf8.encode(name), mode: stat.mode & MODE_MAX, mtimeNs: stat.mtimeNs };
    if (stat.kind === 'file') {
      const { size, content } = await this.file(path);
      this.files++;
      return { ...base, kind: 'file', size, content };
    }
    if (stat.kind === 'dir') {
      const subtree = await this.dir(path);
      this.dirs++;
      return { ...base, kind: 'dir', subtree };
    }
    if (stat.kind === 'symlink') {
      const target = utf8.encode(await fromSource(path, () => fs.readlink(path)));
      this.symlinks++;
      return { ...base, kind: 'symlink', target };
    }
    this.skipped.push(path);
    return undefined;
  }

  /** Chunks and stores one file; returns its size and chunk ids. */
  async file(path: string): Promise<{ size: number; content: BlobId[] }> {
    const chunker = new Chunker(this.session.gear);
    const chunk = this.chunkBuffer;
    const content: BlobId[] = [];
    let fill = 0;
    let size = 0;
    const handle = await fromSource(path, () => this.session.deps.fs.openRead(path));
    try {
      for (;;) {
        const n = await fromSource(path, () => handle.read(this.readBuffer, size));
        if (n === 0) break;
        const data = this.readBuffer.subarray(0, n);
        let used = 0;
        for (const length of chunker.push(data)) {
          const take = length - fill;
          chunk.set(data.subarray(used, used + take), fill);
          used += take;
          content.push(await this.sink.add('data', chunk.subarray(0, length)));
          fill = 0;
        }
        chunk.set(data.subarray(used), fill);
        fill += n - used;
        size += n;
      }
    } finally {
      await handle.close().catch(() => undefined);
    }
    const last = chunker.finish();
    if (last > 0) content.push(await this.sink.add('data', chunk.subarray(0, last)));
    chunk.fill(0, 0, last);
    this.bytesRead += size;
    return { size, content };
  }
}

/** Splits the run's packs into index files small enough for LIMITS. */
function indexBatches(packs: readonly IndexedPack[]): IndexedPack[][] {
  const batches: IndexedPack[][] = [];
  let batch: IndexedPack[] = [];
  let bytes = 0;
  for (const p of packs) {
    const cost = 32 + 4 + p.entries.length * PACK_ENTRY_BYTES;
    if (
      batch.length > 0 &&
      (bytes + cost > BACKUP_ENGINE_LIMITS.indexContentBudgetBytes ||
        batch.length >= LIMITS.backupIndexPacksPerFileMax)
    ) {
      batches.push(batch);
      batch = [];
      bytes = 0;
    }
    batch.push(p);
    bytes += cost;
  }
  if (batch.length > 0) batches.push(batch);
  return batches;
}

/** Backs up directory `source` into a new snapshot. */
export async function backup(
  session: Session,
  source: string,
  options: BackupOptions,
): Promise<BackupResult> {
  const { repo, deps, keys } = session;
  const reader = await BlobReader.load(session);
  const sink = new PackSink(session, reader.index);
  const run = new Run(session, sink);
  let tree: BlobId;
  try {
    tree = await run.dir(source);
  } catch (error) {
    // The source directory itself cannot be read: nothing to back up.
    throw error instanceof SourceError ? error.cause : error;
  }
  const packs = await sink.finish();
  for (const batch of indexBatches(packs)) {
    const file = encodeIndexFile(deps.crypto, keys, batch);
    await repo.put('index', nameOf(deps, file), file);
  }
  const hostname = options.hostname;
  const paths = [source];
  const previous = (await listSnapshots(session)).filter(
    (s) => s.snapshot.hostname === hostname && s.snapshot.paths.join('\0') === paths.join('\0'),
  );
  const parent = previous.at(-1);
  const snapshot = encodeSnapshot(deps.crypto, keys, {
    timeMs: deps.now(),
    tree,
    hostname,
    paths,
    tags: options.tags ?? [],
    ...(parent === undefined ? {} : { parent: fromHex(parent.id, 64, 'snapshot id') }),
  });
  const snapshotId = nameOf(deps, snapshot);
  await repo.put('snapshots', snapshotId, snapshot);
  return {
    ...sink.stats,
    snapshotId,
    files: run.files,
    dirs: run.dirs,
    symlinks: run.symlinks,
    bytesRead: run.bytesRead,
    skipped: run.skipped,
    errors: run.errors,
  };
}
