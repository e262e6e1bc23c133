/**
 * node bench/kt.ts — the key directory (packages/core/src/kt/directory.ts, draft-ietf-keytrans-protocol-04)
 * in memory on one core: build a directory of LABELS labels (one version each, published in epochs of
 * EPOCH labels), publish one epoch of EPOCH updates to existing labels, then measure proofs for SAMPLES
 * random labels: greatest-version search and owner monitoring, encoded size in bytes and client
 * verification time (median), and process.memoryUsage() at the end.
 *
 * Search keys of the sampled labels come from the real ECVRF, and their lookups carry real VRF proofs
 * that the client verifies; the other labels' keys are SHA-256 stand-ins (proving a million VRFs
 * would take most of an hour here; the server proves each at ingestion, outside an epoch, and
 * bench/vrf.ts times it). Commitments are real HMACs (§10.6); tree heads real Ed25519 signatures. Epochs are a minute apart and the
 * Reasonable Monitoring Window is an hour, so the frontier walk of a search is a few entries long.
 *
 *   node bench/kt.ts [--labels 100000] [--epoch 10000] [--samples 200]
 */
import { parseArgs } from 'node:util';
import { performance } from 'node:perf_hooks';
import { nodeCryptoProvider as crypto } from '../packages/core/node/crypto-provider.ts';
import { KT_128_SHA256_ED25519 } from '../packages/core/src/kt/cipher-suite.ts';
import { computeCommitment } from '../packages/core/src/kt/commitment.ts';
import type { Configuration } from '../packages/core/src/kt/configuration.ts';
import { Directory, type DirectoryUpdate } from '../packages/core/src/kt/directory.ts';
import {
  decodeOwnerMonitorProof,
  decodeSearchProof,
  encodeOwnerMonitorProof,
  encodeSearchProof,
} from '../packages/core/src/kt/response-codec.ts';
import { verifyOwnerMonitor, verifySearch } from '../packages/core/src/kt/verify-response.ts';
import { encodeVrfInput, proveSearchKey } from '../packages/core/src/kt/vrf-input.ts';
import { ecvrfPublicKey } from '../packages/core/src/vrf/ecvrf.ts';

const { values } = parseArgs({
  options: {
    labels: { type: 'string', default: '100000' },
    epoch: { type: 'string', default: '10000' },
    samples: { type: 'string', default: '200' },
  },
});
const LABELS = Number(values.labels);
const EPOCH = Number(values.epoch);
const SAMPLES = Number(values.samples);

const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s);
const seed = crypto.sha256(utf8('bench kt operator')).slice();
const vrfSecret = crypto.sha256(utf8('bench kt VRF key')).slice();
const config: Configuration = {
  ciphersuite: KT_128_SHA256_ED25519,
  mode: 'contactMonitoring',
  signaturePublicKey: crypto.ed25519.publicKey(seed),
  vrfPublicKey: ecvrfPublicKey(vrfSecret),
  leafPublicKey: new Uint8Array(32),
  maxAhead: 60_000,
  maxBehind: 86_400_000,
  reasonableMonitoringWindow: 3_600_000,
};
let rng = 1;
const random = (n: number): number => {
  rng = (rng * 1_103_515_245 + 12_345) % 2 ** 31;
  return rng % n;
};
// The sampled labels, chosen up front: half among those updated in the last epoch, half anywhere.
const updated = Array.from({ length: EPOCH }, (_, k) => Math.floor((k * LABELS) / EPOCH));
const sampled = Array.from({ length: SAMPLES }, (_, s) =>
  s % 2 === 0 ? updated[random(updated.length)]! : random(LABELS),
);
const provedLabels = new Set(sampled.map((i) => `user-${i}@example.org`));
const vrf = new Map<string, { proof: Uint8Array; searchKey: Uint8Array }>();
function proved(label: Uint8Array, version: number): { proof: Uint8Array; searchKey: Uint8Array } {
  const id = `${new TextDecoder().decode(label)}/${version}`;
  let out = vrf.get(id);
  if (out === undefined) vrf.set(id, (out = proveSearchKey(vrfSecret, label, version)));
  return out;
}
const searchKey = (label: Uint8Array, version: number): Uint8Array =>
  provedLabels.has(new TextDecoder().decode(label))
    ? proved(label, version).searchKey
    : crypto.sha256(encodeVrfInput(label, version));
const vrfProof = (label: Uint8Array, version: number): Uint8Array => proved(label, version).proof;
const label = (i: number): Uint8Array => utf8(`user-${i}@example.org`);
const update = (i: number, version: number): DirectoryUpdate => ({
  label: label(i),
  update: { value: utf8(`device list of user ${i}, version ${version}`) },
  opening: crypto.sha256(encodeVrfInput(label(i), version)).subarray(0, 16),
});

function median(samples: number[]): number {
  const sorted = [...samples].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

const dir = new Directory({ crypto, config, signingSeed: seed, searchKey, vrfProof });
const T0 = 1_700_000_000_000;
let t = T0;
const buildStart = performance.now();
for (let start = 0; start < LABELS; start += EPOCH) {
  const n = Math.min(EPOCH, LABELS - start);
  dir.publish(
    (t += 60_000),
    Array.from({ length: n }, (_, k) => update(start + k, 0)),
  );
}
const buildMs = performance.now() - buildStart;

// One epoch of EPOCH updates: version 1 of labels spread over the directory.
const publishStart = performance.now();
dir.publish(
  (t += 60_000),
  updated.map((i) => update(i, 1)),
);
const publishMs = performance.now() - publishStart;
const now = t + 1_000;

const searchBytes: number[] = [];
const searchMs: number[] = [];
const monitorBytes: number[] = [];
const monitorMs: number[] = [];
for (let s = 0; s < SAMPLES; s++) {
  const i = sampled[s]!;
  const l = label(i);
  const greatest = dir.greatestVersion(l);
  const search = encodeSearchProof(dir.search(l));
  searchBytes.push(search.length);
  let t0 = performance.now();
  verifySearch(crypto, config, { label: l, now, response: decodeSearchProof(search) });
  searchMs.push(performance.now() - t0);

  // The owner's state: where each of its versions was added, and their commitments (§8.3).
  const first = Math.floor(i / EPOCH);
  const positions = greatest === 1 ? [first, dir.size - 1] : [first];
  const own = positions.map((_, v) => ({
    vrfOutput: searchKey(l, v),
    commitment: computeCommitment(crypto, { ...update(i, v), version: v }, config.mode),
  }));
  const monitor = encodeOwnerMonitorProof(dir.monitorOwner(l, { greatest }));
  monitorBytes.push(monitor.length);
  t0 = performance.now();
  verifyOwnerMonitor(crypto, config, {
    label: l,
    positions,
    own: (v) => own[v]!,
    now,
    response: decodeOwnerMonitorProof(monitor),
  });
  monitorMs.push(performance.now() - t0);
}

const mem = process.memoryUsage();
const mb = (n: number): string => `${(n / 2 ** 20).toFixed(0)} MiB`;
console.log(
  `key directory: ${LABELS} labels in ${dir.size - 1} epochs of ${EPOCH}, then 1 epoch of ${EPOCH} updates`,
);
console.log(`  build             ${(buildMs / 1000).toFixed(1)} s`);
console.log(`  publish ${EPOCH} updates  ${publishMs.toFixed(0)} ms`);
console.log(
  `  search proof      median ${median(searchBytes)} B (max ${Math.max(...searchBytes)}), verify p50 ${median(searchMs).toFixed(2)} ms`,
);
console.log(
  `  owner monitor     median ${median(monitorBytes)} B (max ${Math.max(...monitorBytes)}), verify p50 ${median(monitorMs).toFixed(2)} ms`,
);
console.log(
  `  memory            rss ${mb(mem.rss)}, heap used ${mb(mem.heapUsed)}, array buffers ${mb(mem.arrayBuffers)}`,
);
