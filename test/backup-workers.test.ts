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
import type { SealerFactory } from '../packages/client/src/backup/sealer.ts';

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

test('a backup of files the repository holds, under another path, seals none of their chunks again', async () => {
  const first = join(work, 'held-a');
  await fs.mkdir(first, { recursive: true });
  const random = new Uint8Array(6 * MiB);
  for (let o = 0; o < random.length; o += 65_536) randomFillSync(random, o, 65_536);
  await fs.writeFile(join(first, 'random.bin'), random);
  await fs.writeFile(join(first, 'text.txt'), textLike(3 * MiB));
  for (let i = 0; i < 20; i++) await fs.writeFile(join(first, `small-${i}`), `held ${i}\n`);
  // The same files under another name: no parent snapshot, so every file is read whole on a worker.
  const second = join(work, 'held-b');
  await fs.cp(first, second, { recursive: true });
  await fs.writeFile(join(second, 'new.txt'), textLike(100_000));
  const base = nodeBackupDeps({ workers: WORKERS });
  /** Sealed bytes of data blobs the workers send back, per run. */
  let sealedBytes = 0;
  const deps = {
    ...base,
    sealers: ((keys, effort, known) => {
      const sealer = base.sealers!(keys, effort, known);
      return {
        ...sealer,
        seal: sealer.seal.bind(sealer),
        close: sealer.close.bind(sealer),
        sealFile: (path, expected, onPart, signal) =>
          sealer.sealFile!(
            path,
            expected,
            (part) => {
              for (const b of part.blobs) sealedBytes += b.sealed.length;
              return onPart(part);
            },
            signal,
          ),
      };
    }) satisfies SealerFactory,
  };
  const repo = new LocalRepository(join(work, 'held-repo'));
  await initRepository(repo, deps, 'pass', TEST_ARGON2);
  const session = await openRepository(repo, deps, 'pass');
  try {
    await backup(session, first, { hostname: 'h' });
    const firstSealed = sealedBytes;
    assert.ok(firstSealed > 6 * MiB, `the first run sealed ${firstSealed} bytes`);
    sealedBytes = 0;
    const result = await backup(session, second, { hostname: 'h' });
    assert.equal(result.files, 23);
    // Only new.txt's chunk(s) were sealed: ~100 KB of text, compressed.
    assert.ok(sealedBytes > 0 && sealedBytes < 100_000, `the second run sealed ${sealedBytes} bytes`);
    await restore(session, result.snapshotId, join(work, 'held-out'));
    for (const name of ['random.bin', 'text.txt', 'small-7', 'new.txt']) {
      assert.deepEqual(
        await fs.readFile(join(work, 'held-out', name)),
        await fs.readFile(join(second, name)),
      );
    }
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
