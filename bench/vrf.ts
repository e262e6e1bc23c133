/**
 * node bench/vrf.ts — ECVRF-EDWARDS25519-SHA512-TAI (packages/core/src/vrf/ecvrf.ts) prove and verify
 * time on one core: the median of RUNS timed calls each, after a warm-up, on a fixed key and a
 * different 32-byte alpha per call (a label-sized input, so try-and-increment takes its usual 1-2 tries).
 *
 *   node bench/vrf.ts [--runs 200]
 */
import { parseArgs } from 'node:util';
import { performance } from 'node:perf_hooks';
import { ecvrfProve, ecvrfPublicKey, ecvrfVerify } from '../packages/core/src/vrf/ecvrf.ts';

const { values } = parseArgs({ options: { runs: { type: 'string', default: '200' } } });
const RUNS = Number(values.runs);
const WARMUP = 20;

const secretKey = new Uint8Array(32).fill(7);
const publicKey = ecvrfPublicKey(secretKey);
const alphas = Array.from({ length: RUNS + WARMUP }, (_, i) => {
  const alpha = new Uint8Array(32);
  new DataView(alpha.buffer).setUint32(0, i);
  return alpha;
});

function median(samples: number[]): number {
  const sorted = [...samples].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

const proofs: Uint8Array[] = [];
const proveMs: number[] = [];
for (let i = 0; i < alphas.length; i++) {
  const t0 = performance.now();
  proofs.push(ecvrfProve(secretKey, alphas[i]!));
  if (i >= WARMUP) proveMs.push(performance.now() - t0);
}

const verifyMs: number[] = [];
for (let i = 0; i < alphas.length; i++) {
  const t0 = performance.now();
  ecvrfVerify(publicKey, proofs[i]!, alphas[i]!);
  if (i >= WARMUP) verifyMs.push(performance.now() - t0);
}

console.log(`ECVRF-EDWARDS25519-SHA512-TAI (@noble/curves), ${RUNS} runs, median:`);
console.log(`  prove   ${median(proveMs).toFixed(3)} ms`);
console.log(`  verify  ${median(verifyMs).toFixed(3)} ms`);
