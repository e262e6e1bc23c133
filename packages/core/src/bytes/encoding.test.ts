// Tests run under Node: node:test and node:assert are the only node:* imports, and only here.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  concatBytes,
  equalPublicBytes,
  fromBase64url,
  fromBase64urlExact,
  fromHex,
  toBase64url,
  toHex,
} from './encoding.ts';
import { CodecError, type ErrorCode } from '../errors.ts';

function assertCodecError(fn: () => unknown, code: ErrorCode): void {
  assert.throws(fn, (e: unknown) => e instanceof CodecError && e.code === code);
}
const ascii = (s: string) => new TextEncoder().encode(s);

describe('base64url', () => {
  // RFC 4648 §10 test vectors, without padding (§5 alphabet is the same for these).
  const rfc4648: readonly [string, string][] = [
    ['', ''],
    ['f', 'Zg'],
    ['fo', 'Zm8'],
    ['foo', 'Zm9v'],
    ['foob', 'Zm9vYg'],
    ['fooba', 'Zm9vYmE'],
    ['foobar', 'Zm9vYmFy'],
  ];
  for (const [plain, encoded] of rfc4648) {
    test(`encodes and decodes "${plain}" as in RFC 4648 §10`, () => {
      assert.equal(toBase64url(ascii(plain)), encoded);
      assert.deepEqual(fromBase64url(encoded, 100), ascii(plain));
    });
  }

  test('uses - and _ for 62 and 63 (RFC 4648 §5)', () => {
    assert.equal(toBase64url(new Uint8Array([0xfb, 0xff])), '-_8');
    assert.deepEqual(fromBase64url('-_8', 10), new Uint8Array([0xfb, 0xff]));
  });

  const refused: readonly [string, string, ErrorCode][] = [
    ['padding', 'Zg==', 'CODEC_INVALID_VALUE'],
    ['a single pad character', 'Zm8=', 'CODEC_INVALID_VALUE'],
    ["'+' from the standard alphabet", '+_8', 'CODEC_INVALID_VALUE'],
    ["'/' from the standard alphabet", '-/8', 'CODEC_INVALID_VALUE'],
    ['a non-canonical last character (unused bits set)', 'Zh', 'CODEC_INVALID_VALUE'],
    ['a non-canonical last character in a 3-character group', 'Zm9', 'CODEC_INVALID_VALUE'],
    ['an impossible length (4n + 1)', 'Zm9vY', 'CODEC_INVALID_VALUE'],
    ['whitespace', 'Zm9v Yg', 'CODEC_INVALID_VALUE'],
    ['a newline', 'Zm9v\nYg', 'CODEC_INVALID_VALUE'],
    ['a non-ASCII character', 'Zm9vé', 'CODEC_INVALID_VALUE'],
  ];
  for (const [what, text, code] of refused) {
    test(`refuses ${what}`, () => assertCodecError(() => fromBase64url(text, 100), code));
  }

  test('refuses text over the character limit before decoding', () =>
    assertCodecError(() => fromBase64url('A'.repeat(101), 100), 'CODEC_LENGTH_LIMIT'));

  test('refuses a non-string', () => {
    for (const v of [undefined, null, 1, new Uint8Array(3), ['Zg']]) {
      assertCodecError(() => fromBase64url(v as unknown as string, 100), 'CODEC_INVALID_VALUE');
    }
  });

  test('fromBase64urlExact requires exactly the asked number of bytes', () => {
    const b32 = toBase64url(new Uint8Array(32).fill(1));
    assert.equal(fromBase64urlExact(b32, 32, 'key').length, 32);
    assertCodecError(
      () => fromBase64urlExact(toBase64url(new Uint8Array(31)), 32, 'key'),
      'CODEC_INVALID_VALUE',
    );
    assertCodecError(
      () => fromBase64urlExact(toBase64url(new Uint8Array(33)), 32, 'key'),
      'CODEC_LENGTH_LIMIT',
    );
  });

  test('round trips any bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (b) => {
        const text = toBase64url(b);
        assert.match(text, /^[A-Za-z0-9_-]*$/);
        assert.deepEqual(fromBase64url(text, text.length), b);
      }),
      { numRuns: 1000 },
    );
  });

  test('any string decodes to the one canonical encoding of its bytes or is refused with a CodecError', () => {
    const alphabet = fc.constantFrom(
      ...'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_+/=. '.split(''),
    );
    const strings = fc.oneof(
      fc.string({ unit: alphabet, maxLength: 40 }),
      fc.string({ unit: 'binary', maxLength: 40 }),
    );
    fc.assert(
      fc.property(strings, (s) => {
        let decoded: Uint8Array;
        try {
          decoded = fromBase64url(s, 40);
        } catch (e) {
          assert.ok(e instanceof CodecError, String(e));
          return;
        }
        // Accepted text must be exactly what the encoder would write: one encoding per value.
        assert.equal(toBase64url(decoded), s);
      }),
      { numRuns: 3000 },
    );
  });
});

describe('hex', () => {
  test('encodes lowercase and round trips', () => {
    assert.equal(toHex(new Uint8Array([0, 0x0f, 0xab, 0xff])), '000fabff');
    assert.deepEqual(fromHex('000fabff', 8), new Uint8Array([0, 0x0f, 0xab, 0xff]));
  });

  const refused: readonly [string, string, ErrorCode][] = [
    ['uppercase', 'AB', 'CODEC_INVALID_VALUE'],
    ['an odd length', 'abc', 'CODEC_INVALID_VALUE'],
    ['a non-hex character', 'zz', 'CODEC_INVALID_VALUE'],
    ['a 0x prefix', '0xab', 'CODEC_INVALID_VALUE'],
    ['a sign (parseInt would accept "-1")', '-1', 'CODEC_INVALID_VALUE'],
    ['text over the limit', 'aa'.repeat(5), 'CODEC_LENGTH_LIMIT'],
  ];
  for (const [what, text, code] of refused) {
    test(`refuses ${what}`, () => assertCodecError(() => fromHex(text, 8), code));
  }

  test('round trips any bytes, and any other string is refused with a CodecError', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (b) => assert.deepEqual(fromHex(toHex(b), 128), b)),
    );
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string({ maxLength: 20 }),
          fc.string({ unit: fc.constantFrom(...'0123456789abcdefABx- '.split('')), maxLength: 20 }),
        ),
        (s) => {
          let decoded: Uint8Array;
          try {
            decoded = fromHex(s, 20);
          } catch (e) {
            assert.ok(e instanceof CodecError, String(e));
            return;
          }
          assert.equal(toHex(decoded), s);
        },
      ),
      { numRuns: 2000 },
    );
  });
});

describe('byte helpers', () => {
  test('concatBytes joins in order, including empty parts', () =>
    assert.deepEqual(
      concatBytes(new Uint8Array([1]), new Uint8Array(0), new Uint8Array([2, 3])),
      new Uint8Array([1, 2, 3]),
    ));

  test('equalPublicBytes compares length and content', () => {
    assert.equal(equalPublicBytes(new Uint8Array([1, 2]), new Uint8Array([1, 2])), true);
    assert.equal(equalPublicBytes(new Uint8Array([1, 2]), new Uint8Array([1, 3])), false);
    assert.equal(equalPublicBytes(new Uint8Array([1]), new Uint8Array([1, 0])), false);
  });
});
