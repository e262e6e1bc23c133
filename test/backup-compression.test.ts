/**
 * How hard a backup compresses (backup.ts `compression`): `auto` seals a first backup with the
 * fast compressor and a run with a parent snapshot with the small one; `fast` and `small` force
 * it; on worker threads the small level gives fewer bytes; every snapshot restores either way.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Compress } from '../packages/core/src/backup/blob.ts';
import { LocalRepository } from '../packages/client/node/backup-local-repo.ts';
import { nodeBackupDeps } from '../packages/client/node/backup-node.ts';
import { backup } from '../packages/client/src/backup/backup.ts';
import type { BackupDeps } from '../packages/client/src/backup/deps.ts';
import { restore } from '../packages/client/src/backup/restore.ts';
import { initRepository, openRepository } from '../packages/client/src/backup/session.ts';

const TEST_ARGON2 = { memoryKiB: 1024, iterations: 1, parallelism: 1 };

/** Inline sealing (no workers) with both compressors counted. */
const calls = { fast: 0, small: 0 };
const base = nodeBackupDeps();
const counting = (c: Compress, k: keyof typeof calls): Compress => {
  return (bytes) => {
    calls[k]++;
    return c(bytes);
  };
};
const deps = {
  ...base,
  compress: counting(base.compress, 'fast'),
  compressSmall: counting(base.compressSmall!, 'small'),
};

let work: string;
let source: string;

/** Source-like text: compresses, and compresses better at level 3 than at level 1. */
function text(seed: number, lines: number): string {
  const words = ['const', 'return', 'function', 'if', 'else', 'struct', 'buffer', 'length', 'node'];
  let x = seed;
  const out: string[] = [];
  for (let i = 0; i < lines; i++) {
    const line: string[] = [];
    for (let w = 0; w < 8; w++) {
      x = (x * 1103515245 + 12345) % 2 ** 31;
      line.push(words[x % words.length]! + String(x % 97));
    }
    out.push(line.join(' ') + ';');
  }
  return out.join('\n');
}

before(async () => {
  work = await fs.mkdtemp(join(tmpdir(), 'sealpost-backup-compression-'));
  source = join(work, 'src');
  await fs.mkdir(join(source, 'lib'), { recursive: true });
  for (let i = 0; i < 6; i++) await fs.writeFile(join(source, 'lib', `f${i}.c`), text(i + 1, 4_000));
});
after(async () => {
  await fs.rm(work, { recursive: true, force: true });
});

async function freshSession(name: string, d: BackupDeps = deps) {
  const repo = new LocalRepository(join(work, name));
  await initRepository(repo, d, 'pass', TEST_ARGON2);
  return openRepository(repo, d, 'pass');
}

test('auto compresses a first backup fast and a run with a parent snapshot small', async () => {
  const session = await freshSession('auto');
  try {
    calls.fast = calls.small = 0;
    const first = await backup(session, source, { hostname: 'h' });
    assert.equal(first.compression, 'fast');
    assert.ok(calls.fast > 0);
    assert.equal(calls.small, 0);

    await fs.writeFile(join(source, 'lib', 'new.c'), text(99, 2_000));
    calls.fast = calls.small = 0;
    const second = await backup(session, source, { hostname: 'h' });
    assert.equal(second.compression, 'small');
    assert.equal(second.parent, first.snapshotId);
    assert.ok(calls.small > 0);
    assert.equal(calls.fast, 0);

    const target = join(work, 'restored-auto');
    await restore(session, second.snapshotId, target);
    for (const name of await fs.readdir(join(source, 'lib')))
      assert.deepEqual(
        await fs.readFile(join(target, 'lib', name)),
        await fs.readFile(join(source, 'lib', name)),
        name,
      );
  } finally {
    session.close();
    await fs.rm(join(source, 'lib', 'new.c'), { force: true });
  }
});

test('fast and small are kept whatever the parent; another host has no parent and auto is fast', async () => {
  const session = await freshSession('forced');
  try {
    calls.fast = calls.small = 0;
    assert.equal(
      (await backup(session, source, { hostname: 'h', compression: 'small' })).compression,
      'small',
    );
    assert.deepEqual([calls.fast > 0, calls.small > 0], [false, true]);
    calls.fast = calls.small = 0;
    const forced = await backup(session, source, { hostname: 'h', compression: 'fast', force: true });
    assert.equal(forced.compression, 'fast');
    assert.equal((await backup(session, source, { hostname: 'other' })).compression, 'fast');
  } finally {
    session.close();
  }
});

test('on worker threads the small effort stores fewer bytes than the fast one for the same files', async () => {
  // Real source text (TypeScript's compiler, ~9 MB of JavaScript): level 3 is ~7% smaller than
  // level 1 on it, well above the packs' padding steps (padme: 32 KiB at this size).
  const big = join(work, 'big');
  await fs.mkdir(big);
  await fs.copyFile(
    createRequire(import.meta.url).resolve('typescript/lib/typescript.js'),
    join(big, 'ts.js'),
  );
  const threaded = nodeBackupDeps({ workers: 1 });
  const stored = async (compression: 'fast' | 'small') => {
    const session = await freshSession(`workers-${compression}`, threaded);
    try {
      return (await backup(session, big, { hostname: 'h', compression })).bytesStored;
    } finally {
      session.close();
    }
  };
  const [fast, small] = [await stored('fast'), await stored('small')];
  assert.ok(small < fast * 0.97, `small ${small} B, fast ${fast} B`);
});
