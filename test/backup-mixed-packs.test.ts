/**
 * Packs that hold both data and tree blobs (docs/backup-format.md §Packs): a run's last data pack
 * takes its remaining tree blobs when they fit (pack-sink.ts), so a small run stores one pack padded
 * to the 1 MiB floor, not two. Every reader must handle such a pack: restore, ls, check (with and
 * without reading data), prune (repacking a partly used one) and resume (adopting an unlisted one).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LIMITS, toHex } from '../packages/core/src/index.ts';
import { decodeIndexFile } from '../packages/core/src/backup/index-file.ts';
import { unpaddedPackLength } from '../packages/core/src/backup/pack.ts';
import { LocalRepository } from '../packages/client/node/backup-local-repo.ts';
import { backup } from '../packages/client/src/backup/backup.ts';
import { check } from '../packages/client/src/backup/check.ts';
import { forget } from '../packages/client/src/backup/forget.ts';
import { prune } from '../packages/client/src/backup/prune.ts';
import type { ObjectKind, ObjectName, Repository } from '../packages/client/src/backup/repository.ts';
import { openRepository, type Session } from '../packages/client/src/backup/session.ts';
import { BlobReader } from '../packages/client/src/backup/blob-reader.ts';
import { findSnapshot, ls } from '../packages/client/src/backup/snapshots.ts';
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

const clock = new TestClock();
const deps = depsWith(clock);
const graceMs = 60_000;
let work: string;
before(async () => {
  work = await fs.mkdtemp(join(tmpdir(), 'sealpost-backup-mixed-'));
});
after(async () => {
  await fs.rm(work, { recursive: true, force: true });
});

/** Each indexed pack: its stored length, the blob types it holds and its length before padding. */
async function indexedPacks(
  session: Session,
): Promise<{ length: number; types: string; unpadded: number }[]> {
  const { repo, keys } = session;
  const lengths = new Map((await repo.list('packs')).map((p) => [p.name as string, p.length]));
  const out = [];
  for (const { name } of await repo.list('index')) {
    for (const p of decodeIndexFile(deps.crypto, keys, await repo.get('index', name))) {
      const types = [...new Set(p.entries.map((e) => e.type))].sort().join('+');
      const blobBytes = p.entries.reduce((n, e) => n + e.length, 0);
      const unpadded = unpaddedPackLength(p.entries.length, blobBytes);
      out.push({ length: lengths.get(toHex(p.packId)) ?? -1, types, unpadded });
    }
  }
  return out;
}

test('a small run stores one pack holding its data and tree blobs, padded to the floor', async () => {
  const source = join(work, 'small-src');
  await writeTree(source, {
    'a.bin': randomData(200_000),
    'd/e/f.txt': 'some text\n'.repeat(1000),
    'd/g.txt': 'other text',
  });
  const want = await digestTree(source);
  const { session } = await newRepository(join(work, 'small-repo'), deps);
  try {
    const result = await backup(session, source, { hostname: 'h' });
    assert.equal(result.packs, 1);
    const packs = await indexedPacks(session);
    assert.deepEqual(
      packs.map((p) => [p.types, p.length]),
      [['data+tree', LIMITS.backupPackMinBytes]],
    );
    // Readers: restore, ls (trees), check with and without reading every blob.
    assert.deepEqual(await restoredDigest(session, result.snapshotId, join(work, 'small-out')), want);
    const { snapshot } = await findSnapshot(session, result.snapshotId);
    const paths = (await ls(await BlobReader.load(session), snapshot)).map((e) => e.path);
    assert.ok(paths.includes('d/e/f.txt'), paths.join());
    for (const readData of [false, true]) {
      const report = await check(session, { readData });
      assert.equal(report.ok, true, JSON.stringify(report.problems));
    }
  } finally {
    session.close();
  }
});

test('a large run: every pack of several blobs stays within the target size; only the last mixes types', async () => {
  const source = join(work, 'large-src');
  const files: Record<string, Uint8Array | string> = {};
  for (let i = 0; i < 3; i++) files[`dir${i}/big-${i}.bin`] = randomData(13 * MiB);
  for (let i = 0; i < 50; i++) files[`small/f${i}.txt`] = `file ${i}\n`.repeat(100 + i);
  await writeTree(source, files);
  const want = await digestTree(source);
  const { session } = await newRepository(join(work, 'large-repo'), deps);
  try {
    const result = await backup(session, source, { hostname: 'h' });
    const packs = await indexedPacks(session);
    assert.equal(packs.length, result.packs);
    assert.ok(packs.length >= 3, `${packs.length} packs for 39 MiB`);
    for (const p of packs) {
      assert.ok(p.unpadded <= LIMITS.backupPackTargetBytes, `${p.unpadded} bytes before padding`);
      assert.ok(p.length <= LIMITS.backupPackTargetBytes, `${p.length} bytes stored`);
    }
    assert.ok(packs.filter((p) => p.types !== 'data').length <= 1, JSON.stringify(packs));
    assert.deepEqual(await restoredDigest(session, result.snapshotId, join(work, 'large-out')), want);
  } finally {
    session.close();
  }
});

test('prune repacks a partly used mixed pack and later deletes it; the rest restores', async () => {
  const source = join(work, 'prune-src');
  const { local, session } = await newRepository(join(work, 'prune-repo'), deps);
  try {
    await writeTree(source, { 'kept.bin': randomData(300_000), 'gone.bin': randomData(300_000) });
    const a = await backup(session, source, { hostname: 'h', graceMs });
    assert.deepEqual(
      (await indexedPacks(session)).map((p) => p.types),
      ['data+tree'],
    );
    clock.ms += 1000;
    await fs.rm(join(source, 'gone.bin'));
    await writeTree(source, { 'new.txt': 'new\n' });
    const b = await backup(session, source, { hostname: 'h', graceMs });
    const want = await digestTree(source);
    assert.equal((await forget(session, { last: 1 })).removed, 1);

    const first = await prune(session, { graceMs, repackUnusedShare: 0 });
    assert.equal(first.packsRepacked, 1, "a's pack holds kept.bin, still used");
    assert.equal(first.packsCondemned, a.packs);
    clock.ms += graceMs;
    const second = await prune(session, { graceMs, repackUnusedShare: 0 });
    assert.equal(second.packsDeleted, a.packs);
    assert.equal((await local.list('packs')).length, b.packs + 1, "b's pack and the repacked blobs");
    const report = await check(session, { readData: true });
    assert.equal(report.ok, true, JSON.stringify(report.problems));
    assert.equal(report.unreferencedPacks, 0);
    assert.deepEqual(await restoredDigest(session, b.snapshotId, join(work, 'prune-out')), want);
  } finally {
    session.close();
  }
});

/** A repository whose index puts fail while `failIndex` is set (a run dying before its index file). */
class NoIndex implements Repository {
  readonly inner: Repository;
  failIndex = true;
  constructor(inner: Repository) {
    this.inner = inner;
  }
  async put(kind: ObjectKind, name: ObjectName, bytes: Uint8Array): Promise<void> {
    if (kind === 'index' && this.failIndex) throw new Error('stopped before the index file');
    return this.inner.put(kind, name, bytes);
  }
  get = (kind: ObjectKind, name: ObjectName, range?: { offset: number; length: number }) =>
    this.inner.get(kind, name, range);
  list = (kind: ObjectKind) => this.inner.list(kind);
  exists = (kind: ObjectKind, name: ObjectName) => this.inner.exists(kind, name);
  delete = (kind: ObjectKind, name: ObjectName) => this.inner.delete(kind, name);
}

test('a mixed pack left unlisted by a run that died is adopted whole by the next run', async () => {
  const source = join(work, 'resume-src');
  await writeTree(source, { 'a.bin': randomData(500_000), 'b/c.txt': 'text\n'.repeat(500) });
  const want = await digestTree(source);
  const dir = join(work, 'resume-repo');
  const { session: setup } = await newRepository(dir, deps);
  setup.close();
  const repo = new NoIndex(new LocalRepository(dir));
  const session = await openRepository(repo, deps, PASSPHRASE);
  try {
    await assert.rejects(backup(session, source, { hostname: 'h' }), /stopped before the index file/);
    assert.equal((await repo.list('packs')).length, 1);
    repo.failIndex = false;
    const resumed = await backup(session, source, { hostname: 'h' });
    assert.equal(resumed.packsAdopted, 1);
    assert.equal(resumed.packs, 0, 'its data and its trees are both in the adopted pack');
    assert.deepEqual(await restoredDigest(session, resumed.snapshotId, join(work, 'resume-out')), want);
    const report = await check(session, { readData: true });
    assert.equal(report.ok, true, JSON.stringify(report.problems));
    assert.equal(report.unreferencedPacks, 0);
  } finally {
    session.close();
  }
});
