/**
 * Small source trees for backup tests against a server, and a byte-for-byte comparison of a
 * restored tree with its source (contents, permission bits, symlink targets).
 */
import assert from 'node:assert/strict';
import { randomFillSync } from 'node:crypto';
import * as fs from 'node:fs/promises';
import { join } from 'node:path';

const MiB = 1024 * 1024;

/**
 * `bigMiB` MiB of random bytes (several chunks, so more than one blob), text files, an empty file,
 * nested and empty directories, a symlink, and a file name that must not reach the server.
 */
export async function makeTree(root: string, bigMiB = 3, canary = 'plain-name'): Promise<void> {
  await fs.mkdir(join(root, 'docs', 'deep'), { recursive: true });
  await fs.mkdir(join(root, 'empty-dir'));
  const big = new Uint8Array(bigMiB * MiB);
  for (let o = 0; o < big.length; o += 65_536) randomFillSync(big, o, Math.min(65_536, big.length - o));
  await fs.writeFile(join(root, 'big.bin'), big);
  for (let i = 0; i < 20; i++) {
    await fs.writeFile(join(root, 'docs', `note-${i}.txt`), `note ${i} ${canary}\n`.repeat(i * 13));
  }
  await fs.writeFile(join(root, 'docs', 'deep', `${canary}.txt`), `${canary} contents\n`);
  await fs.writeFile(join(root, 'empty.txt'), '');
  await fs.chmod(join(root, 'docs', 'note-3.txt'), 0o600);
  await fs.symlink('docs/note-1.txt', join(root, 'link'));
}

/** Asserts `restored` holds exactly the entries of `source`, with equal bytes, modes and targets. */
export async function assertSameTree(source: string, restored: string): Promise<void> {
  const names = (await fs.readdir(source)).sort();
  assert.deepEqual((await fs.readdir(restored)).sort(), names, `entries of ${restored}`);
  for (const name of names) {
    const a = join(source, name);
    const b = join(restored, name);
    const [sa, sb] = [await fs.lstat(a), await fs.lstat(b)];
    assert.equal(sb.mode, sa.mode, `mode of ${b}`);
    if (sa.isDirectory()) await assertSameTree(a, b);
    else if (sa.isSymbolicLink()) assert.equal(await fs.readlink(b), await fs.readlink(a));
    else assert.ok((await fs.readFile(a)).equals(await fs.readFile(b)), `contents of ${b}`);
  }
}
