/**
 * The MLS measurements of bench/messaging.ts, on ts-mls through packages/client/node/mls-test-group.ts.
 *
 * Every figure is taken twice: wall-clock time, which a user waits, and the process's CPU time
 * (`process.cpuUsage`, all threads), which other work on a shared machine disturbs less.
 * Message rates are run in processes of their own by messaging-cell.ts.
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
