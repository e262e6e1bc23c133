import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { constants, zstdCompressSync } from 'node:zlib';
import { zstdCompressor, zstdDecompress } from './backup-zstd.ts';

const text = (n: number, seed: number) =>
  new TextEncoder().encode(Array.from({ length: n }, (_, i) => `line ${seed} ${i}\n`).join(''));

test('the compressor that keeps its zstd context writes the same frames as zstdCompressSync', () => {
  const compress = zstdCompressor(1);
  const inputs = [
    new Uint8Array(1),
    text(10, 1),
    text(2000, 2),
    randomBytes(20_000),
    text(60_000, 3), // ~1 MiB
    randomBytes(3 * 1024 * 1024), // beyond the output buffer it keeps
    text(5, 4), // small again after a large one
  ];
  for (const input of inputs) {
    const want = zstdCompressSync(input, { params: { [constants.ZSTD_c_compressionLevel]: 1 } });
    const got = compress(input);
    assert.deepEqual(Buffer.from(got), want, `${input.length} bytes`);
    assert.deepEqual(Buffer.from(zstdDecompress(got, input.length)), Buffer.from(input));
  }
});

test("a compressor's result stays readable until its next call, and compressors do not share state", () => {
  const a = zstdCompressor(1);
  const b = zstdCompressor(3);
  const first = Buffer.from(a(text(500, 5)));
  b(text(500, 6));
  const second = a(text(700, 7));
  assert.deepEqual(Buffer.from(zstdDecompress(first, 100_000)), Buffer.from(text(500, 5)));
  assert.deepEqual(Buffer.from(zstdDecompress(second, 100_000)), Buffer.from(text(700, 7)));
});
