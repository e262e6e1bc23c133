/**
 * node bench/backup-http.ts — a backup into the Sealpost server's blob store and its restore, under
 * the server's DEFAULT rate limits, counting HTTP requests, 429 answers and wall time per phase.
 *
 * The server is a child process (bench/backup-http/server.ts, SQLite, default limits) so that it
 * has its own event loop; this process is the client: the backup engine with `HttpRepository`,
 * whose `fetch` is wrapped to count every request it sends (challenges included) by route and
 * status. The tree is `--files` small files (1-8 KiB, in 30 directories) and `--big` files of
 * 2 MiB; the restore is checked byte for byte (SHA-256 of every file).
 *
 * Then `--ops` objects of 1 KiB are put one after another and read back (the pattern of anything that
 * reads or deletes many objects one request each), through `HttpRepository` with its default retries.
 *
 *   node bench/backup-http.ts [--files 3000] [--big 8] [--ops 500] [--via cli|engine]
 *
 * --via cli (default): init, backup and restore are `sealpost backup ...` child processes, as a
 * user runs them; --via engine: the engine in this process (no process start-up in the figures).
 */
import { spawn } from 'node:child_process';
import { createHash, randomBytes, randomInt } from 'node:crypto';
import * as fs from 'node:fs/promises';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { HttpRepository } from '../packages/client/node/backup-http-repo.ts';
import { nodeBackupDeps } from '../packages/client/node/backup-node.ts';
import { backup } from '../packages/client/src/backup/backup.ts';
import { restore } from '../packages/client/src/backup/restore.ts';
import type { ObjectName } from '../packages/client/src/backup/repository.ts';
import { initRepository, openRepository } from '../packages/client/src/backup/session.ts';
import { createDevice, crypto } from '../test/support/harness.ts';
import { ok as cliOk } from '../test/support/sealpost-cli.ts';

const { values } = parseArgs({
  options: {
    files: { type: 'string', default: '3000' },
    big: { type: 'string', default: '8' },
    via: { type: 'string', default: 'cli' },
    ops: { type: 'string', default: '500' },
  },
});
const FILES = Number(values.files);
const OPS = Number(values.ops);
const BIG = Number(values.big);
const MiB = 1024 * 1024;
const PASSPHRASE = 'bench passphrase';
const ARGON2 = { memoryKiB: 1024, iterations: 1, parallelism: 1 };

/** The server's answers of one phase, by route and status (bench/backup-http/server.ts). */
type Stats = Record<string, number>;

function summary(stats: Stats): { requests: number; tooMany: number; errors: number; routes: string } {
  let requests = 0;
  let tooMany = 0;
  let errors = 0;
  const byRoute = new Map<string, number>();
  for (const [key, n] of Object.entries(stats)) {
    const [method, url, status] = key.split(' ') as [string, string, string];
    requests += n;
    if (status === '429') tooMany += n;
    else if (Number(status) >= 400 && status !== '404' && status !== '416') errors += n;
    const route = `${method} ${url}`;
    byRoute.set(route, (byRoute.get(route) ?? 0) + n);
  }
  const routes = [...byRoute].map(([r, n]) => `${r}: ${n}`).join(', ');
  return { requests, tooMany, errors, routes };
}

async function makeTree(root: string): Promise<{ files: number; bytes: number }> {
  let bytes = 0;
  for (let d = 0; d < 30; d++) await fs.mkdir(join(root, `dir-${d}`), { recursive: true });
  for (let i = 0; i < FILES; i++) {
    const data = randomBytes(randomInt(1024, 8 * 1024)).toString('base64');
    await fs.writeFile(join(root, `dir-${i % 30}`, `file-${i}.txt`), data);
    bytes += data.length;
  }
  for (let i = 0; i < BIG; i++) {
    await fs.writeFile(join(root, `big-${i}.bin`), randomBytes(2 * MiB));
    bytes += 2 * MiB;
  }
  return { files: FILES + BIG, bytes };
}

async function digests(root: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const entry of await fs.readdir(root, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile()) continue;
    const path = join(entry.parentPath, entry.name);
    out.set(
      relative(root, path),
      createHash('sha256')
        .update(await fs.readFile(path))
        .digest('hex'),
    );
  }
  return out;
}

interface Server {
  readonly url: string;
  /** The answers since the last call. */
  stats(): Promise<Stats>;
  stop(): Promise<void>;
}

async function startServer(): Promise<Server> {
  const child = spawn(process.execPath, [join(import.meta.dirname, 'backup-http/server.ts')], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let onStats: ((stats: Stats) => void) | undefined;
  const url = await new Promise<string>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`server exited with ${code}`)));
    createInterface({ input: child.stdout }).on('line', (line) => {
      if (line.startsWith('READY ')) resolve(line.slice(6));
      if (line.startsWith('STATS ')) onStats?.(JSON.parse(line.slice(6)) as Stats);
    });
  });
  const exited = new Promise<void>((done) => child.once('exit', () => done()));
  return {
    url,
    stats: () =>
      new Promise<Stats>((resolve) => {
        onStats = resolve;
        child.kill('SIGUSR2');
      }),
    stop: async () => {
      child.kill('SIGTERM');
      await exited;
    },
  };
}

/** Runs the phases through the engine in this process (`engine`) or the `sealpost` command (`cli`). */
async function phases(
  url: string,
  source: string,
  target: string,
  measure: (name: string, run: () => Promise<unknown>) => Promise<void>,
): Promise<void> {
  if (values.via === 'cli') {
    const home = join(work, 'home');
    const ok = (args: readonly string[]) => cliOk(work, home, args);
    const repo = ['--repo', url];
    await ok(['account', 'create', `bench${Date.now().toString(36)}`, '--server', url]);
    await measure('init', () => ok(['backup', 'init', ...repo]));
    await measure('backup', () => ok(['backup', 'create', source, ...repo]));
    await measure('restore', () => ok(['backup', 'restore', 'latest', target, ...repo]));
    return;
  }
  const device = await createDevice(url, `bench${Date.now().toString(36)}`);
  const repo = new HttpRepository({
    serverUrl: url,
    username: device.username,
    deviceSeed: device.deviceSeed,
    crypto,
  });
  const deps = nodeBackupDeps();
  await measure('init', () => initRepository(repo, deps, PASSPHRASE, ARGON2));
  const session = await openRepository(repo, deps, PASSPHRASE);
  try {
    let snapshotId = '';
    await measure('backup', async () => {
      snapshotId = (await backup(session, source, { hostname: 'bench' })).snapshotId;
    });
    await measure('restore', () => restore(session, snapshotId, target));
  } finally {
    session.close();
    repo.close();
  }
}

/**
 * `--ops` small objects put, then read back whole, as fast as one client goes: the pattern of a
 * restore or check that reads many objects (or ranges) one request each, and of prune's deletes.
 */
async function blobOps(url: string, measure: (name: string, run: () => Promise<unknown>) => Promise<void>) {
  const device = await createDevice(url, `ops${Date.now().toString(36)}`);
  const repo = new HttpRepository({
    serverUrl: url,
    username: device.username,
    deviceSeed: device.deviceSeed,
    crypto,
  });
  const objects = Array.from({ length: OPS }, () => {
    const bytes = new Uint8Array(randomBytes(1024));
    return { bytes, name: createHash('sha256').update(bytes).digest('hex') as ObjectName };
  });
  try {
    await measure(`put x${OPS}`, async () => {
      for (const o of objects) await repo.put('index', o.name, o.bytes);
    });
    await measure(`get x${OPS}`, async () => {
      for (const o of objects) await repo.get('index', o.name);
    });
  } finally {
    repo.close();
  }
}

const work = await fs.mkdtemp(join(tmpdir(), 'sealpost-bench-backup-http-'));
const server = await startServer();
try {
  const source = join(work, 'source');
  const target = join(work, 'restored');
  const tree = await makeTree(source);
  const rows: { phase: string; ms: number; stats: Stats }[] = [];
  const measure = async (name: string, run: () => Promise<unknown>) => {
    await server.stats();
    const t0 = performance.now();
    await run();
    const ms = performance.now() - t0;
    rows.push({ phase: name, ms, stats: await server.stats() });
  };
  await phases(server.url, source, target, measure);
  await blobOps(server.url, measure);
  const [a, b] = [await digests(source), await digests(target)];
  const same = a.size === b.size && [...a].every(([k, v]) => b.get(k) === v);
  if (!same) throw new Error('the restored tree differs from the source');

  console.log(
    `via ${values.via}; tree: ${tree.files} files, ${(tree.bytes / MiB).toFixed(1)} MiB (${FILES} of 1-8 KiB, ` +
      `${BIG} of 2 MiB); server: SQLite, default rate limits; ${cpus().length} cores, load ` +
      loadavg()
        .map((l) => l.toFixed(2))
        .join(' '),
  );
  console.log('phase     | wall s | requests | 429 | other errors | by route');
  for (const { phase: name, ms, stats } of rows) {
    const c = summary(stats);
    console.log(
      `${name.padEnd(9)} | ${(ms / 1000).toFixed(2).padStart(6)} | ${String(c.requests).padStart(8)} | ` +
        `${String(c.tooMany).padStart(3)} | ${String(c.errors).padStart(12)} | ${c.routes}`,
    );
  }
  console.log('restore: byte for byte identical');
} finally {
  await server.stop();
  await fs.rm(work, { recursive: true, force: true });
}
