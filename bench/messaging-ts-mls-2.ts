/**
 * node bench/messaging-ts-mls-2.ts — would ts-mls 2.0.0-rc.10 meet what 1.6.4 misses?
 * (docs/mls.md "ts-mls 2.0"; the 1,000-member commit target of docs/BENCHMARKS.md "Messaging".)
 *
 * Four variants, each group size in a process of its own (one ts-mls and one provider per process,
 * as messaging-cell.ts explains), run one after another: ts-mls 1.6.4 (the pinned dependency)
 * and 2.0.0-rc.10 (installed into bench/.deps/ts-mls-2 by ts-mls-2.ts, never a dependency), each
 * with its default provider and with ours (packages/client/node/mls-crypto.ts, adapted to 2.0 by
 * `asTsMls2`). Per variant and size, suite 1:
 *   - application messages, encrypt + decrypt, 200-byte payload, in a group made by one batch Add:
 *     median of `--rounds` rounds of `--seconds`, by wall clock and per CPU-second;
 *   - on that batch-added tree and on a full tree (every member has committed once; built once with
 *     our provider and kept in bench/.cache/mls/): an update commit created and processed, an Add
 *     created and processed and the new member joining from its Welcome (tree inside);
 *   - with our provider, the HKDF-Expand and hash calls of one full-tree update commit, created and
 *     processed (counted through the provider).
 *
 *   node bench/messaging-ts-mls-2.ts [--sizes 128,1000] [--samples 3] [--seconds 1] [--rounds 3]
 *     [--variants 1.6.4/default,1.6.4/ours,2.0/ours,2.0/default]
 */
import { fork } from 'node:child_process';
import { cpus, loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { browserMlsCryptoProvider, mlsCiphersuite } from '../packages/client/src/mls/provider.ts';
import { nodeMlsCryptoProvider } from '../packages/client/node/mls-crypto.ts';
import * as v1 from '../packages/client/node/mls-test-group.ts';
import { fullTreeGroup } from './messaging-fixtures.ts';
import { median, took, type Took } from './messaging-mls.ts';
import {
  asTsMls2,
  type CiphersuiteImpl2,
  group2,
  loadTsMls2,
  type Member2,
  TS_MLS_2_VERSION,
  withImpl,
} from './ts-mls-2.ts';

const SUITE = 'MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519';
type CiphersuiteImpl = Awaited<ReturnType<typeof mlsCiphersuite>>;
type Variant = `${'1.6.4' | '2.0'}/${'default' | 'ours'}`;
interface Spec {
  variant: Variant;
  size: number;
  samples: number;
  seconds: number;
  rounds: number;
}

/** One version's scenarios behind one shape, so both are measured by the same code. */
interface Scenario<M> {
  makeGroup(size: number): Promise<{ alice: M; bob: M }>;
  fullTreeGroup(size: number): Promise<{ alice: M; bob: M; builtMs?: number }>;
  commitUpdate(m: M): Promise<Uint8Array>;
  processCommit(m: M, commit: Uint8Array): Promise<void>;
  /** `m` adds a new member `name` (tree in the Welcome); `join` has that member process the Welcome. */
  commitAdd(
    m: M,
    name: string,
  ): Promise<{ commit: Uint8Array; welcome: Uint8Array; join: () => Promise<unknown> }>;
  sendAndReceive(from: M, to: M, plaintext: Uint8Array): Promise<unknown>;
  /** `m` acting through an impl that counts `kdf.expand` and `hash.digest` calls into `n`. */
  counting(m: M, n: Counts): M;
}
interface Counts {
  expand: number;
  digest: number;
}

function countingImpl<T extends Pick<CiphersuiteImpl, 'kdf' | 'hash'>>(cs: T, n: Counts): T {
  return {
    ...cs,
    kdf: {
      ...cs.kdf,
      expand: (...a: Parameters<CiphersuiteImpl['kdf']['expand']>) => (n.expand++, cs.kdf.expand(...a)),
    },
    hash: {
      ...cs.hash,
      digest: (...a: Parameters<CiphersuiteImpl['hash']['digest']>) => (n.digest++, cs.hash.digest(...a)),
    },
  };
}

async function scenario1(provider: 'default' | 'ours'): Promise<Scenario<v1.Member>> {
  const cs = await mlsCiphersuite({
    provider: provider === 'ours' ? nodeMlsCryptoProvider : browserMlsCryptoProvider,
    suite: SUITE,
  });
  return {
    makeGroup: (size) => v1.makeGroup(size, cs),
    fullTreeGroup: (size) => fullTreeGroup(SUITE, size, cs),
    commitUpdate: v1.commitUpdate,
    processCommit: v1.processCommit,
    async commitAdd(m, name) {
      const j = await v1.joiner(name, cs);
      const r = await v1.commitAdd(m, j, { treeInWelcome: true });
      return { ...r, join: () => v1.joinFromWelcome(j, r.welcome) };
    },
    sendAndReceive: v1.sendAndReceive,
    counting: (m, n) => ({ ...m, cs: countingImpl(m.cs, n) }),
  };
}

async function scenario2(provider: 'default' | 'ours'): Promise<Scenario<Member2>> {
  const loaded = await loadTsMls2();
  if ('missing' in loaded) throw new Error(`ts-mls ${TS_MLS_2_VERSION}: ${loaded.missing}`);
  const { lib } = loaded;
  const cs =
    provider === 'ours'
      ? asTsMls2(await mlsCiphersuite({ provider: nodeMlsCryptoProvider, suite: SUITE }))
      : await lib.getCiphersuiteImpl(SUITE);
  const g = group2(lib, cs);
  // The full trees are built with our provider (minutes with the default one) and read by both.
  const builder =
    provider === 'ours'
      ? g
      : group2(lib, asTsMls2(await mlsCiphersuite({ provider: nodeMlsCryptoProvider, suite: SUITE })));
  return {
    makeGroup: g.makeGroup,
    async fullTreeGroup(size) {
      const r = await builder.fullTreeGroup(size);
      return { ...r, alice: withImpl(r.alice, cs), bob: withImpl(r.bob, cs) };
    },
    commitUpdate: g.commitUpdate,
    processCommit: g.processCommit,
    async commitAdd(m, name) {
      const j = await g.joiner(name);
      const r = await g.commitAdd(m, j);
      return { ...r, join: () => g.joinFromWelcome(j, r.welcome) };
    },
    sendAndReceive: g.sendAndReceive,
    counting: (m, n) => withImpl(m, countingImpl<CiphersuiteImpl2>(m.ctx.cipherSuite, n)),
  };
}

interface Handshakes {
  update: Took;
  processUpdate: Took;
  add: Took;
  processAdd: Took;
  join: Took;
}

/**
 * One warm-up sample, then the median of `samples`, of each handshake, in messaging-mls.ts's order:
 * on a new batch-added group per sample, the Add and then the update; on the one full-tree group,
 * all the updates first, so that no leaf added by a sample is unmerged on an update's path.
 */
async function handshakes<M>(
  s: Scenario<M>,
  group: () => Promise<{ alice: M; bob: M }>,
  samples: number,
  full: boolean,
) {
  const adds: Omit<Handshakes, 'update' | 'processUpdate'>[] = [];
  const updates: Pick<Handshakes, 'update' | 'processUpdate'>[] = [];
  const addSample = async (g: { alice: M; bob: M }, i: number) => {
    const [{ commit, join }, add] = await took(() => s.commitAdd(g.alice, `new${i}`));
    const [, processAdd] = await took(() => s.processCommit(g.bob, commit));
    const [, joinT] = await took(join);
    adds.push({ add, processAdd, join: joinT });
  };
  const updateSample = async (g: { alice: M; bob: M }) => {
    const [commit, update] = await took(() => s.commitUpdate(g.alice));
    const [, processUpdate] = await took(() => s.processCommit(g.bob, commit));
    updates.push({ update, processUpdate });
  };
  if (full) {
    const g = await group();
    for (let i = 0; i <= samples; i++) await updateSample(g);
    for (let i = 0; i <= samples; i++) await addSample(g, i);
  } else {
    for (let i = 0; i <= samples; i++) {
      const g = await group();
      await addSample(g, i);
      await updateSample(g);
    }
  }
  const out: Handshakes[] = adds.slice(1).map((a, i) => ({ ...a, ...updates[i + 1]! }));
  const med = (k: keyof Handshakes): Took => ({
    wallMs: median(out.map((x) => x[k].wallMs)),
    cpuMs: median(out.map((x) => x[k].cpuMs)),
  });
  return {
    update: med('update'),
    processUpdate: med('processUpdate'),
    add: med('add'),
    processAdd: med('processAdd'),
    join: med('join'),
  };
}

async function measure<M>(s: Scenario<M>, spec: Spec) {
  const payload = new Uint8Array(200).fill(0x78);
  const pair = await s.makeGroup(spec.size);
  for (let i = 0; i < 300; i++) await s.sendAndReceive(pair.alice, pair.bob, payload);
  const perSec: number[] = [];
  const perCpuSec: number[] = [];
  for (let r = 0; r < spec.rounds; r++) {
    let n = 0;
    const [, t] = await took(async () => {
      const deadline = performance.now() + spec.seconds * 1000;
      while (performance.now() < deadline) {
        for (let i = 0; i < 20; i++) await s.sendAndReceive(pair.alice, pair.bob, payload);
        n += 20;
      }
    });
    perSec.push((n * 1000) / t.wallMs);
    perCpuSec.push((n * 1000) / t.cpuMs);
  }
  // A new batch-added group per sample; on the full tree, one group that moves on an epoch per sample.
  const fresh = await handshakes(s, () => s.makeGroup(spec.size), spec.samples, false);
  const full = await s.fullTreeGroup(spec.size);
  // Counted on other member objects: the full-tree group below goes on from the epoch before.
  const create = { expand: 0, digest: 0 };
  const process = { expand: 0, digest: 0 };
  const commit = await s.commitUpdate(s.counting(full.alice, create));
  await s.processCommit(s.counting(full.bob, process), commit);
  const fullHs = await handshakes(s, async () => full, spec.samples, true);
  return {
    msgs: { perSec: median(perSec), perCpuSec: median(perCpuSec) },
    fresh,
    full: fullHs,
    counts: { create, process },
    builtMs: full.builtMs,
  };
}
type Result = Awaited<ReturnType<typeof measure>>;

if (import.meta.main && process.send !== undefined) {
  const spec = JSON.parse(process.argv[2]!) as Spec;
  const [lib, provider] = spec.variant.split('/') as ['1.6.4' | '2.0', 'default' | 'ours'];
  const r =
    lib === '1.6.4'
      ? await measure(await scenario1(provider), spec)
      : await measure(await scenario2(provider), spec);
  process.send(r, () => process.exit(0));
} else if (import.meta.main) {
  const { values } = parseArgs({
    options: {
      sizes: { type: 'string', default: '128,1000' },
      samples: { type: 'string', default: '3' },
      seconds: { type: 'string', default: '1' },
      rounds: { type: 'string', default: '3' },
      variants: { type: 'string', default: '1.6.4/default,1.6.4/ours,2.0/ours,2.0/default' },
    },
  });
  const variants = values.variants.split(',') as Variant[];
  console.log(
    `bench messaging-ts-mls-2 on ${cpus().length} × ${cpus()[0]?.model ?? '?'}, Node ${process.version}, ` +
      `load average ${loadavg()[0]!.toFixed(1)}; suite 1; ts-mls 1.6.4 and ${TS_MLS_2_VERSION}; ` +
      `medians of ${values.rounds} rounds of ${values.seconds} s and of ${values.samples} handshake samples`,
  );
  const ms = (t: Took) => `${t.wallMs.toFixed(1)} / ${t.cpuMs.toFixed(1)}`;
  const msgs: Record<string, string | number>[] = [];
  const hs: Record<string, string | number>[] = [];
  const counts: Record<string, string | number>[] = [];
  for (const size of values.sizes.split(',').filter(Boolean).map(Number)) {
    for (const variant of variants) {
      const spec: Spec = {
        variant,
        size,
        samples: Number(values.samples),
        seconds: Number(values.seconds),
        rounds: Number(values.rounds),
      };
      const child = fork(import.meta.filename, [JSON.stringify(spec)], {
        stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      });
      const r = await new Promise<Result>((resolve, reject) => {
        child.once('message', (m) => resolve(m as Result));
        child.once('exit', (code) => reject(new Error(`${variant} at ${size} members exited with ${code}`)));
      });
      if (r.builtMs !== undefined)
        console.log(
          `  (built the full ${size}-member tree for ${variant} in ${(r.builtMs / 1000).toFixed(0)} s)`,
        );
      const name = `ts-mls ${variant.replace('/', ', ')}`;
      msgs.push({
        members: size,
        variant: name,
        'msgs/s': r.msgs.perSec.toFixed(0),
        'msgs/CPU-s': r.msgs.perCpuSec.toFixed(0),
      });
      for (const [tree, h] of [
        ['batch-added', r.fresh],
        ['full', r.full],
      ] as const)
        hs.push({
          members: size,
          tree,
          variant: name,
          update: ms(h.update),
          'process update': ms(h.processUpdate),
          add: ms(h.add),
          'process add': ms(h.processAdd),
          join: ms(h.join),
        });
      if (variant.endsWith('/ours'))
        counts.push({
          members: size,
          ts_mls: variant.split('/')[0]!,
          'create: expand': r.counts.create.expand,
          'create: digest': r.counts.create.digest,
          'process: expand': r.counts.process.expand,
          'process: digest': r.counts.process.digest,
        });
    }
  }
  console.log('Application messages, encrypt + decrypt, 200-byte payload, batch-added group');
  console.table(msgs);
  console.log('Handshakes, ms wall / CPU (Add with the tree in the Welcome; join = processing that Welcome)');
  console.table(hs);
  console.log('Provider calls in one full-tree update commit (HKDF-Expand, hash), ours');
  console.table(counts);
}
