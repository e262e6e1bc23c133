/**
 * node bench/kt.ts — the key directory (packages/core/src/kt/directory.ts, draft-ietf-keytrans-protocol-04)
 * in memory on one core: build a directory of LABELS labels (one version each, published in epochs of
 * EPOCH labels a minute apart), optionally ENTRIES more small log entries (PER_ENTRY updates each,
 * INTERVAL seconds apart: a log that ran for hours or days), then publish one epoch of EPOCH updates
 * to existing labels, and measure:
 *   - publish time of that epoch, and the witness's check of it (packages/witness `Witness.observe`,
 *     started from the directory's state before it, as a restarted witness is);
 *   - for SAMPLES labels: greatest-version search (for a new user, and the size for a user whose view
 *     is the previous head) and owner monitoring of every distinguished entry (a new owner), encoded
 *     size in bytes and client verification time (p50), VRF proofs included;
 *   - where a new user's search proof's bytes go (median over the samples of each part: VRF proofs,
 *     commitments, prefix-proof copath hashes, other keys' leaves proving an absence, prefix roots,
 *     timestamps, log inclusion hashes, the rest: head, versions, result types and depths, reuse
 *     bitmaps, length prefixes), and how many log entries it covers;
 *   - process.memoryUsage() (after a forced GC when --expose-gc is given);
 *   - with --db FILE: the same log stored through the server's SQLite store (`appendKtEpoch`, migration
 *     4's kt_* tables), its file size and bytes per label version.
 *
 * Search keys of the sampled labels come from the real ECVRF, and their lookups carry real VRF proofs
 * that the client verifies; the other labels' keys are SHA-256 stand-ins (proving a million VRFs
 * would take most of an hour here; the server proves each at ingestion, outside an epoch, and
 * bench/vrf.ts times it). Commitments are real HMACs (§10.6); tree heads real Ed25519 signatures.
 *
 *   node bench/kt.ts [--labels 100000] [--epoch 10000] [--samples 200]
 *                    [--entries 0] [--per-entry 2] [--interval 10] [--db FILE]
 */
import { parseArgs } from 'node:util';
import { performance } from 'node:perf_hooks';
import { statSync } from 'node:fs';
import { DatabaseSync } from 'node:sqlite';
import { nodeCryptoProvider as crypto } from '../packages/core/node/crypto-provider.ts';
import { KT_128_SHA256_ED25519, KT_SUITE } from '../packages/core/src/kt/cipher-suite.ts';
import { computeCommitment } from '../packages/core/src/kt/commitment.ts';
import type { Configuration } from '../packages/core/src/kt/configuration.ts';
import { Directory, type DirectoryUpdate } from '../packages/core/src/kt/directory.ts';
import type { PrefixLeaf } from '../packages/core/src/kt/prefix-proof.ts';
import {
  decodeOwnerMonitorProof,
  decodeSearchProof,
  encodeOwnerMonitorProof,
  encodeSearchProof,
} from '../packages/core/src/kt/response-codec.ts';
import { verifyOwnerMonitor, verifySearch } from '../packages/core/src/kt/verify-response.ts';
import { encodeVrfInput, proveSearchKey } from '../packages/core/src/kt/vrf-input.ts';
import { ecvrfPublicKey } from '../packages/core/src/vrf/ecvrf.ts';
import { SqliteStore } from '../packages/server/src/store/sqlite.ts';
import type { KtEpoch } from '../packages/server/src/store/store.ts';
import { Witness, type VerifiedHead } from '../packages/witness/src/witness.ts';

const { values } = parseArgs({
  options: {
    labels: { type: 'string', default: '100000' },
    epoch: { type: 'string', default: '10000' },
    samples: { type: 'string', default: '200' },
    entries: { type: 'string', default: '0' },
    'per-entry': { type: 'string', default: '2' },
    interval: { type: 'string', default: '10' },
    db: { type: 'string' },
  },
});
const LABELS = Number(values.labels);
const EPOCH = Number(values.epoch);
const SAMPLES = Number(values.samples);
const ENTRIES = Number(values.entries);
const PER_ENTRY = Number(values['per-entry']);
const INTERVAL_MS = Number(values.interval) * 1000;

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
const name = (i: number): string => `user-${i}@example.org`;
const label = (i: number): Uint8Array => utf8(name(i));
/** A stand-in for a signed device list of two devices (docs/identity.md): about its encoded size. */
const deviceList = (i: number, version: number): Uint8Array => {
  const out = new Uint8Array(320);
  out.set(crypto.sha256(utf8(`device list ${i} ${version}`)));
  return out;
};
const opening = (i: number, version: number): Uint8Array =>
  crypto.sha256(encodeVrfInput(label(i), version)).subarray(0, 16);
const update = (i: number, version: number): DirectoryUpdate => ({
  label: label(i),
  update: { value: deviceList(i, version) },
  opening: opening(i, version),
});

let rng = 1;
const random = (n: number): number => {
  rng = (rng * 1_103_515_245 + 12_345) % 2 ** 31;
  return rng % n;
};
// The final epoch updates labels spread over the directory; half the samples are among them.
const updated = Array.from({ length: EPOCH }, (_, k) => Math.floor((k * LABELS) / EPOCH));
const sampled = Array.from({ length: SAMPLES }, (_, s) =>
  s % 2 === 0 ? updated[random(updated.length)]! : random(LABELS),
);
const provedLabels = new Set(sampled.map(name));
const decoder = new TextDecoder();
const vrf = new Map<string, { proof: Uint8Array; searchKey: Uint8Array }>();
function proved(l: Uint8Array, version: number): { proof: Uint8Array; searchKey: Uint8Array } {
  const id = `${decoder.decode(l)}/${version}`;
  let out = vrf.get(id);
  if (out === undefined) vrf.set(id, (out = proveSearchKey(vrfSecret, l, version)));
  return out;
}
/** Search keys of the measured epoch, computed before it as the server does (DirectoryTrees' map). */
const ahead = new Map<string, Uint8Array>();
const searchKey = (l: Uint8Array, version: number): Uint8Array =>
  ahead.get(`${decoder.decode(l)}/${version}`) ??
  (provedLabels.has(decoder.decode(l))
    ? proved(l, version).searchKey
    : crypto.sha256(encodeVrfInput(l, version)));
const vrfProof = (l: Uint8Array, version: number): Uint8Array => proved(l, version).proof;
// The server proves at ingestion, before an epoch: so does the bench, outside the timings.
for (const i of sampled) for (let v = 0; v < 4; v++) proved(label(i), v);

const dir = new Directory({ crypto, config, signingSeed: seed, searchKey, vrfProof });
/** Where each version of each label was added (for the owners' state), and the leaves of each entry. */
const positions = new Map<number, number[]>();
const entryLeaves: { timestamp: number; updates: { i: number; version: number; leaf: PrefixLeaf }[] }[] = [];
/** Publishes one entry; returns the time `Directory.publish` took (ms), the bench's own records aside. */
function publish(timestamp: number, labels: readonly number[]): number {
  const updates = labels.map((i) => update(i, positions.get(i)?.length ?? 0));
  const start = performance.now();
  const result = dir.publish(timestamp, updates);
  const ms = performance.now() - start;
  const index = result.index;
  entryLeaves.push({
    timestamp,
    updates: labels.map((i, k) => {
      const version = result.versions[k]!;
      const p = positions.get(i) ?? [];
      p[version] = index;
      positions.set(i, p);
      const commitment = computeCommitment(crypto, { ...update(i, version), version }, config.mode);
      return { i, version, leaf: { vrfOutput: searchKey(label(i), version), commitment } };
    }),
  });
  return ms;
}

const T0 = 1_700_000_000_000;
let t = T0;
let buildMs = 0;
for (let start = 0; start < LABELS; start += EPOCH) {
  buildMs += publish(
    (t += 60_000),
    Array.from({ length: Math.min(EPOCH, LABELS - start) }, (_, k) => start + k),
  );
}
for (let e = 0; e < ENTRIES; e++) {
  const picked = new Set<number>();
  while (picked.size < PER_ENTRY) picked.add(random(LABELS));
  publish((t += INTERVAL_MS), [...picked]);
}

// A witness restarted at the head before the measured epoch: its state is that head and every leaf.
const before = dir.size;
const witnessHead: VerifiedHead = {
  treeSize: before,
  root: dir.log.root(),
  signature: dir.treeHead.signature,
  fullSubtrees: dir.log.fullSubtrees(),
  lastTimestamp: t,
  cosignedAt: Math.floor(t / 1000),
};
const witnessSeed = crypto.sha256(utf8('bench kt witness')).slice();
const witnessLeaves = entryLeaves.flatMap((e) => e.updates.map((u) => u.leaf));
const witness = new Witness({
  crypto,
  config,
  store: {
    signingSeed: witnessSeed,
    load: () => ({ head: witnessHead, leaves: witnessLeaves, evidence: undefined }),
    commit: () => undefined,
    recordEvidence: () => undefined,
  },
});
witnessLeaves.length = 0;

// The measured epoch: EPOCH updates, version 1 (or more) of labels spread over the directory. The
// server proves each search key at ingestion and looks it up in the epoch: so does the bench.
for (const i of updated) {
  const version = positions.get(i)?.length ?? 0;
  ahead.set(`${name(i)}/${version}`, searchKey(label(i), version));
}
const publishMs = publish((t += 60_000), updated);
const now = t + 1_000;

const last = entryLeaves.at(-1)!;
const witnessStart = performance.now();
witness.observe(
  {
    head: { treeSize: dir.size, root: dir.log.root(), signature: dir.treeHead.signature },
    entries: [{ index: before, timestamp: last.timestamp, added: last.updates.map((u) => u.leaf) }],
    proof: dir.log.consistencyProof(before, dir.size),
  },
  now,
);
const witnessMs = performance.now() - witnessStart;

/** The parts of a search proof, in bytes, and the entries it covers (docs/key-transparency.md "Benchmark"). */
function breakdown(encoded: Uint8Array): Record<string, number> {
  const p = decodeSearchProof(encoded);
  const prefixElements = p.proof.prefixProofs.reduce((n, pp) => n + pp.elements.length, 0);
  // A version proved absent where the search path ends at another key's leaf carries that leaf.
  const strayLeaves = p.proof.prefixProofs.reduce(
    (n, pp) => n + pp.results.filter((r) => r.type === 'nonInclusionLeaf').length,
    0,
  );
  const parts = {
    'VRF proofs': p.lookups.length * KT_SUITE.vrfProofBytes,
    commitments: p.lookups.filter((l) => l.commitment !== undefined).length * KT_SUITE.hashBytes,
    'prefix copath': prefixElements * KT_SUITE.hashBytes,
    'absence leaves': strayLeaves * 2 * KT_SUITE.hashBytes,
    'prefix roots': p.proof.prefixRoots.length * KT_SUITE.hashBytes,
    timestamps: p.proof.timestamps.length * 8,
    'log inclusion': p.proof.inclusion.elements.length * KT_SUITE.hashBytes,
  };
  const known = Object.values(parts).reduce((a, b) => a + b, 0);
  return {
    ...parts,
    rest: encoded.length - known,
    'entries (timestamps)': p.proof.timestamps.length,
    'prefix proofs': p.proof.prefixProofs.length,
    lookups: p.lookups.length,
  };
}
const searchParts: Record<string, number>[] = [];

const searchBytes: number[] = [];
const searchViewBytes: number[] = [];
const searchMs: number[] = [];
const monitorBytes: number[] = [];
const monitorMs: number[] = [];
for (const i of sampled) {
  const l = label(i);
  const greatest = dir.greatestVersion(l);
  const search = encodeSearchProof(dir.search(l));
  searchBytes.push(search.length);
  searchParts.push(breakdown(search));
  // A returning user, whose view is the head before the measured epoch (§4.2): size only.
  searchViewBytes.push(encodeSearchProof(dir.search(l, { last: before })).length);
  let t0 = performance.now();
  verifySearch(crypto, config, { label: l, now, response: decodeSearchProof(search) });
  searchMs.push(performance.now() - t0);

  // The owner's state: where each of its versions was added, their search keys and commitments (§8.3).
  const own = positions.get(i)!.map((_, v) => ({
    vrfOutput: searchKey(l, v),
    commitment: computeCommitment(crypto, { ...update(i, v), version: v }, config.mode),
  }));
  const monitor = encodeOwnerMonitorProof(dir.monitorOwner(l, { greatest }));
  monitorBytes.push(monitor.length);
  t0 = performance.now();
  verifyOwnerMonitor(crypto, config, {
    label: l,
    positions: positions.get(i)!,
    own: (v) => own[v]!,
    now,
    response: decodeOwnerMonitorProof(monitor),
  });
  monitorMs.push(performance.now() - t0);
}

(globalThis as { gc?: () => void }).gc?.();
const mem = process.memoryUsage();

function median(samples: number[]): number {
  const sorted = [...samples].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}
const mb = (n: number): string => `${(n / 2 ** 20).toFixed(0)} MiB`;
const versionsStored = entryLeaves.reduce((n, e) => n + e.updates.length, 0);
console.log(
  `key directory: ${LABELS} labels in ${Math.ceil(LABELS / EPOCH)} epochs of ${EPOCH}, ` +
    `${ENTRIES} entries of ${PER_ENTRY} updates ${INTERVAL_MS / 1000} s apart, then 1 epoch of ${EPOCH} updates ` +
    `(${dir.size} log entries, ${versionsStored} label versions)`,
);
console.log(`  build             ${(buildMs / 1000).toFixed(1)} s`);
console.log(`  publish ${EPOCH} updates  ${publishMs.toFixed(0)} ms`);
console.log(`  witness check of that epoch  ${witnessMs.toFixed(0)} ms`);
console.log(
  `  search proof      median ${median(searchBytes)} B (max ${Math.max(...searchBytes)}), verify p50 ${median(searchMs).toFixed(2)} ms`,
);
console.log(
  `  search proof parts (median B, new user)  ` +
    Object.keys(searchParts[0] ?? {})
      .map((k) => `${k} ${median(searchParts.map((p) => p[k]!))}`)
      .join(', '),
);
console.log(
  `  search proof, user with a view of the previous head  median ${median(searchViewBytes)} B (max ${Math.max(...searchViewBytes)})`,
);
console.log(
  `  owner monitor     median ${median(monitorBytes)} B (max ${Math.max(...monitorBytes)}), verify p50 ${median(monitorMs).toFixed(2)} ms`,
);
console.log(
  `  memory            rss ${mb(mem.rss)}, heap used ${mb(mem.heapUsed)}, array buffers ${mb(mem.arrayBuffers)}` +
    ((globalThis as { gc?: unknown }).gc === undefined ? ' (no forced GC: run with --expose-gc)' : ''),
);

if (values.db !== undefined) await persist(values.db);

/**
 * The log as the server stores it: accounts (inserted directly, one per label: the bench has no
 * devices), then every entry through `SqliteStore.appendKtEpoch`, as DirectoryService does.
 */
async function persist(path: string): Promise<void> {
  const store = SqliteStore.open(path);
  await store.migrate();
  const db = new DatabaseSync(path);
  db.exec('BEGIN');
  const insert = db.prepare(
    'INSERT INTO accounts (id, username, skeleton, account_key, created_day) VALUES (?, ?, ?, ?, 0)',
  );
  for (let i = 0; i < LABELS; i++) insert.run(i + 1, name(i), name(i), crypto.sha256(label(i)));
  db.exec('COMMIT');
  db.exec('PRAGMA wal_checkpoint(TRUNCATE)');
  const accountsBytes = statSync(path).size;
  const start = performance.now();
  for (const [epoch, e] of entryLeaves.entries()) {
    const stored: KtEpoch = {
      epoch,
      timestampMs: e.timestamp,
      root: dir.log.root(epoch + 1),
      signature: new Uint8Array(64),
      updates: e.updates.map((u) => ({
        accountId: u.i + 1,
        version: u.version,
        vrfOutput: u.leaf.vrfOutput,
        commitment: u.leaf.commitment,
        deviceList: deviceList(u.i, u.version),
        opening: opening(u.i, u.version),
      })),
    };
    await store.appendKtEpoch(stored);
  }
  const storeMs = performance.now() - start;
  db.exec('PRAGMA wal_checkpoint(TRUNCATE)');
  db.close();
  await store.close();
  const total = statSync(path).size;
  const kt = total - accountsBytes;
  console.log(
    `  SQLite (${path})  ${mb(total)} in all, of which key transparency ${mb(kt)}: ` +
      `${Math.round(kt / versionsStored)} B per label version (device list ${deviceList(0, 0).length} B); ` +
      `stored in ${(storeMs / 1000).toFixed(1)} s`,
  );
}
