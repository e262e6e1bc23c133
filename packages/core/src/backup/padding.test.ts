// Tests run under Node: node:test and node:assert are the only node:* imports, and only here.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { padme } from './padding.ts';
import { ValidationError } from '../errors.ts';

describe('padme', () => {
  // Worked from the definition: E = floor(log2 L), S = floor(log2 E) + 1, round up to 2^(E - S).
  const table: readonly [number, number][] = [
    [0, 0],
    [1, 1],
    [2, 2],
    [9, 10],
    [100, 104],
    [1000, 1024],
    [1_000_000, 1_015_808],
    [16 * 1024 * 1024 - 1, 16 * 1024 * 1024],
    [16 * 1024 * 1024 + 1, 16 * 1024 * 1024 + 512 * 1024],
  ];
  for (const [length, padded] of table) {
    test(`pads ${length} to ${padded}`, () => assert.equal(padme(length), padded));
  }

  test('never shrinks, adds at most 11.2%, is idempotent and monotone', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 2 ** 40 }), fc.integer({ min: 0, max: 2 ** 40 }), (a, b) => {
        const p = padme(a);
        assert.ok(p >= a && p <= a * 1.112 + 1);
        assert.equal(padme(p), p);
        if (a <= b) assert.ok(padme(a) <= padme(b));
      }),
      { numRuns: 2000 },
    );
  });

  test('refuses negative, fractional and huge lengths', () => {
    for (const bad of [-1, 1.5, 2 ** 53, Number.NaN]) assert.throws(() => padme(bad), ValidationError);
  });
});
