// Tests run under Node: node:test and node:assert are the only node:* imports, and only here.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { nodeCryptoProvider as crypto } from '../../node/crypto-provider.ts';
import { BlobIndex } from './blob-index.ts';
import { sealBlob } from './blob.ts';
import {
  decodeIndexFile,
  encodeIndexFile,
  indexFilePackCount,
  loadIndexFile,
  type EncodedIndexedPack,
  type IndexedPack,
} from './index-file.ts';
import { deriveRepositoryKeys } from './keys.ts';
import { encodePackHeaderContent, PackWriter } from './pack.ts';
import { padme } from './padding.ts';
import { openEnvelope, sealEnvelope } from './envelope.ts';
import { CodecError, CryptoVerificationError, ValidationError } from '../errors.ts';

const keys = deriveRepositoryKeys(crypto, new Uint8Array(32).fill(1), new Uint8Array(32).fill(2));

function packOf(sizes: readonly number[]): IndexedPack {
  const w = new PackWriter(crypto, keys);
  for (const s of sizes) w.add(sealBlob(crypto, keys, s % 2 ? 'tree' : 'data', crypto.randomBytes(s)));
  return { packId: crypto.randomBytes(32), entries: w.finish().entries };
}

describe('index files', () => {
  test('round trip, padded with padme', () => {
    fc.assert(
      fc.property(
        fc.array(fc.array(fc.nat(300), { minLength: 1, maxLength: 8 }), { maxLength: 6 }),
        (packs) => {
          const listed = packs.map(packOf);
          const file = encodeIndexFile(crypto, keys, listed);
          assert.equal(file.length, padme(file.length));
          assert.deepEqual(decodeIndexFile(crypto, keys, file), listed);
        },
      ),
      { numRuns: 50 },
    );
  });

  test('round trip with condemned packs among live ones', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.tuple(
            fc.array(fc.nat(300), { minLength: 1, maxLength: 4 }),
            fc.option(fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }), { nil: undefined }),
          ),
          { maxLength: 6 },
        ),
        (packs) => {
          const listed = packs.map(([sizes, condemnedMs]) =>
            condemnedMs === undefined ? packOf(sizes) : { ...packOf(sizes), condemnedMs },
          );
          assert.deepEqual(decodeIndexFile(crypto, keys, encodeIndexFile(crypto, keys, listed)), listed);
        },
      ),
      { numRuns: 50 },
    );
  });

  test('a pack given as its encoded header content is listed with the same entries as its entry objects', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.tuple(
            fc.array(fc.nat(300), { minLength: 1, maxLength: 8 }),
            fc.boolean(),
            fc.option(fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }), { nil: undefined }),
          ),
          { maxLength: 6 },
        ),
        (packs) => {
          const listed = packs.map(([sizes, , condemnedMs]) =>
            condemnedMs === undefined ? packOf(sizes) : { ...packOf(sizes), condemnedMs },
          );
          // Live packs given encoded where the draw says so; condemned ones always as objects.
          const given = listed.map((p, i) =>
            packs[i]![1] && p.condemnedMs === undefined
              ? ({
                  packId: p.packId,
                  header: encodePackHeaderContent(p.entries),
                } satisfies EncodedIndexedPack)
              : p,
          );
          given.forEach((p, i) => assert.equal(indexFilePackCount(p), listed[i]!.entries.length));
          assert.deepEqual(decodeIndexFile(crypto, keys, encodeIndexFile(crypto, keys, given)), listed);
        },
      ),
      { numRuns: 50 },
    );
  });

  test('refuses an encoded pack whose header content is cut, longer, of another version or empty', () => {
    const p = packOf([10, 20, 30]);
    const header = encodePackHeaderContent(p.entries);
    const bad: [string, Uint8Array][] = [
      ['cut by one byte', header.subarray(0, header.length - 1)],
      ['one byte of trailing garbage', Uint8Array.of(...header, 0)],
      ['another version', Uint8Array.of(header[0]! + 1, ...header.subarray(1))],
      ['no entries', Uint8Array.of(header[0]!, 0)],
      ['nothing at all', new Uint8Array(0)],
    ];
    for (const [what, h] of bad) {
      assert.throws(
        () => encodeIndexFile(crypto, keys, [{ packId: p.packId, header: h }]),
        ValidationError,
        what,
      );
    }
    assert.throws(
      () => encodeIndexFile(crypto, keys, [{ packId: p.packId.subarray(1), header }]),
      ValidationError,
      'a 31-byte pack id',
    );
  });

  test('condemned packs make a version 2 file that keeps their time; none make version 1', () => {
    const live = packOf([10, 20]);
    const condemned = { ...packOf([30]), condemnedMs: 1_700_000_000_123 };
    const aad = new TextEncoder().encode('sealpost/backup/v1/index');
    const content = (file: Uint8Array) => openEnvelope(crypto, keys.index, aad, file, 1 << 26, 'index');
    assert.equal(content(encodeIndexFile(crypto, keys, [live]))[0], 1);
    const file = encodeIndexFile(crypto, keys, [live, condemned]);
    assert.equal(content(file)[0], 2);
    assert.deepEqual(decodeIndexFile(crypto, keys, file), [live, condemned]);
    for (const condemnedMs of [0, -1, 1.5, 2 ** 53]) {
      assert.throws(() => encodeIndexFile(crypto, keys, [{ ...live, condemnedMs }]), ValidationError);
    }
  });

  test('loads into a BlobIndex, counting only new blobs', () => {
    const listed = [packOf([10, 20, 30]), packOf([40])];
    const index = new BlobIndex();
    assert.equal(
      loadIndexFile(index, decodeIndexFile(crypto, keys, encodeIndexFile(crypto, keys, listed))),
      4,
    );
    assert.equal(loadIndexFile(index, listed.slice(0, 1)), 0);
    const e = listed[0]!.entries[1]!;
    assert.deepEqual(index.find(e.id), {
      packId: listed[0]!.packId,
      type: e.type,
      offset: e.offset,
      length: e.length,
      rawLength: e.rawLength,
    });
  });

  test('refuses to list a pack without blobs or with a short id', () => {
    assert.throws(
      () => encodeIndexFile(crypto, keys, [{ packId: new Uint8Array(32), entries: [] }]),
      ValidationError,
    );
    const p = packOf([1]);
    assert.throws(
      () => encodeIndexFile(crypto, keys, [{ ...p, packId: new Uint8Array(31) }]),
      ValidationError,
    );
  });

  test('a bit flip anywhere fails the tag', () => {
    const file = encodeIndexFile(crypto, keys, [packOf([5, 6])]);
    for (let bit = 0; bit < file.length * 8; bit += 5) {
      const flipped = file.slice();
      flipped[bit >> 3]! ^= 1 << (bit & 7);
      assert.throws(() => decodeIndexFile(crypto, keys, flipped), CryptoVerificationError);
    }
  });

  test('random bytes give an index or a typed error', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => {
        try {
          decodeIndexFile(crypto, keys, bytes);
        } catch (e) {
          assert.ok(e instanceof CodecError || e instanceof CryptoVerificationError, String(e));
        }
      }),
      { numRuns: 1500 },
    );
  });

  test('random and mutated content inside a valid envelope gives an index or a CodecError', () => {
    const aad = new TextEncoder().encode('sealpost/backup/v1/index');
    const content = openEnvelope(
      crypto,
      keys.index,
      aad,
      encodeIndexFile(crypto, keys, [packOf([3, 4])]),
      1e6,
      'index',
    );
    const inputs = fc.oneof(
      fc.uint8Array({ maxLength: 300 }).map((b) => (b.length > 0 ? b.with(0, 1) : b)),
      fc.tuple(fc.nat(), fc.nat(255)).map(([at, v]) => content.with(at % content.length, v)),
      fc.nat(content.length).map((n) => content.subarray(0, n)),
    );
    fc.assert(
      fc.property(inputs, (plain) => {
        try {
          decodeIndexFile(crypto, keys, sealEnvelope(crypto, keys.index, aad, plain, plain.length + 64));
        } catch (e) {
          assert.ok(e instanceof CodecError, String(e));
        }
      }),
      { numRuns: 1500 },
    );
  });
});
