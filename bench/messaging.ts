/**
 * npm run bench:messaging — MLS (ts-mls) on this machine, against libsignal in the same run.
 *
 *  1. Application messages, encrypt + decrypt, 200-byte payload, in groups of each `--sizes`:
 *     ts-mls's default provider (the SDK's browser-safe choice), ours on node:crypto with the
 *     classical default suite and with the X-Wing hybrid one; libsignal's 1:1 session and Sender
 *     Keys (whose per-message cost does not depend on the group's size). Messages per second by
 *     wall clock and per CPU-second, and ratios; bytes of overhead on a 1 KiB message.
 *  2. Handshakes on node:crypto for each `--commit-sizes`, both suites, on a tree just made by one
 *     batch Add and on a full tree (every member has committed once; built once, then kept in
 *     bench/.cache/mls/): an update commit (UpdatePath) created and processed; an Add created and
 *     processed, and the new member joining from the Welcome (ratchet tree inside, as Sealpost
 *     sends it).
 *
 *   npm run bench:messaging -- [--sizes 2,128,1000] [--commit-sizes 128,1000] [--seconds 1]
 *     [--rounds 3] [--samples 5] [--no-libsignal] [--no-default-provider] [--quick]
 * --quick is --sizes 2,128 --commit-sizes 128 --rounds 2 --samples 3. The full run takes minutes,
 * more the first time (building the full 1,000-member trees).
 */
import { parseArgs } from 'node:util';
import { cpus } from 'node:os';
import {
  browserMlsCryptoProvider,
  mlsCiphersuite,
  type MlsCryptoOptions,
} from '../packages/client/src/mls/provider.ts';
import { nodeMlsCryptoProvider } from '../packages/client/node/mls-crypto.ts';
import { mlsHandshakes, mlsMessages, rate } from './messaging-mls.ts';
import { LIBSIGNAL_VERSION, loadLibsignal, oneToOne, senderKeys } from './messaging-libsignal.ts';

const { values } = parseArgs({
  options: {
    sizes: { type: 'string', default: '2,128,1000' },
    'commit-sizes': { type: 'string', default: '128,1000' },
    seconds: { type: 'string', default: '1' },
    rounds: { type: 'string', default: '3' },
    samples: { type: 'string', default: '5' },
    quick: { type: 'boolean', default: false },
    'no-libsignal': { type: 'boolean', default: false },
    'no-default-provider': { type: 'boolean', default: false },
  },
});
const list = (s: string) => s.split(',').filter(Boolean).map(Number);
const SIZES = list(values.quick ? '2,128' : values.sizes);
const COMMIT_SIZES = list(values.quick ? '128' : values['commit-sizes']);
const OPTS = { seconds: Number(values.seconds), rounds: values.quick ? 2 : Number(values.rounds) };
const SAMPLES = values.quick ? 3 : Number(values.samples);

type CryptoProvider = NonNullable<MlsCryptoOptions['provider']>;
type CiphersuiteName = NonNullable<MlsCryptoOptions['suite']>;
const CLASSICAL: CiphersuiteName = 'MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519';
const HYBRID: CiphersuiteName = 'MLS_256_XWING_AES256GCM_SHA512_Ed25519';
const suiteLabel = (s: CiphersuiteName) => (s === HYBRID ? 'X-Wing (83)' : 'X25519 (1)');

const f0 = (x: number) => x.toFixed(0);
const f1 = (x: number) => x.toFixed(1);
const ratio = (x: number, y: number | undefined) => (y === undefined ? '-' : `${(x / y).toFixed(2)}x`);

console.log(
  `bench:messaging on ${cpus().length} × ${cpus()[0]?.model ?? '?'}, Node ${process.version}; ` +
    `medians of ${OPTS.rounds} rounds of ${OPTS.seconds} s, ${SAMPLES} handshake samples`,
);

// libsignal first: its figures are the reference of every ratio below.
const ls = values['no-libsignal'] ? { missing: 'skipped (--no-libsignal)' } : await loadLibsignal();
const payload = new Uint8Array(200).fill(0x78) as Uint8Array<ArrayBuffer>;
const KIB = new Uint8Array(1024).fill(0x78) as Uint8Array<ArrayBuffer>;
let senderKeysRate: { perSec: number; perCpuSec: number } | undefined;
const rows: Record<string, string | number>[] = [];
if ('missing' in ls) {
  console.log(`libsignal: not measured, ${ls.missing}`);
} else {
  for (const [name, make] of [
    ['libsignal 1:1 session', oneToOne],
    ['libsignal Sender Keys', senderKeys],
  ] as const) {
    const pair = await make(ls.lib);
    const r = await rate(() => pair.sendAndReceive(payload), OPTS);
    if (make === senderKeys) senderKeysRate = r;
    rows.push({
      members: make === oneToOne ? 2 : 'any',
      implementation: `${name} ${LIBSIGNAL_VERSION}`,
      'msgs/s': f0(r.perSec),
      'msgs/CPU-s': f0(r.perCpuSec),
      'B over 1 KiB': (await pair.ciphertextSize(KIB)) - KIB.byteLength,
      'vs Sender Keys': '',
      'vs ts-mls default': '',
    });
  }
}

const CELLS: [string, CryptoProvider, CiphersuiteName][] = [
  ...(values['no-default-provider']
    ? []
    : [
        ['ts-mls default provider', browserMlsCryptoProvider, CLASSICAL] as [
          string,
          CryptoProvider,
          CiphersuiteName,
        ],
      ]),
  ['ours (node:crypto)', nodeMlsCryptoProvider, CLASSICAL],
  ['ours, X-Wing suite', nodeMlsCryptoProvider, HYBRID],
];
for (const size of SIZES) {
  let defaultRate: number | undefined;
  for (const [name, provider, suite] of CELLS) {
    const r = await mlsMessages(await mlsCiphersuite({ provider, suite }), size, OPTS);
    if (provider === browserMlsCryptoProvider) defaultRate = r.perCpuSec;
    rows.push({
      members: size,
      implementation: `MLS, ${name}`,
      'msgs/s': f0(r.perSec),
      'msgs/CPU-s': f0(r.perCpuSec),
      'B over 1 KiB': r.overhead,
      'vs Sender Keys': ratio(r.perCpuSec, senderKeysRate?.perCpuSec),
      'vs ts-mls default': provider === browserMlsCryptoProvider ? '' : ratio(r.perCpuSec, defaultRate),
    });
  }
}
console.log('Application messages, encrypt + decrypt, 200-byte payload (ratios per CPU-second)');
console.table(rows);

console.log(
  'Handshakes on ours (node:crypto), ms wall / CPU: update commit (UpdatePath) and processing it; ' +
    'Add commit, processing it, joining from its Welcome (tree inside)',
);
const hs: Record<string, string | number>[] = [];
for (const size of COMMIT_SIZES) {
  for (const suite of [CLASSICAL, HYBRID]) {
    const cs = await mlsCiphersuite({ provider: nodeMlsCryptoProvider, suite });
    for (const tree of ['fresh', 'full'] as const) {
      const r = await mlsHandshakes(suite, cs, size, tree, SAMPLES);
      if (r.builtMs !== undefined)
        console.log(
          `  (built the full ${size}-member ${suiteLabel(suite)} tree in ${f0(r.builtMs / 1000)} s; kept in bench/.cache/mls)`,
        );
      const ms = (t: { wallMs: number; cpuMs: number }) => `${f1(t.wallMs)} / ${f1(t.cpuMs)}`;
      hs.push({
        members: size,
        suite: suiteLabel(suite),
        tree: tree === 'full' ? 'full' : 'batch-added',
        update: ms(r.update),
        'process update': ms(r.processUpdate),
        'update B': f0(r.updateBytes),
        add: ms(r.add),
        'process add': ms(r.processAdd),
        join: ms(r.join),
        'Welcome B': f0(r.welcomeBytes),
      });
    }
  }
}
console.table(hs);
