/**
 * Repository maintenance: `forget` (restic's keep policies, on fixed times), `prune` (condemn,
 * repack, delete after the grace period, on a test clock) and `diff`, on a local repository.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BlobId } from '@sealpost/core/backup/blob';
import { backup } from '../packages/client/src/backup/backup.ts';
import { check } from '../packages/client/src/backup/check.ts';
import { diff } from '../packages/client/src/backup/diff.ts';
import { BackupError } from '../packages/client/src/backup/errors.ts';
import { applyPolicy, forget, type ForgetPolicy } from '../packages/client/src/backup/forget.ts';
import { prune } from '../packages/client/src/backup/prune.ts';
import type { ObjectName } from '../packages/client/src/backup/repository.ts';
import { listSnapshots, type SnapshotInfo } from '../packages/client/src/backup/snapshots.ts';
import {
  count,
  depsWith,
  digestTree,
  MiB,
  newRepository,
  randomData,
  restoredDigest,
  TestClock,
  writeTree,
} from './support/backup-fixtures.ts';

let work: string;
before(async () => {
  work = await fs.mkdtemp(join(tmpdir(), 'sealpost-backup-maint-'));
});
after(async () => {
  await fs.rm(work, { recursive: true, force: true });
});

const isBackupError = (code: string) => (e: unknown) => e instanceof BackupError && e.code === code;
const HOUR = 3_600_000;
const DAY = 24 * HOUR;

/** A snapshot record at an ISO time (no repository needed: the policy is pure). */
function snap(iso: string, hostname = 'h', paths = ['/src']): SnapshotInfo {
  const timeMs = Date.parse(iso);
  return {
    id: (timeMs.toString(16).padStart(64, '0') + hostname) as ObjectName,
    snapshot: { timeMs, tree: new Uint8Array(32) as BlobId, hostname, paths, tags: [] },
  };
}

describe('forget policy (UTC buckets, restic semantics)', () => {
  // One snapshot a day at 12:00 UTC from 2026-01-01 to 2026-03-01 (a Sunday), and one more at 18:00 on it.
  const days = Array.from({ length: 60 }, (_, i) =>
    snap(new Date(Date.UTC(2026, 0, 1, 12) + i * DAY).toISOString()),
  );
  const all = [...days, snap('2026-03-01T18:00:00.000Z')];
  const kept = (policy: ForgetPolicy, snapshots = all) =>
    applyPolicy(snapshots, policy).flatMap((g) =>
      g.keep.map(
        (k) => `${new Date(k.snapshot.snapshot.timeMs).toISOString().slice(0, 13)} ${k.reasons.join(',')}`,
      ),
    );

  const cases: [string, ForgetPolicy, string[]][] = [
    ['last 2 keeps the two newest', { last: 2 }, ['2026-03-01T18 last', '2026-03-01T12 last']],
    [
      'daily 3 keeps the newest of each of the three latest days',
      { daily: 3 },
      ['2026-03-01T18 daily', '2026-02-28T12 daily', '2026-02-27T12 daily'],
    ],
    ['hourly 2 keeps one per hour', { hourly: 2 }, ['2026-03-01T18 hourly', '2026-03-01T12 hourly']],
    [
      'weekly 2 keeps the newest of two ISO weeks (Monday to Sunday)',
      { weekly: 2 },
      ['2026-03-01T18 weekly', '2026-02-22T12 weekly'],
    ],
    [
      'monthly 3 keeps the last of each month',
      { monthly: 3 },
      ['2026-03-01T18 monthly', '2026-02-28T12 monthly', '2026-01-31T12 monthly'],
    ],
    [
      "yearly 2 over one year keeps that year's newest and, as restic 0.17, the group's oldest",
      { yearly: 2 },
      ['2026-03-01T18 yearly', '2026-01-01T12 yearly'],
    ],
    [
      'rules combine, and each snapshot lists every rule that keeps it',
      { last: 1, daily: 2, weekly: 2, monthly: 2 },
      ['2026-03-01T18 last,daily,weekly,monthly', '2026-02-28T12 daily,monthly', '2026-02-22T12 weekly'],
    ],
  ];
  for (const [name, policy, want] of cases) test(name, () => assert.deepEqual(kept(policy), want));

  test('removes exactly the snapshots it does not keep', () => {
    const [group] = applyPolicy(all, { last: 1, daily: 2, weekly: 2, monthly: 2 });
    assert.equal(group!.keep.length + group!.remove.length, all.length);
    assert.equal(group!.remove.length, 58);
  });

  test('ISO weeks cross the new year: 2025-12-29 and 2026-01-02 are one week', () => {
    const snapshots = [
      snap('2025-12-28T12:00:00Z'),
      snap('2025-12-29T12:00:00Z'),
      snap('2026-01-02T12:00:00Z'),
    ];
    assert.deepEqual(kept({ weekly: 5 }, snapshots), ['2026-01-02T12 weekly', '2025-12-28T12 weekly']);
  });

  test('groups by hostname and paths, each keeping its own', () => {
    const snapshots = [
      snap('2026-01-01T00:00:00Z', 'a'),
      snap('2026-01-02T00:00:00Z', 'a'),
      snap('2026-01-01T00:00:00Z', 'b'),
      snap('2026-01-03T00:00:00Z', 'a', ['/other']),
    ];
    const groups = applyPolicy(snapshots, { last: 1 });
    assert.deepEqual(
      groups.map((g) => [g.hostname, g.paths.join(), g.keep.length, g.remove.length]),
      [
        ['a', '/other', 1, 0],
        ['a', '/src', 1, 1],
        ['b', '/src', 1, 0],
      ],
    );
  });

  test('the outcome does not depend on the input order', () => {
    const policy = { daily: 5, weekly: 3 };
    assert.deepEqual(applyPolicy([...all].reverse(), policy), applyPolicy(all, policy));
  });

  test('refuses a policy that keeps nothing, or a negative count', () => {
    assert.throws(() => applyPolicy(all, {}), isBackupError('BACKUP_POLICY_EMPTY'));
    assert.throws(() => applyPolicy(all, { last: 0, daily: 0 }), isBackupError('BACKUP_POLICY_EMPTY'));
    assert.throws(() => applyPolicy(all, { last: -1, daily: 2 }), isBackupError('BACKUP_POLICY_EMPTY'));
  });
});

describe('forget and prune on a repository', () => {
  const clock = new TestClock();
  const deps = depsWith(clock);
  const graceMs = 6 * HOUR;
  const shared = randomData(3 * MiB);
  const onlyA = randomData(3 * MiB);
  const onlyB = randomData(2 * MiB);

  test('forget removes snapshot files (not on a dry run); prune frees data only after the grace period', async () => {
    const source = join(work, 'prune-src');
    const { local, session } = await newRepository(join(work, 'prune-repo'), deps);
    try {
      await writeTree(source, { 'shared.bin': shared, 'a.bin': onlyA });
      const a = await backup(session, source, { hostname: 'h', graceMs });
      clock.ms += DAY;
      await fs.rm(join(source, 'a.bin'));
      await writeTree(source, { 'b.bin': onlyB });
      const b = await backup(session, source, { hostname: 'h', graceMs });
      const wantB = await digestTree(source);

      const dry = await forget(session, { last: 1 }, { dryRun: true });
      assert.equal(dry.removed, 0);
      assert.deepEqual(
        dry.groups[0]!.remove.map((s) => s.id),
        [a.snapshotId],
      );
      assert.equal(await count(local, 'snapshots'), 2);
      assert.equal((await forget(session, { last: 1 })).removed, 1);
      assert.deepEqual(
        (await listSnapshots(session)).map((s) => s.id),
        [b.snapshotId],
      );

      const packsBefore = await local.list('packs');
      const dryPrune = await prune(session, { graceMs, repackUnusedShare: 0, dryRun: true });
      assert.equal(dryPrune.packsRepacked, 1, "a's pack also holds the shared file");
      assert.deepEqual(await local.list('packs'), packsBefore, 'a dry run writes nothing');

      // First prune: repacks the shared blobs, condemns a's packs, deletes nothing.
      const first = await prune(session, { graceMs, repackUnusedShare: 0 });
      assert.equal(first.packsRepacked, 1);
      assert.equal(first.packsCondemned, a.packs, "a's packs, the repacked one included");
      assert.equal(first.packsDeleted, 0);
      // The shared file's chunks, sealed (29 bytes each on incompressible data).
      assert.ok(first.bytesCopied >= 3 * MiB && first.bytesCopied <= 3 * MiB + 29 * first.blobsCopied);
      assert.equal(await count(local, 'index'), 1, "one index file replaces the run's");
      assert.equal((await check(session, { readData: true })).ok, true);

      // Within the grace period: still nothing deleted.
      clock.ms += graceMs - 1;
      const second = await prune(session, { graceMs, repackUnusedShare: 0 });
      assert.equal(second.packsDeleted, 0);
      assert.equal(second.packsPending, first.packsCondemned);

      clock.ms += 1;
      const third = await prune(session, { graceMs, repackUnusedShare: 0 });
      assert.equal(third.packsDeleted, first.packsCondemned);
      const bytes = async () => (await local.list('packs')).reduce((t, p) => t + p.length, 0);
      const before = packsBefore.reduce((t, p) => t + p.length, 0);
      assert.ok((await bytes()) < before - 2 * MiB, `${await bytes()} < ${before} - 2 MiB`);
      const report = await check(session, { readData: true });
      assert.equal(report.ok, true, JSON.stringify(report.problems));
      assert.equal(report.unreferencedPacks, 0);
      assert.deepEqual(await restoredDigest(session, b.snapshotId, join(work, 'prune-out')), wantB);

      // Nothing left to do: a further prune changes nothing.
      const names = (await local.list('index')).map((i) => i.name);
      const idle = await prune(session, { graceMs, repackUnusedShare: 0 });
      assert.equal(idle.packsDeleted + idle.packsCondemned + idle.packsRepacked, 0);
      assert.deepEqual(
        (await local.list('index')).map((i) => i.name),
        names,
      );
    } finally {
      session.close();
    }
  });

  test('a snapshot that reappears after prune condemned its packs keeps them (rescued, not deleted)', async () => {
    const source = join(work, 'rescue-src');
    const { local, session } = await newRepository(join(work, 'rescue-repo'), deps);
    try {
      await writeTree(source, { 'a.bin': onlyA });
      const a = await backup(session, source, { hostname: 'h', graceMs });
      const want = await digestTree(source);
      const file = await local.get('snapshots', a.snapshotId as ObjectName);
      await session.repo.delete('snapshots', a.snapshotId as ObjectName);
      const first = await prune(session, { graceMs });
      assert.ok(first.packsCondemned >= 1);
      assert.equal(first.packsCondemned, a.packs, 'every pack of the deleted snapshot');
      // A backup that deduplicated against those packs before the prune wrote its snapshot now.
      await session.repo.put('snapshots', a.snapshotId as ObjectName, file);
      clock.ms += graceMs;
      const second = await prune(session, { graceMs });
      assert.equal(second.packsDeleted, 0);
      assert.equal(second.packsRescued, first.packsCondemned);
      assert.deepEqual(await restoredDigest(session, a.snapshotId, join(work, 'rescue-out')), want);
      // Live again: a third prune, long after, deletes nothing either.
      clock.ms += 10 * graceMs;
      assert.equal((await prune(session, { graceMs })).packsDeleted, 0);
    } finally {
      session.close();
    }
  });
});

describe('diff', () => {
  test('lists added, removed, modified and metadata-only paths with their sizes', async () => {
    const clock = new TestClock();
    const deps = depsWith(clock);
    const source = join(work, 'diff-src');
    const { session } = await newRepository(join(work, 'diff-repo'), deps);
    try {
      await writeTree(source, {
        'same.txt': 'unchanged',
        'edit.txt': 'before',
        'gone.txt': 'removed soon',
        'mode.txt': 'chmod only',
        'becomes-dir': 'a file first',
        'dir/keep.txt': 'kept',
        'olddir/x.txt': 'xx',
      });
      await fs.symlink('same.txt', join(source, 'link'));
      const one = await backup(session, source, { hostname: 'h' });
      clock.ms += HOUR;
      await fs.writeFile(join(source, 'edit.txt'), 'after, longer');
      await fs.rm(join(source, 'gone.txt'));
      await fs.chmod(join(source, 'mode.txt'), 0o600);
      await fs.rm(join(source, 'becomes-dir'));
      await fs.rm(join(source, 'olddir'), { recursive: true });
      await writeTree(source, { 'becomes-dir/inner.txt': 'inner', 'new.txt': 'brand new' });
      await fs.rm(join(source, 'link'));
      await fs.symlink('edit.txt', join(source, 'link'));
      const two = await backup(session, source, { hostname: 'h' });
      const result = await diff(session, one.snapshotId, two.snapshotId.slice(0, 10));
      const rows = result.entries.map(
        (e) => `${e.change} ${e.kind} ${e.path} ${e.sizeBefore ?? '-'} ${e.sizeAfter ?? '-'}`,
      );
      assert.deepEqual(rows, [
        'removed file becomes-dir 12 -',
        'added dir becomes-dir - -',
        'added file becomes-dir/inner.txt - 5',
        'modified file edit.txt 6 13',
        'removed file gone.txt 12 -',
        'modified symlink link - -',
        'metadata file mode.txt 10 10',
        'added file new.txt - 9',
        'removed dir olddir - -',
        'removed file olddir/x.txt 2 -',
      ]);
      assert.equal(result.bytesAdded, 14);
      assert.equal(result.bytesRemoved, 26);
      assert.equal((await diff(session, two.snapshotId, two.snapshotId)).entries.length, 0);
      await assert.rejects(diff(session, 'ffff', one.snapshotId), isBackupError('BACKUP_SNAPSHOT_NOT_FOUND'));
    } finally {
      session.close();
    }
  });
});
