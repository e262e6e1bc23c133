import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { CodecError } from '@sealpost/core';
import type { DevicePk } from '../store/store.ts';
import type { BusEvent } from './bus.ts';
import { decodeHint, encodeHint, HINT_MAX_BYTES } from './codec.ts';

const hex = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s.replaceAll(' ', ''), 'hex'));
const device = (n: number): DevicePk => n as DevicePk;

const eventArb: fc.Arbitrary<BusEvent> = fc.oneof(
  fc.record({
    type: fc.constant('mail' as const),
    device: fc.maxSafeNat().map(device),
    seq: fc.maxSafeNat(),
  }),
  fc.record({
    type: fc.constant('connected' as const),
    device: fc.maxSafeNat().map(device),
    connectionId: fc.stringMatching(/^[A-Za-z0-9_-]{1,64}$/),
    connectedAtMs: fc.maxSafeNat(),
  }),
);

/** Random bytes, half of them starting with a known tag so the decoder gets past the first byte. */
const anyBytes: fc.Arbitrary<Uint8Array> = fc.oneof(
  fc.uint8Array({ maxLength: HINT_MAX_BYTES + 16 }),
  fc
    .tuple(fc.constantFrom(1, 2), fc.uint8Array({ maxLength: HINT_MAX_BYTES }))
    .map(([tag, rest]) => Uint8Array.of(tag, ...rest)),
);

describe('hint codec', () => {
  test('should encode the fields and nothing else (vectors)', () => {
    assert.deepEqual(
      encodeHint({ type: 'mail', device: device(42), seq: 7 }),
      hex('01 000000000000002a 0000000000000007'),
    );
    assert.deepEqual(
      encodeHint({
        type: 'connected',
        device: device(7),
        connectionId: 'c-1',
        connectedAtMs: 1_700_000_000_000,
      }),
      hex('02 0000000000000007 03 632d31 0000018bcfe56800'),
    );
  });

  test('should round-trip every valid event, canonically', () => {
    fc.assert(
      fc.property(eventArb, (event) => {
        const bytes = encodeHint(event);
        assert.ok(bytes.length <= HINT_MAX_BYTES);
        assert.deepEqual(decodeHint(bytes), { ...event });
      }),
    );
  });

  test('should throw only CodecError on random bytes, and accept only canonical encodings', () => {
    fc.assert(
      fc.property(anyBytes, (bytes) => {
        let event: BusEvent;
        try {
          event = decodeHint(bytes);
        } catch (error) {
          assert.ok(error instanceof CodecError, `untyped error: ${String(error)}`);
          return;
        }
        assert.deepEqual(encodeHint(event), bytes);
      }),
      { numRuns: 5_000 },
    );
  });

  test('should throw only CodecError on mutations of valid hints', () => {
    fc.assert(
      fc.property(eventArb, fc.nat(), fc.integer({ min: 0, max: 255 }), (event, at, value) => {
        const bytes = encodeHint(event);
        bytes[at % bytes.length] = value;
        try {
          decodeHint(bytes);
        } catch (error) {
          assert.ok(error instanceof CodecError, `untyped error: ${String(error)}`);
        }
      }),
    );
  });

  const invalid: { name: string; bytes: Uint8Array; code: string }[] = [
    { name: 'empty', bytes: hex(''), code: 'CODEC_TRUNCATED' },
    { name: 'unknown tag', bytes: hex('03 000000000000002a'), code: 'CODEC_INVALID_VALUE' },
    { name: 'tag 0', bytes: hex('00'), code: 'CODEC_INVALID_VALUE' },
    { name: 'truncated device', bytes: hex('01 0000002a'), code: 'CODEC_TRUNCATED' },
    { name: 'missing seq', bytes: hex('01 000000000000002a'), code: 'CODEC_TRUNCATED' },
    {
      name: 'trailing byte',
      bytes: hex('01 000000000000002a 0000000000000001 00'),
      code: 'CODEC_TRAILING_BYTES',
    },
    {
      name: 'seq above 2^53-1',
      bytes: hex('01 000000000000002a 0020000000000000'),
      code: 'CODEC_INVALID_VALUE',
    },
    { name: 'device above 2^53-1', bytes: hex('01 0020000000000000'), code: 'CODEC_INVALID_VALUE' },
    {
      name: 'empty connection id',
      bytes: hex('02 0000000000000007 00 0000000000000001'),
      code: 'CODEC_INVALID_VALUE',
    },
    {
      name: 'space in connection id',
      bytes: hex('02 0000000000000007 01 20 0000000000000001'),
      code: 'CODEC_INVALID_VALUE',
    },
    {
      name: 'non-minimal length',
      bytes: hex('02 0000000000000007 4001 61 0000000000000001'),
      code: 'CODEC_INVALID_VALUE',
    },
    {
      name: 'connection id too long',
      bytes: hex('02 0000000000000007 41 ' + '61'.repeat(65)),
      code: 'CODEC_LENGTH_LIMIT',
    },
    { name: 'missing time', bytes: hex('02 0000000000000007 01 61'), code: 'CODEC_TRUNCATED' },
    { name: 'input too large', bytes: new Uint8Array(HINT_MAX_BYTES + 1), code: 'CODEC_LENGTH_LIMIT' },
  ];
  for (const { name, bytes, code } of invalid) {
    test(`should reject ${name} with ${code}`, () => {
      assert.throws(
        () => decodeHint(bytes),
        (error) => error instanceof CodecError && error.code === code,
      );
    });
  }

  const unencodable: { name: string; event: BusEvent }[] = [
    { name: 'negative device', event: { type: 'mail', device: device(-1), seq: 1 } },
    { name: 'fractional device', event: { type: 'mail', device: device(1.5), seq: 1 } },
    { name: 'NaN device', event: { type: 'mail', device: device(Number.NaN), seq: 1 } },
    {
      name: 'connection id with free text',
      event: { type: 'connected', device: device(1), connectionId: 'hello world', connectedAtMs: 1 },
    },
    {
      name: 'empty connection id',
      event: { type: 'connected', device: device(1), connectionId: '', connectedAtMs: 1 },
    },
    {
      name: 'connection id of 65 characters',
      event: { type: 'connected', device: device(1), connectionId: 'a'.repeat(65), connectedAtMs: 1 },
    },
    {
      name: 'negative time',
      event: { type: 'connected', device: device(1), connectionId: 'a', connectedAtMs: -1 },
    },
    { name: 'unknown type', event: { type: 'other', device: device(1) } as unknown as BusEvent },
  ];
  for (const { name, event } of unencodable) {
    test(`should refuse to encode an event with ${name}`, () => {
      assert.throws(() => encodeHint(event), CodecError);
    });
  }
});
