/**
 * npm run bench:delivery — durable delivery end to end (send -> stored -> pushed -> acked) against
 * a raw `ws` relay with no persistence, in one run.
 *
 * N devices in a ring: device i sends M messages of 1 KiB to device i+1, keeping W sends
 * outstanding. Latency is measured from `send()` to the recipient's handler (the ack follows at
 * once). Each server runs in a child process (its own core); the clients share this process.
 *
 *   node bench/delivery.ts [--devices 32] [--messages 300] [--window 8] [--payload 1024]
 *                          [--only relay,sqlite,sqlite-thread,postgres] [--cpu-prof-dir DIR]
 *
 * sqlite is what `sealpost serve` runs by default; sqlite-thread is `--sqlite-thread`.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { parseArgs } from 'node:util';
import { performance } from 'node:perf_hooks';
import { resolve } from 'node:path';
import { Connection } from '@sealpost/client';
import { createTestPostgres } from '../packages/server/src/store/test-databases.ts';
import { createDevice, crypto, type TestDevice } from '../test/support/harness.ts';

const { values } = parseArgs({
  options: {
    devices: { type: 'string', default: '32' },
    messages: { type: 'string', default: '300' },
    window: { type: 'string', default: '8' },
    payload: { type: 'string', default: '1024' },
    only: { type: 'string', default: 'relay,sqlite,sqlite-thread,postgres' },
    /** Writes a V8 CPU profile of each server process into this folder. */
    'cpu-prof-dir': { type: 'string' },
  },
});
const N = Number(values.devices);
const M = Number(values.messages);
const W = Number(values.window);
const SIZE = Number(values.payload);
const targets = values.only.split(',');

interface Result {
  name: string;
  msgsPerSec: number;
  p50: number;
  p99: number;
  total: number;
}

/** Names from letters no skeleton rule touches, so generated usernames never collide. */
function lookalikeFree(i: number): string {
  const alphabet = 'abdefghkmnopstuwxyz';
  let out = '';
  do {
    out += alphabet[i % alphabet.length];
    i = Math.floor(i / alphabet.length);
  } while (i > 0);
  return out;
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
}

async function startChild(args: string[]): Promise<{ child: ChildProcess; url: string }> {
  const prof = values['cpu-prof-dir'] ? ['--cpu-prof', `--cpu-prof-dir=${values['cpu-prof-dir']}`] : [];
  const child = spawn(
    process.execPath,
    [...prof, resolve(import.meta.dirname, 'delivery-server.ts'), ...args],
    {
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  const url = await new Promise<string>((res, rej) => {
    let out = '';
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /READY (\S+)/.exec(out);
      if (m) res(m[1]!);
    });
    child.once('exit', (code) => rej(new Error(`server exited with ${code}`)));
  });
  return { child, url };
}

async function stopChild(child: ChildProcess): Promise<void> {
  await new Promise<void>((res) => {
    child.once('exit', () => res());
    child.kill('SIGTERM');
  });
}

/** Runs `count` tasks per lane with at most `window` in flight each. */
async function windowed(count: number, window: number, task: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  const lane = async () => {
    while (next < count) await task(next++);
  };
  await Promise.all(Array.from({ length: Math.min(window, count) }, lane));
}

function stamped(): Uint8Array {
  const payload = new Uint8Array(SIZE);
  crypto.randomBytes(SIZE - 8).forEach((b, i) => (payload[i + 8] = b));
  new DataView(payload.buffer).setFloat64(0, performance.now());
  return payload;
}
const stampOf = (p: Uint8Array) => new DataView(p.buffer, p.byteOffset, p.byteLength).getFloat64(0);

async function runSealpost(name: string, url: string): Promise<Result> {
  const devices: TestDevice[] = [];
  for (let i = 0; i < N; i++) devices.push(await createDevice(url, `bench${lookalikeFree(i)}`));
  const latencies: number[] = [];
  let received = 0;
  let done: () => void = () => undefined;
  const all = new Promise<void>((r) => (done = r));
  const conns = devices.map(
    (d) =>
      new Connection({
        serverUrl: url,
        username: d.username,
        deviceSeed: d.deviceSeed,
        crypto,
        onMessage: (m) => {
          latencies.push(performance.now() - stampOf(m.payload));
          if (++received === N * M) done();
        },
      }),
  );
  await Promise.all(conns.map((c) => c.start()));
  const t0 = performance.now();
  await Promise.all(
    conns.map((c, i) =>
      windowed(M, W, async () => {
        await c.send({ recipients: [devices[(i + 1) % N]!.address], payload: stamped() });
      }),
    ),
  );
  await all;
  const secs = (performance.now() - t0) / 1000;
  await Promise.all(conns.map((c) => c.close()));
  latencies.sort((a, b) => a - b);
  return {
    name,
    msgsPerSec: (N * M) / secs,
    p50: percentile(latencies, 50),
    p99: percentile(latencies, 99),
    total: N * M,
  };
}

async function runRelay(url: string): Promise<Result> {
  const latencies: number[] = [];
  let received = 0;
  let done: () => void = () => undefined;
  const all = new Promise<void>((r) => (done = r));
  const sockets: WebSocket[] = [];
  const waiters: Array<Array<() => void>> = [];
  for (let i = 0; i < N; i++) {
    const ws = new WebSocket(`${url}/?id=${i}`);
    ws.binaryType = 'arraybuffer';
    waiters.push([]);
    ws.onmessage = (ev) => {
      const data = new Uint8Array(ev.data as ArrayBuffer);
      if (data.length === 1) {
        waiters[i]!.shift()?.();
        return;
      }
      latencies.push(performance.now() - stampOf(data));
      ws.send(Uint8Array.of(0)); // the ack, as a client would send one
      if (++received === N * M) done();
    };
    await new Promise((r) => (ws.onopen = r));
    sockets.push(ws);
  }
  const t0 = performance.now();
  await Promise.all(
    sockets.map((ws, i) =>
      windowed(M, W, async () => {
        const body = stamped();
        const frame = new Uint8Array(2 + body.length);
        new DataView(frame.buffer).setUint16(0, (i + 1) % N);
        frame.set(body, 2);
        await new Promise<void>((r) => {
          waiters[i]!.push(r);
          ws.send(frame);
        });
      }),
    ),
  );
  await all;
  const secs = (performance.now() - t0) / 1000;
  for (const ws of sockets) ws.close();
  latencies.sort((a, b) => a - b);
  return {
    name: 'raw ws relay',
    msgsPerSec: (N * M) / secs,
    p50: percentile(latencies, 50),
    p99: percentile(latencies, 99),
    total: N * M,
  };
}

const results: Result[] = [];
console.log(
  `delivery bench: ${N} devices, ${M} messages each, ${SIZE} B payload, window ${W} (node ${process.version})`,
);
if (targets.includes('relay')) {
  const { child, url } = await startChild(['relay']);
  try {
    results.push(await runRelay(url));
  } finally {
    await stopChild(child);
  }
}
for (const mode of ['sqlite', 'sqlite-thread'] as const) {
  if (!targets.includes(mode)) continue;
  const { child, url } = await startChild([mode]);
  try {
    results.push(await runSealpost(`sealpost ${mode}`, url));
  } finally {
    await stopChild(child);
  }
}
if (targets.includes('postgres')) {
  const db = await createTestPostgres();
  const { child, url } = await startChild(['postgres', db.url]);
  try {
    results.push(await runSealpost('sealpost postgres', url));
  } finally {
    await stopChild(child);
    await db.drop();
  }
}

const relay = results.find((r) => r.name === 'raw ws relay');
console.log('');
console.log('| target | messages | msgs/s | p50 ms | p99 ms | throughput vs relay |');
console.log('|---|---|---|---|---|---|');
for (const r of results) {
  const ratio = relay ? (r.msgsPerSec / relay.msgsPerSec).toFixed(2) + 'x' : 'n/a';
  console.log(
    `| ${r.name} | ${r.total} | ${r.msgsPerSec.toFixed(0)} | ${r.p50.toFixed(2)} | ${r.p99.toFixed(2)} | ${ratio} |`,
  );
}
