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
 *   node bench/messaging.ts [--seconds 2] [--sizes 2,128] [--handshakes 10]
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
    seconds: { type: 'string', default: '2' },
    sizes: { type: 'string', default: '2,128' },
    handshakes: { type: 'string', default: '10' },
  },
});
const SECONDS = Number(values.seconds);
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

async function messagesPerSecond(provider: CryptoProvider, size: number) {
  const base = await mlsCiphersuite({ provider, suite: CLASSICAL });
  const t = timed(base);
  const { alice, bob } = await makeGroup(size, t.cs);
  for (let i = 0; i < 50; i++) await sendAndReceive(alice, bob, payload); // warm-up
  t.reset();
  let n = 0;
  const t0 = performance.now();
  const deadline = t0 + SECONDS * 1000;
  while (performance.now() < deadline) {
    for (let i = 0; i < 20; i++) await sendAndReceive(alice, bob, payload);
    n += 20;
  }
  const elapsed = performance.now() - t0;
  return { perSec: (n * 1000) / elapsed, usEach: (elapsed * 1000) / n, cryptoShare: t.inside() / elapsed };
}

async function handshakes(suite: CiphersuiteName, size: number) {
  const cs = await mlsCiphersuite({ provider: nodeMlsCryptoProvider, suite });
  const { alice, bob } = await makeGroup(size, cs);
  const ms = { commit: 0, process: 0, join: 0, update: 0, processUpdate: 0 };
  const bytes = { commit: 0, welcome: 0, update: 0 };
  for (let i = 0; i < HANDSHAKES; i++) {
    const j = await joiner(`new${i}`, cs);
    let t0 = performance.now();
    const { commit, welcome } = await commitAdd(alice, j);
    ms.commit += performance.now() - t0;
    t0 = performance.now();
    await processCommit(bob, commit);
    ms.process += performance.now() - t0;
    t0 = performance.now();
    await joinFromWelcome(j, welcome, alice.state.ratchetTree);
    ms.join += performance.now() - t0;
    t0 = performance.now();
    const update = await commitUpdate(alice);
    ms.update += performance.now() - t0;
    t0 = performance.now();
    await processCommit(bob, update);
    ms.processUpdate += performance.now() - t0;
    bytes.update += update.byteLength;
    bytes.commit += commit.byteLength;
    bytes.welcome += welcome.byteLength;
  }
  const avg = (x: number) => x / HANDSHAKES;
  return {
    commitMs: avg(ms.commit),
    processMs: avg(ms.process),
    joinMs: avg(ms.join),
    commitBytes: avg(bytes.commit),
    welcomeBytes: avg(bytes.welcome),
    updateMs: avg(ms.update),
    processUpdateMs: avg(ms.processUpdate),
    updateBytes: avg(bytes.update),
  };
}

const f0 = (x: number) => x.toFixed(0);
const f1 = (x: number) => x.toFixed(1);

console.log(
  `MLS application messages (${CLASSICAL}), ${payload.byteLength}-byte payload, ${SECONDS} s per cell`,
);
const rows: Record<string, string | number>[] = [];
for (const size of SIZES) {
  for (const [name, provider] of PROVIDERS) {
    const r = await messagesPerSecond(provider, size);
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
  `Handshakes on node:crypto, mean of ${HANDSHAKES}: Add commit, processing it, joining from the Welcome; ` +
    'update commit (UpdatePath), processing it',
);
const hs: Record<string, string | number>[] = [];
for (const size of SIZES) {
  for (const suite of [CLASSICAL, HYBRID]) {
    const r = await handshakes(suite, size);
    hs.push({
      members: size,
      suite: suite === HYBRID ? 'X-Wing (83)' : 'X25519 (1)',
      'add ms': f1(r.commitMs),
      'process ms': f1(r.processMs),
      'join ms': f1(r.joinMs),
      'add B': f0(r.commitBytes),
      'welcome B': f0(r.welcomeBytes),
      'update ms': f1(r.updateMs),
      'process ms ': f1(r.processUpdateMs),
      'update B': f0(r.updateBytes),
    });
  }
}
console.table(hs);
