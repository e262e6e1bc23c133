// check --read-data compares each pack's header with what the index lists for it (check.ts keeps a
// digest of the index's entries per pack, and the verifiers return the digest of the header's).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { toHex } from '../packages/core/src/index.ts';
import {
  decodeIndexFile,
  encodeIndexFile,
  type IndexedPack,
} from '../packages/core/src/backup/index-file.ts';
import type { PackEntry } from '../packages/core/src/backup/pack.ts';
import { backup } from '../packages/client/src/backup/backup.ts';
import { check } from '../packages/client/src/backup/check.ts';
import { nameOf, type Session } from '../packages/client/src/backup/session.ts';
import { workerPackVerifiers } from '../packages/client/node/backup-workers.ts';
import { depsWith, newRepository, randomData, TestClock, writeTree } from './support/backup-fixtures.ts';

const deps = depsWith(new TestClock());
let work: string;
before(async () => {
  work = await fs.mkdtemp(join(tmpdir(), 'sealpost-check-disagree-'));
});
after(async () => {
  await fs.rm(work, { recursive: true, force: true });
});

/** Replaces the repository's index files by one listing its packs as `change` alters them. */
async function rewriteIndex(
  session: Session,
  change: (entries: readonly PackEntry[]) => readonly PackEntry[],
): Promise<string[]> {
  const { repo, keys } = session;
  const packs: IndexedPack[] = [];
  for (const { name } of await repo.list('index')) {
    packs.push(...decodeIndexFile(deps.crypto, keys, await repo.get('index', name)));
    await repo.delete('index', name);
  }
  const changed = packs.map((p) => ({ packId: p.packId, entries: change(p.entries) }));
  const file = encodeIndexFile(deps.crypto, keys, changed);
  await repo.put('index', nameOf(deps, file), file);
  return packs.map((p) => `packs/${toHex(p.packId)}`);
}

/**
 * Changes an index file can hold (it refuses entries that do not tile the pack from 0), and the
 * other problems each brings: a blob missing from the index is also missing for the snapshot.
 */
const cases: [string, (entries: readonly PackEntry[]) => readonly PackEntry[], RegExp | undefined][] = [
  [
    'one raw length off by one',
    (e) => [{ ...e[0]!, rawLength: e[0]!.rawLength + 1 }, ...e.slice(1)],
    undefined,
  ],
  [
    'one data blob listed as a tree blob',
    (e) =>
      e.map((x, i) => (i === e.findIndex((y) => y.type === 'data') ? { ...x, type: 'tree' as const } : x)),
    undefined,
  ],
  ['the last blob missing', (e) => e.slice(0, -1), /is not in the index/],
];

for (const [what, change, also] of cases) {
  for (const verifiers of ['inline', 'workers'] as const) {
    test(`check --read-data reports a pack whose index entries disagree with its header: ${what} (${verifiers})`, async () => {
      const source = join(work, `src-${what}-${verifiers}`.replace(/ /g, '-'));
      await writeTree(source, {
        'a.bin': randomData(300_000),
        'b.txt': 'text\n'.repeat(5000),
        'c/d.txt': 'more text',
      });
      const runDeps = verifiers === 'workers' ? { ...deps, packVerifiers: workerPackVerifiers(1) } : deps;
      const { session: plain } = await newRepository(
        join(work, `repo-${what}-${verifiers}`.replace(/ /g, '-')),
        runDeps,
      );
      const session = { ...plain, deps: runDeps };
      try {
        await backup(session, source, { hostname: 'h' });
        assert.equal((await check(session, { readData: true })).ok, true, 'intact before the change');
        const packs = await rewriteIndex(session, change);
        assert.equal(packs.length, 1, 'one mixed pack for a small run');
        const report = await check(session, { readData: true });
        const disagree = { object: packs[0], message: 'pack header and index disagree' };
        if (also === undefined) assert.deepEqual(report.problems, [disagree]);
        else {
          assert.deepEqual(
            report.problems.filter((p) => p.object.startsWith('packs/')),
            [disagree],
          );
          assert.ok(
            report.problems.some((p) => also.test(p.message)),
            JSON.stringify(report.problems),
          );
        }
        // Without reading the packs, nothing compares them.
        const structure = await check(session, { readData: false });
        assert.deepEqual(
          structure.problems.filter((p) => p.object.startsWith('packs/')),
          [],
        );
      } finally {
        plain.close();
      }
    });
  }
}
