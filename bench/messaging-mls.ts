/**
 * The MLS measurements of bench/messaging.ts, on ts-mls through packages/client/node/mls-test-group.ts.
 *
 * Every figure is taken twice: wall-clock time, which a user waits, and the process's CPU time
 * (`process.cpuUsage`, all threads), which other work on a shared machine disturbs far less.
 */
import { performance } from 'node:perf_hooks';
import {
  commitAdd,
  commitUpdate,
  joiner,
  joinFromWelcome,
  makeGroup,
  type Member,
  messageBytes,
  processCommit,
  sendAndReceive,
} from '../packages/client/node/mls-test-group.ts';
import { fullTreeGroup } from './messaging-fixtures.ts';

type CiphersuiteImpl = Member['cs'];
type CiphersuiteName = Parameters<typeof fullTreeGroup>[0];

export interface Took {
  wallMs: number;
  cpuMs: number;
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

export async function took<T>(f: () => Promise<T>): Promise<[T, Took]> {
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  const r = await f();
  const wallMs = performance.now() - t0;
  const c = process.cpuUsage(c0);
  return [r, { wallMs, cpuMs: (c.user + c.system) / 1000 }];
}

/** Operations per second, by wall clock and per CPU-second. */
export interface Rate {
  perSec: number;
  perCpuSec: number;
}

/**
 * Operations per second of each op: after a warm-up of each, `rounds` rounds in which every op
 * runs for `seconds` in turn, and each op's median round. Interleaving puts every op under the
 * same load from other work on a shared machine, so the ratios between them hold even when the
 * rates themselves move.
 */
export async function rates(
  ops: readonly (() => Promise<unknown>)[],
  { seconds, rounds }: { seconds: number; rounds: number },
): Promise<Rate[]> {
  for (const op of ops) for (let i = 0; i < 200; i++) await op(); // warm-up: JIT, key caches
  const wall: number[][] = ops.map(() => []);
  const cpu: number[][] = ops.map(() => []);
  for (let r = 0; r < rounds; r++) {
    for (const [k, op] of ops.entries()) {
      let n = 0;
      const [, t] = await took(async () => {
        const deadline = performance.now() + seconds * 1000;
        while (performance.now() < deadline) {
          for (let i = 0; i < 20; i++) await op();
          n += 20;
        }
      });
      wall[k]!.push((n * 1000) / t.wallMs);
      cpu[k]!.push((n * 1000) / t.cpuMs);
    }
  }
  return ops.map((_, k) => ({ perSec: median(wall[k]!), perCpuSec: median(cpu[k]!) }));
}

const payload = new Uint8Array(200).fill(0x78);

/**
 * Application messages in a group of `size` made in one commit: `op` has alice encrypt and bob
 * decrypt one message; `overhead` is what the wire adds to a plaintext (call it last: that
 * message is not delivered).
 */
export async function mlsPair(cs: CiphersuiteImpl, size: number) {
  const { alice, bob } = await makeGroup(size, cs);
  return {
    op: () => sendAndReceive(alice, bob, payload),
    overhead: async (plaintext: Uint8Array) => (await messageBytes(alice, plaintext)) - plaintext.byteLength,
  };
}

interface HandshakeSample {
  update: Took;
  processUpdate: Took;
  add: Took;
  processAdd: Took;
  join: Took;
  updateBytes: number;
  welcomeBytes: number;
}

/** An update commit (with an UpdatePath) by alice, processed by bob. */
async function updateSample(alice: Member, bob: Member) {
  const [commit, update] = await took(() => commitUpdate(alice));
  const [, processUpdate] = await took(() => processCommit(bob, commit));
  return { update, processUpdate, updateBytes: commit.byteLength };
}

/** Alice adds a new member, bob processes the Add, the new member joins from the Welcome (tree inside). */
async function joinSample(alice: Member, bob: Member, name: string) {
  const j = await joiner(name, alice.cs);
  const [{ commit, welcome }, add] = await took(() => commitAdd(alice, j, { treeInWelcome: true }));
  const [, processAdd] = await took(() => processCommit(bob, commit));
  const [, join] = await took(() => joinFromWelcome(j, welcome));
  return { add, processAdd, join, welcomeBytes: welcome.byteLength };
}

/**
 * Handshake costs in a group of `size`, on a tree just made by one batch Add (`fresh`: every
 * parent blank, a new group per sample) or on a full tree (`full`: every member has committed
 * once; one group, from bench/.cache when it was built before). One warm-up sample, then the
 * median of `samples`.
 */
export async function mlsHandshakes(
  suite: CiphersuiteName,
  cs: CiphersuiteImpl,
  size: number,
  tree: 'fresh' | 'full',
  samples: number,
) {
  const out: HandshakeSample[] = [];
  let builtMs: number | undefined;
  if (tree === 'fresh') {
    for (let i = 0; i <= samples; i++) {
      const { alice, bob } = await makeGroup(size, cs);
      const j = await joinSample(alice, bob, `new${i}`);
      const u = await updateSample(alice, bob);
      if (i > 0) out.push({ ...j, ...u });
    }
  } else {
    const g = await fullTreeGroup(suite, size, cs);
    builtMs = g.builtMs;
    const updates = [];
    for (let i = 0; i <= samples; i++) updates.push(await updateSample(g.alice, g.bob));
    const joins = [];
    for (let i = 0; i <= samples; i++) joins.push(await joinSample(g.alice, g.bob, `new${i}`));
    for (let i = 1; i <= samples; i++) out.push({ ...updates[i]!, ...joins[i]! });
  }
  const med = (k: 'update' | 'processUpdate' | 'add' | 'processAdd' | 'join'): Took => ({
    wallMs: median(out.map((s) => s[k].wallMs)),
    cpuMs: median(out.map((s) => s[k].cpuMs)),
  });
  return {
    update: med('update'),
    processUpdate: med('processUpdate'),
    add: med('add'),
    processAdd: med('processAdd'),
    join: med('join'),
    updateBytes: median(out.map((s) => s.updateBytes)),
    welcomeBytes: median(out.map((s) => s.welcomeBytes)),
    builtMs,
  };
}
