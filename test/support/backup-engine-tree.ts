/**
 * The tree the backup engine's end-to-end tests back up and restore (backup-engine.test.ts,
 * backup-restore-workers.test.ts), and how they compare a restored tree with its source.
 */
import assert from 'node:assert/strict';
import { createHash, randomFillSync } from 'node:crypto';
import * as fs from 'node:fs/promises';
import { join } from 'node:path';
import { toHex } from '@sealpost/core';
import { BlobReader } from '../../packages/client/src/backup/blob-reader.ts';
import type { Session } from '../../packages/client/src/backup/session.ts';
import { findSnapshot, ls } from '../../packages/client/src/backup/snapshots.ts';

const MiB = 1024 * 1024;

/** Sets a distinct, sub-second mtime (nanoseconds survive to the microsecond). */
export async function stamp(path: string, i: number, link = false): Promise<void> {
  const s = 1_600_000_000 + i * 1_000 + 0.123456;
  await (link ? fs.lutimes(path, s, s) : fs.utimes(path, s, s));
}

/**
 * The tree under test: a 20 MiB random file, an empty file, a sparse file, 300 small files,
 * an empty directory, nested directories, symlinks (relative, dangling, to a directory), odd modes.
 */
export async function makeTree(root: string): Promise<void> {
  await fs.mkdir(root, { recursive: true });
  const big = new Uint8Array(20 * MiB);
  for (let o = 0; o < big.length; o += 65_536) randomFillSync(big, o, 65_536);
  await fs.writeFile(join(root, 'big.bin'), big);
  await fs.writeFile(join(root, 'empty.txt'), '');
  await fs.chmod(join(root, 'empty.txt'), 0o600);
  const sparse = await fs.open(join(root, 'sparse.img'), 'w');
  await sparse.write(new Uint8Array(4096).fill(7), 0, 4096, 5 * MiB);
  await sparse.truncate(12 * MiB);
  await sparse.close();
  await fs.mkdir(join(root, 'small'));
  for (let i = 0; i < 300; i++) {
    const text = `file ${i}\n`.repeat((i * 37) % 500);
    await fs.writeFile(join(root, 'small', `f${String(i).padStart(3, '0')}.txt`), text);
    if (i % 7 === 0) await fs.chmod(join(root, 'small', `f${String(i).padStart(3, '0')}.txt`), 0o755);
    await stamp(join(root, 'small', `f${String(i).padStart(3, '0')}.txt`), i);
  }
  await fs.mkdir(join(root, 'empty-dir'), { mode: 0o700 });
  await fs.mkdir(join(root, 'a', 'b', 'c'), { recursive: true });
  await fs.writeFile(join(root, 'a', 'b', 'c', 'deep.txt'), 'deep\n');
  await fs.writeFile(join(root, 'a', 'read-only.txt'), 'read only\n');
  await fs.chmod(join(root, 'a', 'read-only.txt'), 0o444);
  await fs.writeFile(join(root, 'ünïcode name.txt'), 'utf-8 names\n');
  await fs.symlink('big.bin', join(root, 'link-to-big'));
  await fs.symlink('does/not/exist', join(root, 'dangling'));
  await fs.symlink('a/b', join(root, 'link-to-dir'));
  for (const [i, p] of [
    'big.bin',
    'empty.txt',
    'sparse.img',
    'a/b/c/deep.txt',
    'a/read-only.txt',
  ].entries()) {
    await stamp(join(root, p), 400 + i);
  }
  for (const [i, p] of ['link-to-big', 'dangling', 'link-to-dir'].entries())
    await stamp(join(root, p), 500 + i, true);
  // Directories last, children first, so writing into them does not move their times.
  for (const [i, p] of ['a/b/c', 'a/b', 'a', 'small', 'empty-dir'].entries())
    await stamp(join(root, p), 600 + i);
}

export interface Entry {
  kind: string;
  mode: number;
  mtimeNs: bigint;
  size: number;
  digest?: string;
  target?: string;
}

/** Every entry under `root` with kind, mode, mtime, size, SHA-256 or link target. */
export async function describeTree(root: string, rel = ''): Promise<Map<string, Entry>> {
  const out = new Map<string, Entry>();
  for (const name of (await fs.readdir(join(root, rel))).sort()) {
    const path = rel === '' ? name : `${rel}/${name}`;
    const st = await fs.lstat(join(root, path), { bigint: true });
    const base = { mode: Number(st.mode & 0o7777n), mtimeNs: st.mtimeNs, size: Number(st.size) };
    if (st.isSymbolicLink()) {
      out.set(path, { ...base, kind: 'symlink', mode: 0, target: await fs.readlink(join(root, path)) });
    } else if (st.isDirectory()) {
      out.set(path, { ...base, kind: 'dir', size: 0 });
      for (const [k, v] of await describeTree(root, path)) out.set(k, v);
    } else {
      const digest = createHash('sha256')
        .update(await fs.readFile(join(root, path)))
        .digest('hex');
      out.set(path, { ...base, kind: 'file', digest });
    }
  }
  return out;
}

/**
 * Asserts two trees are equal; mtimes to the nearest microsecond (node:fs sets times from a
 * double of seconds, to the microsecond).
 */
export async function assertSameTree(actualRoot: string, expectedRoot: string): Promise<void> {
  const actual = await describeTree(actualRoot);
  const expected = await describeTree(expectedRoot);
  const strip = (m: Map<string, Entry>) => new Map([...m].map(([k, v]) => [k, { ...v, mtimeNs: 0n }]));
  assert.deepEqual(strip(actual), strip(expected));
  for (const [path, e] of expected) {
    const d = actual.get(path)!.mtimeNs - e.mtimeNs;
    assert.ok(d >= -500n && d <= 500n, `${path}: mtime off by ${d} ns`);
  }
}

/**
 * In the latest snapshot of `session`'s repository: the data pack holding big.bin's first chunk, an
 * offset inside that chunk's bytes, every file with a chunk in that pack (`files`), and every file
 * with that very chunk (`damaged`, once the offset is damaged).
 */
export async function bigFilePack(
  session: Session,
): Promise<{ pack: string; offset: number; files: Set<string>; damaged: Set<string> }> {
  const reader = await BlobReader.load(session);
  const { snapshot } = await findSnapshot(session, 'latest');
  const entries = await ls(reader, snapshot);
  const big = entries.find((e) => e.path === 'big.bin')!.node;
  assert.ok(big.kind === 'file');
  const at = reader.index.find(big.content[0]!)!;
  const pack = toHex(at.packId);
  const files = new Set<string>();
  const damaged = new Set<string>();
  const first = toHex(big.content[0]!);
  for (const e of entries) {
    if (e.node.kind !== 'file') continue;
    if (e.node.content.some((id) => toHex(reader.index.find(id)!.packId) === pack)) files.add(e.path);
    if (e.node.content.some((id) => toHex(id) === first)) damaged.add(e.path);
  }
  return { pack, offset: at.offset + 100, files, damaged };
}
