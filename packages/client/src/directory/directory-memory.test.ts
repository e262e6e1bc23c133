/** The directory memory as text: a round trip, and hostile text never crashes or throws untyped. */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { SealpostError } from '@sealpost/core';
import { nodeCryptoProvider as crypto } from '@sealpost/core/node';
import { newDirectoryMemory } from './directory-client.ts';
import { decodeDirectoryMemory, encodeDirectoryMemory } from './directory-memory.ts';

function decodesOrCodecError(text: string): void {
  try {
    decodeDirectoryMemory(crypto, text);
  } catch (e) {
    assert.ok(e instanceof SealpostError, `untyped: ${String(e)}`);
    assert.ok(e.kind === 'codec' || e.code.startsWith('IDENTITY_'), e.code);
  }
}

const hash = fc.uint8Array({ minLength: 32, maxLength: 32 }).map((b) => Buffer.from(b).toString('base64url'));
const anyField = fc.oneof(fc.jsonValue(), hash, fc.integer({ min: -2, max: 2 ** 53 }));
/** Memory-shaped JSON with random values where fields are expected. */
const shaped = fc.record(
  {
    v: fc.oneof(fc.constant(1), anyField),
    heads: fc.array(
      fc.record(
        {
          server: anyField,
          treeSize: anyField,
          root: fc.oneof(hash, anyField),
          timestamp: anyField,
          view: fc.oneof(
            fc.constant(null),
            fc.record(
              {
                size: anyField,
                fullSubtrees: fc.array(fc.oneof(hash, anyField), { maxLength: 3 }),
                frontier: fc.array(fc.array(fc.oneof(hash, anyField), { maxLength: 4 }), { maxLength: 3 }),
              },
              { requiredKeys: [] },
            ),
            anyField,
          ),
        },
        { requiredKeys: [] },
      ),
      { maxLength: 3 },
    ),
    lists: fc.array(
      fc.record({ key: anyField, deviceList: fc.oneof(hash, anyField) }, { requiredKeys: [] }),
      {
        maxLength: 2,
      },
    ),
    versions: fc.oneof(
      fc.array(
        fc.record(
          {
            key: anyField,
            records: fc.oneof(
              fc.array(fc.array(fc.oneof(hash, anyField), { maxLength: 4 }), { maxLength: 3 }),
              anyField,
            ),
          },
          { requiredKeys: [] },
        ),
        { maxLength: 2 },
      ),
      anyField,
    ),
  },
  { requiredKeys: [] },
);

describe('directory memory text', () => {
  test('an empty memory survives the round trip', () => {
    const decoded = decodeDirectoryMemory(crypto, encodeDirectoryMemory(newDirectoryMemory()));
    assert.equal(decoded.heads.size, 0);
    assert.equal(decoded.lists.size, 0);
    assert.equal(decoded.versions.size, 0);
  });

  test("own versions' records survive the round trip; text written before them has none", () => {
    const memory = newDirectoryMemory();
    const record = (b: number) => ({
      vrfOutput: new Uint8Array(32).fill(b),
      commitment: new Uint8Array(32).fill(b + 1),
    });
    memory.versions.set(
      'key alice',
      new Map([
        [0, record(1)],
        [3, record(7)],
      ]),
    );
    const decoded = decodeDirectoryMemory(crypto, encodeDirectoryMemory(memory));
    assert.deepEqual(decoded.versions, memory.versions);
    const older = JSON.stringify({ v: 1, heads: [], lists: [] });
    assert.equal(decodeDirectoryMemory(crypto, older).versions.size, 0);
  });

  test('a record with a short commitment is a typed error', () => {
    const text = JSON.stringify({
      v: 1,
      heads: [],
      lists: [],
      versions: [{ key: 'k', records: [[0, 'A'.repeat(43), 'A'.repeat(42)]] }],
    });
    assert.throws(() => decodeDirectoryMemory(crypto, text), { code: 'CODEC_INVALID_VALUE' });
  });

  test('random text is a memory or a typed error, never a crash', () => {
    fc.assert(fc.property(fc.string({ maxLength: 300 }), decodesOrCodecError), { numRuns: 1000 });
  });

  test('memory-shaped JSON with random values is a memory or a typed error, never a crash', () => {
    fc.assert(
      fc.property(shaped, (value) => decodesOrCodecError(JSON.stringify(value))),
      { numRuns: 1000 },
    );
  });
});
