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
