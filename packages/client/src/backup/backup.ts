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
 * Excludes (exclude.ts, restic's options): an entry a pattern, the size limit or another device
 * rules out is dropped when its directory is listed, before it is opened or walked, and counted in
 * `excluded`; a directory holding a tag file (a cache's CACHEDIR.TAG, `--exclude-if-present`) keeps
 * only that file, and a directory on another device (a mount point) is kept, empty, as restic keeps it.
 *
 * Change detection (restic's approach): the parent snapshot (the newest of the same host and paths)
 * is walked beside the source. A file whose size, nanosecond mtime, inode number and ctime equal its
 * parent entry's, and whose chunks are all in live packs, keeps the parent's chunk list without
 * being opened. Inode and ctime (tree node kind 0x81, backup-format.md §Trees) catch a file rewritten
 * with its old size and mtime put back, since the kernel sets ctime on every change and nobody can
 * set it back; a parent entry without them (an older snapshot, or a file system that has none) is
 * compared on size and mtime only. `force` reads every file.
 *
 * Order of writes: packs, then one index file for the run's packs (and the unlisted packs of an
 * interrupted run it adopted, resume.ts), then the snapshot. A run that stops early leaves packs
 * that no index names; the next run adopts them. Before the snapshot, the run checks that every
 * pack it needs is still there and not about to be pruned (grace.ts); if not, it walks again
 * against the current index (at most `backupAttempts` times).
 */
import { fromHex, LIMITS, toHex, ValidationError } from '@sealpost/core';
import type { BlobId } from '@sealpost/core/backup/blob';
import { Chunker } from '@sealpost/core/backup/chunker';
import type { EncodedIndexedPack } from '@sealpost/core/backup/index-file';
import { encodeSnapshot } from '@sealpost/core/backup/snapshot';
import {
  encodeTree,
  MODE_MAX,
  sortTreeNodes,
  type FileNode,
  type TreeNode,
} from '@sealpost/core/backup/tree';
import { BlobReader } from './blob-reader.ts';
import { BackupError } from './errors.ts';
import { Excludes, type ExcludeRules } from './exclude.ts';
import { joinPath, type FsStat } from './fs.ts';
import { Lanes } from './lanes.ts';
import { packsAtRisk } from './grace.ts';
import { writeIndexFiles } from './index-writer.ts';
import { BACKUP_ENGINE_LIMITS } from './limits.ts';
import { PackSink, type SinkStats } from './pack-sink.ts';
import { FileSourceError, type CompressionEffort } from './sealer.ts';
import { adoptUnlistedPacks } from './resume.ts';
import type { ObjectName } from './repository.ts';
import { nameOf, type Session } from './session.ts';
import { listSnapshots, nodeName, readTree } from './snapshots.ts';

export interface BackupOptions {
  readonly hostname: string;
  readonly tags?: readonly string[];
  /** Read every file, ignoring the parent snapshot's entries. */
  readonly force?: boolean;
  /** Called after each file (and at least every read buffer) with the totals so far. */
  readonly onProgress?: (progress: BackupProgress) => void;
  /** Stops the run (with the signal's reason) between reads; what was stored is adopted next time. */
  readonly signal?: AbortSignal;
  /** Prune's grace period, which must be the one prunes of this repository use (grace.ts). */
  readonly graceMs?: number;
  /**
   * `auto` (the default): `fast` for a first backup of these paths from this host, whose bulk is
   * bound by CPU, `small` once there is a parent snapshot (a run then seals only what changed, so
   * the extra CPU is small and every byte saved is kept for as long as the snapshots are).
   */
  readonly compression?: 'auto' | CompressionEffort;
  /** What to leave out (exclude.ts); checked before anything is stored (ValidationError). */
  readonly exclude?: ExcludeRules;
}

export interface BackupProgress {
  readonly files: number;
  /** Bytes of files done: read, unchanged since the parent snapshot, or another name of a file read. */
  readonly bytesDone: number;
}

export interface BackupResult extends SinkStats {
  readonly snapshotId: string;
  readonly files: number;
  readonly dirs: number;
  readonly symlinks: number;
  /** Bytes of file content read. */
  readonly bytesRead: number;
  /** Files unchanged since the parent snapshot, whose chunk lists were reused without reading. */
  readonly filesUnchanged: number;
  /** Files that are hard links to a file read in this run, which took its chunks without reading. */
  readonly filesLinked: number;
  /** The parent snapshot compared against, if any. */
  readonly parent?: string;
  /** How new blobs were compressed (BackupOptions.compression). */
  readonly compression: CompressionEffort;
  /** Entries left out by BackupOptions.exclude (not counting what is below an excluded directory). */
  readonly excluded: number;
  /** Paths of entries that are neither files, directories nor symlinks. */
  readonly skipped: readonly string[];
  /** Entries that could not be read (left out of the snapshot), with the file system's message. */
  readonly errors: readonly { path: string; message: string }[];
  /** Packs an interrupted run had stored, adopted by this one (resume.ts). */
  readonly packsAdopted: number;
  /** Walks done: more than 1 when a concurrent prune condemned packs this run needed. */
  readonly attempts: number;
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

/** BackupOptions.exclude, compiled, with the source directory's device for `oneFileSystem`. */
interface RunExcludes {
  readonly rules: Excludes;
  readonly device: bigint | undefined;
}

/** What `Excludes.tagsIn` finds in a directory when no tag file is asked for. */
const NO_TAGS: ReadonlySet<string> = new Set();

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
  readonly reader: BlobReader;
  readonly onProgress: ((progress: BackupProgress) => void) | undefined;
  readonly signal: AbortSignal | undefined;
  readonly #exclude: RunExcludes | undefined;
  /** Lanes for reading files, and for lstat calls (lanes.ts). */
  readonly #files: Lanes;
  readonly #stats = new Lanes(BACKUP_ENGINE_LIMITS.backupStatsInFlight);
  /**
   * Files read and chunked on this thread at once (#fileHere), each with a chunk buffer: with a
   * sealer that takes whole files the file lanes are `backupFileJobsInFlight` (64) wide, and the
   * changed files of a run with a parent, read here, took a buffer each (a second backup of the
   * Debian set made 54 buffers of 8 MiB, kept for the rest of the run).
   */
  readonly #reading = new Lanes(BACKUP_ENGINE_LIMITS.backupFilesInFlight);
  /** New files with the sealer now (PackSink.addFile): see `file`. */
  #withSealer = 0;
  /** New files this thread took from the sealer (`file`): at most `backupFilesTakenMax`. */
  #taken = 0;
  /** Chunk buffers of lanes not reading now (one per `#reading` lane at most). */
  readonly #buffers: Uint8Array[] = [];
  files = 0;
  dirs = 0;
  symlinks = 0;
  bytesRead = 0;
  filesUnchanged = 0;
  bytesUnchanged = 0;
  /** Files that are another name of a file read in this run (a hard link), and their bytes. */
  filesLinked = 0;
  bytesLinked = 0;
  /**
   * Files with more than one hard link, by device, inode, ctime, mtime and size: the reading of
   * the first name met, which the others share (their bytes are read and sealed once).
   */
  readonly #linked = new Map<string, Promise<{ size: number; content: BlobId[] }>>();
  excluded = 0;
  readonly skipped: string[] = [];
  readonly errors: { path: string; message: string }[] = [];

  constructor(
    session: Session,
    sink: PackSink,
    reader: BlobReader,
    options: BackupOptions,
    exclude: RunExcludes | undefined,
  ) {
    this.session = session;
    this.#exclude = exclude;
    this.sink = sink;
    this.reader = reader;
    this.onProgress = options.onProgress;
    this.signal = options.signal;
    // A file given to the sealer whole (PackSink.addFile) holds no buffer here while it waits.
    this.#files = new Lanes(
      sink.sealsFiles
        ? BACKUP_ENGINE_LIMITS.backupFileJobsInFlight
        : BACKUP_ENGINE_LIMITS.backupFilesInFlight,
    );
  }

  progress(): void {
    this.onProgress?.({
      files: this.files,
      bytesDone: this.bytesRead + this.bytesUnchanged + this.bytesLinked,
    });
  }

  /**
   * The parent snapshot's entries of this directory by name, or an empty map. A parent tree that
   * does not open only costs the reuse: every file below is then read.
   */
  async parentEntries(tree: BlobId | undefined, path: string): Promise<Map<string, TreeNode>> {
    if (tree === undefined) return new Map();
    try {
      return new Map((await readTree(this.reader, tree, path)).map((n) => [nodeName(n), n]));
    } catch (error) {
      if (error instanceof BackupError && error.code === 'BACKUP_DATA_CORRUPT') return new Map();
      throw error;
    }
  }

  /**
   * Walks directory `path` and returns, once the walk is done, the promise of its tree's id (stored
   * once every entry is done); `parent`: its tree in the parent snapshot.
   *
   * The entries' lstat calls run together (at most `backupStatsInFlight` across the run), and files
   * are read and chunked in lanes (`backupFilesInFlight`, or `backupFileJobsInFlight` when the
   * sealer takes whole files) while the walk goes on: a file is started as soon as a lane is free,
   * and the walk waits only when none is. Subdirectories are walked one after another, but the walk
   * does not wait for a directory's files before going on to the next entry: waiting there emptied
   * the lanes at every one of the Debian set's 5,330 directories, and the workers idled half of a
   * run. The directories whose trees are pending are bounded by the lanes (each waits on a file in a
   * lane, or on a subdirectory that does) times the depth.
   */
  async dir(path: string, parent?: BlobId): Promise<{ readonly tree: Promise<BlobId> }> {
    const before = await this.parentEntries(parent, path);
    const { names, stats } = await this.readdirStats(path);
    const tags = await this.tagsIn(path, names, stats);
    const nodes: (TreeNode | undefined)[] = [];
    const running: Promise<void>[] = [];
    /** Records entry `at`'s node once `work` settles; a source entry that fails is reported and left out. */
    const settle = (at: number, work: Promise<TreeNode | undefined>): void => {
      const done = work.then(
        (node) => {
          nodes[at] = node;
        },
        (error: unknown) => {
          if (!(error instanceof SourceError)) throw error;
          this.errors.push({ path: error.path, message: error.message });
        },
      );
      running.push(done);
    };
    let walking: { error: unknown } | undefined;
    try {
      for (let i = 0; i < names.length; i++) {
        const stat = stats[i]!;
        const name = names[i]!;
        const child = joinPath(path, name);
        const rule = this.#exclude === undefined ? 'keep' : this.ruleFor(child, name, stat, tags);
        if (rule === 'exclude') {
          this.excluded++;
        } else if (stat instanceof SourceError) {
          this.errors.push({ path: stat.path, message: stat.message });
        } else if (stat.kind === 'file') {
          await this.#files.acquire();
          settle(
            i,
            this.entry(child, name, stat, before.get(name)).finally(() => this.#files.release()),
          );
        } else if (rule === 'mount-point') {
          settle(i, this.emptyDir(name, stat));
        } else if (stat.kind === 'dir') {
          this.signal?.throwIfAborted();
          const old = before.get(name);
          let walked: { readonly tree: Promise<BlobId> };
          try {
            walked = await this.dir(child, old?.kind === 'dir' ? old.subtree : undefined);
          } catch (error) {
            if (!(error instanceof SourceError)) throw error;
            this.errors.push({ path: error.path, message: error.message });
            continue;
          }
          const node = walked.tree.then((subtree): TreeNode => {
            this.dirs++;
            return { ...this.base(name, stat), kind: 'dir', subtree };
          });
          settle(i, node);
        } else {
          settle(i, this.entry(child, name, stat, before.get(name)));
        }
      }
    } catch (error) {
      walking = { error };
    }
    // Every started entry finishes (or fails) before the directory does, even when one failed.
    const finished = Promise.allSettled(running);
    if (walking !== undefined) {
      await finished;
      throw walking.error;
    }
    const tree = finished.then((results) => {
      const failed = results.find((r) => r.status === 'rejected');
      if (failed !== undefined) throw failed.reason;
      return this.sink.add('tree', encodeTree(sortTreeNodes(nodes.filter((n) => n !== undefined))));
    });
    // Awaited by the parent directory (or the run); a failure surfaces there.
    tree.catch(() => undefined);
    return { tree };
  }

  /**
   * What the excludes do with entry `name` of a directory (`path`: its path): `exclude` it, keep
   * it, or keep it as an empty `mount-point` (a directory on another device, restic's
   * `--one-file-system`). Patterns apply even to an entry whose lstat failed: it is not reported.
   * `tags`: the tag files its directory holds (Excludes.tagsIn), the only entries then kept.
   */
  ruleFor(
    path: string,
    name: string,
    stat: FsStat | SourceError,
    tags: ReadonlySet<string>,
  ): 'exclude' | 'keep' | 'mount-point' {
    const { rules, device } = this.#exclude!;
    if (rules.excludesBesideTags(name, tags)) return 'exclude';
    if (rules.excludesPath(path)) return 'exclude';
    if (stat instanceof SourceError) return 'keep';
    if (stat.kind === 'file' && rules.excludesSize(stat.size)) return 'exclude';
    if (rules.oneFileSystem && stat.device !== device) return stat.kind === 'dir' ? 'mount-point' : 'exclude';
    return 'keep';
  }

  /**
   * The tag files (a cache's CACHEDIR.TAG, `--exclude-if-present`) directory `path` holds, among its
   * entries `names` with their `stats`. A tag that cannot be read does not count (as in restic).
   */
  async tagsIn(path: string, names: string[], stats: (FsStat | SourceError)[]): Promise<ReadonlySet<string>> {
    const rules = this.#exclude?.rules;
    if (rules === undefined || rules.tagFiles.length === 0) return NO_TAGS;
    const kindOf = (name: string) => {
      const stat = stats[names.indexOf(name)];
      return stat === undefined || stat instanceof SourceError ? undefined : stat.kind;
    };
    return rules.tagsIn(kindOf, (name, bytes) => this.readHead(joinPath(path, name), bytes));
  }

  /** The first `bytes` bytes of file `path` (fewer if it is shorter), or undefined if it cannot be read. */
  async readHead(path: string, bytes: number): Promise<Uint8Array | undefined> {
    const head = new Uint8Array(bytes);
    try {
      const handle = await this.session.deps.fs.openRead(path);
      try {
        let fill = 0;
        while (fill < head.length) {
          const n = await handle.read(head.subarray(fill), fill);
          if (n === 0) break;
          fill += n;
        }
        return head.subarray(0, fill);
      } finally {
        await handle.close().catch(() => undefined);
      }
    } catch {
      return undefined;
    }
  }

  /** The node of a directory kept without its entries (a mount point). */
  async emptyDir(name: string, stat: FsStat): Promise<TreeNode> {
    const subtree = await this.sink.add('tree', encodeTree([]));
    this.dirs++;
    return { ...this.base(name, stat), kind: 'dir', subtree };
  }

  /** Directory `path`'s entry names and their lstat (or the error each gave). */
  async readdirStats(path: string): Promise<{ names: string[]; stats: (FsStat | SourceError)[] }> {
    const fs = this.session.deps.fs;
    if (fs.readdirStats !== undefined) {
      this.signal?.throwIfAborted();
      const entries = await fromSource(path, () => fs.readdirStats!(path));
      return {
        names: entries.map((e) => e.name),
        stats: entries.map((e) =>
          e.stat instanceof Error ? new SourceError(joinPath(path, e.name), e.stat) : e.stat,
        ),
      };
    }
    const names = await fromSource(path, () => fs.readdir(path));
    const stats = await Promise.all(
      names.map((name) =>
        this.#stats.run(async () => {
          const child = joinPath(path, name);
          this.signal?.throwIfAborted();
          return fromSource(child, () => fs.lstat(child)).catch((error: unknown) => {
            if (error instanceof SourceError) return error;
            throw error;
          });
        }),
      ),
    );
    return { names, stats };
  }

  /** The fields every tree node of `name` has. */
  base(name: string, stat: FsStat): { name: Uint8Array; mode: number; mtimeNs: bigint } {
    return { name: utf8.encode(name), mode: stat.mode & MODE_MAX, mtimeNs: stat.mtimeNs };
  }

  /** The tree node of one entry, or undefined for a kind that is skipped; `before`: the parent's node. */
  async entry(
    path: string,
    name: string,
    stat: FsStat,
    before: TreeNode | undefined,
  ): Promise<TreeNode | undefined> {
    const fs = this.session.deps.fs;
    this.signal?.throwIfAborted();
    const base = this.base(name, stat);
    if (stat.kind === 'file') {
      const identity =
        stat.inode !== undefined && stat.ctimeNs !== undefined
          ? { inode: stat.inode, ctimeNs: stat.ctimeNs }
          : {};
      // Taken before `unchanged`, whose false branch narrows `before` to a non-file.
      const isNew = before?.kind !== 'file';
      if (this.unchanged(stat, before)) {
        this.files++;
        this.filesUnchanged++;
        this.bytesUnchanged += before.size;
        this.progress();
        return { ...base, kind: 'file', size: before.size, content: before.content, ...identity };
      }
      const { size, content } = await this.linkedFile(path, stat, isNew);
      this.files++;
      this.progress();
      return { ...base, kind: 'file', size, content, ...identity };
    }
    if (stat.kind === 'symlink') {
      const target = utf8.encode(await fromSource(path, () => fs.readlink(path)));
      this.symlinks++;
      return { ...base, kind: 'symlink', target };
    }
    this.skipped.push(path);
    return undefined;
  }

  /**
   * `file`, once per inode: a file with more than one hard link whose device, inode, ctime, mtime
   * and size match a name already met in this run takes that name's chunks (awaiting its reading)
   * instead of being read again. Should that reading fail, this name is read on its own. (restic
   * reads every name; borg, like this, reads a hard-linked file once.)
   */
  linkedFile(path: string, stat: FsStat, isNew: boolean): Promise<{ size: number; content: BlobId[] }> {
    if (
      stat.links === undefined ||
      stat.links < 2 ||
      stat.inode === undefined ||
      stat.device === undefined ||
      stat.ctimeNs === undefined
    ) {
      return this.file(path, stat.size, isNew);
    }
    return this.#linked2(path, stat, isNew);
  }

  /** `linkedFile` for a file with several names. */
  async #linked2(path: string, stat: FsStat, isNew: boolean): Promise<{ size: number; content: BlobId[] }> {
    const key = `${stat.device}:${stat.inode}:${stat.ctimeNs}:${stat.mtimeNs}:${stat.size}`;
    const first = this.#linked.get(key);
    if (first === undefined) {
      const reading = this.file(path, stat.size, isNew);
      reading.catch(() => undefined); // its own caller gets the failure
      this.#linked.set(key, reading);
      return reading;
    }
    let shared: { size: number; content: BlobId[] };
    try {
      shared = await first;
    } catch {
      return this.file(path, stat.size, isNew);
    }
    this.filesLinked++;
    this.bytesLinked += shared.size;
    return shared;
  }

  /**
   * Whether a file may keep its parent entry's chunks unread: same size and mtime, the same inode
   * and ctime when the parent entry has them, and every chunk in a live pack (a pruned or damaged
   * parent must not be trusted). The packs relied on are recorded for the final check.
   */
  unchanged(stat: FsStat, before: TreeNode | undefined): before is FileNode {
    if (
      before?.kind !== 'file' ||
      before.size !== stat.size ||
      before.mtimeNs !== stat.mtimeNs ||
      (before.inode !== undefined && before.inode !== stat.inode) ||
      (before.ctimeNs !== undefined && before.ctimeNs !== stat.ctimeNs)
    ) {
      return false;
    }
    const packs = before.content.map((id) => this.reader.livePack(id));
    if (packs.includes(undefined)) return false;
    for (const p of packs) this.sink.dependsOn.add(p!);
    return true;
  }

  /**
   * Chunks and stores one file; returns its size and chunk ids. `expected`: its size from lstat (a
   * short read that reaches it ends the file without one more read; a file still growing is read
   * to its end all the same).
   */
  file(path: string, expected: number, isNew: boolean): Promise<{ size: number; content: BlobId[] }> {
    // A file with no parent entry: its chunks are likely new, so the sealer reads and seals it
    // whole (on the workers: no round trip per read, no chunk copied between threads), and the
    // sink drops the blobs it finds known. When the sealer already has enough to do, this thread
    // takes the file (#fileHere, sealing each chunk itself while the workers are busy).
    const sealed = isNew && this.sink.sealsFiles;
    const taken =
      sealed &&
      this.#taken < BACKUP_ENGINE_LIMITS.backupFilesTakenMax &&
      this.#reading.free &&
      this.#withSealer >= BACKUP_ENGINE_LIMITS.backupFilesHereAbove;
    if (sealed && !taken) {
      this.#withSealer++;
      return this.sink
        .addFile(path, expected, (bytes) => {
          this.bytesRead += bytes;
          this.progress();
        })
        .then(
          (result) => {
            this.#withSealer--;
            return result;
          },
          (error: unknown) => {
            this.#withSealer--;
            throw error instanceof FileSourceError ? new SourceError(path, error) : error;
          },
        );
    }
    if (!taken) return this.#reading.run(() => this.#fileHere(path, expected));
    this.#taken++;
    return this.#reading
      .run(() => this.#fileHere(path, expected))
      .finally(() => {
        this.#taken--;
      });
  }

  /** `file` on this thread: read, chunked and each chunk added here. */
  async #fileHere(path: string, expected: number): Promise<{ size: number; content: BlobId[] }> {
    // The current chunk's bytes are chunk[0, fill); each read lands right after them, so a small
    // file (one chunk) is read where it is hashed and sealed from, never copied; after a cut, the
    // bytes of the next chunk move to the front. (The chunker cuts at LIMITS.backupChunkMaxBytes,
    // the buffer's length, so there is always room to read into.)
    const chunk = this.#buffers.pop() ?? new Uint8Array(LIMITS.backupChunkMaxBytes);
    const chunker = new Chunker(this.session.gear);
    const content: BlobId[] = [];
    let fill = 0;
    let used = 0;
    let size = 0;
    try {
      const handle = await fromSource(path, () => this.session.deps.fs.openRead(path));
      try {
        for (;;) {
          this.signal?.throwIfAborted();
          const room = Math.min(BACKUP_ENGINE_LIMITS.readBufferBytes, chunk.length - fill);
          const into = chunk.subarray(fill, fill + room);
          const n = await fromSource(path, () => handle.read(into, size));
          if (n === 0) break;
          const end = fill + n;
          used = Math.max(used, end);
          let start = 0;
          for (const length of chunker.push(chunk.subarray(fill, end))) {
            content.push(await this.sink.add('data', chunk.subarray(start, start + length)));
            start += length;
          }
          if (start > 0) chunk.copyWithin(0, start, end);
          fill = end - start;
          size += n;
          this.bytesRead += n;
          this.progress();
          if (n < room && size >= expected) break;
        }
      } finally {
        await handle.close().catch(() => undefined);
      }
      const last = chunker.finish();
      if (last > 0) content.push(await this.sink.add('data', chunk.subarray(0, last)));
      return { size, content };
    } finally {
      chunk.fill(0, 0, used);
      this.#buffers.push(chunk);
    }
  }
}

/** Backs up directory `source` into a new snapshot. */
export async function backup(
  session: Session,
  source: string,
  options: BackupOptions,
): Promise<BackupResult> {
  const { repo, deps, keys } = session;
  const hostname = options.hostname;
  const paths = [source];
  const graceMs = options.graceMs ?? BACKUP_ENGINE_LIMITS.pruneGraceMs;
  const exclude =
    options.exclude === undefined ? undefined : await runExcludes(session, source, options.exclude);
  const previous = (await listSnapshots(session)).filter(
    (s) => s.snapshot.hostname === hostname && s.snapshot.paths.join('\0') === paths.join('\0'),
  );
  const parent = previous.at(-1);
  const compression: CompressionEffort =
    options.compression === undefined || options.compression === 'auto'
      ? parent === undefined
        ? 'fast'
        : 'small'
      : options.compression;
  let stale: ObjectName[] = [];
  for (let attempt = 1; ; attempt++) {
    // The index files of a failed attempt name packs that are gone: remove them, so that the packs
    // of that attempt which remain are adopted (and listed) by this one.
    for (const name of stale) await repo.delete('index', name);
    const reader = await BlobReader.load(session);
    const adopted = await adoptUnlistedPacks(session, reader);
    // The index files' decoding left garbage V8 would keep through the run.
    session.deps.reclaim?.('after-phase');
    const sink = new PackSink(session, reader, options.signal, compression);
    const run = new Run(session, sink, reader, options, exclude);
    let tree: BlobId;
    let packs: EncodedIndexedPack[];
    try {
      const walked = await run.dir(source, options.force === true ? undefined : parent?.snapshot.tree);
      tree = await walked.tree;
      packs = await sink.finish();
    } catch (error) {
      // The source directory itself cannot be read: nothing to back up.
      throw error instanceof SourceError ? error.cause : error;
    } finally {
      await sink.close();
    }
    stale = await writeIndexFiles(session, [...adopted, ...packs]);
    const needed = new Set([...sink.dependsOn, ...[...adopted, ...packs].map((p) => toHex(p.packId))]);
    const risk = await packsAtRisk(session, reader, needed, graceMs, stale);
    if (risk.size > 0) {
      if (attempt < BACKUP_ENGINE_LIMITS.backupAttempts) continue;
      throw concurrentPrune(attempt, risk.size);
    }
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
    // Stored: a prune that lists the snapshots from now on keeps every pack this one uses. A prune
    // that listed them before the put may still delete a pack it condemned long enough ago, if this
    // backup was slow between the check above and the put. Checking again now leaves that only to a
    // prune that itself runs longer than G/2 (grace.ts); if a pack went or is at risk, this snapshot
    // is withdrawn and the walk made again.
    const late = await packsAtRisk(session, reader, needed, graceMs, stale);
    if (late.size > 0) {
      await repo.delete('snapshots', snapshotId);
      if (attempt < BACKUP_ENGINE_LIMITS.backupAttempts) continue;
      throw concurrentPrune(attempt, late.size);
    }
    return {
      ...sink.stats,
      snapshotId,
      files: run.files,
      dirs: run.dirs,
      symlinks: run.symlinks,
      bytesRead: run.bytesRead,
      filesUnchanged: run.filesUnchanged,
      filesLinked: run.filesLinked,
      ...(parent === undefined ? {} : { parent: parent.id }),
      compression,
      excluded: run.excluded,
      skipped: run.skipped,
      errors: run.errors,
      packsAdopted: adopted.length,
      attempts: attempt,
    };
  }
}

/**
 * Compiles `rules` (ValidationError if malformed) and, for `oneFileSystem`, reads the device of
 * `source` (lstat: a source that is a symlink is compared by the link's device). A file system that
 * reports no device ids cannot tell mount points: refused rather than crossing them.
 */
async function runExcludes(session: Session, source: string, rules: ExcludeRules): Promise<RunExcludes> {
  const compiled = new Excludes(rules);
  if (!compiled.oneFileSystem) return { rules: compiled, device: undefined };
  const { device } = await session.deps.fs.lstat(source);
  if (device === undefined)
    throw new ValidationError(
      'VALIDATION_FAILED',
      'one-file-system needs device ids, which this file system does not report',
    );
  return { rules: compiled, device };
}

/** Every attempt of a backup found packs it needed gone or condemned by concurrent prunes. */
function concurrentPrune(attempts: number, packs: number): BackupError {
  return new BackupError(
    'BACKUP_CONCURRENT_PRUNE',
    `prunes removed packs this backup needed in each of ${attempts} attempts`,
    { attempts, packs },
  );
}
