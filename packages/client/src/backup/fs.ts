/**
 * The file-system access the engine needs, injected so that the engine itself does no I/O of its
 * own choosing (STYLE.md §1) and tests can swap it. packages/client/node/backup-fs.ts implements it
 * on node:fs/promises.
 *
 * Paths are strings joined with "/" (POSIX); names are UTF-8 (a name that is not valid UTF-8 is not
 * yet supported: docs/backup-engine.md).
 */
export type FsKind = 'file' | 'dir' | 'symlink' | 'other';

export interface FsStat {
  readonly kind: FsKind;
  /** Permission bits (mode & 0o7777). */
  readonly mode: number;
  /** Modification time, nanoseconds since 1970. */
  readonly mtimeNs: bigint;
  /** Bytes (files only; 0 otherwise). */
  readonly size: number;
  /**
   * Inode number and status-change time in nanoseconds, for change detection (backup.ts). A file
   * system that has no such thing leaves both out; size and mtime are then all that is compared.
   */
  readonly inode?: bigint;
  readonly ctimeNs?: bigint;
  /**
   * The id of the device (file system) the entry is on, for `--one-file-system` (exclude.ts); a
   * file system that has none leaves it out.
   */
  readonly device?: bigint;
  /**
   * Hard links to the entry (st_nlink), where the file system has them: a file with more than one
   * is read once per backup run (backup.ts `Run.linkedFile`: its other names share its chunks).
   */
  readonly links?: number;
}

export interface FsReader {
  /** Reads up to `into.length` bytes at `position`; returns how many (0 at the end). */
  read(into: Uint8Array, position: number): Promise<number>;
  close(): Promise<void>;
}

export interface FsWriter {
  /** Writes all of `data` at `position` (positions may skip ahead, leaving a hole). */
  write(data: Uint8Array, position: number): Promise<void>;
  /** Sets the length (extends with a hole). */
  truncate(length: number): Promise<void>;
  close(): Promise<void>;
}

export interface BackupFs {
  /** Does not follow symlinks. */
  lstat(path: string): Promise<FsStat>;
  /**
   * The entries of directory `path` with each one's lstat (or the error it gave), in one call:
   * optional, for file systems where one call per entry costs a round trip each (node: the thread
   * pool), which a backup of 80,000 small files felt. Absent, the engine calls `readdir` and `lstat`.
   */
  readdirStats?(path: string): Promise<{ readonly name: string; readonly stat: FsStat | Error }[]>;
  readdir(path: string): Promise<string[]>;
  readlink(path: string): Promise<string>;
  openRead(path: string): Promise<FsReader>;
  /**
   * Creates a new file; fails if anything (a symlink included) is at `path`. With `existing`, opens
   * the regular file the caller created earlier for writing instead (never following a symlink):
   * restore closes and reopens its partial files to bound how many are open at once.
   */
  openWrite(path: string, existing?: boolean): Promise<FsWriter>;
  /** Creates a directory and its parents; an existing directory is fine. */
  mkdir(path: string): Promise<void>;
  symlink(target: string, path: string): Promise<void>;
  rename(from: string, to: string): Promise<void>;
  /** Removes a file or symlink (not a directory); a missing path is fine. */
  remove(path: string): Promise<void>;
  chmod(path: string, mode: number): Promise<void>;
  /** Sets the modification time (and the access time to it); `symlink`: of the link itself. */
  setMtime(path: string, mtimeNs: bigint, symlink: boolean): Promise<void>;
}

/** Joins POSIX path parts; `parent` may be "" or end with "/". */
export function joinPath(parent: string, name: string): string {
  if (parent === '') return name;
  return parent.endsWith('/') ? parent + name : `${parent}/${name}`;
}
