// Packs written as they fill (Repository.spoolPack, packages/client/node/backup-local-repo.ts): a
// backup into a local directory appends each sealed blob to a file in tmp/ and holds no pack in
// memory; a run that fails or is stopped leaves nothing in tmp/ and stores no snapshot, and the
// next run backs up in full.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { backup } from '../packages/client/src/backup/backup.ts';
import { check } from '../packages/client/src/backup/check.ts';
import { LocalRepository } from '../packages/client/node/backup-local-repo.ts';
import type { PackSpool, Repository } from '../packages/client/src/backup/repository.ts';
import { nodeBackupDeps } from '../packages/client/node/backup-node.ts';
import {
  count,
  digestTree,
  MiB,
  newRepository,
  randomData,
  restoredDigest,
  TestClock,
  writeTree,
} from './support/backup-fixtures.ts';

const clock = new TestClock();
let work: string;
let source: string;
before(async () => {
  work = await fs.mkdtemp(join(tmpdir(), 'sealpost-spooled-packs-'));
  source = join(work, 'src');
  // Random data (no compression) across several 16 MiB packs, plus small files.
  const files: Record<string, Uint8Array | string> = {};
  for (let i = 0; i < 4; i++) files[`big-${i}.bin`] = randomData(9 * MiB);
  for (let i = 0; i < 40; i++) files[`small/${i}.txt`] = `file ${i}\n`.repeat(50 + i);
  await writeTree(source, files);
});
after(async () => {
  await fs.rm(work, { recursive: true, force: true });
});

/** Counts the packs the engine puts whole and the spools it opens; `onSpool` may wrap each spool. */
class Counting extends LocalRepository {
  packsPut = 0;
  spools = 0;
  onSpool: (spool: PackSpool, n: number) => PackSpool = (s) => s;

  override put(...args: Parameters<Repository['put']>): Promise<void> {
    if (args[0] === 'packs') this.packsPut++;
    return super.put(...args);
  }

  override spoolPack(): PackSpool {
    return this.onSpool(super.spoolPack(), ++this.spools);
  }
}

/** `spool` with its `store` replaced by `store` (given the original's). */
function withStore(spool: PackSpool, store: (inner: PackSpool) => Promise<void>): PackSpool {
  return {
    get length() {
      return spool.length;
    },
    append: (bytes) => spool.append(bytes),
    read: (offset, length) => spool.read(offset, length),
    seal: () => spool.seal(),
    store: () => store(spool),
    discard: () => spool.discard(),
  };
}

async function tmpEntries(root: string): Promise<string[]> {
  return fs.readdir(join(root, 'tmp')).catch(() => []);
}

test('a backup into a local directory writes every pack through its spool, none whole, and leaves tmp/ empty', async () => {
  const deps = nodeBackupDeps({ now: clock.now });
  const root = join(work, 'repo-whole');
  let repo: Counting | undefined;
  const { session } = await newRepository(root, deps, () => (repo = new Counting(root)));
  try {
    const result = await backup(session, source, { hostname: 'h' });
    assert.equal(repo!.packsPut, 0, 'no pack put whole');
    assert.ok(repo!.spools >= 3, `spools opened: ${repo!.spools}`);
    assert.equal(await count(repo!, 'packs'), result.packs);
    assert.deepEqual(await tmpEntries(root), []);
    assert.equal((await check(session, { readData: true })).ok, true);
    assert.deepEqual(
      await restoredDigest(session, result.snapshotId, join(work, 'out')),
      await digestTree(source),
    );
  } finally {
    session.close();
  }
});

test('a run whose spooled pack cannot be stored fails with that error, leaves tmp/ empty and no snapshot; the next run completes', async () => {
  const deps = nodeBackupDeps({ now: clock.now });
  const root = join(work, 'repo-failing');
  let repo: Counting | undefined;
  const { session } = await newRepository(root, deps, () => (repo = new Counting(root)));
  try {
    const full = Object.assign(new Error('no space left on device'), { code: 'ENOSPC' });
    // The second pack's store fails before anything reaches packs/.
    repo!.onSpool = (spool, n) => (n === 2 ? withStore(spool, () => Promise.reject(full)) : spool);
    await assert.rejects(backup(session, source, { hostname: 'h' }), (e) => e === full);
    assert.deepEqual(await tmpEntries(root), []);
    assert.equal(await count(repo!, 'snapshots'), 0);
    repo!.onSpool = (spool) => spool;
    const result = await backup(session, source, { hostname: 'h' });
    assert.deepEqual(await tmpEntries(root), []);
    assert.equal((await check(session, { readData: true })).ok, true);
    assert.deepEqual(
      await restoredDigest(session, result.snapshotId, join(work, 'out')),
      await digestTree(source),
    );
  } finally {
    session.close();
  }
});

test('a run stopped once its first pack is stored leaves tmp/ empty and no snapshot', async () => {
  const deps = nodeBackupDeps({ now: clock.now });
  const root = join(work, 'repo-stopped');
  let repo: Counting | undefined;
  const { session } = await newRepository(root, deps, () => (repo = new Counting(root)));
  const stop = new AbortController();
  try {
    repo!.onSpool = (spool) =>
      withStore(spool, async (inner) => {
        await inner.store();
        stop.abort(new Error('stopped'));
      });
    await assert.rejects(backup(session, source, { hostname: 'h', signal: stop.signal }), /stopped/);
    assert.deepEqual(await tmpEntries(root), []);
    assert.equal(await count(repo!, 'snapshots'), 0);
    assert.ok((await count(repo!, 'packs')) >= 1);
  } finally {
    session.close();
  }
});
