// Tests run under Node: node:test and node:assert are the only node:* imports, and only here.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { zstdCompressSync, zstdDecompressSync } from 'node:zlib';
import fc from 'fast-check';
import { nodeCryptoProvider as crypto } from '../../node/crypto-provider.ts';
import {
  BLOB_OVERHEAD_BYTES,
  blobId,
  blobMaxRawBytes,
  COMPRESSION,
  openBlob,
  sealBlob,
  sealBlobInto,
  type BlobType,
  type Decompress,
} from './blob.ts';
import { deriveRepositoryKeys } from './keys.ts';
import { CodecError, CryptoVerificationError, SealpostError, ValidationError } from '../errors.ts';
import { LIMITS } from '../limits.ts';

const compress = (b: Uint8Array) => new Uint8Array(zstdCompressSync(b));
const decompress: Decompress = (b, max) =>
  new Uint8Array(zstdDecompressSync(b, { maxOutputLength: Math.max(1, max) }));
const keys = deriveRepositoryKeys(crypto, new Uint8Array(32).fill(1), new Uint8Array(32).fill(2));
const otherKeys = deriveRepositoryKeys(crypto, new Uint8Array(32).fill(3), new Uint8Array(32).fill(2));
const text = new TextEncoder().encode('the same line again and again\n'.repeat(2000));

function isTyped(e: unknown): boolean {
  return e instanceof CodecError || e instanceof CryptoVerificationError;
}

describe('blob ids', () => {
  test('data ids are HMAC-SHA256 under the chunk-id key, tree ids under the tree-id key', () => {
    assert.deepEqual(blobId(crypto, keys, 'data', text), crypto.hmacSha256(keys.chunkId, text));
    assert.deepEqual(blobId(crypto, keys, 'tree', text), crypto.hmacSha256(keys.treeId, text));
  });

  test('differ between repositories (the server cannot test for a known file)', () =>
    assert.notDeepEqual(blobId(crypto, keys, 'data', text), blobId(crypto, otherKeys, 'data', text)));
});

describe('sealBlob and openBlob', () => {
  test('round trip with and without compression, for both types', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.uint8Array({ maxLength: 3000 }),
          fc.array(fc.constantFrom(0, 1, 2), { maxLength: 3000 }).map((a) => new Uint8Array(a)),
        ),
        fc.constantFrom<BlobType>('data', 'tree'),
        fc.boolean(),
        (plaintext, type, withZstd) => {
          const b = sealBlob(crypto, keys, type, plaintext, withZstd ? compress : undefined);
          assert.equal(b.rawLength, plaintext.length);
          assert.deepEqual(openBlob(crypto, keys, type, b.id, b.sealed, decompress, b.rawLength), plaintext);
          assert.deepEqual(openBlob(crypto, keys, type, b.id, b.sealed, decompress), plaintext);
        },
      ),
      { numRuns: 300 },
    );
  });

  test('a caller-computed id seals the same blob; a wrong one makes a blob that never opens', () => {
    const id = blobId(crypto, keys, 'data', text);
    const sealed = sealBlob(crypto, keys, 'data', text, compress, id);
    assert.deepEqual(sealed.id, id);
    assert.deepEqual(openBlob(crypto, keys, 'data', id, sealed.sealed, decompress, text.length), text);
    const wrong = blobId(crypto, keys, 'data', new Uint8Array(1));
    const bad = sealBlob(crypto, keys, 'data', text, compress, wrong);
    assert.throws(
      () => openBlob(crypto, keys, 'data', wrong, bad.sealed, decompress, text.length),
      CryptoVerificationError,
    );
    assert.throws(
      () => sealBlob(crypto, keys, 'data', text, compress, new Uint8Array(31) as never),
      ValidationError,
    );
  });

  test('compresses when it saves space and stores otherwise', () => {
    const small = sealBlob(crypto, keys, 'data', text, compress);
    assert.ok(small.sealed.length < text.length / 10);
    const random = crypto.randomBytes(4096);
    const stored = sealBlob(crypto, keys, 'data', random, compress);
    assert.equal(stored.sealed.length, random.length + BLOB_OVERHEAD_BYTES);
  });

  test('uses a fresh nonce each time: the same chunk seals to different bytes', () => {
    const a = sealBlob(crypto, keys, 'data', text);
    const b = sealBlob(crypto, keys, 'data', text);
    assert.deepEqual(a.id, b.id);
    assert.notDeepEqual(a.sealed.subarray(0, 12), b.sealed.subarray(0, 12));
  });

  test('a blob opened under another id, type or repository fails its tag', () => {
    const b = sealBlob(crypto, keys, 'data', text, compress);
    const otherId = blobId(crypto, keys, 'data', new Uint8Array(1));
    assert.throws(
      () => openBlob(crypto, keys, 'data', otherId, b.sealed, decompress),
      CryptoVerificationError,
    );
    assert.throws(() => openBlob(crypto, keys, 'tree', b.id, b.sealed, decompress), CryptoVerificationError);
    assert.throws(
      () => openBlob(crypto, otherKeys, 'data', b.id, b.sealed, decompress),
      CryptoVerificationError,
    );
  });

  test('a raw length that disagrees with the content is a CodecError', () => {
    const b = sealBlob(crypto, keys, 'data', text, compress);
    assert.throws(
      () => openBlob(crypto, keys, 'data', b.id, b.sealed, decompress, text.length - 1),
      CodecError,
    );
    assert.throws(
      () => openBlob(crypto, keys, 'data', b.id, b.sealed, decompress, text.length + 1),
      CodecError,
    );
    assert.throws(
      () => openBlob(crypto, keys, 'data', b.id, b.sealed, decompress, LIMITS.backupChunkMaxBytes + 1),
      CodecError,
    );
  });

  /** Seals `body` (compression byte and payload) as a key holder could, under the right aad. */
  function forge(type: BlobType, id: Uint8Array, body: Uint8Array): Uint8Array {
    const prefix = new TextEncoder().encode('sealpost/backup/v1/blob');
    const aad = new Uint8Array([...prefix, type === 'data' ? 1 : 2, ...id]);
    const nonce = crypto.randomBytes(12);
    return new Uint8Array([...nonce, ...crypto.aes256gcm.seal(keys.blob, nonce, body, aad)]);
  }

  test('a decompression bomb is refused without allocating its output', () => {
    const bomb = compress(new Uint8Array(64 * 1024 * 1024));
    const id = blobId(crypto, keys, 'data', new Uint8Array(0));
    const sealed = forge('data', id, new Uint8Array([COMPRESSION.zstd, ...bomb]));
    assert.throws(() => openBlob(crypto, keys, 'data', id, sealed, decompress), CodecError);
  });

  test('an unknown compression byte, bad zstd, or content that does not match its id is refused', () => {
    const id = blobId(crypto, keys, 'data', text);
    assert.throws(
      () => openBlob(crypto, keys, 'data', id, forge('data', id, new Uint8Array([7, 1])), decompress),
      CodecError,
    );
    assert.throws(
      () =>
        openBlob(
          crypto,
          keys,
          'data',
          id,
          forge('data', id, new Uint8Array([COMPRESSION.zstd, 1, 2, 3])),
          decompress,
        ),
      CodecError,
    );
    assert.throws(
      () =>
        openBlob(
          crypto,
          keys,
          'data',
          id,
          forge('data', id, new Uint8Array([COMPRESSION.stored, 1])),
          decompress,
        ),
      CryptoVerificationError,
    );
  });

  test('a Decompress that ignores its bound or returns no bytes is caught', () => {
    const b = sealBlob(crypto, keys, 'data', text, compress);
    const greedy: Decompress = () => new Uint8Array(LIMITS.backupChunkMaxBytes + 1);
    const broken: Decompress = () => 'text' as unknown as Uint8Array;
    assert.throws(() => openBlob(crypto, keys, 'data', b.id, b.sealed, greedy), CodecError);
    assert.throws(() => openBlob(crypto, keys, 'data', b.id, b.sealed, broken), CodecError);
  });

  test('sizes: refuses to seal more than the type allows, and to open a sealed blob too short or too long', () => {
    assert.throws(
      () => sealBlob(crypto, keys, 'data', new Uint8Array(blobMaxRawBytes('data') + 1)),
      ValidationError,
    );
    assert.throws(() => sealBlob(crypto, keys, 'file' as BlobType, text), ValidationError);
    const id = blobId(crypto, keys, 'data', text);
    assert.throws(
      () => openBlob(crypto, keys, 'data', id, new Uint8Array(BLOB_OVERHEAD_BYTES - 1), decompress),
      CodecError,
    );
    const huge = new Uint8Array(blobMaxRawBytes('data') + BLOB_OVERHEAD_BYTES + 1);
    assert.throws(
      () => openBlob(crypto, keys, 'data', id, huge, decompress),
      (e: unknown) => e instanceof CodecError && e.code === 'CODEC_LENGTH_LIMIT',
    );
    assert.throws(() => openBlob(crypto, keys, 'data', id.subarray(1), huge, decompress), ValidationError);
  });

  test('every bit flip of a sealed blob is refused', () => {
    const b = sealBlob(crypto, keys, 'data', text.subarray(0, 200), compress);
    for (let bit = 0; bit < b.sealed.length * 8; bit++) {
      const flipped = b.sealed.slice();
      flipped[bit >> 3]! ^= 1 << (bit & 7);
      assert.throws(() => openBlob(crypto, keys, 'data', b.id, flipped, decompress), CryptoVerificationError);
    }
  });

  test('random bytes into openBlob give a blob or a typed error', () => {
    const id = blobId(crypto, keys, 'data', text);
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 300 }),
        fc.constantFrom<BlobType>('data', 'tree'),
        (bytes, type) => {
          try {
            openBlob(crypto, keys, type, id, bytes, decompress);
          } catch (e) {
            assert.ok(isTyped(e) && e instanceof SealpostError, String(e));
          }
        },
      ),
      { numRuns: 2000 },
    );
  });
});

describe('sealBlobInto', () => {
  /** The node provider with a fixed nonce, so that two seals can be compared byte for byte. */
  const fixedNonce = { ...crypto, randomBytes: (n: number) => new Uint8Array(n).fill(9) };
  const withoutSealInto = {
    ...fixedNonce,
    aes256gcm: { seal: crypto.aes256gcm.seal, open: crypto.aes256gcm.open },
  };

  test('writes the bytes sealBlob makes, at the offset given, compressed or stored', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 3000 }),
        fc.boolean(),
        fc.nat({ max: 64 }),
        (random, repetitive, at) => {
          const plain = repetitive ? text.subarray(0, random.length * 3) : random;
          const id = blobId(crypto, keys, 'data', plain);
          const want = sealBlob(fixedNonce, keys, 'data', plain, compress, id).sealed;
          for (const provider of [fixedNonce, withoutSealInto]) {
            const out = new Uint8Array(at + plain.length + BLOB_OVERHEAD_BYTES + 7).fill(0xee);
            const n = sealBlobInto(provider, keys, 'data', plain, compress, id, out, at);
            assert.equal(n, want.length);
            assert.deepEqual(out.subarray(at, at + n), want);
            assert.ok(
              out.subarray(0, at).every((b) => b === 0xee),
              'nothing written before `at`',
            );
            assert.ok(
              out.subarray(at + n).every((b) => b === 0xee),
              'nothing written after the blob',
            );
          }
        },
      ),
      { numRuns: 60 },
    );
  });

  test('a blob sealed in place opens to its plaintext, and a flipped bit in it is caught', () => {
    const id = blobId(crypto, keys, 'data', text);
    const out = new Uint8Array(text.length + BLOB_OVERHEAD_BYTES);
    const n = sealBlobInto(crypto, keys, 'data', text, compress, id, out, 0);
    const sealed = out.subarray(0, n);
    assert.deepEqual(openBlob(crypto, keys, 'data', id, sealed, decompress, text.length), text);
    const flipped = new Uint8Array(sealed);
    flipped[n - 20]! ^= 0x01;
    assert.throws(() => openBlob(crypto, keys, 'data', id, flipped, decompress), CryptoVerificationError);
  });

  test('refuses an output without room for the blob, before writing anything', () => {
    const id = blobId(crypto, keys, 'data', text);
    const out = new Uint8Array(text.length + BLOB_OVERHEAD_BYTES - 1);
    assert.throws(() => sealBlobInto(crypto, keys, 'data', text, compress, id, out, 0), ValidationError);
    assert.ok(out.every((b) => b === 0));
    assert.throws(
      () => sealBlobInto(crypto, keys, 'data', text, compress, id, new Uint8Array(text.length + 64), -1),
      ValidationError,
    );
  });
});
