/**
 * node bench/messaging.ts — MLS (ts-mls) cost on this machine, by crypto provider and suite.
 *
 *  1. Application messages: alice encrypts, the bytes are encoded and decoded, bob decrypts; pairs
 *     per second in a group of 2 and of 128 members, with ts-mls's default provider (the SDK's
 *     browser-safe choice) and ours on node:crypto. Also the share of that time spent inside the
 *     provider (crypto) versus in ts-mls around it ("glue"), measured by timing every provider call.
 *  2. Handshakes by suite, on our provider: alice commits the Add of a new member (ts-mls sends an
 *     Add-only commit without a path), bob processes it, the new member joins from the Welcome;
 *     then alice commits an update (an UpdatePath) and bob processes it. Milliseconds per operation
 *     and bytes on the wire, for the classical default suite and the X-Wing hybrid one. The group
 *     is made in one commit, so every parent node off alice's path is blank and an UpdatePath is
 *     encrypted to many leaves: the worst case for its size; a group whose members all committed
 *     once needs about one encryption per level.
 *
 *   node bench/messaging.ts [--seconds 1] [--rounds 3] [--sizes 2,128] [--handshakes 5]
 * Figures are medians (of rounds, of handshake samples), after a warm-up.
 */
import { parseArgs } from 'node:util';
import { performance } from 'node:perf_hooks';
import {
  browserMlsCryptoProvider,
  mlsCiphersuite,
  type MlsCryptoOptions,
} from '../packages/client/src/mls/provider.ts';
import { nodeMlsCryptoProvider } from '../packages/client/node/mls-crypto.ts';
import {
  commitAdd,
  commitUpdate,
  joiner,
  joinFromWelcome,
  makeGroup,
  processCommit,
  sendAndReceive,
} from '../packages/client/node/mls-test-group.ts';

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '1' },
    rounds: { type: 'string', default: '3' },
    sizes: { type: 'string', default: '2,128' },
    handshakes: { type: 'string', default: '5' },
  },
});
const SECONDS = Number(values.seconds);
const ROUNDS = Number(values.rounds);
const SIZES = values.sizes.split(',').map(Number);
const HANDSHAKES = Number(values.handshakes);

// ts-mls resolves from packages/client only, so its types come through the SDK's provider module.
type CryptoProvider = NonNullable<MlsCryptoOptions['provider']>;
type CiphersuiteName = NonNullable<MlsCryptoOptions['suite']>;
type CiphersuiteImpl = Awaited<ReturnType<typeof mlsCiphersuite>>;

const CLASSICAL: CiphersuiteName = 'MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519';
const HYBRID: CiphersuiteName = 'MLS_256_XWING_AES256GCM_SHA512_Ed25519';

const PROVIDERS: readonly [string, CryptoProvider][] = [
  ['ts-mls default', browserMlsCryptoProvider],
  ['node:crypto (ours)', nodeMlsCryptoProvider],
];

/** The impl with every provider call timed; `inside()` is the milliseconds spent in them. */
function timed(cs: CiphersuiteImpl): { cs: CiphersuiteImpl; inside: () => number; reset: () => void } {
  let ms = 0;
  const wrap = <T extends object>(o: T): T => {
    const out = { ...o } as Record<string, unknown>;
    for (const [k, f] of Object.entries(o)) {
      if (typeof f !== 'function') continue;
      out[k] = (...args: unknown[]) => {
        const t0 = performance.now();
        const r: unknown = f.apply(o, args);
        if (r instanceof Promise) return r.finally(() => (ms += performance.now() - t0));
        ms += performance.now() - t0;
        return r;
      };
    }
    return out as unknown as T;
  };
  return {
    cs: {
      ...cs,
      hash: wrap(cs.hash),
      kdf: wrap(cs.kdf),
      signature: wrap(cs.signature),
      hpke: wrap(cs.hpke),
      rng: wrap(cs.rng),
    },
    inside: () => ms,
    reset: () => (ms = 0),
  };
}

const payload = new TextEncoder().encode('x'.repeat(200));

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/**
 * Enc+dec pairs per second: ROUNDS rounds of SECONDS each after a warm-up; the median round. The
 * machine is shared, so a single round can be slowed by a neighbour; the median resists that.
 */
async function messagesPerSecond(provider: CryptoProvider, size: number, suite: CiphersuiteName) {
  const base = await mlsCiphersuite({ provider, suite });
  const t = timed(base);
  const { alice, bob } = await makeGroup(size, t.cs);
  for (let i = 0; i < 200; i++) await sendAndReceive(alice, bob, payload); // warm-up (JIT, caches)
  const rounds: { perSec: number; cryptoShare: number }[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    t.reset();
    let n = 0;
    const t0 = performance.now();
    const deadline = t0 + SECONDS * 1000;
    while (performance.now() < deadline) {
      for (let i = 0; i < 20; i++) await sendAndReceive(alice, bob, payload);
      n += 20;
    }
    const elapsed = performance.now() - t0;
    rounds.push({ perSec: (n * 1000) / elapsed, cryptoShare: t.inside() / elapsed });
  }
  const perSec = median(rounds.map((x) => x.perSec));
  return { perSec, usEach: 1e6 / perSec, cryptoShare: median(rounds.map((x) => x.cryptoShare)) };
}

/**
 * Handshake costs: each sample on a fresh group of `size` (same size and tree shape every time),
 * one warm-up sample discarded, the median of HANDSHAKES samples.
 */
async function handshakes(suite: CiphersuiteName, size: number) {
  const cs = await mlsCiphersuite({ provider: nodeMlsCryptoProvider, suite });
  const samples: Record<'add' | 'process' | 'join' | 'update' | 'processUpdate', number>[] = [];
  const bytes = { add: 0, welcome: 0, update: 0 };
  for (let i = 0; i <= HANDSHAKES; i++) {
    const { alice, bob } = await makeGroup(size, cs);
    const j = await joiner(`new${i}`, cs);
    let t0 = performance.now();
    const { commit, welcome } = await commitAdd(alice, j);
    const add = performance.now() - t0;
    t0 = performance.now();
    await processCommit(bob, commit);
    const process = performance.now() - t0;
    t0 = performance.now();
    await joinFromWelcome(j, welcome, alice.state.ratchetTree);
    const join = performance.now() - t0;
    t0 = performance.now();
    const update = await commitUpdate(alice);
    const updateMs = performance.now() - t0;
    t0 = performance.now();
    await processCommit(bob, update);
    const processUpdate = performance.now() - t0;
    if (i === 0) continue; // warm-up
    samples.push({ add, process, join, update: updateMs, processUpdate });
    bytes.add = commit.byteLength;
    bytes.welcome = welcome.byteLength;
    bytes.update = update.byteLength;
  }
  const med = (k: keyof (typeof samples)[number]) => median(samples.map((x) => x[k]));
  return {
    addMs: med('add'),
    processMs: med('process'),
    joinMs: med('join'),
    updateMs: med('update'),
    processUpdateMs: med('processUpdate'),
    ...bytes,
  };
}

const f0 = (x: number) => x.toFixed(0);
const f1 = (x: number) => x.toFixed(1);

console.log(
  `MLS application messages (${CLASSICAL} unless said), ${payload.byteLength}-byte payload, median of ${ROUNDS} rounds of ${SECONDS} s`,
);
const rows: Record<string, string | number>[] = [];
const CELLS: [string, CryptoProvider, CiphersuiteName][] = [
  ...PROVIDERS.map(([name, p]): [string, CryptoProvider, CiphersuiteName] => [name, p, CLASSICAL]),
  ['node:crypto (ours), X-Wing suite', nodeMlsCryptoProvider, HYBRID],
];
for (const size of SIZES) {
  for (const [name, provider, suite] of CELLS) {
    const r = await messagesPerSecond(provider, size, suite);
    rows.push({
      members: size,
      provider: name,
      'msgs/s (enc+dec)': f0(r.perSec),
      'µs/msg': f0(r.usEach),
      'in provider': `${f0(r.cryptoShare * 100)}%`,
    });
  }
}
console.table(rows);

console.log(
  `Handshakes on node:crypto, median of ${HANDSHAKES}: Add commit, processing it, joining from the Welcome; ` +
    'update commit (UpdatePath), processing it',
);
const hs: Record<string, string | number>[] = [];
for (const size of SIZES) {
  for (const suite of [CLASSICAL, HYBRID]) {
    const r = await handshakes(suite, size);
    hs.push({
      members: size,
      suite: suite === HYBRID ? 'X-Wing (83)' : 'X25519 (1)',
      'add ms': f1(r.addMs),
      'process ms': f1(r.processMs),
      'join ms': f1(r.joinMs),
      'add B': f0(r.add),
      'welcome B': f0(r.welcome),
      'update ms': f1(r.updateMs),
      'process ms ': f1(r.processUpdateMs),
      'update B': f0(r.update),
    });
  }
}
console.table(hs);
