/**
 * Incremental backups: files unchanged since the parent snapshot (same size and mtime) keep the
 * parent's chunk list without being read. Reads are counted through an injected file system.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomFillSync } from 'node:crypto';
import * as fs from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LocalRepository } from '../packages/client/node/backup-local-repo.ts';
import { nodeBackupFs } from '../packages/client/node/backup-fs.ts';
import { nodeBackupDeps } from '../packages/client/node/backup-node.ts';
import { backup } from '../packages/client/src/backup/backup.ts';
import type { BackupFs } from '../packages/client/src/backup/fs.ts';
import { restore } from '../packages/client/src/backup/restore.ts';
import { initRepository, openRepository, type Session } from '../packages/client/src/backup/session.ts';

const MiB = 1024 * 1024;
const TEST_ARGON2 = { memoryKiB: 1024, iterations: 1, parallelism: 1 };

/** nodeBackupFs, counting files opened for reading and bytes read. */
const counted = { opens: 0, bytes: 0 };
const countingFs: BackupFs = {
  ...nodeBackupFs,
  openRead: async (path) => {
    counted.opens++;
    const inner = await nodeBackupFs.openRead(path);
    return {
      read: async (into, position) => {
        const n = await inner.read(into, position);
        counted.bytes += n;
        return n;
      },
      close: () => inner.close(),
    };
  },
};
const deps = { ...nodeBackupDeps(), fs: countingFs };

let work: string;
let source: string;
let repo: LocalRepository;
let session: Session;

/** A 50 MiB tree: 10 random files of 4 MiB, 40 text files of 256 KiB, in nested directories. */
before(async () => {
  work = await fs.mkdtemp(join(tmpdir(), 'sealpost-backup-incr-'));
  source = join(work, 'src');
  for (let i = 0; i < 10; i++) {
    const dir = join(source, `d${i % 3}`, `e${i % 2}`);
    await fs.mkdir(dir, { recursive: true });
    const data = new Uint8Array(4 * MiB);
    for (let o = 0; o < data.length; o += 65_536) randomFillSync(data, o, 65_536);
    await fs.writeFile(join(dir, `random-${i}.bin`), data);
  }
  for (let i = 0; i < 40; i++) {
    const line = `line of file ${i}: ${'text '.repeat(i % 11)}\n`;
    await fs.writeFile(
      join(source, `d${i % 3}`, `text-${i}.txt`),
      line.repeat(Math.ceil((256 * 1024) / line.length)).slice(0, 256 * 1024),
    );
  }
  repo = new LocalRepository(join(work, 'repo'));
  await initRepository(repo, deps, 'pass', TEST_ARGON2);
  session = await openRepository(repo, deps, 'pass');
});
after(async () => {
  session.close();
  await fs.rm(work, { recursive: true, force: true });
});

const packCount = async () => (await repo.list('packs')).length;

test('should read no file content and add no pack when backing up an unchanged 50 MiB tree again', async () => {
  const first = await backup(session, source, { hostname: 'h' });
  assert.equal(first.bytesRead, 50 * MiB);
  assert.equal(first.filesUnchanged, 0);
  const packs = await packCount();
  counted.opens = 0;
  counted.bytes = 0;
  const second = await backup(session, source, { hostname: 'h' });
  assert.equal(counted.opens, 0);
  assert.equal(counted.bytes, 0);
  assert.equal(second.bytesRead, 0);
  assert.equal(second.filesUnchanged, 50);
  assert.equal(second.packs, 0);
  assert.equal(second.parent, first.snapshotId);
  assert.equal(await packCount(), packs);
});

test('should read only the files whose size or mtime changed, and restore the new content', async () => {
  const changed = join(source, 'd1', 'text-1.txt');
  await fs.appendFile(changed, 'one more line\n');
  const touched = join(source, 'd0', 'text-0.txt');
  const later = new Date(Date.now() + 5_000);
  await fs.utimes(touched, later, later);
  counted.opens = 0;
  counted.bytes = 0;
  const result = await backup(session, source, { hostname: 'h' });
  assert.equal(counted.opens, 2);
  assert.equal(result.filesUnchanged, 48);
  assert.equal(result.bytesRead, 2 * 256 * 1024 + 'one more line\n'.length);
  const out = join(work, 'out');
  await restore(session, result.snapshotId, out);
  assert.deepEqual(await fs.readFile(join(out, 'd1', 'text-1.txt')), await fs.readFile(changed));
  assert.deepEqual(
    await fs.readFile(join(out, 'd2', 'e0', 'random-2.bin')),
    await fs.readFile(join(source, 'd2', 'e0', 'random-2.bin')),
  );
});

test('should read every file with force', async () => {
  counted.opens = 0;
  const result = await backup(session, source, { hostname: 'h', force: true });
  assert.equal(counted.opens, 50);
  assert.equal(result.filesUnchanged, 0);
  assert.equal(result.packs, 0);
});

test('should not reuse a parent of another host', async () => {
  counted.opens = 0;
  const result = await backup(session, source, { hostname: 'other' });
  assert.equal(result.parent, undefined);
  assert.equal(counted.opens, 50);
});
