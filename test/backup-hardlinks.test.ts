// A file with several hard links is read once per backup run; every name restores to its bytes.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { backup } from '../packages/client/src/backup/backup.ts';
import { nodeBackupDeps } from '../packages/client/node/backup-node.ts';
import {
  digestTree,
  newRepository,
  randomData,
  restoredDigest,
  TestClock,
  writeTree,
} from './support/backup-fixtures.ts';

const clock = new TestClock();
let work: string;
before(async () => {
  work = await fs.mkdtemp(join(tmpdir(), 'sealpost-backup-hardlinks-'));
});
after(async () => {
  await fs.rm(work, { recursive: true, force: true });
});

for (const sealing of ['inline', 'workers'] as const) {
  test(`a file with three names is read once, and every name restores to its bytes (${sealing})`, async () => {
    const deps =
      sealing === 'workers'
        ? nodeBackupDeps({ now: clock.now, workers: 1 })
        : nodeBackupDeps({ now: clock.now });
    const source = join(work, `src-${sealing}`);
    const linked = randomData(3 * 1024 * 1024);
    await writeTree(source, { 'a/big.bin': linked, 'b/other.bin': randomData(100_000), 'c/small.txt': 'x' });
    await fs.link(join(source, 'a/big.bin'), join(source, 'b/big-again.bin'));
    await fs.link(join(source, 'a/big.bin'), join(source, 'c/big-third.bin'));
    const want = await digestTree(source);
    const { session } = await newRepository(join(work, `repo-${sealing}`), deps);
    try {
      const result = await backup(session, source, { hostname: 'h' });
      assert.equal(result.files, 5);
      assert.equal(result.filesLinked, 2);
      // The linked file's bytes once, the other two files' once each.
      assert.equal(result.bytesRead, linked.length + 100_000 + 1);
      assert.deepEqual(await restoredDigest(session, result.snapshotId, join(work, `out-${sealing}`)), want);

      // A name whose file changed since (a new inode and ctime) is read on its own again.
      await fs.rm(join(source, 'c/big-third.bin'));
      await fs.writeFile(join(source, 'c/big-third.bin'), randomData(200_000));
      const again = await backup(session, source, { hostname: 'h', force: true });
      assert.equal(again.filesLinked, 1);
      assert.equal(again.bytesRead, linked.length + 100_000 + 1 + 200_000);
      assert.deepEqual(
        await restoredDigest(session, again.snapshotId, join(work, `out-again-${sealing}`)),
        await digestTree(source),
      );
    } finally {
      session.close();
    }
  });
}
