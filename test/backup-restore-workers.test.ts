/**
 * Restore on worker threads (packages/client/node/backup-restore-sync.ts through backup-workers.ts
 * `workerPackRestorers`): the same promises as restore on node:fs/promises (backup-engine.test.ts),
 * kept by blocking file calls on several threads at once. One worker and the calling thread share
 * the packs, so a file whose chunks are in two packs (big.bin, 20 MiB) is written by two threads.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LocalRepository } from '../packages/client/node/backup-local-repo.ts';
import { nodeBackupDeps } from '../packages/client/node/backup-node.ts';
import { workerPackRestorers } from '../packages/client/node/backup-workers.ts';
import { backup } from '../packages/client/src/backup/backup.ts';
import type { BackupDeps } from '../packages/client/src/backup/deps.ts';
import { BackupError } from '../packages/client/src/backup/errors.ts';
import type { PackRestorerFactory } from '../packages/client/src/backup/pack-restorer.ts';
import { restore } from '../packages/client/src/backup/restore.ts';
import { initRepository, openRepository, type Session } from '../packages/client/src/backup/session.ts';
import { assertSameTree, bigFilePack, describeTree, makeTree } from './support/backup-engine-tree.ts';

const PASSPHRASE = 'restore on workers';
const TEST_ARGON2 = { memoryKiB: 1024, iterations: 1, parallelism: 1 };

/** Counts the jobs given to the restorer, and the threads' share of them. */
function counting(factory: PackRestorerFactory): { factory: PackRestorerFactory; jobs: () => number } {
  let jobs = 0;
  return {
    factory: (keys, state) => {
      const inner = factory(keys, state);
      return {
        width: inner.width,
        restore: (job) => {
          jobs++;
          return inner.restore(job);
        },
        close: () => inner.close(),
      };
    },
    jobs: () => jobs,
  };
}

const restorers = counting(workerPackRestorers(1));
const deps: BackupDeps = { ...nodeBackupDeps(), packRestorers: restorers.factory };

let work: string;
let source: string;
let repoDir: string;
let snapshotId: string;

async function open(dir = repoDir): Promise<Session> {
  return openRepository(new LocalRepository(dir), deps, PASSPHRASE);
}

before(async () => {
  work = await fs.mkdtemp(join(tmpdir(), 'sealpost-restore-workers-'));
  source = join(work, 'source');
  repoDir = join(work, 'repo');
  await makeTree(source);
  await initRepository(new LocalRepository(repoDir), deps, PASSPHRASE, TEST_ARGON2);
  const session = await open();
  try {
    snapshotId = (await backup(session, source, { hostname: 'h' })).snapshotId;
  } finally {
    session.close();
  }
});

after(async () => {
  await fs.rm(work, { recursive: true, force: true });
});

/** The data pack holding big.bin's first chunk, and every file with a chunk in it. */
async function bigPack(): Promise<{
  pack: string;
  offset: number;
  files: Set<string>;
  damaged: Set<string>;
}> {
  const session = await open();
  try {
    return await bigFilePack(session);
  } finally {
    session.close();
  }
}

async function damagedCopy(pack: string, at: number): Promise<string> {
  const copy = join(work, `damaged-${pack.slice(0, 8)}`);
  await fs.rm(copy, { recursive: true, force: true });
  await fs.cp(repoDir, copy, { recursive: true });
  const path = join(copy, 'packs', pack.slice(0, 2), pack);
  const bytes = await fs.readFile(path);
  bytes[at]! ^= 0x10;
  await fs.writeFile(path, bytes);
  return copy;
}

test('restores on worker threads byte for byte, with modes, mtimes, symlinks, empty and sparse files', async () => {
  const session = await open();
  try {
    const before = restorers.jobs();
    const target = join(work, 'restore-all');
    const result = await restore(session, snapshotId, target);
    assert.ok(restorers.jobs() - before >= 3, 'the packs and the empty files went to the restorer');
    assert.equal(result.symlinks, 3);
    assert.equal(result.files, 306);
    await assertSameTree(target, source);
    const st = await fs.stat(join(target, 'sparse.img'));
    assert.ok(st.blocks * 512 < 4 * 1024 * 1024, `sparse.img allocates ${st.blocks * 512} bytes`);
    const left = [...(await describeTree(target)).keys()].filter((p) => p.endsWith('.sealpost-partial'));
    assert.deepEqual(left, []);
  } finally {
    session.close();
  }
});

test('restores a sub-directory and a single file on worker threads', async () => {
  const session = await open();
  try {
    const target = join(work, 'restore-part');
    await restore(session, snapshotId, target, { path: 'a/b' });
    await assertSameTree(join(target, 'b'), join(source, 'a', 'b'));
    await restore(session, snapshotId, target, { path: 'big.bin' });
    assert.deepEqual(await fs.readFile(join(target, 'big.bin')), await fs.readFile(join(source, 'big.bin')));
  } finally {
    session.close();
  }
});

test('never writes through symlinks planted at a file or partial file name in the target', async () => {
  const session = await open();
  try {
    const target = join(work, 'restore-over-links');
    const outside = join(work, 'outside');
    await fs.mkdir(join(target, 'small'), { recursive: true });
    await fs.mkdir(outside);
    await fs.writeFile(join(outside, 'victim'), 'untouched');
    await fs.symlink(outside, join(target, 'a'));
    await fs.symlink(join(outside, 'victim'), join(target, 'small', 'f001.txt.sealpost-partial'));
    await fs.symlink(join(outside, 'victim'), join(target, 'big.bin.sealpost-partial'));
    await fs.symlink(join(outside, 'victim'), join(target, 'empty.txt'));
    await restore(session, snapshotId, target);
    assert.deepEqual(await fs.readdir(outside), ['victim']);
    assert.equal(await fs.readFile(join(outside, 'victim'), 'utf8'), 'untouched');
    await assertSameTree(target, source);
  } finally {
    session.close();
  }
});

test('stops with BACKUP_DATA_CORRUPT naming a file and the pack, and leaves no partial or wrong file', async () => {
  const { pack, offset, files, damaged } = await bigPack();
  const session = await open(await damagedCopy(pack, offset));
  try {
    const target = join(work, 'restore-damaged');
    await assert.rejects(restore(session, 'latest', target), (e: unknown) => {
      assert.ok(e instanceof BackupError && e.code === 'BACKUP_DATA_CORRUPT', String(e));
      assert.equal(e.details.object, `packs/${pack}`);
      assert.ok(files.has(String(e.details.path)), `${e.details.path} has a chunk in the damaged pack`);
      return true;
    });
    // Files whose chunks in that pack are intact may be written (each blob is authenticated), and
    // then byte for byte; none with the damaged chunk is.
    for (const [path, entry] of await describeTree(target)) {
      assert.ok(!path.endsWith('.sealpost-partial'), path);
      if (entry.kind !== 'file') continue;
      assert.ok(!damaged.has(path), `${path} was written from a damaged chunk`);
      assert.deepEqual(await fs.readFile(join(target, path)), await fs.readFile(join(source, path)), path);
    }
  } finally {
    session.close();
  }
});

test('reports a file system error with its code, and removes the partial files it made', async () => {
  // A name taken by a directory, not a read-only directory: root writes into those.
  const session = await open();
  try {
    const target = join(work, 'restore-blocked');
    await fs.mkdir(join(target, 'small'), { recursive: true });
    // rename(2) cannot put a file where a non-empty directory is.
    await fs.mkdir(join(target, 'small', 'f150.txt', 'inside'), { recursive: true });
    await assert.rejects(restore(session, snapshotId, target), (e: unknown) => {
      const code = (e as { code?: unknown }).code;
      assert.ok(code === 'EISDIR' || code === 'ENOTEMPTY' || code === 'EEXIST', `code ${String(code)}`);
      return true;
    });
    const left = [...(await describeTree(target)).keys()].filter((p) => p.endsWith('.sealpost-partial'));
    assert.deepEqual(left, []);
  } finally {
    session.close();
  }
});
