/**
 * One measured implementation of bench/messaging.ts in a process of its own (a "cell"), so that
 * no cell runs in code that another cell's calls made polymorphic: ts-mls's functions called with
 * two crypto providers in one process ran ours ~20% slower than alone. The parent interleaves
 * rounds across cells (one runs at a time), so they all see the same load from other work.
 *
 * Started by `fork` with the cell as JSON in argv[2]; answers on the IPC channel:
 *   { ready: true } once warmed up; { round: seconds } -> { n, wallMs, cpuMs };
 *   { overhead: true } -> { bytes } (bytes the wire adds to a 1 KiB plaintext); { exit: true }.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import { browserMlsCryptoProvider, mlsCiphersuite } from '../packages/client/src/mls/provider.ts';
import { nodeMlsCryptoProvider } from '../packages/client/node/mls-crypto.ts';
import { median, mlsPair, took } from './messaging-mls.ts';
import { loadLibsignal, oneToOne, senderKeys } from './messaging-libsignal.ts';

export type CellSpec =
  | { kind: 'libsignal-1:1' | 'libsignal-sender-keys' }
  | {
      kind: 'mls';
      provider: 'default' | 'node';
      suite: NonNullable<Parameters<typeof mlsCiphersuite>[0]>['suite'];
      size: number;
    };

type Reply = { ready: true } | { n: number; wallMs: number; cpuMs: number } | { bytes: number };

async function setUp(spec: CellSpec) {
  const payload = new Uint8Array(200).fill(0x78) as Uint8Array<ArrayBuffer>;
  const kib = new Uint8Array(1024).fill(0x78) as Uint8Array<ArrayBuffer>;
  if (spec.kind === 'mls') {
    const provider = spec.provider === 'node' ? nodeMlsCryptoProvider : browserMlsCryptoProvider;
    const pair = await mlsPair(await mlsCiphersuite({ provider, suite: spec.suite }), spec.size);
    return { op: pair.op, overhead: () => pair.overhead(kib) };
  }
  const ls = await loadLibsignal();
  if ('missing' in ls) throw new Error(ls.missing);
  const pair = await (spec.kind === 'libsignal-1:1' ? oneToOne : senderKeys)(ls.lib);
  return {
    op: () => pair.sendAndReceive(payload),
    overhead: async () => (await pair.ciphertextSize(kib)) - kib.byteLength,
  };
}

if (import.meta.main && process.send !== undefined) {
  const send = (r: Reply) => process.send!(r);
  const cell = await setUp(JSON.parse(process.argv[2]!) as CellSpec);
  for (let i = 0; i < 300; i++) await cell.op(); // warm-up: JIT, key caches
  process.on('message', async (m: { round?: number; overhead?: true; exit?: true }) => {
    if (m.round !== undefined) {
      let n = 0;
      const [, t] = await took(async () => {
        const deadline = performance.now() + m.round! * 1000;
        while (performance.now() < deadline) {
          for (let i = 0; i < 20; i++) await cell.op();
          n += 20;
        }
      });
      send({ n, ...t });
    } else if (m.overhead) {
      send({ bytes: await cell.overhead() });
    } else {
      process.exit(0);
    }
  });
  send({ ready: true });
}

/** Operations per second, by wall clock and per CPU-second; bytes the wire adds to 1 KiB. */
export interface CellResult {
  perSec: number;
  perCpuSec: number;
  overhead: number;
}

function ask<T extends Reply>(child: ChildProcess, message?: object): Promise<T> {
  return new Promise((resolve, reject) => {
    const onExit = (code: number | null) => reject(new Error(`bench cell exited with ${code}`));
    child.once('exit', onExit);
    child.once('message', (r) => {
      child.off('exit', onExit);
      resolve(r as T);
    });
    if (message !== undefined) child.send(message);
  });
}

/**
 * Each cell in its own process, warmed up; then `rounds` rounds in which each cell runs for
 * `seconds` in turn, one at a time; each cell's median round.
 */
export async function cellRates(
  specs: readonly CellSpec[],
  { seconds, rounds }: { seconds: number; rounds: number },
): Promise<CellResult[]> {
  const children = specs.map((s) =>
    fork(import.meta.filename, [JSON.stringify(s)], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] }),
  );
  try {
    // One at a time, so that building a 1,000-member group does not slow another cell's warm-up.
    for (const c of children) await ask(c);
    const wall: number[][] = specs.map(() => []);
    const cpu: number[][] = specs.map(() => []);
    for (let r = 0; r < rounds; r++) {
      for (const [k, c] of children.entries()) {
        const t = await ask<{ n: number; wallMs: number; cpuMs: number }>(c, { round: seconds });
        wall[k]!.push((t.n * 1000) / t.wallMs);
        cpu[k]!.push((t.n * 1000) / t.cpuMs);
      }
    }
    const out: CellResult[] = [];
    for (const [k, c] of children.entries()) {
      const { bytes } = await ask<{ bytes: number }>(c, { overhead: true });
      out.push({ perSec: median(wall[k]!), perCpuSec: median(cpu[k]!), overhead: bytes });
    }
    return out;
  } finally {
    for (const c of children) if (c.connected) c.send({ exit: true });
  }
}
