/**
 * npm run bench:messaging — MLS (ts-mls) on this machine, against libsignal in the same run.
 *
 *  1. Application messages, encrypt + decrypt, 200-byte payload, in groups of each `--sizes`:
 *     ts-mls's default provider (the SDK's browser-safe choice), ours on node:crypto with the
 *     classical default suite and with the X-Wing hybrid one; libsignal's 1:1 session and Sender
 *     Keys (whose per-message cost does not depend on the group's size). Messages per second by
 *     wall clock and per CPU-second, and ratios; bytes of overhead on a 1 KiB message. Each of
 *     these runs in its own process (messaging-cell.ts), in rounds interleaved across them.
 *  2. Handshakes on node:crypto for each `--commit-sizes`, both suites, on a tree just made by one
 *     batch Add and on a full tree (every member has committed once; built once, then kept in
 *     bench/.cache/mls/): an update commit (UpdatePath) created and processed; an Add created and
 *     processed, and the new member joining from the Welcome (ratchet tree inside, as Sealpost
 *     sends it).
 *
 *   npm run bench:messaging -- [--sizes 2,128,1000] [--commit-sizes 128,1000] [--seconds 1]
 *     [--rounds 5] [--samples 5] [--no-libsignal] [--no-default-provider] [--quick]
 * --quick is --sizes 2,128 --commit-sizes 128 --rounds 2 --samples 3. The full run takes minutes,
 * more the first time (building the full 1,000-member trees).
 */
import { parseArgs } from 'node:util';
import { cpus } from 'node:os';
import { mlsCiphersuite, type MlsCryptoOptions } from '../packages/client/src/mls/provider.ts';
import { nodeMlsCryptoProvider } from '../packages/client/node/mls-crypto.ts';
import { mlsHandshakes } from './messaging-mls.ts';
import { type CellSpec, cellRates } from './messaging-cell.ts';
import { LIBSIGNAL_VERSION, loadLibsignal } from './messaging-libsignal.ts';

const { values } = parseArgs({
  options: {
    sizes: { type: 'string', default: '2,128,1000' },
    'commit-sizes': { type: 'string', default: '128,1000' },
    seconds: { type: 'string', default: '1' },
    rounds: { type: 'string', default: '5' },
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

const ls = values['no-libsignal'] ? { missing: 'skipped (--no-libsignal)' } : await loadLibsignal();
if ('missing' in ls) console.log(`libsignal: not measured, ${ls.missing}`);

const rows: Record<string, string | number>[] = [];
// Per group size, libsignal and every MLS cell, each in its own process, in interleaved rounds.
for (const size of SIZES) {
  const cells: [string, CellSpec][] = [];
  if (!('missing' in ls)) {
    cells.push([`libsignal 1:1 session ${LIBSIGNAL_VERSION}`, { kind: 'libsignal-1:1' }]);
    cells.push([`libsignal Sender Keys ${LIBSIGNAL_VERSION}`, { kind: 'libsignal-sender-keys' }]);
  }
  if (!values['no-default-provider'])
    cells.push([
      'MLS, ts-mls default provider',
      { kind: 'mls', provider: 'default', suite: CLASSICAL, size },
    ]);
  cells.push(['MLS, ours (node:crypto)', { kind: 'mls', provider: 'node', suite: CLASSICAL, size }]);
  cells.push(['MLS, ours, X-Wing suite', { kind: 'mls', provider: 'node', suite: HYBRID, size }]);
  const r = await cellRates(
    cells.map(([, spec]) => spec),
    OPTS,
  );
  const of = (kind: CellSpec['kind'], provider?: string) =>
    r[
      cells.findIndex(
        ([, s]) =>
          s.kind === kind && (provider === undefined || (s.kind === 'mls' && s.provider === provider)),
      )
    ]?.perCpuSec;
  for (const [k, [name, spec]] of cells.entries()) {
    const mls = spec.kind === 'mls';
    rows.push({
      'group size': size,
      implementation: name,
      'msgs/s': f0(r[k]!.perSec),
      'msgs/CPU-s': f0(r[k]!.perCpuSec),
      'B over 1 KiB': r[k]!.overhead,
      'vs Sender Keys': mls ? ratio(r[k]!.perCpuSec, of('libsignal-sender-keys')) : '',
      'vs ts-mls default':
        mls && spec.provider === 'node' ? ratio(r[k]!.perCpuSec, of('mls', 'default')) : '',
    });
  }
}
console.log(
  'Application messages, encrypt + decrypt, 200-byte payload; per group size, libsignal and MLS in ' +
    'interleaved rounds, each in its own process (ratios per CPU-second)',
);
console.table(rows);

if (COMMIT_SIZES.length > 0)
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
if (hs.length > 0) console.table(hs);
