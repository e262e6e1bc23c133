// Tests run under Node: node:test and node:assert are the only node:* imports, and only here.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { zstdCompressSync, zstdDecompressSync } from 'node:zlib';
import fc from 'fast-check';
import { nodeCryptoProvider as crypto } from '../../node/crypto-provider.ts';
import {
  blobMaxSealedBytes,
  openBlob,
  sealBlob,
  type BlobType,
  type Decompress,
  type SealedBlob,
} from './blob.ts';
import { chunkLengths, deriveGearTable } from './chunker.ts';
import { deriveRepositoryKeys, type RepositoryKeys } from './keys.ts';
import { ENVELOPE_OVERHEAD_BYTES, openEnvelope, sealEnvelope } from './envelope.ts';
import {
  decodePackHeader,
  decodePackTrailer,
  PACK_BLOB_REGION_MAX_BYTES,
  PACK_ENTRY_BYTES,
  PACK_TRAILER_BYTES,
  paddedPackLength,
  PackWriter,
  readPack,
  unpaddedPackLength,
} from './pack.ts';
import { padme } from './padding.ts';
import { CodecError, CryptoVerificationError, ValidationError } from '../errors.ts';
import { LIMITS } from '../limits.ts';

const compress = (b: Uint8Array) => new Uint8Array(zstdCompressSync(b));
const decompress: Decompress = (b, max) =>
  new Uint8Array(zstdDecompressSync(b, { maxOutputLength: Math.max(1, max) }));
const keys = deriveRepositoryKeys(crypto, new Uint8Array(32).fill(1), new Uint8Array(32).fill(2));

/** Writes `blobs` into one pack and returns the whole file. */
function buildPack(
  k: RepositoryKeys,
  blobs: readonly SealedBlob[],
  padTo?: (n: number) => number,
): Uint8Array {
  const w = new PackWriter(crypto, k, padTo);
  const parts = blobs.map((b) => w.add(b));
  const { tail, length } = w.finish();
  const out = new Uint8Array(length);
  let at = 0;
  for (const p of [...parts, tail]) {
    out.set(p, at);
    at += p.length;
  }
  assert.equal(at, length);
  return out;
}

const blobArb = fc
  .tuple(fc.constantFrom<BlobType>('data', 'tree'), fc.uint8Array({ maxLength: 2000 }))
  .map(([type, bytes]) => ({ type, bytes }));

describe('packs', () => {
  test('round trip: readPack lists every blob, and each opens from its range', () => {
    fc.assert(
      fc.property(fc.array(blobArb, { minLength: 1, maxLength: 20 }), (items) => {
        const blobs = items.map((i) => sealBlob(crypto, keys, i.type, i.bytes, compress));
        const pack = buildPack(keys, blobs);
        const entries = readPack(crypto, keys, pack);
        assert.equal(entries.length, blobs.length);
        entries.forEach((e, i) => {
          assert.deepEqual(e.id, blobs[i]!.id);
          assert.equal(e.type, items[i]!.type);
          const sealed = pack.subarray(e.offset, e.offset + e.length);
          assert.deepEqual(
            openBlob(crypto, keys, e.type, e.id, sealed, decompress, e.rawLength),
            items[i]!.bytes,
          );
        });
      }),
      { numRuns: 40 },
    );
  });

  test('trailer then header, read separately, give the same entries (ranged reads)', () => {
    const blobs = [
      sealBlob(crypto, keys, 'data', new Uint8Array(100)),
      sealBlob(crypto, keys, 'tree', new Uint8Array(5)),
    ];
    const pack = buildPack(keys, blobs);
    const headerLength = decodePackTrailer(
      crypto,
      keys,
      pack.subarray(pack.length - PACK_TRAILER_BYTES),
      pack.length,
    );
    const headerAt = pack.length - PACK_TRAILER_BYTES - headerLength;
    const entries = decodePackHeader(
      crypto,
      keys,
      pack.subarray(headerAt, pack.length - PACK_TRAILER_BYTES),
      headerAt,
    );
    assert.deepEqual(entries, readPack(crypto, keys, pack));
  });

  test('is padded to padme(max(length, backupPackMinBytes))', () => {
    const small = buildPack(keys, [sealBlob(crypto, keys, 'data', new Uint8Array(10))]);
    assert.equal(small.length, LIMITS.backupPackMinBytes);
    const big = crypto.randomBytes(60_000);
    const blobs: SealedBlob[] = [];
    for (let i = 0; i < 40; i++)
      blobs.push(
        sealBlob(
          crypto,
          keys,
          'data',
          big.map((b) => b ^ i),
        ),
      );
    const pack = buildPack(keys, blobs);
    const unpadded =
      blobs.reduce((a, b) => a + b.sealed.length, 0) +
      2 +
      40 * PACK_ENTRY_BYTES +
      ENVELOPE_OVERHEAD_BYTES +
      PACK_TRAILER_BYTES;
    assert.equal(pack.length, padme(Math.max(unpadded, LIMITS.backupPackMinBytes)));
    assert.equal(pack.length, paddedPackLength(unpadded));
  });

  test('a known file cannot be recognised: two different files of one size give packs of one size', () => {
    // The server's whole view of a backup of one file is the list of pack lengths it stores.
    const gear = deriveGearTable(crypto, keys.chunker);
    const view = (file: Uint8Array) => {
      const lengths = chunkLengths(gear, file);
      const blobs: SealedBlob[] = [];
      let at = 0;
      for (const l of lengths)
        blobs.push(sealBlob(crypto, keys, 'data', file.subarray(at, (at += l)), compress));
      return { chunks: lengths, pack: buildPack(keys, blobs).length };
    };
    const size = 6 * 1024 * 1024;
    const random = () => {
      const out = new Uint8Array(size);
      for (let o = 0; o < size; o += 65_536) out.set(crypto.randomBytes(65_536), o);
      return out;
    };
    const known = view(random());
    const other = view(random());
    assert.notDeepEqual(known.chunks, other.chunks);
    assert.equal(known.pack, other.pack);
  });

  test('a pack written under one repository does not open under another', () => {
    const pack = buildPack(keys, [sealBlob(crypto, keys, 'data', new Uint8Array(10))]);
    const other = deriveRepositoryKeys(crypto, new Uint8Array(32).fill(1), new Uint8Array(32).fill(3));
    assert.throws(() => readPack(crypto, other, pack), CryptoVerificationError);
  });

  test('the largest pack a writer can make fits backupPackMaxBytes', () => {
    const header = 2 + 3 + LIMITS.backupBlobsPerPackMax * PACK_ENTRY_BYTES + ENVELOPE_OVERHEAD_BYTES;
    assert.ok(
      paddedPackLength(PACK_BLOB_REGION_MAX_BYTES + header + PACK_TRAILER_BYTES) <= LIMITS.backupPackMaxBytes,
    );
    assert.ok(PACK_BLOB_REGION_MAX_BYTES >= blobMaxSealedBytes('data'));
  });

  test('the writer: any blob joins an empty pack, none joins a full or finished one', () => {
    const w = new PackWriter(crypto, keys);
    assert.ok(w.canAdd(PACK_BLOB_REGION_MAX_BYTES));
    w.add(sealBlob(crypto, keys, 'data', new Uint8Array(10)));
    assert.ok(!w.canAdd(PACK_BLOB_REGION_MAX_BYTES));
    assert.equal(w.count, 1);
    w.finish();
    assert.ok(!w.canAdd(10));
    assert.throws(() => w.finish(), ValidationError);
    assert.throws(() => w.add(sealBlob(crypto, keys, 'data', new Uint8Array(1))), ValidationError);
    assert.throws(() => new PackWriter(crypto, keys).finish(), ValidationError);
  });

  test('the writer takes a blob only while the whole pack stays within the target size', () => {
    const w = new PackWriter(crypto, keys);
    const big = sealBlob(crypto, keys, 'data', new Uint8Array(LIMITS.backupChunkMaxBytes));
    const small = sealBlob(crypto, keys, 'data', new Uint8Array(1000));
    w.add(big);
    assert.ok(!w.canAdd(big.sealed.length), 'two largest chunks pass the target: the second waits');
    assert.ok(!w.full);
    while (w.canAdd(small.sealed.length)) w.add(small);
    const empty = sealBlob(crypto, keys, 'data', new Uint8Array(0));
    while (!w.full) w.add(empty);
    assert.ok(!w.canAdd(empty.sealed.length));
    const { length } = w.finish();
    const unpadded = unpaddedPackLength(w.count, w.blobBytes);
    assert.ok(unpadded <= LIMITS.backupPackTargetBytes);
    assert.ok(unpadded + empty.sealed.length + PACK_ENTRY_BYTES > LIMITS.backupPackTargetBytes);
    assert.equal(length, LIMITS.backupPackTargetBytes, 'a full pack pads to the target, no further');
  });

  test('a blob larger than the target takes an empty pack alone', () => {
    const w = new PackWriter(crypto, keys);
    const huge = sealBlob(crypto, keys, 'tree', new Uint8Array(LIMITS.backupPackTargetBytes + 1));
    assert.ok(w.canAdd(huge.sealed.length));
    w.add(huge);
    assert.ok(w.full);
    assert.ok(w.finish().length <= LIMITS.backupPackMaxBytes);
  });

  test('canAddAll: several blobs join only if all of them fit', () => {
    const w = new PackWriter(crypto, keys);
    w.add(sealBlob(crypto, keys, 'data', new Uint8Array(10)));
    const room = LIMITS.backupPackTargetBytes - unpaddedPackLength(3, w.blobBytes);
    assert.ok(w.canAddAll(2, room));
    assert.ok(!w.canAddAll(2, room + 1));
    assert.ok(!w.canAddAll(LIMITS.backupBlobsPerPackMax, 29 * LIMITS.backupBlobsPerPackMax));
  });

  test('unpaddedPackLength is what finish pads', () => {
    for (const n of [1, 63, 64, 200]) {
      const w = new PackWriter(crypto, keys, (unpadded) => unpadded);
      const blob = sealBlob(crypto, keys, 'data', new Uint8Array(5));
      for (let i = 0; i < n; i++) w.add(blob);
      assert.equal(w.finish().length, unpaddedPackLength(n, n * blob.sealed.length));
    }
  });

  test('a padding policy that shrinks the pack is refused', () => {
    const w = new PackWriter(crypto, keys, (n) => n - 1);
    w.add(sealBlob(crypto, keys, 'data', new Uint8Array(10)));
    assert.throws(() => w.finish(), ValidationError);
  });

  test('every single-bit flip in header or trailer is refused', () => {
    const pack = buildPack(keys, [sealBlob(crypto, keys, 'data', new Uint8Array(50))], (n) => n + 3);
    const blobEnd = 50 + 29;
    for (let bit = blobEnd * 8; bit < pack.length * 8; bit++) {
      const flipped = pack.slice();
      flipped[bit >> 3]! ^= 1 << (bit & 7);
      assert.throws(() => readPack(crypto, keys, flipped), CryptoVerificationError);
    }
  });

  test('random and mutated content inside a valid header envelope gives entries or a CodecError', () => {
    const aad = new TextEncoder().encode('sealpost/backup/v1/pack-header');
    const blobs = [
      sealBlob(crypto, keys, 'data', new Uint8Array(40)),
      sealBlob(crypto, keys, 'tree', new Uint8Array(9)),
    ];
    const pack = buildPack(keys, blobs, (n) => n);
    const region = blobs[0]!.sealed.length + blobs[1]!.sealed.length;
    const header = pack.subarray(region, pack.length - PACK_TRAILER_BYTES);
    const content = openEnvelope(crypto, keys.packHeader, aad, header, 1e6, 'header');
    const inputs = fc.oneof(
      fc.uint8Array({ maxLength: 300 }).map((b) => (b.length > 0 ? b.with(0, 1) : b)),
      fc.tuple(fc.nat(), fc.nat(255)).map(([at, v]) => content.with(at % content.length, v)),
      fc.nat(content.length).map((n) => content.subarray(0, n)),
    );
    fc.assert(
      fc.property(inputs, (plain) => {
        try {
          decodePackHeader(
            crypto,
            keys,
            sealEnvelope(crypto, keys.packHeader, aad, plain, plain.length + 64),
            region,
          );
        } catch (e) {
          assert.ok(e instanceof CodecError, String(e));
        }
      }),
      { numRuns: 1500 },
    );
  });

  test('random bytes into every pack decoder give entries or a typed error', () => {
    const typed = (e: unknown) => e instanceof CodecError || e instanceof CryptoVerificationError;
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 400 }), fc.nat(1000), (bytes, n) => {
        for (const run of [
          () => readPack(crypto, keys, bytes),
          () => decodePackTrailer(crypto, keys, bytes, n),
          () => decodePackTrailer(crypto, keys, bytes.subarray(0, PACK_TRAILER_BYTES), n),
          () => decodePackHeader(crypto, keys, bytes, n),
        ]) {
          try {
            run();
          } catch (e) {
            assert.ok(typed(e), String(e));
          }
        }
      }),
      { numRuns: 1500 },
    );
  });
});
