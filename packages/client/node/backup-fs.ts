/**
 * `nodeBackupFs`: the engine's file-system interface (../src/backup/fs.ts) on node:fs/promises.
 *
 * Times: lstat is asked for bigint fields, so mtimes are read to the nanosecond; `utimes` takes a
 * double of seconds, so they are written to the nearest microsecond (`seconds` below).
 */
import * as callbacks from 'node:fs';
import { constants, type FileHandle } from 'node:fs/promises';
import * as fs from 'node:fs/promises';
import type { BackupFs, FsKind, FsReader, FsStat, FsWriter } from '../src/backup/fs.ts';

/** A node:fs callback call as a promise. */
function call<T>(start: (done: (error: Error | null, result: T) => void) => void): Promise<T> {
  return new Promise((resolve, reject) =>
    start((error, result) => (error ? reject(error) : resolve(result))),
  );
}

function kindOf(mode: bigint): FsKind {
  const type = mode & BigInt(constants.S_IFMT);
  if (type === BigInt(constants.S_IFREG)) return 'file';
  if (type === BigInt(constants.S_IFDIR)) return 'dir';
  if (type === BigInt(constants.S_IFLNK)) return 'symlink';
  return 'other';
}

/**
 * Nanoseconds since 1970 to the seconds `utimes` takes. libuv truncates `seconds * 1e6` to whole
 * microseconds, and a double near 2^31 s is only good to ~0.24 µs, so aim at the middle of the
 * nearest microsecond: the time set is then exactly that microsecond.
 */
export function utimesSeconds(ns: bigint): number {
  const us = (ns + 500n) / 1000n;
  return Number(us / 1_000_000n) + (Number(us % 1_000_000n) + 0.5) / 1e6;
}

/**
 * Reading goes through node:fs's callback API on a plain descriptor, not a FileHandle: a backup
 * opens, reads and closes every changed file (80,000 on the Debian set), and fs/promises costs more
 * per call (a FileHandle object, a result object per read): reading 8,000 small cached files took
 * ~1.0-1.2 s of CPU with fs/promises, ~0.75 s with callbacks. The caller closes what it opens.
 */
function reader(fd: number): FsReader {
  return {
    read: (into, position) =>
      call<number>((done) => callbacks.read(fd, into, 0, into.length, position, done)),
    // close(2) of a descriptor only read from does no I/O on a local file system: done here, it
    // saves a thread-pool round trip per file (8,000 small files: ~830 -> ~680 ms of CPU). On NFSv4
    // it is a server round trip that this thread waits for.
    close: () => {
      try {
        callbacks.closeSync(fd);
        return Promise.resolve();
      } catch (error) {
        return Promise.reject(error as Error);
      }
    },
  };
}

function writer(handle: FileHandle): FsWriter {
  return {
    write: async (data, position) => {
      let done = 0;
      while (done < data.length) {
        const { bytesWritten } = await handle.write(data, done, data.length - done, position + done);
        done += bytesWritten;
      }
    },
    truncate: (length) => handle.truncate(length),
    close: () => handle.close(),
  };
}

function fsStat(st: callbacks.BigIntStats): FsStat {
  const kind = kindOf(st.mode);
  return {
    kind,
    mode: Number(st.mode & 0o7777n),
    mtimeNs: st.mtimeNs,
    size: kind === 'file' ? Number(st.size) : 0,
    inode: st.ino,
    ctimeNs: st.ctimeNs,
    device: st.dev,
    links: Number(st.nlink),
  };
}

/** Entries `readdirStats` lstats between two turns of the event loop. */
const STATS_PER_TURN = 256;

export const nodeBackupFs: BackupFs = {
  async lstat(path): Promise<FsStat> {
    return fsStat(await call<callbacks.BigIntStats>((done) => callbacks.lstat(path, { bigint: true }, done)));
  },
  /**
   * Blocking calls, a few microseconds each on a local file system with its inodes cached: the
   * thread pool's round trip per lstat cost the backup's walk more than the call (80,000 files:
   * ~0.7 s of this thread's CPU), and the walk, waiting on it, let the sealing workers idle. The
   * event loop gets a turn every STATS_PER_TURN entries.
   */
  async readdirStats(path) {
    const names = callbacks.readdirSync(path);
    const out: { name: string; stat: FsStat | Error }[] = [];
    for (const name of names) {
      if (out.length % STATS_PER_TURN === STATS_PER_TURN - 1) await new Promise(setImmediate);
      try {
        out.push({ name, stat: fsStat(callbacks.lstatSync(`${path}/${name}`, { bigint: true })) });
      } catch (error) {
        out.push({ name, stat: error instanceof Error ? error : new Error(String(error)) });
      }
    }
    return out;
  },
  readdir: (path) => fs.readdir(path),
  readlink: (path) => fs.readlink(path),
  openRead: async (path) => reader(await call<number>((done) => callbacks.open(path, 'r', done))),
  // O_CREAT | O_EXCL: never follows a symlink planted at the path; O_NOFOLLOW when reopening.
  openWrite: async (path, existing) =>
    writer(await fs.open(path, existing === true ? constants.O_WRONLY | constants.O_NOFOLLOW : 'wx', 0o600)),
  mkdir: async (path) => {
    await fs.mkdir(path, { recursive: true });
  },
  symlink: (target, path) => fs.symlink(target, path),
  rename: (from, to) => fs.rename(from, to),
  remove: (path) => fs.rm(path, { force: true }),
  chmod: (path, mode) => fs.chmod(path, mode),
  setMtime: (path, mtimeNs, symlink) => {
    const s = utimesSeconds(mtimeNs);
    return symlink ? fs.lutimes(path, s, s) : fs.utimes(path, s, s);
  },
};
