import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { constants, zstdCompressSync } from 'node:zlib';
import { zstdCompressor, zstdDecompress, zstdDecompressor } from './backup-zstd.ts';

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

const frame = (input: Uint8Array) => zstdCompressSync(input);

for (const keepOutput of [false, true]) {
  test(`a decompressor that keeps its context (keepOutput ${keepOutput}) gives the same bytes as zstdDecompressSync, frame after frame`, () => {
    const decompress = zstdDecompressor({ keepOutput });
    const inputs = [text(10, 1), randomBytes(20_000), text(60_000, 3), new Uint8Array(1), text(5, 4)];
    for (const input of inputs) {
      const got = decompress(frame(input), input.length);
      assert.deepEqual(Buffer.from(got), Buffer.from(input), `${input.length} bytes`);
    }
  });

  test(`a decompressor (keepOutput ${keepOutput}) refuses an output past its maximum, garbage and a cut frame, then decompresses the next frame`, () => {
    const decompress = zstdDecompressor({ keepOutput });
    const input = text(2000, 2);
    const whole = frame(input);
    assert.throws(() => decompress(whole, input.length - 1));
    assert.throws(() => decompress(new TextEncoder().encode('not a zstd frame at all'), 1000));
    // A frame cut short never yields the whole plaintext (blob.ts refuses the short result).
    let cut: Uint8Array | undefined;
    try {
      cut = decompress(whole.subarray(0, whole.length - 3), input.length);
    } catch {
      cut = undefined;
    }
    assert.ok(cut === undefined || cut.length < input.length);
    assert.deepEqual(Buffer.from(decompress(whole, input.length)), Buffer.from(input));
  });
}

test("with keepOutput, a result is a view that the next call overwrites; without, results are each one's own", () => {
  const keeping = zstdDecompressor({ keepOutput: true });
  const first = keeping(frame(text(100, 1)), 10_000);
  const second = keeping(frame(text(100, 2)), 10_000);
  assert.equal(first.buffer, second.buffer);
  const fresh = zstdDecompressor();
  const a = fresh(frame(text(100, 1)), 10_000);
  const b = fresh(frame(text(100, 2)), 10_000);
  assert.notEqual(a.buffer, b.buffer);
  assert.deepEqual(Buffer.from(a), Buffer.from(text(100, 1)));
});
