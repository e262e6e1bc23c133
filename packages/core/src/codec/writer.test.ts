// Tests run under Node: node:test and node:assert are the only node:* imports, and only here.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { Reader } from './reader.ts';
import { Writer } from './writer.ts';
import { CodecError } from '../errors.ts';

const hexOf = (b: Uint8Array) => Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');

describe('Writer.varint', () => {
  const table: readonly [number, string][] = [
    [0, '00'],
    [0x3f, '3f'],
    [0x40, '4040'],
    [0x3fff, '7fff'],
    [0x4000, '80004000'],
    [0x3fffffff, 'bfffffff'],
  ];
  for (const [value, encoding] of table) {
    test(`writes 0x${value.toString(16)} in its minimal ${encoding.length / 2}-byte form`, () =>
      assert.equal(hexOf(new Writer().varint(value).finish()), encoding));
  }

  for (const bad of [-1, 0x40000000, 1.5, NaN, Infinity]) {
    test(`refuses ${bad} (a reader could not decode it)`, () =>
      assert.throws(
        () => new Writer().varint(bad),
        (e: unknown) => e instanceof CodecError && e.code === 'CODEC_INVALID_VALUE',
      ));
  }
});

describe('Writer fixed-width integers', () => {
  const cases: readonly [string, (w: Writer, v: number) => unknown, number][] = [
    ['u8', (w, v) => w.u8(v), 0xff],
    ['u16', (w, v) => w.u16(v), 0xffff],
    ['u32', (w, v) => w.u32(v), 0xffffffff],
    ['u53', (w, v) => w.u53(v), Number.MAX_SAFE_INTEGER],
  ];
  for (const [name, write, max] of cases) {
    test(`${name} accepts 0 and ${max} and refuses ${max + 1}, -1 and fractions`, () => {
      write(new Writer(), 0);
      write(new Writer(), max);
      for (const bad of [max + 1, -1, 0.5]) {
        assert.throws(() => write(new Writer(), bad), CodecError);
      }
    });
  }

  test('writes big-endian', () =>
    assert.equal(hexOf(new Writer().u16(0x0102).u32(0x03040506).finish()), '0102' + '03040506'));
});

describe('Writer buffer growth', () => {
  test('grows past its initial capacity without losing bytes', () => {
    const w = new Writer(1);
    const data = Uint8Array.from({ length: 1000 }, (_, i) => i & 0xff);
    w.u8(7).fixed(data).u8(9);
    const out = w.finish();
    assert.equal(out.length, 1002);
    assert.equal(out[0], 7);
    assert.deepEqual(out.subarray(1, 1001), data);
    assert.equal(out[1001], 9);
  });

  test('finish returns a copy that later writes do not change', () => {
    const w = new Writer(4).u8(1);
    const first = w.finish();
    w.u8(2);
    assert.deepEqual(first, new Uint8Array([1]));
  });
});

describe('Writer and Reader round trips', () => {
  test('every field type written is read back unchanged', () => {
    fc.assert(
      fc.property(
        fc.record({
          a: fc.integer({ min: 0, max: 0xff }),
          b: fc.integer({ min: 0, max: 0xffff }),
          c: fc.integer({ min: 0, max: 0xffffffff }),
          d: fc.maxSafeNat(),
          v: fc.integer({ min: 0, max: 0x3fffffff }),
          bytes: fc.uint8Array({ maxLength: 300 }),
          s: fc.string({ unit: 'grapheme', maxLength: 40 }),
          list: fc.array(fc.uint8Array({ maxLength: 8 }), { maxLength: 10 }),
          flag: fc.boolean(),
        }),
        (x) => {
          const encoded = new Writer(8)
            .u8(x.a)
            .u16(x.b)
            .u32(x.c)
            .u53(x.d)
            .varint(x.v)
            .opaque(x.bytes)
            .string(x.s)
            .vector(x.list, (w, item) => w.opaque(item))
            .bool(x.flag)
            .finish();
          const r = new Reader(encoded, encoded.length);
          assert.equal(r.u8(), x.a);
          assert.equal(r.u16(), x.b);
          assert.equal(r.u32(), x.c);
          assert.equal(r.u53(), x.d);
          assert.equal(r.varint(), x.v);
          assert.deepEqual(r.opaque(300), x.bytes);
          assert.equal(r.string(1000), x.s);
          assert.deepEqual(
            r.vector(10, (r2) => r2.opaque(8)),
            x.list,
          );
          assert.equal(r.bool(), x.flag);
          r.end();
        },
      ),
      { numRuns: 500 },
    );
  });

  test('every varint written is minimal: reading it back consumes exactly its bytes', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 0x3fffffff }), (v) => {
        const enc = new Writer().varint(v).finish();
        assert.equal(enc.length, v < 0x40 ? 1 : v < 0x4000 ? 2 : 4);
        const r = new Reader(enc, 4);
        assert.equal(r.varint(), v);
        r.end();
      }),
    );
  });
});
