/**
 * The backup engine end to end on a local repository (packages/client/src/backup/): init, backup,
 * restore (whole and sub-paths), snapshots, ls, check; deduplication; and the typed errors for a
 * wrong passphrase, a target that is no repository, and flipped bits in stored objects.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { SealpostError, toHex } from '@sealpost/core';
import { LocalRepository } from '../packages/client/node/backup-local-repo.ts';
import { nodeBackupDeps } from '../packages/client/node/backup-node.ts';
import { backup } from '../packages/client/src/backup/backup.ts';
import { BlobReader } from '../packages/client/src/backup/blob-reader.ts';
import { check } from '../packages/client/src/backup/check.ts';
import { BackupError } from '../packages/client/src/backup/errors.ts';
import { restore } from '../packages/client/src/backup/restore.ts';
import { initRepository, openRepository, type Session } from '../packages/client/src/backup/session.ts';
import { findSnapshot, listSnapshots, ls } from '../packages/client/src/backup/snapshots.ts';
import { assertSameTree, bigFilePack, describeTree, makeTree } from './support/backup-engine-tree.ts';

const MiB = 1024 * 1024;
const PASSPHRASE = 'correct horse battery staple';
/** Cheap Argon2id for tests (RFC 9106 minimums are enforced by core, not cost). */
const TEST_ARGON2 = { memoryKiB: 1024, iterations: 1, parallelism: 1 };
const deps = nodeBackupDeps();

let work: string;
let source: string;
let repoDir: string;

const isBackupError = (code: string) => (e: unknown) => e instanceof BackupError && e.code === code;

async function open(dir = repoDir): Promise<Session> {
  return openRepository(new LocalRepository(dir), deps, PASSPHRASE);
}

before(async () => {
  work = await fs.mkdtemp(join(tmpdir(), 'sealpost-backup-'));
  source = join(work, 'source');
  repoDir = join(work, 'repo');
  await makeTree(source);
  await initRepository(new LocalRepository(repoDir), deps, PASSPHRASE, TEST_ARGON2);
});

after(async () => {
  // Read-only entries do not stop rm as their owner.
  await fs.rm(work, { recursive: true, force: true });
});

describe('backup engine', () => {
  let firstSnapshot: string;

  test('should restore a tree byte for byte with modes, mtimes, symlinks, empty and sparse files', async (t) => {
    const session = await open();
    try {
      const t0 = performance.now();
      const result = await backup(session, source, { hostname: 'test-host', tags: ['first'] });
      const backupMs = performance.now() - t0;
      firstSnapshot = result.snapshotId;
      assert.equal(result.skipped.length, 0);
      assert.equal(result.symlinks, 3);
      assert.ok(result.packs >= 2, 'data and tree packs');
      const target = join(work, 'restore-all');
      const t1 = performance.now();
      const restored = await restore(session, result.snapshotId, target);
      const restoreMs = performance.now() - t1;
      assert.equal(restored.symlinks, 3);
      await assertSameTree(target, source);
      t.diagnostic(
        `tree of ${(result.bytesRead / MiB).toFixed(1)} MiB: backup ${backupMs.toFixed(0)} ms, restore ${restoreMs.toFixed(0)} ms`,
      );
      // The sparse file's hole stays a hole (allocated blocks well under its 12 MiB).
      const st = await fs.stat(join(target, 'sparse.img'));
      assert.ok(st.blocks * 512 < 4 * MiB, `sparse.img allocates ${st.blocks * 512} bytes`);
    } finally {
      session.close();
    }
  });

  test('should add no pack when backing up an unchanged tree again', async () => {
    const session = await open();
    try {
      const packsBefore = await new LocalRepository(repoDir).list('packs');
      // force: every file is read and chunked again, so this tests deduplication, not reuse.
      const result = await backup(session, source, { hostname: 'test-host', force: true });
      assert.equal(result.packs, 0);
      assert.equal(result.blobsNew, 0);
      assert.ok(result.blobsDeduplicated > 300);
      assert.deepEqual(
        (await new LocalRepository(repoDir).list('packs')).map((p) => p.name).sort(),
        packsBefore.map((p) => p.name).sort(),
      );
      const snapshots = await listSnapshots(session);
      assert.equal(snapshots.length, 2);
      assert.equal(toHex(snapshots[1]!.snapshot.parent!), firstSnapshot);
      assert.deepEqual(snapshots[0]!.snapshot.tags, ['first']);
      assert.equal(toHex(snapshots[1]!.snapshot.tree), toHex(snapshots[0]!.snapshot.tree));
    } finally {
      session.close();
    }
  });

  test('should list a snapshot and find it by prefix or as latest', async () => {
    const session = await open();
    try {
      const reader = await BlobReader.load(session);
      const { snapshot } = await findSnapshot(session, firstSnapshot.slice(0, 8));
      const entries = await ls(reader, snapshot);
      const paths = entries.map((e) => e.path);
      for (const p of [
        'big.bin',
        'a/b/c/deep.txt',
        'empty-dir',
        'small/f299.txt',
        'ünïcode name.txt',
        'dangling',
      ]) {
        assert.ok(paths.includes(p), p);
      }
      const big = entries.find((e) => e.path === 'big.bin')!.node;
      assert.ok(big.kind === 'file' && big.size === 20 * MiB && big.content.length >= 3);
      assert.equal((await findSnapshot(session, 'latest')).id, (await listSnapshots(session))[1]!.id);
      await assert.rejects(findSnapshot(session, 'ffffffffff'), isBackupError('BACKUP_SNAPSHOT_NOT_FOUND'));
    } finally {
      session.close();
    }
  });

  test('should restore a sub-directory or a single file, and refuse a path not in the snapshot', async () => {
    const session = await open();
    try {
      const target = join(work, 'restore-part');
      await restore(session, firstSnapshot, target, { path: 'a/b' });
      await assertSameTree(join(target, 'b'), join(source, 'a', 'b'));
      await restore(session, firstSnapshot, target, { path: '/small/f007.txt' });
      assert.deepEqual(
        await fs.readFile(join(target, 'f007.txt')),
        await fs.readFile(join(source, 'small', 'f007.txt')),
      );
      for (const path of ['nope', 'a/nope', 'big.bin/x']) {
        await assert.rejects(
          restore(session, firstSnapshot, target, { path }),
          isBackupError('BACKUP_PATH_NOT_FOUND'),
        );
      }
    } finally {
      session.close();
    }
  });

  test('should never write through symlinks already in the target', async () => {
    const session = await open();
    try {
      const target = join(work, 'restore-over-links');
      const outside = join(work, 'outside');
      await fs.mkdir(join(target, 'small'), { recursive: true });
      await fs.mkdir(outside);
      await fs.writeFile(join(outside, 'victim'), 'untouched');
      await fs.symlink(outside, join(target, 'a'));
      await fs.symlink(join(outside, 'victim'), join(target, 'small', 'f001.txt.sealpost-partial'));
      await fs.symlink(join(outside, 'victim'), join(target, 'empty.txt'));
      await restore(session, firstSnapshot, target);
      assert.deepEqual(await fs.readdir(outside), ['victim']);
      assert.equal(await fs.readFile(join(outside, 'victim'), 'utf8'), 'untouched');
      await assertSameTree(target, source);
    } finally {
      session.close();
    }
  });

  test('should pass check, with and without --read-data', async () => {
    const session = await open();
    try {
      const structure = await check(session);
      assert.deepEqual(structure.problems, []);
      assert.equal(structure.snapshots, 2);
      assert.equal(structure.packsRead, 0);
      const full = await check(session, { readData: true });
      assert.deepEqual(full.problems, []);
      assert.equal(full.packsRead, full.packs);
    } finally {
      session.close();
    }
  });

  test('should leave out and report entries the file system cannot read, and go on', async () => {
    const failing = (path: string) => path.endsWith('/small/f010.txt') || path.endsWith('/a/b');
    const denied = (path: string) =>
      Promise.reject(Object.assign(new Error(`EACCES: ${path}`), { code: 'EACCES' }));
    const fsDeps = {
      ...deps,
      fs: {
        ...deps.fs,
        openRead: (path: string) => (failing(path) ? denied(path) : deps.fs.openRead(path)),
        readdir: (path: string) => (failing(path) ? denied(path) : deps.fs.readdir(path)),
        // One entry's lstat fails in a directory listed with readdirStats: it is reported alone.
        readdirStats: async (path: string) =>
          failing(path)
            ? denied(path)
            : (await deps.fs.readdirStats!(path)).map((e) =>
                e.name === 'f020.txt' ? { name: e.name, stat: new Error('EIO: lstat failed') } : e,
              ),
      },
    };
    const dir = join(work, 'repo-denied');
    await initRepository(new LocalRepository(dir), fsDeps, PASSPHRASE, TEST_ARGON2);
    const session = await openRepository(new LocalRepository(dir), fsDeps, PASSPHRASE);
    try {
      const result = await backup(session, source, { hostname: 'test-host' });
      assert.deepEqual(result.errors.map((e) => e.path.slice(source.length + 1)).sort(), [
        'a/b',
        'small/f010.txt',
        'small/f020.txt',
      ]);
      const message = (path: string) => result.errors.find((e) => e.path.endsWith(path))!.message;
      assert.match(message('/small/f010.txt'), /EACCES/);
      assert.match(message('/small/f020.txt'), /EIO/);
      const paths = (
        await ls(await BlobReader.load(session), (await findSnapshot(session, 'latest')).snapshot)
      ).map((e) => e.path);
      assert.ok(paths.includes('small/f011.txt') && paths.includes('a/read-only.txt'));
      assert.ok(!paths.includes('small/f010.txt') && !paths.includes('small/f020.txt'));
      assert.ok(!paths.includes('a/b'));
      await assert.rejects(
        backup(session, join(work, 'no-such-source'), { hostname: 'test-host' }),
        (e: unknown) => (e as NodeJS.ErrnoException).code === 'ENOENT',
      );
    } finally {
      session.close();
    }
  });

  test('should init and open with the default Argon2id parameters (64 MiB, t = 3, p = 4)', async () => {
    const dir = join(work, 'default-argon2');
    await initRepository(new LocalRepository(dir), deps, PASSPHRASE);
    const [keyFile] = await new LocalRepository(dir).list('keys');
    assert.equal(keyFile!.length, 123);
    (await openRepository(new LocalRepository(dir), deps, PASSPHRASE)).close();
  });

  test('should refuse a wrong passphrase with KEYSTORE_PASSPHRASE_WRONG', async () => {
    await assert.rejects(
      openRepository(new LocalRepository(repoDir), deps, 'wrong passphrase'),
      (e: unknown) => e instanceof SealpostError && e.code === 'KEYSTORE_PASSPHRASE_WRONG',
    );
  });

  test('should refuse a directory that is not a repository, and init over an existing one', async () => {
    for (const dir of [source, join(work, 'missing'), join(source, 'big.bin')]) {
      await assert.rejects(
        openRepository(new LocalRepository(dir), deps, PASSPHRASE),
        isBackupError('BACKUP_NOT_A_REPOSITORY'),
      );
    }
    await assert.rejects(
      initRepository(new LocalRepository(repoDir), deps, PASSPHRASE, TEST_ARGON2),
      isBackupError('BACKUP_REPOSITORY_EXISTS'),
    );
  });
});

/** Copies the repository and flips one bit in `kind/name` of the copy, at `at` (default: middle). */
async function damagedCopy(kind: string, name: string, at?: number): Promise<string> {
  const copy = join(work, `damaged-${kind}-${name.slice(0, 8)}-${at ?? 'mid'}`);
  await fs.cp(repoDir, copy, { recursive: true });
  const path = kind === 'packs' ? join(copy, kind, name.slice(0, 2), name) : join(copy, kind, name);
  const bytes = await fs.readFile(path);
  const i = at ?? bytes.length >> 1;
  bytes[i]! ^= 0x10;
  await fs.writeFile(path, bytes);
  return copy;
}

describe('backup engine on damaged repositories', () => {
  /** The pack holding big.bin's first chunk, and every file with a chunk in it. */
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

  test('should find a flipped bit in a data pack with check --read-data, not with check', async () => {
    const { pack, offset } = await bigPack();
    const session = await open(await damagedCopy('packs', pack, offset));
    try {
      assert.deepEqual((await check(session)).problems, []);
      const report = await check(session, { readData: true });
      assert.equal(report.ok, false);
      assert.deepEqual(
        report.problems.map((p) => p.object),
        [`packs/${pack}`],
      );
      assert.match(report.problems[0]!.message, /BACKUP_DATA_CORRUPT/);
    } finally {
      session.close();
    }
  });

  test('should stop a restore with BACKUP_DATA_CORRUPT naming the file, and write no wrong file', async () => {
    const { pack, offset, files, damaged } = await bigPack();
    const session = await open(await damagedCopy('packs', pack, offset));
    try {
      const target = join(work, 'restore-damaged-file');
      await assert.rejects(restore(session, 'latest', target, { path: 'big.bin' }), (e: unknown) => {
        assert.ok(e instanceof BackupError && e.code === 'BACKUP_DATA_CORRUPT');
        assert.equal(e.details.path, 'big.bin');
        assert.equal(e.details.object, `packs/${pack}`);
        assert.match(e.message, /big\.bin/);
        return true;
      });
      assert.deepEqual(await fs.readdir(target), []);
      const all = join(work, 'restore-damaged-all');
      await assert.rejects(restore(session, 'latest', all), (e: unknown) => {
        assert.ok(e instanceof BackupError && e.code === 'BACKUP_DATA_CORRUPT');
        assert.ok(files.has(String(e.details.path)), `${e.details.path} has a chunk in the damaged pack`);
        return true;
      });
      // A restore reads the blobs it needs, each authenticated: files whose chunks in that pack are
      // intact may be written, and then byte for byte; none with the damaged chunk is.
      const left = await describeTree(all);
      for (const [path, entry] of left) {
        assert.ok(!path.endsWith('.sealpost-partial'), path);
        if (entry.kind !== 'file') continue;
        assert.ok(!damaged.has(path), `${path} was written from a damaged chunk`);
        assert.deepEqual(await fs.readFile(join(all, path)), await fs.readFile(join(source, path)), path);
      }
    } finally {
      session.close();
    }
  });

  test('should report a deleted pack in check, and name the file in restore', async () => {
    const { pack, files } = await bigPack();
    const copy = join(work, 'missing-pack');
    await fs.cp(repoDir, copy, { recursive: true });
    await fs.rm(join(copy, 'packs', pack.slice(0, 2), pack));
    const session = await open(copy);
    try {
      const report = await check(session);
      assert.deepEqual(report.problems, [{ object: `packs/${pack}`, message: 'indexed but not stored' }]);
      await assert.rejects(restore(session, 'latest', join(work, 'restore-missing')), (e: unknown) => {
        assert.ok(e instanceof BackupError && e.code === 'BACKUP_DATA_CORRUPT');
        assert.ok(files.has(String(e.details.path)));
        return true;
      });
    } finally {
      session.close();
    }
  });

  test('should report a flipped bit in a tree pack, an index file or a snapshot file', async () => {
    const repo = new LocalRepository(repoDir);
    const session0 = await open();
    let treePack: string;
    try {
      const reader = await BlobReader.load(session0);
      const { snapshot } = await findSnapshot(session0, 'latest');
      treePack = toHex(reader.index.find(snapshot.tree)!.packId);
    } finally {
      session0.close();
    }
    const cases: [string, string][] = [
      ['packs', treePack],
      ['index', (await repo.list('index'))[0]!.name],
      ['snapshots', (await repo.list('snapshots'))[0]!.name],
    ];
    for (const [kind, name] of cases) {
      const session = await open(await damagedCopy(kind, name));
      try {
        const report = await check(session);
        assert.equal(report.ok, false, `${kind}/${name}`);
        assert.ok(
          report.problems.some((p) => p.message.includes('BACKUP_DATA_CORRUPT')),
          JSON.stringify(report.problems),
        );
        // A damaged tree pack stops the restore. A damaged snapshot or index file is skipped and
        // reported: the restore fails only if it needed what that file names.
        const restored = restore(session, 'latest', join(work, `r-${kind}`));
        if (kind === 'packs') await assert.rejects(restored, isBackupError('BACKUP_DATA_CORRUPT'));
        else {
          const outcome = await restored.then(
            (r) => r.damaged.map((d) => d.object),
            (e: unknown) => (e instanceof BackupError && e.code === 'BACKUP_DATA_CORRUPT' ? 'corrupt' : e),
          );
          assert.ok(
            outcome === 'corrupt' || (Array.isArray(outcome) && outcome.includes(`${kind}/${name}`)),
            `${kind}/${name}: ${String(outcome)}`,
          );
        }
      } finally {
        session.close();
      }
    }
  });
});
