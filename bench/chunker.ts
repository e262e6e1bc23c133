/**
 * node bench/chunker.ts — backup hot paths on one core, over random (incompressible) data:
 *   - FastCDC chunking (packages/core/src/backup/chunker.ts), fed 1 MiB buffers;
 *   - chunk ids: HMAC-SHA256 over every chunk through the node:crypto provider;
 *   - sealing blobs: id, zstd level 1 (kept only when smaller) and AES-256-GCM (blob.ts).
 * Each is run `--rounds` times over the same data; the median is reported in MB/s (10^6 bytes).
 *
 *   node bench/chunker.ts [--mib 256] [--rounds 3]
 */
import { randomFillSync } from 'node:crypto';
import { parseArgs } from 'node:util';
import { performance } from 'node:perf_hooks';
import { constants, zstdCompressSync } from 'node:zlib';
import { nodeCryptoProvider as crypto } from '../packages/core/node/crypto-provider.ts';
import { Chunker, deriveGearTable } from '../packages/core/src/backup/chunker.ts';
import { deriveRepositoryKeys } from '../packages/core/src/backup/keys.ts';
import { sealBlob } from '../packages/core/src/backup/blob.ts';

const { values } = parseArgs({
  options: { mib: { type: 'string', default: '256' }, rounds: { type: 'string', default: '3' } },
});
const SIZE = Number(values.mib) * 1024 * 1024;
const ROUNDS = Number(values.rounds);
const FEED = 1024 * 1024;

const data = new Uint8Array(SIZE);
for (let o = 0; o < SIZE; o += 65_536) randomFillSync(data.subarray(o, o + 65_536));
const keys = deriveRepositoryKeys(crypto, crypto.randomBytes(32), crypto.randomBytes(32));
const gear = deriveGearTable(crypto, keys.chunker);

function chunkAll(): number[] {
  const chunker = new Chunker(gear);
  const lengths: number[] = [];
  for (let o = 0; o < SIZE; o += FEED) lengths.push(...chunker.push(data.subarray(o, o + FEED)));
  const last = chunker.finish();
  if (last > 0) lengths.push(last);
  return lengths;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

function measure(name: string, run: () => void): void {
  const rates: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    const t0 = performance.now();
    run();
    rates.push(SIZE / 1e6 / ((performance.now() - t0) / 1000));
  }
  console.log(
    `${name.padEnd(28)} ${median(rates).toFixed(0).padStart(6)} MB/s  (${rates.map((x) => x.toFixed(0)).join(', ')})`,
  );
}

const lengths = chunkAll();
console.log(
  `${values.mib} MiB random data, ${lengths.length} chunks, mean ${(SIZE / lengths.length / 1024).toFixed(0)} KiB, node ${process.version}`,
);
measure('FastCDC chunking', () => void chunkAll());
measure('HMAC-SHA256 chunk ids', () => {
  let o = 0;
  for (const l of lengths) crypto.hmacSha256(keys.chunkId, data.subarray(o, (o += l)));
});
const zstd1 = (b: Uint8Array) => zstdCompressSync(b, { params: { [constants.ZSTD_c_compressionLevel]: 1 } });
measure('seal blob (id+zstd1+GCM)', () => {
  let o = 0;
  for (const l of lengths) sealBlob(crypto, keys, 'data', data.subarray(o, (o += l)), zstd1);
});
