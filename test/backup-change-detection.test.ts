/**
 * Incremental change detection with inode and ctime (tree node kind 0x81): a file rewritten with
 * its old size and mtime put back, or replaced by another file of the same size and mtime, is read
 * again; an untouched one is not. Reads are counted through an injected file system.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { nodeBackupFs } from '../packages/client/node/backup-fs.ts';
import { backup } from '../packages/client/src/backup/backup.ts';
import { BlobReader } from '../packages/client/src/backup/blob-reader.ts';
import type { BackupFs } from '../packages/client/src/backup/fs.ts';
import { findSnapshot, ls } from '../packages/client/src/backup/snapshots.ts';
import {
  depsWith,
  digestTree,
  newRepository,
  restoredDigest,
  TestClock,
  writeTree,
} from './support/backup-fixtures.ts';

const opened: string[] = [];
const countingFs: BackupFs = {
  ...nodeBackupFs,
  openRead: (path) => {
    opened.push(path.slice(path.lastIndexOf('/') + 1));
    return nodeBackupFs.openRead(path);
  },
};

let work: string;
before(async () => {
  work = await fs.mkdtemp(join(tmpdir(), 'sealpost-backup-ctime-'));
});
after(async () => {
  await fs.rm(work, { recursive: true, force: true });
});

test('a file rewritten with its size and mtime put back, or swapped for a look-alike, is read again', async () => {
  const clock = new TestClock();
  const deps = { ...depsWith(clock), fs: countingFs };
  const source = join(work, 'src');
  await writeTree(source, { 'kept.txt': 'never touched', 'rewritten.txt': 'AAAA', 'swapped.txt': 'BBBB' });
  // Times a utimes call can set exactly (whole seconds), so that putting one back is exact.
  const T = 1_600_000_000;
  for (const name of ['kept.txt', 'rewritten.txt', 'swapped.txt']) await fs.utimes(join(source, name), T, T);
  const { session } = await newRepository(join(work, 'repo'), deps);
  try {
    const first = await backup(session, source, { hostname: 'h' });
    const reader = await BlobReader.load(session);
    const nodes = await ls(reader, (await findSnapshot(session, first.snapshotId)).snapshot);
    for (const { node } of nodes) {
      assert.equal(node.kind, 'file');
      assert.equal(typeof (node.kind === 'file' ? node.inode : undefined), 'bigint', 'inode recorded');
      assert.equal(typeof (node.kind === 'file' ? node.ctimeNs : undefined), 'bigint', 'ctime recorded');
    }

    // Same size, and the old mtime put back: only ctime tells.
    const rewritten = join(source, 'rewritten.txt');
    await fs.writeFile(rewritten, 'CCCC');
    await fs.utimes(rewritten, T, T);
    // Another file of the same size and mtime renamed over it: a new inode.
    const swapped = join(source, 'swapped.txt');
    await fs.writeFile(join(source, 'other'), 'DDDD');
    await fs.utimes(join(source, 'other'), T, T);
    await fs.rename(join(source, 'other'), swapped);

    opened.length = 0;
    clock.ms += 1000; // the parent is the newest snapshot: give each its own time
    const second = await backup(session, source, { hostname: 'h' });
    assert.deepEqual(opened.sort(), ['rewritten.txt', 'swapped.txt']);
    assert.equal(second.filesUnchanged, 1);
    assert.deepEqual(
      await restoredDigest(session, second.snapshotId, join(work, 'out')),
      await digestTree(source),
    );

    opened.length = 0;
    clock.ms += 1000;
    await backup(session, source, { hostname: 'h' });
    assert.deepEqual(opened, [], 'nothing changed since: nothing read');
  } finally {
    session.close();
  }
});
