// Tests run under Node: node:test and node:assert are the only node:* imports, and only here.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { nodeCryptoProvider as crypto } from '../../node/crypto-provider.ts';
import { decodeSnapshot, encodeSnapshot, type Snapshot } from './snapshot.ts';
import { deriveRepositoryKeys } from './keys.ts';
import { padme } from './padding.ts';
import { openEnvelope, sealEnvelope } from './envelope.ts';
import type { BlobId } from './blob.ts';
import { CodecError, CryptoVerificationError, ValidationError } from '../errors.ts';
import { LIMITS } from '../limits.ts';

const keys = deriveRepositoryKeys(crypto, new Uint8Array(32).fill(1), new Uint8Array(32).fill(2));
const utf8Length = (s: string) => new TextEncoder().encode(s).length;
const text = (maxBytes: number) =>
  fc.string({ unit: 'grapheme', maxLength: maxBytes }).filter((s) => utf8Length(s) <= maxBytes);
const bytes32 = fc.uint8Array({ minLength: 32, maxLength: 32 });
const snapshot: fc.Arbitrary<Snapshot> = fc.oneof(
  fc.record({
    timeMs: fc.maxSafeNat(),
    tree: bytes32.map((b) => b as BlobId),
    hostname: text(LIMITS.backupHostnameMaxBytes),
    paths: fc.array(text(200), { maxLength: 5 }),
    tags: fc.array(text(20), { maxLength: 5 }),
  }),
  fc.record({
    timeMs: fc.maxSafeNat(),
    tree: bytes32.map((b) => b as BlobId),
    hostname: text(30),
    paths: fc.array(text(30), { maxLength: 3 }),
    tags: fc.constant([]),
    parent: bytes32,
  }),
);
const minimal: Snapshot = {
  timeMs: 0,
  tree: new Uint8Array(32) as BlobId,
  hostname: 'h',
  paths: ['/home'],
  tags: [],
};

describe('snapshots', () => {
  test('round trip, padded with padme', () => {
    fc.assert(
      fc.property(snapshot, (s) => {
        const file = encodeSnapshot(crypto, keys, s);
        assert.equal(file.length, padme(file.length));
        assert.deepEqual(decodeSnapshot(crypto, keys, file), structuredClone(s));
      }),
      { numRuns: 200 },
    );
  });

  test('hides hostname and paths (nothing readable in the file)', () => {
    const file = encodeSnapshot(crypto, keys, {
      ...minimal,
      hostname: 'canary-host-71',
      paths: ['/canary/path/71'],
    });
    const latin1 = new TextDecoder('latin1').decode(file);
    assert.ok(!latin1.includes('canary'));
  });

  const bad: readonly [string, Snapshot][] = [
    ['a negative time', { ...minimal, timeMs: -1 }],
    ['a short tree id', { ...minimal, tree: new Uint8Array(31) as BlobId }],
    ['a long hostname', { ...minimal, hostname: 'h'.repeat(LIMITS.backupHostnameMaxBytes + 1) }],
    [
      'too many tags',
      { ...minimal, tags: Array.from({ length: LIMITS.backupSnapshotTagsMax + 1 }, () => 't') },
    ],
    ['a long path', { ...minimal, paths: ['p'.repeat(LIMITS.backupPathMaxBytes + 1)] }],
    ['a short parent id', { ...minimal, parent: new Uint8Array(5) }],
    [
      'more than backupSnapshotMaxBytes',
      { ...minimal, paths: Array.from({ length: 300 }, () => 'p'.repeat(4000)) },
    ],
  ];
  for (const [what, s] of bad) {
    test(`refuses to encode ${what}`, () =>
      assert.throws(() => encodeSnapshot(crypto, keys, s), ValidationError));
  }

  test('random bytes give a snapshot or a typed error', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (b) => {
        try {
          decodeSnapshot(crypto, keys, b);
        } catch (e) {
          assert.ok(e instanceof CodecError || e instanceof CryptoVerificationError, String(e));
        }
      }),
      { numRuns: 1500 },
    );
  });

  test('random and mutated content inside a valid envelope gives a snapshot or a CodecError', () => {
    const aad = new TextEncoder().encode('sealpost/backup/v1/snapshot');
    const content = openEnvelope(
      crypto,
      keys.snapshot,
      aad,
      encodeSnapshot(crypto, keys, minimal),
      1e6,
      'snapshot',
    );
    const inputs = fc.oneof(
      fc.uint8Array({ maxLength: 300 }).map((b) => (b.length > 0 ? b.with(0, 1) : b)),
      fc.tuple(fc.nat(), fc.nat(255)).map(([at, v]) => content.with(at % content.length, v)),
      fc.nat(content.length).map((n) => content.subarray(0, n)),
    );
    fc.assert(
      fc.property(inputs, (plain) => {
        try {
          decodeSnapshot(crypto, keys, sealEnvelope(crypto, keys.snapshot, aad, plain, plain.length + 64));
        } catch (e) {
          assert.ok(e instanceof CodecError, String(e));
        }
      }),
      { numRuns: 1500 },
    );
  });
});
