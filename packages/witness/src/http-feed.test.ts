/**
 * HttpFeed's parsing of server answers: whatever a server sends (random bytes, random JSON, answers
 * of the right shape with random values), each call returns checked values or throws a typed error.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { SealpostError } from '@sealpost/core';
import { HttpFeed } from './http-feed.ts';

const b64 = (min: number, max: number) =>
  fc.uint8Array({ minLength: min, maxLength: max }).map((b) => Buffer.from(b).toString('base64url'));
const anyField = fc.oneof(fc.jsonValue(), b64(0, 80), fc.integer({ min: -2, max: 2 ** 53 }));
const shaped = fc.record(
  {
    treeSize: fc.oneof(fc.integer({ min: 0, max: 100 }), anyField),
    timestamp: anyField,
    root: fc.oneof(b64(32, 32), anyField),
    signature: fc.oneof(b64(64, 64), anyField),
    configuration: fc.oneof(b64(0, 200), anyField),
    cosignatures: fc.oneof(
      fc.array(
        fc.record(
          { witnessKey: b64(32, 32), timestamp: anyField, signature: b64(64, 64) },
          { requiredKeys: [] },
        ),
        {
          maxLength: 2,
        },
      ),
      anyField,
    ),
    entries: fc.oneof(
      fc.array(
        fc.record(
          {
            index: anyField,
            timestamp: anyField,
            added: fc.oneof(
              fc.array(fc.record({ vrfOutput: b64(31, 32), commitment: b64(32, 33) }), { maxLength: 2 }),
              anyField,
            ),
          },
          { requiredKeys: [] },
        ),
        { maxLength: 3 },
      ),
      anyField,
    ),
    proof: fc.oneof(fc.array(fc.oneof(b64(32, 32), anyField), { maxLength: 3 }), anyField),
  },
  { requiredKeys: [] },
);
const body = fc.oneof(
  fc.uint8Array({ maxLength: 200 }),
  fc.string({ maxLength: 200 }).map((s) => new TextEncoder().encode(s)),
  fc.oneof(fc.jsonValue(), shaped).map((v) => new TextEncoder().encode(JSON.stringify(v) ?? 'null')),
);

async function typedOrValue(call: () => Promise<unknown>): Promise<void> {
  try {
    await call();
  } catch (e) {
    assert.ok(e instanceof SealpostError, `untyped: ${String(e)}`);
  }
}

describe('HttpFeed answers', () => {
  test('random answers never crash a call or throw untyped', async () => {
    await fc.assert(
      fc.asyncProperty(body, fc.constantFrom(200, 400, 404, 500), async (bytes, status) => {
        const feed = new HttpFeed({
          serverUrl: 'http://127.0.0.1:1',
          fetch: () => Promise.resolve(new Response(bytes, { status })),
        });
        await typedOrValue(() => feed.servedHead());
        await typedOrValue(() => feed.updates(0, 10));
        await typedOrValue(() => feed.consistencyProof(1, 2));
      }),
      { numRuns: 500 },
    );
  });
});
