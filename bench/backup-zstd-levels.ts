/**
 * node bench/backup-zstd-levels.ts — what the backup's zstd level costs and saves on real files: every
 * regular file of the data set (by default the backup benchmark's, bench/.cache/backup/debian, made by
 * `npm run bench:backup`) is read, chunked with FastCDC as a backup does, and each chunk is sealed
 * (blob.ts: zstd at the level, kept only when smaller, then AES-256-GCM) once per level, the levels
 * taking turns chunk by chunk so that other load on the machine falls on all of them alike.
 * Reported per level: seal throughput on one core (MB/s of plaintext, sealing time only: reading,
 * chunking and ids are not counted) and the total sealed size. A chunk seen before (same keyed id) is
 * sealed once, as a backup stores it once.
 *
 *   node --expose-gc bench/backup-zstd-levels.ts [--data <dir>] [--levels 1,2,3] [--share 1] [--seed 1]
 *
 * --share: the seeded fraction of the files to take (0.1 ≈ the backup benchmark's quick set).
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { nodeCryptoProvider as crypto } from '../packages/core/node/crypto-provider.ts';
import { blobId, sealBlob } from '../packages/core/src/backup/blob.ts';
import { chunkLengths, deriveGearTable } from '../packages/core/src/backup/chunker.ts';
import { deriveRepositoryKeys } from '../packages/core/src/backup/keys.ts';
import { zstdCompressor } from '../packages/client/node/backup-zstd.ts';

const { values } = parseArgs({
  options: {
    data: { type: 'string' },
    levels: { type: 'string', default: '1,2,3' },
    share: { type: 'string', default: '1' },
    seed: { type: 'string', default: '1' },
  },
});
const DATA = resolve(values.data ?? join(import.meta.dirname, '.cache/backup/debian'));
const LEVELS = values.levels.split(',').map(Number);
const SHARE = Number(values.share);
const MB = 1e6;

async function* files(dir: string): AsyncGenerator<string> {
  for (const entry of await fs.readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) yield* files(path);
    else if (entry.isFile()) yield path;
  }
}

const chosen = (path: string) =>
  SHARE >= 1 ||
  createHash('sha256').update(`${values.seed}:${path}`).digest().readUInt32BE(0) / 2 ** 32 < SHARE;

const keys = deriveRepositoryKeys(crypto, crypto.randomBytes(32), crypto.randomBytes(32));
const gear = deriveGearTable(crypto, keys.chunker);
const levels = LEVELS.map((level) => ({ level, compress: zstdCompressor(level), ms: 0, sealed: 0 }));
/** Chunk ids already sealed: a backup stores each chunk once. */
const seen = new Set<string>();
let duplicates = 0;
let plain = 0;
let chunks = 0;
let fileCount = 0;
/** With `node --expose-gc`: a minor GC now and then, outside the timed calls, as the engine does. */
const reclaim = (globalThis as { gc?: (options: { type: 'minor' }) => void }).gc;

for await (const path of files(DATA)) {
  if (!chosen(path)) continue;
  const bytes = new Uint8Array(await fs.readFile(path));
  fileCount++;
  let at = 0;
  const lengths = chunkLengths(gear, bytes);
  for (const length of lengths) {
    const chunk = bytes.subarray(at, (at += length));
    const id = blobId(crypto, keys, 'data', chunk);
    const hex = Buffer.from(id).toString('hex');
    if (seen.has(hex)) {
      duplicates += length;
      continue;
    }
    seen.add(hex);
    for (const l of levels) {
      const t0 = performance.now();
      const blob = sealBlob(crypto, keys, 'data', chunk, l.compress, id);
      l.ms += performance.now() - t0;
      l.sealed += blob.sealed.length;
    }
    plain += length;
    // Each zstd call leaves a native context until its handle is collected (backup-reclaim.ts).
    if (++chunks % 64 === 0) reclaim?.({ type: 'minor' });
  }
}

console.log(
  `${DATA}${SHARE < 1 ? ` (share ${SHARE}, seed ${values.seed})` : ''}: ${fileCount} files, ` +
    `${chunks} distinct chunks, ${(plain / MB).toFixed(1)} MB (${(duplicates / MB).toFixed(1)} MB of duplicate ` +
    `chunks left out); node ${process.version}`,
);
console.log('| zstd level | seal MB/s (one core) | sealed MB | of plaintext |');
console.log('| ---------: | -------------------: | --------: | -----------: |');
for (const l of levels) {
  console.log(
    `| ${l.level} | ${(plain / MB / (l.ms / 1000)).toFixed(0)} | ${(l.sealed / MB).toFixed(1)} | ` +
      `${((100 * l.sealed) / plain).toFixed(1)}% |`,
  );
}
