/**
 * The CLI as `npm run sealpost` runs it: bundled by scripts/build-cli.ts (here into a scratch
 * directory, never the developer's dist/) and run as plain JavaScript, its worker threads loaded
 * from the bundles beside it (a wrong worker file name would only show up here).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const root = resolve(import.meta.dirname, '..');
const node = join(root, 'node_modules/.bin/node');
const PASSPHRASE = 'a passphrase for tests';

let work: string;
let bundle: string;
/** One line per message of replies a backup worker sends back (the wrapper below writes it). */
let workerLog: string;

before(async () => {
  work = await fs.mkdtemp(join(tmpdir(), 'sealpost-cli-bundle-'));
  bundle = join(work, 'bundle');
  workerLog = join(work, 'worker.log');
  execFileSync(node, ['scripts/build-cli.ts', '--quiet', '--outdir', bundle], { cwd: root });
  // The bundled worker behind a wrapper that logs its replies: they show that the sealing was done
  // on a worker thread started from this directory's backup-worker.mjs.
  await fs.rename(join(bundle, 'backup-worker.mjs'), join(bundle, 'backup-worker-bundled.mjs'));
  await fs.writeFile(
    join(bundle, 'backup-worker.mjs'),
    `import { appendFileSync } from 'node:fs';
import { parentPort } from 'node:worker_threads';
const post = parentPort.postMessage.bind(parentPort);
parentPort.postMessage = (replies, transfer) => {
  appendFileSync(${JSON.stringify(workerLog)}, replies.length + '\\n');
  post(replies, transfer);
};
await import('./backup-worker-bundled.mjs');
`,
  );
});
after(async () => {
  await fs.rm(work, { recursive: true, force: true });
});

/** The environment without this process's SEALPOST_* variables, with a scratch HOME, plus `extra`. */
function environment(extra: Record<string, string>): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env))
    if (!k.startsWith('SEALPOST_') && v !== undefined) env[k] = v;
  return { ...env, HOME: work, ...extra };
}

function start(args: readonly string[], env: Record<string, string>): ChildProcess {
  return spawn(node, [join(bundle, 'sealpost.mjs'), ...args], {
    cwd: work,
    env: environment(env),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

async function sealpost(args: readonly string[]): Promise<{ status: number | null; stderr: string }> {
  const child = start(args, { SEALPOST_PASSPHRASE: PASSPHRASE });
  let stderr = '';
  child.stdout!.resume();
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const status = await new Promise<number | null>((res) => child.once('close', res));
  return { status, stderr };
}

test('the bundled CLI prints the backup help and exits 0', async () => {
  const run = await sealpost(['backup', '--help']);
  assert.equal(run.status, 0, run.stderr);
});

test('the bundled CLI backs up and restores a tree byte for byte, sealing on its worker thread', async () => {
  const source = join(work, 'src');
  const repo = join(work, 'repo');
  const target = join(work, 'restored');
  // Random bytes: they neither compress nor deduplicate, so every chunk of the large file is sealed.
  const files: Record<string, Uint8Array> = {
    'large.bin': randomBytes(3 * 1024 * 1024),
    'notes.txt': new TextEncoder().encode('alpha\n'.repeat(1000)),
    'sub/empty': new Uint8Array(0),
    'sub/small.bin': randomBytes(777),
  };
  for (const [name, bytes] of Object.entries(files)) {
    await fs.mkdir(join(source, name, '..'), { recursive: true });
    await fs.writeFile(join(source, name), bytes);
  }
  for (const args of [
    ['init', '--repo', repo],
    ['create', source, '--repo', repo],
    ['restore', 'latest', target, '--repo', repo],
  ]) {
    const run = await sealpost(['backup', ...args]);
    assert.equal(run.status, 0, `backup ${args[0]}: ${run.stderr}`);
  }
  for (const [name, bytes] of Object.entries(files))
    assert.deepEqual(new Uint8Array(await fs.readFile(join(target, name))), new Uint8Array(bytes), name);
  const replies = (await fs.readFile(workerLog, 'utf8')).split('\n').filter((l) => l !== '');
  assert.ok(replies.length > 0, 'a worker thread of the bundle answered sealing jobs');
});

test('the bundled CLI serves: `serve` listens on a free port and its store thread answers', async () => {
  const child = start(['serve'], {
    SEALPOST_PORT: '0',
    SEALPOST_ADMIN_PORT: '-1',
    SEALPOST_SQLITE_THREAD: 'true',
    SEALPOST_DATA_DIR: join(work, 'data'),
  });
  try {
    let out = '';
    const url = await new Promise<string>((res, reject) => {
      child.stdout!.on('data', (d: Buffer) => {
        out += d.toString();
        const m = /listening on (http:\/\/[^\s]+)/.exec(out);
        if (m) res(m[1]!);
      });
      child.once('exit', (code) => reject(new Error(`sealpost serve exited with ${code}: ${out}`)));
    });
    const ready = await fetch(`${url}/readyz`);
    assert.equal(ready.status, 200);
    assert.equal(((await ready.json()) as { store: string }).store, 'ok');
  } finally {
    child.kill();
  }
});
