/**
 * The backup walk's order (packages/client/src/backup/backup.ts `Run.dir`): the walk goes on to the
 * next directory while a file of the previous one is still being read. Before session 4 a directory
 * returned only once all its files were stored, which emptied the lanes at every directory (the
 * workers idled half of a run over the Debian set). Tested without timing: the read of a/f waits
 * until b/f has been opened, which the old walk never reached; the test then times out.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LocalRepository } from '../packages/client/node/backup-local-repo.ts';
import { nodeBackupDeps } from '../packages/client/node/backup-node.ts';
import { backup } from '../packages/client/src/backup/backup.ts';
import { BlobReader } from '../packages/client/src/backup/blob-reader.ts';
import type { BackupFs } from '../packages/client/src/backup/fs.ts';
import { initRepository, openRepository } from '../packages/client/src/backup/session.ts';
import { findSnapshot, ls } from '../packages/client/src/backup/snapshots.ts';

const PASSPHRASE = 'correct horse battery staple';
const TEST_ARGON2 = { memoryKiB: 1024, iterations: 1, parallelism: 1 };

let work: string;
before(async () => {
  work = await fs.mkdtemp(join(tmpdir(), 'sealpost-walk-'));
});
after(() => fs.rm(work, { recursive: true, force: true }));

test(
  'the walk opens a file of the next directory while a file of the previous one is still being read',
  { timeout: 30_000 },
  async () => {
    const source = join(work, 'src');
    await fs.mkdir(join(source, 'a'), { recursive: true });
    await fs.mkdir(join(source, 'b'), { recursive: true });
    await fs.writeFile(join(source, 'a', 'f'), 'the file of a\n');
    await fs.writeFile(join(source, 'b', 'f'), 'the file of b\n');

    const base = nodeBackupDeps();
    let openedB!: () => void;
    const bOpened = new Promise<void>((resolve) => (openedB = resolve));
    const order: string[] = [];
    const gated: BackupFs = {
      ...base.fs,
      openRead: async (path) => {
        const reader = await base.fs.openRead(path);
        if (path.endsWith('/b/f')) {
          order.push('b opened');
          openedB();
          return reader;
        }
        if (!path.endsWith('/a/f')) return reader;
        return {
          // a/f's first read waits for b/f to be opened.
          read: async (into, position) => {
            if (position === 0) await bOpened;
            if (position === 0) order.push('a read');
            return reader.read(into, position);
          },
          close: () => reader.close(),
        };
      },
    };
    const deps = { ...base, fs: gated };
    const dir = join(work, 'repo');
    await initRepository(new LocalRepository(dir), deps, PASSPHRASE, TEST_ARGON2);
    const session = await openRepository(new LocalRepository(dir), deps, PASSPHRASE);
    try {
      const result = await backup(session, source, { hostname: 'test-host' });
      assert.deepEqual(order, ['b opened', 'a read']);
      assert.equal(result.files, 2);
      const paths = (
        await ls(await BlobReader.load(session), (await findSnapshot(session, result.snapshotId)).snapshot)
      ).map((e) => e.path);
      for (const p of ['a', 'a/f', 'b', 'b/f']) assert.ok(paths.includes(p), `${p} in the snapshot`);
    } finally {
      session.close();
    }
  },
);
