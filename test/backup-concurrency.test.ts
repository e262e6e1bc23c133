/**
 * Several writers and prune on one repository, without a lock (docs/backup-engine.md §Concurrent
 * writers and prune): the races prune's grace period exists for, played out deterministically, then
 * two clients backing up over and over while prunes run, after which every snapshot restores byte
 * for byte.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LocalRepository } from '../packages/client/node/backup-local-repo.ts';
import { backup, type BackupResult } from '../packages/client/src/backup/backup.ts';
import { check } from '../packages/client/src/backup/check.ts';
import type { BackupDeps } from '../packages/client/src/backup/deps.ts';
import { forget } from '../packages/client/src/backup/forget.ts';
import { prune } from '../packages/client/src/backup/prune.ts';
import type { ObjectKind, ObjectName, Repository } from '../packages/client/src/backup/repository.ts';
import { openRepository, type Session } from '../packages/client/src/backup/session.ts';
import { listSnapshots } from '../packages/client/src/backup/snapshots.ts';
import {
  depsWith,
  digestTree,
  MiB,
  newRepository,
  PASSPHRASE,
  randomData,
  restoredDigest,
  TestClock,
  writeTree,
} from './support/backup-fixtures.ts';

const HOUR = 3_600_000;
const graceMs = 6 * HOUR;

let work: string;
before(async () => {
  work = await fs.mkdtemp(join(tmpdir(), 'sealpost-backup-conc-'));
});
after(async () => {
  await fs.rm(work, { recursive: true, force: true });
});

/** A repository that runs `hook` before storing an object of `kind`, once. */
class Paused implements Repository {
  readonly inner: Repository;
  #hook: { kind: ObjectKind; run: () => Promise<void> } | undefined;
  constructor(inner: Repository) {
    this.inner = inner;
  }
  pauseBefore(kind: ObjectKind, run: () => Promise<void>): void {
    this.#hook = { kind, run };
  }
  async put(kind: ObjectKind, name: ObjectName, bytes: Uint8Array): Promise<void> {
    const hook = this.#hook;
    if (hook?.kind === kind) {
      this.#hook = undefined;
      await hook.run();
    }
    return this.inner.put(kind, name, bytes);
  }
  get = (kind: ObjectKind, name: ObjectName, range?: { offset: number; length: number }) =>
    this.inner.get(kind, name, range);
  list = (kind: ObjectKind) => this.inner.list(kind);
  exists = (kind: ObjectKind, name: ObjectName) => this.inner.exists(kind, name);
  delete = (kind: ObjectKind, name: ObjectName) => this.inner.delete(kind, name);
}

describe('a backup racing a prune', () => {
  /**
   * A repository whose only snapshot was forgotten: its packs are unused. Client B then backs up
   * the same files and one more, deduplicating against those packs, and stops just before its final
   * check (the hook runs before B stores its index file), while the test runs prunes.
   */
  async function setUp(name: string) {
    const clock = new TestClock();
    const deps = depsWith(clock);
    const source = join(work, `${name}-src`);
    await writeTree(source, { 'a.bin': randomData(2 * MiB), 'b/c.txt': 'some text '.repeat(5000) });
    const { local, session: admin } = await newRepository(join(work, `${name}-repo`), deps);
    const first = await backup(admin, source, { hostname: 'a', graceMs });
    await admin.repo.delete('snapshots', first.snapshotId as ObjectName);
    // One new file, so that B stores a pack or two (and an index file) of its own.
    await writeTree(source, { 'extra.txt': 'only in the second backup' });
    const paused = new Paused(new LocalRepository(local.root));
    const client = await openRepository(paused, deps, PASSPHRASE);
    return { clock, deps, source, local, admin, paused, client, want: await digestTree(source) };
  }

  test('packs deleted under a running backup make it walk again, and its snapshot is whole', async () => {
    const { clock, source, admin, paused, client, want, local } = await setUp('deleted');
    try {
      paused.pauseBefore('index', async () => {
        const first = await prune(admin, { graceMs });
        assert.ok(first.packsCondemned >= 2);
        clock.ms += graceMs;
        const second = await prune(admin, { graceMs });
        assert.equal(second.packsDeleted, first.packsCondemned, 'B has no snapshot yet: nothing uses them');
      });
      const result = await backup(client, source, { hostname: 'b', graceMs });
      assert.equal(result.attempts, 2);
      assert.ok(result.blobsNew >= 3, 'the second walk stores the data again');
      assert.deepEqual(await restoredDigest(client, result.snapshotId, join(work, 'deleted-out')), want);
      assert.equal((await check(admin, { readData: true })).ok, true);
      assert.ok((await local.list('packs')).length >= 1, 'the second walk stored the data again');
    } finally {
      client.close();
      admin.close();
    }
  });

  test('packs condemned under a running backup (within the grace period) are kept by the next prune', async () => {
    const { clock, source, admin, paused, client, want } = await setUp('condemned');
    try {
      let condemned = 0;
      paused.pauseBefore('index', async () => {
        condemned = (await prune(admin, { graceMs })).packsCondemned;
      });
      const result = await backup(client, source, { hostname: 'b', graceMs });
      assert.equal(result.attempts, 1, 'fresh condemnations are safe to use');
      assert.equal(result.blobsNew, 2, 'only the new file and the root tree are stored');
      assert.ok(condemned >= 2);
      clock.ms += graceMs;
      const next = await prune(admin, { graceMs });
      // The old data pack is B's now; the old tree pack held the forgotten root tree too, so its
      // used blob is copied out and the pack deleted.
      assert.ok(next.packsRescued >= 1);
      assert.equal((await check(admin, { readData: true })).ok, true);
      assert.deepEqual(await restoredDigest(client, result.snapshotId, join(work, 'condemned-out')), want);
    } finally {
      client.close();
      admin.close();
    }
  });

  test('packs condemned more than half a grace period before the check make the backup walk again', async () => {
    const { clock, source, admin, paused, client, want } = await setUp('late');
    try {
      paused.pauseBefore('index', async () => {
        await prune(admin, { graceMs });
        clock.ms += graceMs / 2;
      });
      const result = await backup(client, source, { hostname: 'b', graceMs });
      assert.equal(result.attempts, 2);
      clock.ms += graceMs / 2;
      const next = await prune(admin, { graceMs });
      assert.ok(next.packsDeleted >= 2, 'the old packs go; the backup no longer needs them');
      assert.deepEqual(await restoredDigest(client, result.snapshotId, join(work, 'late-out')), want);
    } finally {
      client.close();
      admin.close();
    }
  });
});

/** A repository that yields for a random moment before every call, so concurrent runs interleave. */
class Jittery implements Repository {
  readonly inner: Repository;
  constructor(inner: Repository) {
    this.inner = inner;
  }
  async #jitter(): Promise<void> {
    await new Promise((r) => setTimeout(r, Math.floor(Math.random() * 3)));
  }
  async put(kind: ObjectKind, name: ObjectName, bytes: Uint8Array): Promise<void> {
    await this.#jitter();
    return this.inner.put(kind, name, bytes);
  }
  async get(
    kind: ObjectKind,
    name: ObjectName,
    range?: { offset: number; length: number },
  ): Promise<Uint8Array> {
    await this.#jitter();
    return this.inner.get(kind, name, range);
  }
  async list(kind: ObjectKind): Promise<{ name: ObjectName; length: number }[]> {
    await this.#jitter();
    return this.inner.list(kind);
  }
  async exists(kind: ObjectKind, name: ObjectName): Promise<boolean> {
    await this.#jitter();
    return this.inner.exists(kind, name);
  }
  async delete(kind: ObjectKind, name: ObjectName): Promise<void> {
    await this.#jitter();
    return this.inner.delete(kind, name);
  }
}

/** A repository that runs `hook` once, before its first deletion of an object of `kind`. */
class BeforeDelete implements Repository {
  readonly inner: Repository;
  #hook: { kind: ObjectKind; run: () => Promise<void> } | undefined;
  constructor(inner: Repository, kind: ObjectKind, run: () => Promise<void>) {
    this.inner = inner;
    this.#hook = { kind, run };
  }
  async delete(kind: ObjectKind, name: ObjectName): Promise<void> {
    const hook = this.#hook;
    if (hook?.kind === kind) {
      this.#hook = undefined;
      await hook.run();
    }
    return this.inner.delete(kind, name);
  }
  put = (kind: ObjectKind, name: ObjectName, bytes: Uint8Array) => this.inner.put(kind, name, bytes);
  get = (kind: ObjectKind, name: ObjectName, range?: { offset: number; length: number }) =>
    this.inner.get(kind, name, range);
  list = (kind: ObjectKind) => this.inner.list(kind);
  exists = (kind: ObjectKind, name: ObjectName) => this.inner.exists(kind, name);
}

describe('a backup starting while a prune deletes packs', () => {
  test('does not adopt a pack the prune is deleting, and its snapshot restores', async () => {
    const clock = new TestClock();
    const deps = depsWith(clock);
    const source = join(work, 'adopt-src');
    await writeTree(source, { 'a.bin': randomData(2 * MiB), 'b/c.txt': 'some text '.repeat(5000) });
    const { local, session: admin } = await newRepository(join(work, 'adopt-repo'), deps);
    const client = await openRepository(new LocalRepository(local.root), deps, PASSPHRASE);
    let during: BackupResult | undefined;
    const pruner = await openRepository(
      new BeforeDelete(new LocalRepository(local.root), 'packs', async () => {
        // The prune has decided which packs go. Before, it had already replaced the index files
        // that listed them (condemned), so this backup took them for an interrupted run's packs,
        // adopted them as live and used them, and the prune then deleted them.
        during = await backup(client, source, { hostname: 'b', graceMs });
      }),
      deps,
      PASSPHRASE,
    );
    try {
      const first = await backup(admin, source, { hostname: 'a', graceMs });
      await admin.repo.delete('snapshots', first.snapshotId as ObjectName);
      assert.ok((await prune(pruner, { graceMs })).packsCondemned >= 1);
      clock.ms += graceMs;
      const second = await prune(pruner, { graceMs });
      assert.ok(second.packsDeleted >= 1);
      assert.ok(during !== undefined, 'the backup ran while the prune deleted packs');
      assert.equal(during.packsAdopted, 0);
      const want = await digestTree(source);
      assert.deepEqual(await restoredDigest(client, during.snapshotId, join(work, 'adopt-out')), want);
      assert.equal((await check(admin, { readData: true })).ok, true);
    } finally {
      for (const s of [client, pruner, admin]) s.close();
    }
  });
});

describe('two clients and prune at once', () => {
  test('every snapshot left restores byte for byte, and check --read-data finds nothing wrong', async () => {
    const clock = new TestClock();
    const deps: BackupDeps = depsWith(clock);
    const dir = join(work, 'many-repo');
    const { session: admin } = await newRepository(dir, deps);
    const open = async () => openRepository(new Jittery(new LocalRepository(dir)), deps, PASSPHRASE);
    const clients: Session[] = [await open(), await open()];
    const pruner = await open();
    // Files both clients hold (cross-client deduplication), and each client's own.
    const common = { 'common/one.bin': randomData(MiB + 12_345), 'common/two.txt': 'shared '.repeat(40_000) };
    const digests = new Map<string, Map<string, string>>();
    let backupsDone = false;
    const results: BackupResult[] = [];
    try {
      const runClient = async (c: number) => {
        const source = join(work, `many-src-${c}`);
        await writeTree(source, common);
        for (let round = 0; round < 10; round++) {
          await writeTree(source, {
            [`own-${round}.bin`]: randomData(300_000 + round * 70_000),
            'changing.txt': `client ${c} round ${round} `.repeat(20_000),
          });
          if (round >= 2) await fs.rm(join(source, `own-${round - 2}.bin`));
          const want = await digestTree(source);
          const result = await backup(clients[c]!, source, { hostname: `client-${c}`, graceMs });
          results.push(result);
          digests.set(result.snapshotId, want);
          await forget(clients[c]!, { last: 2 });
        }
      };
      const during = { runs: 0, condemned: 0, deleted: 0 };
      const runPrunes = async () => {
        while (!backupsDone || during.runs < 3) {
          // A fifth of the grace period per prune: packs condemned by one run are deleted five runs
          // on, while a backup would need three prunes between its check and its snapshot to be
          // late (grace.ts), which the test cannot arrange by chance.
          clock.ms += graceMs / 5;
          const r = await prune(pruner, { graceMs, repackUnusedShare: 0 });
          during.runs++;
          during.condemned += r.packsCondemned;
          if (!backupsDone) during.deleted += r.packsDeleted;
        }
      };
      const prunes = runPrunes();
      await Promise.all([runClient(0), runClient(1)]).finally(() => (backupsDone = true));
      await prunes;
      // Long after: everything condemned is gone.
      clock.ms += 2 * graceMs;
      await prune(pruner, { graceMs, repackUnusedShare: 0 });
      clock.ms += 2 * graceMs;
      const last = await prune(pruner, { graceMs, repackUnusedShare: 0 });

      const left = await listSnapshots(admin);
      assert.equal(left.length, 4, 'two per client');
      for (const s of left) {
        assert.deepEqual(
          await restoredDigest(admin, s.id, join(work, 'many-out')),
          digests.get(s.id),
          `snapshot ${s.id} of ${s.snapshot.hostname}`,
        );
      }
      const report = await check(admin, { readData: true });
      assert.equal(report.ok, true, JSON.stringify(report.problems));
      assert.equal(report.unreferencedPacks, 0);
      assert.equal(last.packsPending, 0);
      // The prunes did condemn and delete packs while the clients were writing.
      assert.ok(during.runs >= 6 && during.condemned > 0 && during.deleted > 0, JSON.stringify(during));
    } finally {
      for (const c of clients) c.close();
      pruner.close();
      admin.close();
    }
  });
});
