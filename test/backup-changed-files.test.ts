// Changed files of a run with a parent snapshot are read and chunked on the engine thread, each
// with a chunk buffer (8 MiB), while new files go to the sealing workers whole. The file lanes are
// wide for the workers' sake (BACKUP_ENGINE_LIMITS.backupFileJobsInFlight), so the changed files
// have their own, narrower limit (backupFilesInFlight): a second backup of the Debian set had 54
// of them open at once, and kept a buffer for each. A first backup with one worker takes new files
// here too, one at a time, once the worker has backupFilesHereAbove queued.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { backup } from '../packages/client/src/backup/backup.ts';
import { check } from '../packages/client/src/backup/check.ts';
import type { BackupDeps } from '../packages/client/src/backup/deps.ts';
import { BACKUP_ENGINE_LIMITS } from '../packages/client/src/backup/limits.ts';
import { openRepository } from '../packages/client/src/backup/session.ts';
import { LocalRepository } from '../packages/client/node/backup-local-repo.ts';
import { nodeBackupDeps } from '../packages/client/node/backup-node.ts';
import {
  digestTree,
  newRepository,
  PASSPHRASE,
  restoredDigest,
  TestClock,
  writeTree,
} from './support/backup-fixtures.ts';

const clock = new TestClock();
let work: string;
before(async () => {
  work = await fs.mkdtemp(join(tmpdir(), 'sealpost-changed-files-'));
});
after(async () => {
  await fs.rm(work, { recursive: true, force: true });
});

/** `deps` whose files read on this thread count how many are open at once (each read waits 5 ms). */
function counting(deps: BackupDeps): { deps: BackupDeps; open: () => number; most: () => number } {
  let open = 0;
  let most = 0;
  return {
    deps: {
      ...deps,
      fs: {
        ...deps.fs,
        openRead: async (path) => {
          const reader = await deps.fs.openRead(path);
          open++;
          most = Math.max(most, open);
          return {
            read: async (into, position) => {
              await new Promise((resolve) => setTimeout(resolve, 5));
              return reader.read(into, position);
            },
            close: () => {
              open--;
              return reader.close();
            },
          };
        },
      },
    },
    open: () => open,
    most: () => most,
  };
}

test('a second backup reads its changed files here at most backupFilesInFlight at a time, and stores them whole', async () => {
  const source = join(work, 'src');
  const files: Record<string, string> = {};
  for (let i = 0; i < 120; i++) files[`d${i % 6}/f${i}.txt`] = `first version of ${i}\n`.repeat(200 + i);
  await writeTree(source, files);
  const base = nodeBackupDeps({ now: clock.now, workers: 1 });
  const root = join(work, 'repo');
  const { session } = await newRepository(root, base);
  try {
    await backup(session, source, { hostname: 'h' });
  } finally {
    session.close();
  }
  for (let i = 0; i < 120; i++) {
    await fs.writeFile(join(source, `d${i % 6}/f${i}.txt`), `second version of ${i}\n`.repeat(300 + i));
  }
  clock.ms += 60_000;
  const { deps, open, most } = counting(nodeBackupDeps({ now: clock.now, workers: 1 }));
  const second = await openRepository(new LocalRepository(root), deps, PASSPHRASE);
  try {
    const result = await backup(second, source, { hostname: 'h' });
    assert.equal(result.parent !== undefined, true, 'ran against its parent');
    assert.ok(most() >= 2, `changed files were read here, ${most()} at once`);
    assert.ok(
      most() <= BACKUP_ENGINE_LIMITS.backupFilesInFlight,
      `${most()} changed files open at once, more than ${BACKUP_ENGINE_LIMITS.backupFilesInFlight}`,
    );
    assert.equal(open(), 0);
    assert.equal((await check(second, { readData: true })).ok, true);
    assert.deepEqual(
      await restoredDigest(second, result.snapshotId, join(work, 'out')),
      await digestTree(source),
    );
  } finally {
    second.close();
  }
});

/** `deps` that count the files opened on this thread (the workers read theirs with node:fs). */
function countingOpens(deps: BackupDeps): { deps: BackupDeps; opened: () => number; most: () => number } {
  const counted = counting(deps);
  let opened = 0;
  return {
    deps: {
      ...counted.deps,
      fs: {
        ...counted.deps.fs,
        openRead: (path) => {
          opened++;
          return counted.deps.fs.openRead(path);
        },
      },
    },
    opened: () => opened,
    most: counted.most,
  };
}

test('a first backup with one sealing worker takes new files here once the worker has backupFilesHereAbove, one at a time, and stores them whole', async () => {
  const source = join(work, 'many-new');
  const files: Record<string, string> = {};
  const count = 4 * BACKUP_ENGINE_LIMITS.backupFilesHereAbove;
  for (let i = 0; i < count; i++) files[`d${i % 4}/n${i}.txt`] = `new file ${i}\n`.repeat(100 + i);
  await writeTree(source, files);
  const { deps, opened, most } = countingOpens(nodeBackupDeps({ now: clock.now, workers: 1 }));
  const { session } = await newRepository(join(work, 'repo-many-new'), deps);
  try {
    const result = await backup(session, source, { hostname: 'h' });
    assert.ok(opened() >= 1, 'the engine thread took none of the new files');
    assert.ok(opened() < count, `the engine thread read all ${count} files: the worker got none`);
    assert.ok(most() <= BACKUP_ENGINE_LIMITS.backupFilesTakenMax, `${most()} files open here at once`);
    assert.equal((await check(session, { readData: true })).ok, true);
    assert.deepEqual(
      await restoredDigest(session, result.snapshotId, join(work, 'out-many-new')),
      await digestTree(source),
    );
  } finally {
    session.close();
  }
});

test('a first backup of fewer new files than backupFilesHereAbove leaves them all to the sealing worker', async () => {
  const source = join(work, 'few-new');
  const files: Record<string, string> = {};
  for (let i = 0; i < BACKUP_ENGINE_LIMITS.backupFilesHereAbove - 1; i++)
    files[`n${i}.txt`] = `few ${i}\n`.repeat(50 + i);
  await writeTree(source, files);
  const { deps, opened } = countingOpens(nodeBackupDeps({ now: clock.now, workers: 1 }));
  const { session } = await newRepository(join(work, 'repo-few-new'), deps);
  try {
    const result = await backup(session, source, { hostname: 'h' });
    assert.equal(opened(), 0);
    assert.deepEqual(
      await restoredDigest(session, result.snapshotId, join(work, 'out-few-new')),
      await digestTree(source),
    );
  } finally {
    session.close();
  }
});
