// Tests run under Node: node:test and node:assert are the only node:* imports, and only here.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { nodeCryptoProvider as crypto } from '../../node/crypto-provider.ts';
import {
  Chunker,
  chunkLengths,
  DEFAULT_CHUNK_SIZES,
  deriveGearTable,
  GEAR_WINDOW,
  type ChunkSizes,
} from './chunker.ts';
import { ValidationError } from '../errors.ts';
import { LIMITS } from '../limits.ts';
import { toHex } from '../bytes/encoding.ts';

/** Deterministic pseudo-random bytes (xorshift32): reproducible inputs without a seed file. */
function pseudoRandom(length: number, seed: number): Uint8Array {
  const out = new Uint8Array(length);
  let x = seed | 0 || 1;
  for (let i = 0; i < length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

const keyA = new Uint8Array(32).fill(0xa1);
const keyB = new Uint8Array(32).fill(0xb2);
const gearA = deriveGearTable(crypto, keyA);
const gearB = deriveGearTable(crypto, keyB);
const SMALL: ChunkSizes = { minBytes: 256, avgBytes: 1024, maxBytes: 4096 };

/** The definition in chunker.ts, written as plainly as possible: fp over the window, recomputed at each length. */
function referenceLengths(gear: Uint32Array, data: Uint8Array, s: ChunkSizes): number[] {
  const bits = Math.log2(s.avgBytes);
  const top = (k: number) => ~((1 << (32 - k)) - 1) | 0;
  const out: number[] = [];
  let start = 0;
  while (start < data.length) {
    let cut = 0;
    for (let L = 1; start + L <= data.length; L++) {
      if (L === s.maxBytes) {
        cut = L;
        break;
      }
      if (L < s.minBytes) continue;
      let fp = 0;
      for (let j = 0; j < GEAR_WINDOW && j < L; j++) fp = (fp + (gear[data[start + L - 1 - j]!]! << j)) | 0;
      if ((fp & (L <= s.avgBytes ? top(bits + 2) : top(bits - 2))) === 0) {
        cut = L;
        break;
      }
    }
    if (cut === 0) cut = data.length - start;
    out.push(cut);
    start += cut;
  }
  return out;
}

function cutOffsets(lengths: readonly number[]): Set<number> {
  const out = new Set<number>();
  let at = 0;
  for (const l of lengths) out.add((at += l));
  return out;
}

describe('gear table', () => {
  test('is HKDF-SHA256(chunker key, "", "sealpost/backup/v1/gear-table", 1024) read as big-endian u32', () => {
    const okm = crypto.hkdfSha256(
      keyA,
      new Uint8Array(0),
      new TextEncoder().encode('sealpost/backup/v1/gear-table'),
      1024,
    );
    const view = new DataView(okm.buffer);
    assert.equal(gearA.length, 256);
    for (let i = 0; i < 256; i++) assert.equal(gearA[i], view.getUint32(i * 4));
  });

  test('differs between keys', () => assert.notDeepEqual(gearA, gearB));

  test('refuses a key that is not 32 bytes', () =>
    assert.throws(() => deriveGearTable(crypto, new Uint8Array(31)), ValidationError));
});

describe('Chunker', () => {
  test('matches the written-out definition on small sizes', () => {
    const inputs = [1, 2, 3].map((seed) => pseudoRandom(40_000, seed));
    // Low-entropy input reaches the forced cut at maxBytes too.
    inputs.push(pseudoRandom(40_000, 4).map((b) => (b < 4 ? 1 : 0)));
    inputs.push(new Uint8Array(20_000));
    for (const data of inputs) {
      assert.deepEqual(chunkLengths(gearA, data, SMALL), referenceLengths(gearA, data, SMALL));
    }
  });

  test('gives the same chunks however the input is split into pushes', () => {
    const data = pseudoRandom(60_000, 7);
    const whole = chunkLengths(gearA, data, SMALL);
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 9000 }), { maxLength: 30 }), (sizes) => {
        const c = new Chunker(gearA, SMALL);
        const got: number[] = [];
        let at = 0;
        for (const n of sizes) {
          got.push(...c.push(data.subarray(at, Math.min(at + n, data.length))));
          at = Math.min(at + n, data.length);
        }
        got.push(...c.push(data.subarray(at)));
        const last = c.finish();
        if (last > 0) got.push(last);
        assert.deepEqual(got, whole);
      }),
      { numRuns: 200 },
    );
  });

  test('keeps every chunk but the last within [min, max] and covers the input exactly', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 30_000 }), fc.boolean(), (data, lowEntropy) => {
        const input = lowEntropy ? data.map((b) => b & 1) : data;
        const lengths = chunkLengths(gearA, input, SMALL);
        assert.equal(
          lengths.reduce((a, b) => a + b, 0),
          input.length,
        );
        for (const l of lengths.slice(0, -1))
          assert.ok(l >= SMALL.minBytes && l <= SMALL.maxBytes, String(l));
        if (lengths.length > 0) assert.ok(lengths.at(-1)! <= SMALL.maxBytes);
      }),
      { numRuns: 300 },
    );
  });

  test('cuts zeros at the minimum or the maximum, never elsewhere', () => {
    const lengths = chunkLengths(gearA, new Uint8Array(5 * SMALL.maxBytes), SMALL);
    assert.ok(lengths.slice(0, -1).every((l) => l === SMALL.minBytes || l === SMALL.maxBytes));
  });

  const big = pseudoRandom(24 * 1024 * 1024, 42);
  const lengthsA = chunkLengths(gearA, big);

  test('with default sizes, chunks random data into min..max pieces averaging about avgBytes', () => {
    for (const l of lengthsA.slice(0, -1)) {
      assert.ok(l >= LIMITS.backupChunkMinBytes && l <= LIMITS.backupChunkMaxBytes, String(l));
    }
    const mean = big.length / lengthsA.length;
    assert.ok(
      mean > 0.8 * LIMITS.backupChunkAvgBytes && mean < 1.6 * LIMITS.backupChunkAvgBytes,
      String(mean),
    );
  });

  test('is deterministic under one key and cuts elsewhere under another', () => {
    assert.deepEqual(chunkLengths(gearA, big), lengthsA);
    const a = cutOffsets(lengthsA.slice(0, -1));
    const b = cutOffsets(chunkLengths(gearB, big).slice(0, -1));
    const common = [...a].filter((x) => b.has(x)).length;
    assert.ok(common <= a.size / 10, `${common} of ${a.size} cuts shared`);
  });

  test('keeps most chunks when bytes are inserted (content-defined, not offset-defined)', () => {
    const at = 5 * 1024 * 1024 + 12_345;
    const edited = new Uint8Array(big.length + 100);
    edited.set(big.subarray(0, at));
    edited.set(pseudoRandom(100, 99), at);
    edited.set(big.subarray(at), at + 100);
    const ids = (data: Uint8Array, lengths: number[]) => {
      const out = new Set<string>();
      let o = 0;
      for (const l of lengths) {
        out.add(toHex(crypto.sha256(data.subarray(o, (o += l)))));
      }
      return out;
    };
    const before = ids(big, lengthsA);
    const after = ids(edited, chunkLengths(gearA, edited));
    const kept = [...before].filter((x) => after.has(x)).length;
    assert.ok(kept >= before.size - 3, `${kept} of ${before.size} chunks kept`);
  });

  test('holds no input: pending stays below max however much is pushed', () => {
    const c = new Chunker(gearA);
    for (let o = 0; o < big.length; o += 1 << 20) {
      c.push(big.subarray(o, o + (1 << 20)));
      assert.ok(c.pending < LIMITS.backupChunkMaxBytes);
    }
  });

  const badSizes: readonly [string, ChunkSizes][] = [
    ['min below two windows', { minBytes: 32, avgBytes: 1024, maxBytes: 4096 }],
    ['avg not a power of two', { minBytes: 256, avgBytes: 1000, maxBytes: 4096 }],
    ['min >= avg', { minBytes: 1024, avgBytes: 1024, maxBytes: 4096 }],
    ['avg >= max', { minBytes: 256, avgBytes: 4096, maxBytes: 4096 }],
    ['max above 2^30', { minBytes: 256, avgBytes: 1024, maxBytes: 2 ** 31 }],
    ['fractional', { minBytes: 256.5, avgBytes: 1024, maxBytes: 4096 }],
  ];
  for (const [what, sizes] of badSizes) {
    test(`refuses sizes with ${what}`, () => assert.throws(() => new Chunker(gearA, sizes), ValidationError));
  }

  test('refuses a gear table that is not 256 u32', () => {
    assert.throws(() => new Chunker(new Uint32Array(255)), ValidationError);
    assert.throws(() => new Chunker(new Int32Array(256) as unknown as Uint32Array), ValidationError);
  });

  test('uses the sizes from LIMITS by default', () => {
    assert.deepEqual(DEFAULT_CHUNK_SIZES, {
      minBytes: LIMITS.backupChunkMinBytes,
      avgBytes: LIMITS.backupChunkAvgBytes,
      maxBytes: LIMITS.backupChunkMaxBytes,
    });
  });
});
