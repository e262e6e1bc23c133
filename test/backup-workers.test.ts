/**
 * Sealing on worker threads (packages/client/node/backup-workers.ts): a backup made with workers
 * restores byte for byte and passes check --read-data; and the backup rate of a 256 MiB text-like
 * file on the calling thread and on workers (reported, not asserted: the machine is shared).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomFillSync } from 'node:crypto';
import * as fs from 'node:fs/promises';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { LocalRepository } from '../packages/client/node/backup-local-repo.ts';
import { nodeBackupDeps } from '../packages/client/node/backup-node.ts';
import { backup } from '../packages/client/src/backup/backup.ts';
import { check } from '../packages/client/src/backup/check.ts';
import { restore } from '../packages/client/src/backup/restore.ts';
import { initRepository, openRepository } from '../packages/client/src/backup/session.ts';

const MiB = 1024 * 1024;
const TEST_ARGON2 = { memoryKiB: 1024, iterations: 1, parallelism: 1 };
const WORKERS = Math.max(2, availableParallelism());

let work: string;
before(async () => {
  work = await fs.mkdtemp(join(tmpdir(), 'sealpost-backup-workers-'));
});
after(async () => {
  await fs.rm(work, { recursive: true, force: true });
});

/** Text-like content: numbered lines of varying length (zstd keeps its output). */
function textLike(size: number): Uint8Array {
  const lines: string[] = [];
  for (let i = 0, length = 0; length < size; i++) {
    lines.push(`${i} ${'lorem ipsum dolor '.repeat(i % 7)}${(i * 2654435761) % 1000003}\n`);
    length += lines[i]!.length;
  }
  return new TextEncoder().encode(lines.join('')).subarray(0, size);
}

test('should back up on worker threads and restore byte for byte', async () => {
  const source = join(work, 'src');
  await fs.mkdir(join(source, 'sub'), { recursive: true });
  const random = new Uint8Array(12 * MiB);
  for (let o = 0; o < random.length; o += 65_536) randomFillSync(random, o, 65_536);
  await fs.writeFile(join(source, 'random.bin'), random);
  await fs.writeFile(join(source, 'sub', 'text.txt'), textLike(9 * MiB));
  for (let i = 0; i < 50; i++) await fs.writeFile(join(source, 'sub', `small-${i}`), `small ${i}\n`);
  const deps = nodeBackupDeps({ workers: WORKERS });
  const repo = new LocalRepository(join(work, 'repo'));
  await initRepository(repo, deps, 'pass', TEST_ARGON2);
  const session = await openRepository(repo, deps, 'pass');
  try {
    const result = await backup(session, source, { hostname: 'h' });
    assert.equal(result.files, 52);
    await restore(session, result.snapshotId, join(work, 'out'));
    assert.deepEqual(
      await fs.readFile(join(work, 'out', 'random.bin')),
      await fs.readFile(join(source, 'random.bin')),
    );
    assert.deepEqual(
      await fs.readFile(join(work, 'out', 'sub', 'text.txt')),
      await fs.readFile(join(source, 'sub', 'text.txt')),
    );
    assert.equal(await fs.readFile(join(work, 'out', 'sub', 'small-49'), 'utf8'), 'small 49\n');
    const report = await check(session, { readData: true });
    assert.deepEqual(report.problems, []);
  } finally {
    session.close();
  }
});

test('should report the backup rate of a 256 MiB text-like file without and with workers', async (t) => {
  const source = join(work, 'big');
  await fs.mkdir(source);
  await fs.writeFile(join(source, 'text.txt'), textLike(256 * MiB));
  const rates: string[] = [];
  for (const workers of [0, WORKERS]) {
    const deps = nodeBackupDeps({ workers });
    const repo = new LocalRepository(join(work, `repo-rate-${workers}`));
    await initRepository(repo, deps, 'pass', TEST_ARGON2);
    const session = await openRepository(repo, deps, 'pass');
    try {
      const t0 = performance.now();
      const result = await backup(session, source, { hostname: 'h' });
      const seconds = (performance.now() - t0) / 1000;
      assert.equal(result.bytesRead, 256 * MiB);
      rates.push(`${workers} workers: ${((256 * MiB) / 1e6 / seconds).toFixed(0)} MB/s`);
    } finally {
      session.close();
    }
    await fs.rm(join(work, `repo-rate-${workers}`), { recursive: true, force: true });
  }
  t.diagnostic(`256 MiB text-like file, backup: ${rates.join('; ')} (${availableParallelism()} cores)`);
});
