import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { Excludes } from '@sealpost/client/node/backup-api';
import { treeBytes } from './backup.ts';

const dir = mkdtempSync(join(tmpdir(), 'sealpost-tree-bytes-'));
after(() => rmSync(dir, { recursive: true, force: true }));

test("the progress ETA's total leaves out what the excludes leave out (patterns, the size limit)", async () => {
  mkdirSync(join(dir, 'keep', 'node_modules'), { recursive: true });
  writeFileSync(join(dir, 'keep', 'a.txt'), 'x'.repeat(1000));
  writeFileSync(join(dir, 'keep', 'b.log'), 'x'.repeat(2000));
  writeFileSync(join(dir, 'keep', 'node_modules', 'dep.js'), 'x'.repeat(4000));
  writeFileSync(join(dir, 'big.bin'), 'x'.repeat(10_000));
  assert.equal(await treeBytes(dir, new Excludes({})), 17_000);
  assert.equal(await treeBytes(dir, new Excludes({ patterns: ['*.log', 'node_modules'] })), 11_000);
  assert.equal(await treeBytes(dir, new Excludes({ largerThanBytes: 5000 })), 7000);
  assert.equal(
    await treeBytes(dir, new Excludes({ patterns: ['node_modules'], largerThanBytes: 5000 })),
    3000,
  );
});

test("the progress ETA's total keeps only the tag file of a directory that holds one, as the walk does", async () => {
  const root = join(dir, 'tagged');
  mkdirSync(join(root, 'cache', 'sub'), { recursive: true });
  mkdirSync(join(root, 'marked'), { recursive: true });
  mkdirSync(join(root, 'plain'), { recursive: true });
  const tag = 'Signature: 8a477f597d28d172789f06886806bc55\n';
  writeFileSync(join(root, 'cache', 'CACHEDIR.TAG'), tag);
  writeFileSync(join(root, 'cache', 'blob.bin'), 'x'.repeat(5000));
  writeFileSync(join(root, 'cache', 'sub', 'deep.bin'), 'x'.repeat(7000));
  writeFileSync(join(root, 'marked', '.nobackup'), 'yy');
  writeFileSync(join(root, 'marked', 'data.bin'), 'x'.repeat(3000));
  writeFileSync(join(root, 'plain', 'kept.txt'), 'x'.repeat(100));
  // A CACHEDIR.TAG without the signature is no tag.
  writeFileSync(join(root, 'plain', 'CACHEDIR.TAG'), 'not a tag');
  const all = tag.length + 5000 + 7000 + 2 + 3000 + 100 + 'not a tag'.length;
  assert.equal(await treeBytes(root, new Excludes({})), all);
  assert.equal(await treeBytes(root, new Excludes({ caches: true })), all - 5000 - 7000);
  assert.equal(
    await treeBytes(root, new Excludes({ caches: true, ifPresent: ['.nobackup'] })),
    all - 5000 - 7000 - 3000,
  );
});

test("the progress ETA's total with one-file-system counts the source's device (a single device: all of it)", async () => {
  const root = join(dir, 'one-device');
  mkdirSync(join(root, 'a'), { recursive: true });
  writeFileSync(join(root, 'a', 'f.bin'), 'x'.repeat(1234));
  writeFileSync(join(root, 'g.bin'), 'x'.repeat(766));
  assert.equal(await treeBytes(root, new Excludes({ oneFileSystem: true })), 2000);
  assert.equal(await treeBytes(join(dir, 'no-such-dir'), new Excludes({ oneFileSystem: true })), 0);
});
