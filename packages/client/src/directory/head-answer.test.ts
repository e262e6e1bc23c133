/** The head answer decoder against hostile JSON: a decoded answer or a typed error, never a crash. */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { SealpostError } from '@sealpost/core';
import { decodeHeadAnswer } from './head-answer.ts';

const b64 = (min: number, max: number) =>
  fc.uint8Array({ minLength: min, maxLength: max }).map((b) => Buffer.from(b).toString('base64url'));
const anyField = fc.oneof(fc.jsonValue(), b64(0, 80), fc.integer({ min: -2, max: 2 ** 53 }));
const cosignature = fc.record(
  {
    witnessKey: fc.oneof(b64(32, 32), anyField),
    timestamp: anyField,
    signature: fc.oneof(b64(64, 64), anyField),
  },
  { requiredKeys: [] },
);
const shaped = fc.record(
  {
    treeSize: fc.oneof(fc.integer({ min: 1, max: 100 }), anyField),
    timestamp: anyField,
    root: fc.oneof(b64(32, 32), anyField),
    signature: fc.oneof(b64(64, 64), anyField),
    configuration: fc.oneof(b64(0, 200), anyField),
    cosignatures: fc.oneof(fc.array(cosignature, { maxLength: 3 }), anyField),
    cosignedHeads: fc.oneof(
      fc.array(
        fc.record(
          {
            treeSize: anyField,
            root: fc.oneof(b64(32, 32), anyField),
            fullSubtrees: fc.oneof(fc.array(b64(32, 32), { maxLength: 3 }), anyField),
            consistency: fc.oneof(fc.array(b64(31, 33), { maxLength: 3 }), anyField),
            cosignatures: fc.array(cosignature, { maxLength: 2 }),
          },
          { requiredKeys: [] },
        ),
        { maxLength: 10 },
      ),
      anyField,
    ),
  },
  { requiredKeys: [] },
);

describe('decodeHeadAnswer', () => {
  test('random JSON, and head-shaped JSON with random values, never crash or throw untyped', () => {
    fc.assert(
      fc.property(fc.oneof(fc.jsonValue(), shaped), (value) => {
        try {
          const h = decodeHeadAnswer(value);
          assert.equal(h.root.length, 32);
          assert.ok(h.earlier.length <= 8);
        } catch (e) {
          assert.ok(e instanceof SealpostError && e.kind === 'codec', `untyped: ${String(e)}`);
        }
      }),
      { numRuns: 2000 },
    );
  });
});
