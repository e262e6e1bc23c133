// Tests run under Node: node:test and node:assert are the only node:* imports, and only here.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { Reader, decodeAll } from './reader.ts';
import { Writer } from './writer.ts';
import { CodecError, type ErrorCode } from '../errors.ts';
import { LIMITS } from '../limits.ts';

const bytes = (...b: number[]) => new Uint8Array(b);

function assertCodecError(fn: () => unknown, code: ErrorCode): void {
  assert.throws(fn, (e: unknown) => e instanceof CodecError && e.code === code);
}

describe('Reader.varint', () => {
  const minimal: readonly [number, number[]][] = [
    [0, [0x00]],
    [0x3f, [0x3f]],
    [0x40, [0x40, 0x40]],
    [0x3fff, [0x7f, 0xff]],
    [0x4000, [0x80, 0x00, 0x40, 0x00]],
    [0x3fffffff, [0xbf, 0xff, 0xff, 0xff]],
  ];
  for (const [value, encoding] of minimal) {
    test(`decodes the minimal encoding of 0x${value.toString(16)}`, () => {
      const r = new Reader(new Uint8Array(encoding), 16);
      assert.equal(r.varint(), value);
      assert.equal(r.remaining, 0);
    });
  }

  const nonMinimal: readonly [string, number[]][] = [
    ['0 in two bytes', [0x40, 0x00]],
    ['0x3f in two bytes', [0x40, 0x3f]],
    ['0x3fff in four bytes', [0x80, 0x00, 0x3f, 0xff]],
    ['0 in four bytes', [0x80, 0x00, 0x00, 0x00]],
  ];
  for (const [what, encoding] of nonMinimal) {
    test(`rejects ${what} as non-minimal`, () =>
      assertCodecError(() => new Reader(new Uint8Array(encoding), 16).varint(), 'CODEC_INVALID_VALUE'));
  }

  test('rejects the 8-byte prefix (0b11)', () =>
    assertCodecError(() => new Reader(bytes(0xc0, 0, 0, 0, 0, 0, 0, 1), 16).varint(), 'CODEC_INVALID_VALUE'));

  test('rejects a truncated two-byte varint', () =>
    assertCodecError(() => new Reader(bytes(0x40), 16).varint(), 'CODEC_TRUNCATED'));
  test('rejects a truncated four-byte varint', () =>
    assertCodecError(() => new Reader(bytes(0x80, 0x00, 0x40), 16).varint(), 'CODEC_TRUNCATED'));
  test('rejects a varint on empty input', () =>
    assertCodecError(() => new Reader(bytes(), 16).varint(), 'CODEC_TRUNCATED'));
});

describe('Reader fixed-width integers', () => {
  test('reads big-endian u8, u16, u32 and u53', () => {
    const r = new Reader(bytes(0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0, 0, 0, 0, 0, 0, 1, 0), 64);
    assert.equal(r.u8(), 0x01);
    assert.equal(r.u16(), 0x0203);
    assert.equal(r.u32(), 0x04050607);
    assert.equal(r.u53(), 256);
    assert.equal(r.remaining, 0);
  });

  test('reads 2^53 - 1 as a u53 and rejects 2^53', () => {
    assert.equal(
      new Reader(bytes(0x00, 0x1f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff), 8).u53(),
      Number.MAX_SAFE_INTEGER,
    );
    assertCodecError(() => new Reader(bytes(0x00, 0x20, 0, 0, 0, 0, 0, 0), 8).u53(), 'CODEC_INVALID_VALUE');
  });

  for (const [name, n, read] of [
    ['u16', 1, (r: Reader) => r.u16()],
    ['u32', 3, (r: Reader) => r.u32()],
    ['u53', 7, (r: Reader) => r.u53()],
  ] as const) {
    test(`rejects a truncated ${name} without moving the offset`, () => {
      const r = new Reader(new Uint8Array(n), 16);
      assertCodecError(() => read(r), 'CODEC_TRUNCATED');
      assert.equal(r.offset, 0);
    });
  }

  test('accepts bool 0 and 1 and rejects 2', () => {
    const r = new Reader(bytes(0, 1, 2), 8);
    assert.equal(r.bool(), false);
    assert.equal(r.bool(), true);
    assertCodecError(() => r.bool(), 'CODEC_INVALID_VALUE');
  });
});

describe('Reader length-prefixed fields', () => {
  test('reads an opaque and returns a copy independent of the input', () => {
    const input = bytes(3, 9, 8, 7);
    const out = new Reader(input, 16).opaque(3);
    assert.deepEqual(out, bytes(9, 8, 7));
    input[1] = 0;
    assert.deepEqual(out, bytes(9, 8, 7));
  });

  test('rejects a length over the limit before reading (or allocating) the body', () => {
    // Prefix says 0x3fffffff bytes and only 0 follow: the limit, not truncation, must be reported.
    assertCodecError(() => new Reader(bytes(0xbf, 0xff, 0xff, 0xff), 16).opaque(100), 'CODEC_LENGTH_LIMIT');
    assertCodecError(() => new Reader(bytes(0x40, 0x65), 16).opaque(100), 'CODEC_LENGTH_LIMIT');
  });

  test('accepts a length exactly at the limit', () => {
    const r = new Reader(new Writer().opaque(new Uint8Array(100)).finish(), 200);
    assert.equal(r.opaque(100).length, 100);
  });

  test('caps every opaque at LIMITS.codecFieldMaxBytes even when the caller allows more', () => {
    const prefix = new Writer().varint(LIMITS.codecFieldMaxBytes + 1).finish();
    assertCodecError(() => new Reader(prefix, 16).opaque(Number.MAX_SAFE_INTEGER), 'CODEC_LENGTH_LIMIT');
  });

  test('rejects an opaque whose body is truncated', () =>
    assertCodecError(() => new Reader(bytes(5, 1, 2), 16).opaque(10), 'CODEC_TRUNCATED'));

  test('rejects invalid UTF-8 in a string', () =>
    assertCodecError(() => new Reader(bytes(2, 0xc3, 0x28), 16).string(10), 'CODEC_INVALID_VALUE'));

  test('keeps a leading byte-order mark in a string (no silent rewriting)', () => {
    assert.equal(new Reader(bytes(4, 0xef, 0xbb, 0xbf, 0x61), 16).string(10), '\ufeffa');
  });

  test('rejects a vector count over the limit before reading any item', () => {
    let items = 0;
    const read = (r: Reader) => {
      items++;
      return r.u8();
    };
    assertCodecError(() => new Reader(bytes(0x40, 0x40), 16).vector(10, read), 'CODEC_LENGTH_LIMIT');
    assert.equal(items, 0);
  });

  test('rejects a vector whose items are truncated', () =>
    assertCodecError(() => new Reader(bytes(3, 1, 2), 16).vector(10, (r) => r.u8()), 'CODEC_TRUNCATED'));
});

describe('Reader input bounds', () => {
  test('rejects input over maxInput in the constructor', () =>
    assertCodecError(() => new Reader(new Uint8Array(17), 16), 'CODEC_LENGTH_LIMIT'));

  test('rejects input that is not a Uint8Array', () => {
    for (const v of [undefined, null, 'abc', [1, 2], new ArrayBuffer(2), new Uint16Array(2)]) {
      assertCodecError(() => new Reader(v as unknown as Uint8Array, 16), 'CODEC_INVALID_VALUE');
    }
  });

  test('reads a subarray view at its own offset, not the start of its buffer', () => {
    const backing = bytes(0xff, 0xff, 0x00, 0x2a);
    const r = new Reader(backing.subarray(2), 16);
    assert.equal(r.u16(), 0x2a);
  });

  test('decodeAll rejects trailing bytes', () =>
    assertCodecError(() => decodeAll(bytes(1, 2), 16, (r) => r.u8(), 'one byte'), 'CODEC_TRAILING_BYTES'));

  test('decodeAll returns the value when every byte is consumed', () =>
    assert.equal(
      decodeAll(bytes(1, 2), 16, (r) => r.u16(), 'u16'),
      0x0102,
    ));
});

describe('Reader on random input', () => {
  const reads: readonly [string, (r: Reader) => unknown][] = [
    ['u8', (r) => r.u8()],
    ['u16', (r) => r.u16()],
    ['u32', (r) => r.u32()],
    ['u53', (r) => r.u53()],
    ['varint', (r) => r.varint()],
    ['fixed', (r) => r.fixed(5)],
    ['opaque', (r) => r.opaque(64)],
    ['string', (r) => r.string(64)],
    ['vector', (r) => r.vector(8, (r2) => r2.opaque(8))],
    ['bool', (r) => r.bool()],
    ['end', (r) => r.end()],
  ];

  test('every method returns a value or throws a CodecError, never anything else', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 64 }),
        fc.array(fc.nat(reads.length - 1), { maxLength: 12 }),
        (input, ops) => {
          const r = new Reader(input, 64);
          for (const op of ops) {
            try {
              reads[op]![1](r);
            } catch (e) {
              assert.ok(e instanceof CodecError, `${reads[op]![0]} threw ${String(e)}`);
              return;
            }
            assert.ok(r.offset <= input.length);
          }
        },
      ),
      { numRuns: 2000 },
    );
  });
});
