/**
 * The local-directory repository (packages/client/node/backup-local-repo.ts): content-addressed
 * names, idempotent and verified puts, ranged gets, listing, typed errors, and packs spooled to
 * tmp/ as they fill.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LocalRepository } from '../packages/client/node/backup-local-repo.ts';
import { BackupError } from '../packages/client/src/backup/errors.ts';
import { BACKUP_ENGINE_LIMITS } from '../packages/client/src/backup/limits.ts';
import type { ObjectName } from '../packages/client/src/backup/repository.ts';

const nameOf = (b: Uint8Array) => createHash('sha256').update(b).digest('hex') as ObjectName;

async function withRepo(run: (repo: LocalRepository, root: string) => Promise<void>): Promise<void> {
  const root = await mkdtemp(join(tmpdir(), 'sealpost-repo-'));
  try {
    await run(new LocalRepository(root), root);
  } finally {
    await rm(root, { recursive: true, force: true });
  }
}

const isCode = (code: string) => (e: unknown) => e instanceof BackupError && e.code === code;

describe('LocalRepository', () => {
  test('should store, list, fetch, range and delete objects of every kind', () =>
    withRepo(async (repo) => {
      const bytes = new TextEncoder().encode('hello, repository');
      const name = nameOf(bytes);
      for (const kind of ['keys', 'packs', 'index', 'snapshots'] as const) {
        assert.equal(await repo.exists(kind, name), false);
        await repo.put(kind, name, bytes);
        assert.equal(await repo.exists(kind, name), true);
        assert.deepEqual(await repo.list(kind), [{ name, length: bytes.length }]);
        assert.deepEqual(await repo.get(kind, name), bytes);
        assert.deepEqual(await repo.get(kind, name, { offset: 7, length: 4 }), bytes.subarray(7, 11));
        await repo.delete(kind, name);
        await repo.delete(kind, name);
        assert.equal(await repo.exists(kind, name), false);
      }
    }));

  test('should fan packs out by the first two hex digits and leave no temporary file', () =>
    withRepo(async (repo, root) => {
      const bytes = new Uint8Array([1, 2, 3]);
      const name = nameOf(bytes);
      await repo.put('packs', name, bytes);
      assert.deepEqual(await readFile(join(root, 'packs', name.slice(0, 2), name)), Buffer.from(bytes));
      assert.deepEqual(await readdir(join(root, 'tmp')), []);
    }));

  test('should refuse bytes that do not hash to the name, and a malformed name', () =>
    withRepo(async (repo) => {
      const bytes = new Uint8Array([1, 2, 3]);
      await assert.rejects(
        repo.put('index', nameOf(new Uint8Array([9])), bytes),
        isCode('BACKUP_OBJECT_NAME_INVALID'),
      );
      for (const bad of ['', 'ABCD', '../'.padEnd(64, 'a'), nameOf(bytes).toUpperCase()]) {
        await assert.rejects(
          repo.put('index', bad as ObjectName, bytes),
          isCode('BACKUP_OBJECT_NAME_INVALID'),
        );
        await assert.rejects(repo.get('index', bad as ObjectName), isCode('BACKUP_OBJECT_NAME_INVALID'));
      }
      assert.deepEqual(await repo.list('index'), []);
    }));

  test('should refuse every hostile object name with BACKUP_OBJECT_NAME_INVALID and touch nothing', () =>
    withRepo(async (repo, root) => {
      const hostile: unknown[] = [
        undefined,
        null,
        0,
        1n,
        {},
        [],
        '',
        'a',
        '0'.repeat(63),
        '0'.repeat(65),
        'g'.repeat(64),
        'A'.repeat(64),
        ' '.repeat(64),
        '../' + '0'.repeat(61),
        '0'.repeat(62) + '/x',
        '0'.repeat(63) + '\0',
        '0'.repeat(64) + '\n',
        '\u0660'.repeat(64),
        new String('0'.repeat(64)),
      ];
      for (const bad of hostile) {
        const name = bad as ObjectName;
        await assert.rejects(
          repo.put('packs', name, new Uint8Array(1)),
          isCode('BACKUP_OBJECT_NAME_INVALID'),
        );
        await assert.rejects(repo.get('packs', name), isCode('BACKUP_OBJECT_NAME_INVALID'));
        await assert.rejects(repo.exists('packs', name), isCode('BACKUP_OBJECT_NAME_INVALID'));
        await assert.rejects(repo.delete('packs', name), isCode('BACKUP_OBJECT_NAME_INVALID'));
      }
      assert.deepEqual(await readdir(root), []);
    }));

  test('should treat a repeated put as done, and replace a damaged copy', () =>
    withRepo(async (repo, root) => {
      const bytes = new Uint8Array([4, 5, 6, 7]);
      const name = nameOf(bytes);
      await repo.put('snapshots', name, bytes);
      await repo.put('snapshots', name, bytes);
      assert.equal((await repo.list('snapshots')).length, 1);
      await writeFile(join(root, 'snapshots', name), new Uint8Array([4, 5, 6, 8]));
      await repo.put('snapshots', name, bytes);
      assert.deepEqual(await repo.get('snapshots', name), bytes);
    }));

  test('should report a missing object or a range past the end as BACKUP_DATA_CORRUPT', () =>
    withRepo(async (repo) => {
      const bytes = new Uint8Array([1, 2, 3]);
      const name = nameOf(bytes);
      await assert.rejects(repo.get('packs', name), isCode('BACKUP_DATA_CORRUPT'));
      await repo.put('packs', name, bytes);
      await assert.rejects(repo.get('packs', name, { offset: 2, length: 2 }), isCode('BACKUP_DATA_CORRUPT'));
      await assert.rejects(repo.get('packs', name, { offset: -1, length: 1 }), isCode('BACKUP_DATA_CORRUPT'));
    }));

  test('should list nothing in a directory that does not exist or is not a repository', async () => {
    const repo = new LocalRepository(join(tmpdir(), 'sealpost-no-such-dir-' + process.pid));
    for (const kind of ['keys', 'packs', 'index', 'snapshots'] as const)
      assert.deepEqual(await repo.list(kind), []);
  });

  test('should store a spooled pack under the SHA-256 of what was appended, and read back any range of it', () =>
    withRepo(async (repo, root) => {
      const parts = [
        new Uint8Array(100_000).fill(7),
        new Uint8Array([1, 2, 3]),
        new Uint8Array(5000).fill(9),
      ];
      const whole = Buffer.concat(parts);
      const spool = repo.spoolPack();
      for (const p of parts) spool.append(p);
      assert.equal(spool.length, whole.length);
      assert.deepEqual(spool.read(99_999, 4), new Uint8Array([7, 1, 2, 3]));
      assert.throws(() => spool.read(whole.length - 1, 2), RangeError);
      const digest = spool.seal();
      assert.equal(Buffer.from(digest).toString('hex'), nameOf(whole));
      assert.throws(() => spool.append(new Uint8Array(1)), /sealed/);
      assert.deepEqual(await repo.list('packs'), []);
      await spool.store();
      assert.deepEqual(await repo.get('packs', nameOf(whole)), new Uint8Array(whole));
      assert.deepEqual(await readdir(join(root, 'tmp')), []);
      await spool.discard();
      assert.equal(await repo.exists('packs', nameOf(whole)), true);
    }));

  test('should leave nothing behind when a spooled pack is discarded, sealed or not', () =>
    withRepo(async (repo, root) => {
      const open = repo.spoolPack();
      open.append(new Uint8Array(1000));
      const sealed = repo.spoolPack();
      sealed.append(new Uint8Array(2000).fill(1));
      sealed.seal();
      assert.equal((await readdir(join(root, 'tmp'))).length, 2);
      await open.discard();
      await sealed.discard();
      await sealed.discard();
      assert.deepEqual(await readdir(join(root, 'tmp')), []);
      assert.deepEqual(await repo.list('packs'), []);
      assert.throws(() => open.append(new Uint8Array(1)), /discarded/);
    }));

  test("should remove a killed run's stale leftovers from tmp/ and keep files written recently", () =>
    withRepo(async (repo, root) => {
      const tmp = join(root, 'tmp');
      await mkdir(tmp, { recursive: true });
      await writeFile(join(tmp, 'pack.stale'), 'left by a killed run');
      await writeFile(join(tmp, 'pack.live'), 'another run is writing this');
      const old = (Date.now() - BACKUP_ENGINE_LIMITS.localTmpStaleMs - 60_000) / 1000;
      await utimes(join(tmp, 'pack.stale'), old, old);
      const spool = repo.spoolPack();
      const left = await readdir(tmp);
      assert.equal(left.includes('pack.stale'), false);
      assert.equal(left.includes('pack.live'), true);
      await spool.discard();
    }));
});
