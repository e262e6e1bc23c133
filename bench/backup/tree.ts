/**
 * Trees on disk for the backup benchmark: list a tree (regular files, symlinks, directories, byte
 * total), copy a selection of it, and read every file once so that each tool starts with the same
 * warm page cache.
 */
import * as fs from 'node:fs/promises';
import { dirname, join } from 'node:path';

export interface TreeEntry {
  /** Path relative to the tree's root, with `/` separators. */
  readonly path: string;
  readonly kind: 'file' | 'symlink';
  readonly size: number;
}

export interface TreeStats {
  readonly files: number;
  readonly symlinks: number;
  readonly dirs: number;
  readonly bytes: number;
}

/** Every regular file and symlink under `root`, sorted by path (sockets, FIFOs and devices left out). */
export async function listTree(root: string): Promise<TreeEntry[]> {
  const out: TreeEntry[] = [];
  async function walk(rel: string): Promise<void> {
    const entries = await fs.readdir(join(root, rel), { withFileTypes: true });
    for (const e of entries) {
      const path = rel === '' ? e.name : `${rel}/${e.name}`;
      if (e.isDirectory()) await walk(path);
      else if (e.isSymbolicLink()) out.push({ path, kind: 'symlink', size: 0 });
      else if (e.isFile()) out.push({ path, kind: 'file', size: (await fs.lstat(join(root, path))).size });
    }
  }
  await walk('');
  return out.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

export async function treeStats(root: string): Promise<TreeStats> {
  let files = 0;
  let symlinks = 0;
  let dirs = 0;
  let bytes = 0;
  async function walk(dir: string): Promise<void> {
    dirs++;
    for (const e of await fs.readdir(dir, { withFileTypes: true })) {
      const path = join(dir, e.name);
      if (e.isDirectory()) await walk(path);
      else if (e.isSymbolicLink()) symlinks++;
      else if (e.isFile()) {
        files++;
        bytes += (await fs.lstat(path)).size;
      }
    }
  }
  await walk(root);
  return { files, symlinks, dirs, bytes };
}

/** Runs `work` over `items`, at most `concurrency` at a time. */
export async function eachLimited<T>(
  items: readonly T[],
  concurrency: number,
  work: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  const lanes = Array.from({ length: Math.min(concurrency, items.length) }, async () => {
    while (next < items.length) await work(items[next++]!);
  });
  await Promise.all(lanes);
}

/** Copies `entries` of the tree at `from` into `to` (a new directory), keeping modes and mtimes. */
export async function copyEntries(from: string, to: string, entries: readonly TreeEntry[]): Promise<void> {
  const made = new Set<string>();
  for (const e of entries) {
    const dir = dirname(e.path);
    if (!made.has(dir)) {
      await fs.mkdir(join(to, dir), { recursive: true });
      made.add(dir);
    }
  }
  await eachLimited(entries, 16, async (e) => {
    const source = join(from, e.path);
    const target = join(to, e.path);
    if (e.kind === 'symlink') {
      await fs.symlink(await fs.readlink(source), target);
      return;
    }
    await fs.copyFile(source, target);
    const stat = await fs.stat(source);
    await fs.chmod(target, stat.mode & 0o7777);
    await fs.utimes(target, stat.atime, stat.mtime);
  });
}

/** Reads every regular file under `root` once (the page cache is then equally warm for every tool). */
export async function warmTree(root: string): Promise<void> {
  const files = (await listTree(root)).filter((e) => e.kind === 'file');
  await eachLimited(files, 8, async (e) => void (await fs.readFile(join(root, e.path))));
}
