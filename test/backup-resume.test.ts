/**
 * Resuming an interrupted backup (packages/client/src/backup/resume.ts): the packs a killed run had
 * stored are adopted by the next run, which uploads again at most the pack that was in flight.
 * Pack uploads are counted, against a clean run with the same keys (a copy of the repository
 * before the first run, so the chunks and packs are the same ones).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { LocalRepository } from '../packages/client/node/backup-local-repo.ts';
import { backup } from '../packages/client/src/backup/backup.ts';
import { check } from '../packages/client/src/backup/check.ts';
import { BACKUP_ENGINE_LIMITS } from '../packages/client/src/backup/limits.ts';
import type { ObjectKind, ObjectName, Repository } from '../packages/client/src/backup/repository.ts';
import { openRepository } from '../packages/client/src/backup/session.ts';
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

const root = resolve(import.meta.dirname, '..');
const deps = depsWith(new TestClock());

let work: string;
let source: string;
let want: Map<string, string>;
before(async () => {
  work = await fs.mkdtemp(join(tmpdir(), 'sealpost-backup-resume-'));
  source = join(work, 'src');
  // 64 MiB of incompressible data: at least four packs of at most 16 MiB.
  const files: Record<string, Uint8Array> = {};
  for (let i = 0; i < 4; i++) files[`dir${i % 2}/file-${i}.bin`] = randomData(16 * MiB + i * 100_000);
  await writeTree(source, files);
  want = await digestTree(source);
});
after(async () => {
  await fs.rm(work, { recursive: true, force: true });
});

/** Counts pack uploads; `afterPack(n)` runs once the n-th one is stored. */
class Counting implements Repository {
  readonly inner: Repository;
  packPuts = 0;
  afterPack: (n: number) => void = () => undefined;
  constructor(inner: Repository) {
    this.inner = inner;
  }
  async put(kind: ObjectKind, name: ObjectName, bytes: Uint8Array): Promise<void> {
    await this.inner.put(kind, name, bytes);
    if (kind === 'packs') this.afterPack(++this.packPuts);
  }
  /** Each pack fetched: the range asked for, or undefined for the whole pack. */
  packGets: (number | undefined)[] = [];
  get = (kind: ObjectKind, name: ObjectName, range?: { offset: number; length: number }) => {
    if (kind === 'packs') this.packGets.push(range?.length);
    return this.inner.get(kind, name, range);
  };
  list = (kind: ObjectKind) => this.inner.list(kind);
  exists = (kind: ObjectKind, name: ObjectName) => this.inner.exists(kind, name);
  delete = (kind: ObjectKind, name: ObjectName) => this.inner.delete(kind, name);
}

/** Packs a clean run stores into a copy of the repository at `dir` (same keys, same packs). */
async function cleanRunPacks(dir: string): Promise<number> {
  const counting = new Counting(new LocalRepository(dir));
  const session = await openRepository(counting, deps, PASSPHRASE);
  try {
    await backup(session, source, { hostname: 'h' });
    return counting.packPuts;
  } finally {
    session.close();
  }
}

test('a run aborted after 2 packs is resumed: those are adopted, and no more packs are put than a clean run', async () => {
  const dir = join(work, 'abort-repo');
  const { session: setup } = await newRepository(dir, deps);
  setup.close();
  await fs.cp(dir, join(work, 'abort-clean'), { recursive: true });
  const clean = await cleanRunPacks(join(work, 'abort-clean'));
  // The trees go into the last data pack (a run's last data and tree blobs share a pack when they fit).
  assert.ok(clean >= 4, `${clean} packs: 64 MiB of data in packs of at most 16 MiB`);

  const counting = new Counting(new LocalRepository(dir));
  const session = await openRepository(counting, deps, PASSPHRASE);
  try {
    const controller = new AbortController();
    counting.afterPack = (n) => {
      if (n === 2) controller.abort(new Error('stopped after two packs'));
    };
    await assert.rejects(
      backup(session, source, { hostname: 'h', signal: controller.signal }),
      /stopped after two packs/,
    );
    assert.equal(counting.packPuts, 2);
    assert.equal((await counting.list('index')).length, 0, 'an interrupted run writes no index file');
    assert.equal((await check(session)).unreferencedPacks, 2);

    counting.packPuts = 0;
    counting.packGets = [];
    counting.afterPack = () => undefined;
    const resumed = await backup(session, source, { hostname: 'h' });
    assert.equal(resumed.packsAdopted, 2);
    assert.deepEqual(
      counting.packGets,
      [BACKUP_ENGINE_LIMITS.resumeTailBytes, BACKUP_ENGINE_LIMITS.resumeTailBytes],
      'each adopted 16 MiB pack is read by one tail of the same length, never whole',
    );
    assert.ok(
      2 + counting.packPuts <= clean + 1,
      `2 + ${counting.packPuts} packs put, a clean run puts ${clean}`,
    );
    assert.deepEqual(await restoredDigest(session, resumed.snapshotId, join(work, 'abort-out')), want);
    const report = await check(session, { readData: true });
    assert.equal(report.ok, true, JSON.stringify(report.problems));
    assert.equal(report.unreferencedPacks, 0, 'the adopted packs are indexed');
  } finally {
    session.close();
  }
});

/** `sealpost backup <args> --repo <dir>` as a child process. */
function sealpost(args: readonly string[], repo: string) {
  return spawn(
    join(root, 'node_modules/.bin/node'),
    [join(root, 'packages/cli/src/main.ts'), 'backup', ...args, '--repo', repo],
    {
      cwd: root,
      env: { ...process.env, HOME: work, SEALPOST_PASSPHRASE: PASSPHRASE },
      stdio: ['pipe', 'pipe', 'pipe'],
    },
  );
}

async function packFiles(repo: string): Promise<string[]> {
  const out: string[] = [];
  for (const fan of await fs.readdir(join(repo, 'packs')).catch(() => [])) {
    out.push(...(await fs.readdir(join(repo, 'packs', fan))));
  }
  return out;
}

test('a CLI backup killed with SIGKILL is resumed by the next run, uploading at most the pack in flight again', async () => {
  const dir = join(work, 'kill-repo');
  const { session: setup } = await newRepository(dir, deps);
  setup.close();
  await fs.cp(dir, join(work, 'kill-clean'), { recursive: true });
  const clean = await cleanRunPacks(join(work, 'kill-clean'));

  const child = sealpost(['create', source, '--host', 'h'], dir);
  child.stdin.end();
  const exited = new Promise<NodeJS.Signals | null>((res) =>
    child.once('exit', (_code, signal) => res(signal)),
  );
  // Kill it as soon as two packs are stored (well before the end: there are four or more).
  for (;;) {
    if ((await packFiles(dir)).length >= 2) break;
    const done = await Promise.race([exited.then(() => true), new Promise((r) => setTimeout(r, 20))]);
    assert.notEqual(done, true, 'the backup ended before it could be killed');
  }
  child.kill('SIGKILL');
  assert.equal(await exited, 'SIGKILL');
  const left = (await packFiles(dir)).length;
  assert.ok(left >= 2 && left < clean, `${left} packs left by the killed run`);

  const again = sealpost(['create', source, '--host', 'h', '--json'], dir);
  again.stdin.end();
  let stdout = '';
  again.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  const status = await new Promise<number | null>((res) => again.once('close', res));
  assert.equal(status, 0);
  const result = JSON.parse(stdout) as { snapshotId: string; packsAdopted: number; packs: number };
  assert.equal(result.packsAdopted, left);
  assert.ok(
    left + result.packs <= clean + 1,
    `${left} + ${result.packs} packs put, a clean run puts ${clean}`,
  );

  const session = await openRepository(new LocalRepository(dir), deps, PASSPHRASE);
  try {
    assert.deepEqual(await restoredDigest(session, result.snapshotId, join(work, 'kill-out')), want);
    assert.equal((await check(session, { readData: true })).ok, true);
  } finally {
    session.close();
  }
});
