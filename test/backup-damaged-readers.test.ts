/**
 * Readers go on past a snapshot or index file that does not open (damaged, or planted by the
 * server): `listSnapshots` and `restore` skip it and report it, `check` names each one, and only a
 * request that needs it (the damaged snapshot itself) fails, with BACKUP_DATA_CORRUPT naming it.
 * Writers stay strict: `prune` refuses to run past one.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { LocalRepository } from '../packages/client/node/backup-local-repo.ts';
import { nodeBackupDeps } from '../packages/client/node/backup-node.ts';
import { backup } from '../packages/client/src/backup/backup.ts';
import { check } from '../packages/client/src/backup/check.ts';
import { BackupError } from '../packages/client/src/backup/errors.ts';
import { prune } from '../packages/client/src/backup/prune.ts';
import type { ObjectName } from '../packages/client/src/backup/repository.ts';
import { restore } from '../packages/client/src/backup/restore.ts';
import {
  initRepository,
  nameOf,
  openRepository,
  type Session,
} from '../packages/client/src/backup/session.ts';
import { findSnapshot, listSnapshots, type DamagedObject } from '../packages/client/src/backup/snapshots.ts';

const TEST_ARGON2 = { memoryKiB: 1024, iterations: 1, parallelism: 1 };
const deps = nodeBackupDeps();
let work: string;
let repo: LocalRepository;
let session: Session;
let older: string;
let newer: string;
const content = randomBytes(50_000);

before(async () => {
  work = await fs.mkdtemp(join(tmpdir(), 'sealpost-damaged-'));
  const source = join(work, 'src');
  await fs.mkdir(source);
  await fs.writeFile(join(source, 'a.bin'), content);
  repo = new LocalRepository(join(work, 'repo'));
  await initRepository(repo, deps, 'pw', TEST_ARGON2);
  session = await openRepository(repo, deps, 'pw');
  older = (await backup(session, source, { hostname: 'h' })).snapshotId;
  await fs.writeFile(join(source, 'b.txt'), 'second');
  newer = (await backup(session, source, { hostname: 'h' })).snapshotId;
});
after(async () => {
  session.close();
  await fs.rm(work, { recursive: true, force: true });
});

/** Stores junk under its own (correct) name, as a hostile server could. */
async function plant(kind: 'snapshots' | 'index'): Promise<ObjectName> {
  const junk = randomBytes(300);
  const name = nameOf(deps, junk);
  await repo.put(kind, name, junk);
  return name;
}

test('skips and reports a snapshot file that does not open; the others list and restore', async () => {
  const bad = await plant('snapshots');
  try {
    await assert.rejects(listSnapshots(session), (e: unknown) => e instanceof BackupError);
    const damaged: DamagedObject[] = [];
    const listed = await listSnapshots(session, damaged);
    assert.deepEqual(
      listed.map((s) => s.id),
      [older, newer],
    );
    assert.equal(damaged.length, 1);
    assert.equal(damaged[0]!.object, `snapshots/${bad}`);
    assert.match(damaged[0]!.message, /BACKUP_DATA_CORRUPT/);

    const result = await restore(session, 'latest', join(work, 'r1'));
    assert.equal(result.files, 2);
    assert.deepEqual(
      result.damaged.map((d) => d.object),
      [`snapshots/${bad}`],
    );
    assert.ok(content.equals(await fs.readFile(join(work, 'r1', 'a.bin'))));

    await assert.rejects(findSnapshot(session, bad.slice(0, 16)), (e: unknown) => {
      assert.ok(e instanceof BackupError && e.code === 'BACKUP_DATA_CORRUPT');
      assert.equal(e.details.object, `snapshots/${bad}`);
      return true;
    });
    const report = await check(session);
    assert.deepEqual(
      report.problems.map((p) => p.object),
      [`snapshots/${bad}`],
    );
    assert.equal(report.snapshots, 2, 'the readable snapshots were still walked');
  } finally {
    await repo.delete('snapshots', bad);
  }
});

test('skips and reports an index file that does not open; prune refuses to run past it', async () => {
  const bad = await plant('index');
  try {
    const result = await restore(session, older, join(work, 'r2'));
    assert.equal(result.files, 1);
    assert.deepEqual(
      result.damaged.map((d) => d.object),
      [`index/${bad}`],
    );
    assert.ok(content.equals(await fs.readFile(join(work, 'r2', 'a.bin'))));
    await assert.rejects(prune(session, {}), (e: unknown) => {
      assert.ok(e instanceof BackupError && e.code === 'BACKUP_DATA_CORRUPT');
      assert.equal(e.details.object, `index/${bad}`);
      return true;
    });
  } finally {
    await repo.delete('index', bad);
  }
});
