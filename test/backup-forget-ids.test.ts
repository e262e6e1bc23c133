/**
 * `forget(session, { ids })` on the engine: several names are resolved against one listing of the
 * snapshots (each snapshot file fetched and opened once, not once per name), and the result is the
 * same as resolving each name alone.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { backup } from '../packages/client/src/backup/backup.ts';
import { forget } from '../packages/client/src/backup/forget.ts';
import type { Repository } from '../packages/client/src/backup/repository.ts';
import { listSnapshots } from '../packages/client/src/backup/snapshots.ts';
import { depsWith, newRepository, TestClock, writeTree } from './support/backup-fixtures.ts';

let work: string;
before(async () => {
  work = await fs.mkdtemp(join(tmpdir(), 'sealpost-forget-ids-'));
});
after(async () => {
  await fs.rm(work, { recursive: true, force: true });
});

test('forget by several names reads each snapshot file once, and removes exactly the named ones', async () => {
  const clock = new TestClock();
  const deps = depsWith(clock);
  let snapshotReads = 0;
  const counting = (repo: Repository): Repository =>
    new Proxy(repo, {
      get(target, key, receiver) {
        const value = Reflect.get(target, key, receiver) as unknown;
        if (key === 'get' && typeof value === 'function') {
          return (kind: string, ...rest: unknown[]) => {
            if (kind === 'snapshots') snapshotReads++;
            return (value as (...a: unknown[]) => unknown).call(target, kind, ...rest);
          };
        }
        return typeof value === 'function' ? (value as () => unknown).bind(target) : value;
      },
    });
  const { session } = await newRepository(join(work, 'repo'), deps, counting);
  try {
    const source = join(work, 'src');
    const ids: string[] = [];
    for (let i = 0; i < 4; i++) {
      await writeTree(source, { [`f${i}.txt`]: `file ${i}\n` });
      clock.ms += 3_600_000;
      ids.push((await backup(session, source, { hostname: 'h' })).snapshotId);
    }
    snapshotReads = 0;
    const result = await forget(session, { ids: [ids[0]!.slice(0, 8), ids[2]!, 'latest'] }, {});
    assert.equal(snapshotReads, 4, 'each of the 4 snapshot files read once for 3 names');
    assert.deepEqual(result.remove.map((s) => s.id).sort(), [ids[0], ids[2], ids[3]].sort());
    assert.equal(result.removed, 3);
    assert.deepEqual(
      (await listSnapshots(session)).map((s) => s.id),
      [ids[1]],
    );
  } finally {
    session.close();
  }
});
