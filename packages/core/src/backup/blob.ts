/**
 * Blobs: one chunk of a file (type data) or one directory listing (type tree), compressed, then
 * encrypted, as stored inside a pack (docs/backup-format.md §Blobs).
 *
 *   id     = HMAC-SHA256(chunkId key for data | treeId key for tree, plaintext)
 *   body   = u8 compression (0 stored, 1 zstd) || payload
 *   sealed = nonce (12 random bytes) || AES-256-GCM(blob key, nonce, body, aad) || tag (16)
 *   aad    = "sealpost/backup/v1/blob" || u8 type || id
 *
 * Nonces are random, 96 bits, under one blob key per repository. NIST SP 800-38D §8.3 bounds random
 * nonces to 2^32 encryptions per key (collision chance q^2 / 2^97 <= 2^-33 at q = 2^32): that is
 * 2^32 blobs, about 5 PiB of 1 MiB chunks, far above any repository we expect. A counter or a
 * per-pack key was rejected: several devices write one repository at once with no shared counter, and
 * prune must copy a blob into a new pack byte for byte, which a per-pack key would forbid.
 *
 * The aad binds the blob to its id and type, so a blob moved to another entry or relabelled fails to
 * open; after decryption the id is recomputed from the plaintext, so a blob is exactly what its id
 * names. Compression is injected (core has no zstd): `Compress` and `Decompress` below.
 */
import { CodecError, CryptoVerificationError, ValidationError } from '../errors.ts';
import { LIMITS } from '../limits.ts';
import type { CryptoProvider } from '../crypto/provider.ts';
import { bytesArg, CRYPTO_SIZES } from '../crypto/arguments.ts';
import { checkRepositoryKeys, type RepositoryKeys } from './keys.ts';

export const BLOB_ID_BYTES = 32;
export const BLOB_NONCE_BYTES = CRYPTO_SIZES.gcmNonce;
/** Nonce, compression byte and tag: a sealed blob is this much longer than its stored payload. */
export const BLOB_OVERHEAD_BYTES = BLOB_NONCE_BYTES + 1 + CRYPTO_SIZES.gcmTag;

/** Blob types as they appear on disk (u8). */
export const BLOB_TYPE = { data: 1, tree: 2 } as const;
export type BlobType = keyof typeof BLOB_TYPE;

export function blobTypeFromByte(byte: number): BlobType | undefined {
  return byte === BLOB_TYPE.data ? 'data' : byte === BLOB_TYPE.tree ? 'tree' : undefined;
}

/** Compression byte values. */
export const COMPRESSION = { stored: 0, zstd: 1 } as const;

/**
 * Compresses with zstd (RFC 8878); any level. Injected: node:zlib in Node, a WASM build in browsers.
 * The result may be a view of a buffer the compressor reuses on its next call: the caller reads it
 * (and `sealBlob` wipes it) before compressing again.
 */
export type Compress = (data: Uint8Array) => Uint8Array;
/**
 * Decompresses one zstd frame. Must refuse (throw anything) an output longer than `maxOutputBytes`
 * rather than allocate it; core turns whatever it throws into a CodecError.
 */
export type Decompress = (data: Uint8Array, maxOutputBytes: number) => Uint8Array;

/** A blob id: 32 bytes, branded so an unchecked array cannot stand in for one. */
export type BlobId = Uint8Array & { readonly __brand: 'BlobId' };

/** The largest plaintext a blob of `type` may carry. */
export function blobMaxRawBytes(type: BlobType): number {
  return type === 'data' ? LIMITS.backupChunkMaxBytes : LIMITS.backupTreeMaxBytes;
}

/** The largest sealed blob of `type` (stored, never expanded by compression). */
export function blobMaxSealedBytes(type: BlobType): number {
  return blobMaxRawBytes(type) + BLOB_OVERHEAD_BYTES;
}

function typeArg(type: unknown): BlobType {
  if (type !== 'data' && type !== 'tree') {
    throw new ValidationError('VALIDATION_FAILED', 'blob type must be "data" or "tree"');
  }
  return type;
}

const utf8 = new TextEncoder();
const AAD_PREFIX = utf8.encode('sealpost/backup/v1/blob');

function blobAad(type: BlobType, id: Uint8Array): Uint8Array {
  const aad = new Uint8Array(AAD_PREFIX.length + 1 + BLOB_ID_BYTES);
  aad.set(AAD_PREFIX);
  aad[AAD_PREFIX.length] = BLOB_TYPE[type];
  aad.set(id, AAD_PREFIX.length + 1);
  return aad;
}

/** Checks a value is 32 bytes and brands it. */
export function blobIdArg(value: unknown, what = 'blob id'): BlobId {
  const bytes = bytesArg(value, what);
  if (bytes.length !== BLOB_ID_BYTES) {
    throw new ValidationError('VALIDATION_FAILED', `${what} must be ${BLOB_ID_BYTES} bytes`, {
      length: bytes.length,
    });
  }
  return bytes as BlobId;
}

/** The keyed id of a plaintext: HMAC-SHA256 under the chunk-id (data) or tree-id (tree) key. */
export function blobId(
  crypto: CryptoProvider,
  keys: RepositoryKeys,
  type: BlobType,
  plaintext: Uint8Array,
): BlobId {
  return crypto.hmacSha256(typeArg(type) === 'data' ? keys.chunkId : keys.treeId, plaintext) as BlobId;
}

export interface SealedBlob {
  readonly id: BlobId;
  readonly type: BlobType;
  /** Length of the plaintext (before compression). */
  readonly rawLength: number;
  /** The bytes stored in a pack. */
  readonly sealed: Uint8Array;
}

/** The checks both sealing functions make on their common arguments (ValidationError). */
function checkSealArguments(keys: RepositoryKeys, type: BlobType, plaintext: Uint8Array): void {
  typeArg(type);
  checkRepositoryKeys(keys);
  bytesArg(plaintext, 'blob plaintext');
  if (plaintext.length > blobMaxRawBytes(type)) {
    throw new ValidationError('VALIDATION_FAILED', `${type} blob of ${plaintext.length} bytes is too large`, {
      length: plaintext.length,
      max: blobMaxRawBytes(type),
    });
  }
}

/**
 * What a blob stores: `plaintext` compressed when `compress` is given and makes it smaller (a larger
 * result is wiped), else `plaintext` itself, with the compression byte that says which.
 */
function payloadOf(
  plaintext: Uint8Array,
  compress: Compress | undefined,
): { payload: Uint8Array; method: number } {
  if (compress !== undefined && plaintext.length > 0) {
    const packed = compress(plaintext);
    if (packed instanceof Uint8Array && packed.length < plaintext.length) {
      return { payload: packed, method: COMPRESSION.zstd };
    }
    if (packed instanceof Uint8Array) packed.fill(0);
  }
  return { payload: plaintext, method: COMPRESSION.stored };
}

/**
 * Compresses (when `compress` is given and it saves space) and encrypts one blob.
 * Precondition: `plaintext.length <= blobMaxRawBytes(type)`. `knownId`: the blob's id when the
 * caller has computed it already (`blobId`), which saves the second HMAC over the plaintext; the
 * caller vouches for it (a wrong id makes a blob that never opens, caught by `check --read-data`).
 */
export function sealBlob(
  crypto: CryptoProvider,
  keys: RepositoryKeys,
  type: BlobType,
  plaintext: Uint8Array,
  compress?: Compress,
  knownId?: BlobId,
): SealedBlob {
  checkSealArguments(keys, type, plaintext);
  const id = knownId === undefined ? blobId(crypto, keys, type, plaintext) : blobIdArg(knownId);
  const { payload, method } = payloadOf(plaintext, compress);
  const body = new Uint8Array(1 + payload.length);
  body[0] = method;
  body.set(payload, 1);
  if (payload !== plaintext) payload.fill(0);
  const nonce = crypto.randomBytes(BLOB_NONCE_BYTES);
  const ciphertext = crypto.aes256gcm.seal(keys.blob, nonce, body, blobAad(type, id));
  body.fill(0);
  const sealed = new Uint8Array(BLOB_NONCE_BYTES + ciphertext.length);
  sealed.set(nonce);
  sealed.set(ciphertext, BLOB_NONCE_BYTES);
  return { id, type, rawLength: plaintext.length, sealed };
}

/**
 * `sealBlob` written into `out` at `at` rather than into arrays of its own, byte for byte the same
 * format (nonce, then AES-256-GCM of the compression byte and payload): for a provider with
 * `aes256gcm.sealInto`, which encrypts the byte and the payload in two pieces, so the plaintext is
 * neither joined to its compression byte nor the result copied twice more (a backup seals every
 * chunk of its new files). `out` needs `rawLength + BLOB_OVERHEAD_BYTES` bytes free at `at`
 * (the payload is compressed only when that makes it smaller). Returns the sealed blob's length.
 * Without `sealInto` it seals with `sealBlob` and copies.
 */
export function sealBlobInto(
  crypto: CryptoProvider,
  keys: RepositoryKeys,
  type: BlobType,
  plaintext: Uint8Array,
  compress: Compress | undefined,
  id: BlobId,
  out: Uint8Array,
  at: number,
): number {
  checkSealArguments(keys, type, plaintext);
  bytesArg(out, 'output');
  if (!Number.isInteger(at) || at < 0 || at + plaintext.length + BLOB_OVERHEAD_BYTES > out.length) {
    throw new ValidationError('VALIDATION_FAILED', 'no room for the sealed blob', { at });
  }
  blobIdArg(id);
  const aead = crypto.aes256gcm;
  if (aead.sealInto === undefined) {
    const { sealed } = sealBlob(crypto, keys, type, plaintext, compress, id);
    out.set(sealed, at);
    return sealed.length;
  }
  const { payload, method } = payloadOf(plaintext, compress);
  const nonce = crypto.randomBytes(BLOB_NONCE_BYTES);
  out.set(nonce, at);
  const written = aead.sealInto(
    keys.blob,
    nonce,
    [Uint8Array.of(method), payload],
    blobAad(type, id),
    out,
    at + BLOB_NONCE_BYTES,
  );
  if (payload !== plaintext) payload.fill(0);
  return BLOB_NONCE_BYTES + written;
}

/**
 * Decrypts, decompresses and checks one blob. `rawLength`, when known (pack headers and the index
 * record it), must match. Errors: CodecError for a malformed or oversized blob, CryptoVerificationError
 * when the tag or the recomputed id does not match (tampering, or the wrong id or type).
 */
export function openBlob(
  crypto: CryptoProvider,
  keys: RepositoryKeys,
  type: BlobType,
  id: Uint8Array,
  sealed: Uint8Array,
  decompress: Decompress,
  rawLength?: number,
): Uint8Array {
  typeArg(type);
  checkRepositoryKeys(keys);
  blobIdArg(id);
  bytesArg(sealed, 'sealed blob');
  const maxRaw = blobMaxRawBytes(type);
  if (rawLength !== undefined && (!Number.isInteger(rawLength) || rawLength < 0 || rawLength > maxRaw)) {
    throw new CodecError('CODEC_LENGTH_LIMIT', `blob raw length ${rawLength} exceeds ${maxRaw}`, {
      max: maxRaw,
    });
  }
  if (sealed.length < BLOB_OVERHEAD_BYTES) {
    throw new CodecError(
      'CODEC_TRUNCATED',
      `sealed blob of ${sealed.length} bytes is shorter than its overhead`,
      {
        length: sealed.length,
      },
    );
  }
  if (sealed.length > blobMaxSealedBytes(type)) {
    throw new CodecError('CODEC_LENGTH_LIMIT', `sealed blob of ${sealed.length} bytes is too large`, {
      length: sealed.length,
      max: blobMaxSealedBytes(type),
    });
  }
  const body = crypto.aes256gcm.open(
    keys.blob,
    sealed.subarray(0, BLOB_NONCE_BYTES),
    sealed.subarray(BLOB_NONCE_BYTES),
    blobAad(type, id),
  );
  let plaintext: Uint8Array;
  try {
    plaintext = unpackBody(body, decompress, rawLength ?? maxRaw);
  } finally {
    body.fill(0);
  }
  if (rawLength !== undefined && plaintext.length !== rawLength) {
    plaintext.fill(0);
    throw new CodecError(
      'CODEC_INVALID_VALUE',
      `blob holds ${plaintext.length} bytes, its entry says ${rawLength}`,
    );
  }
  const actual = blobId(crypto, keys, type, plaintext);
  if (!crypto.timingSafeEqual(actual, id)) {
    plaintext.fill(0);
    throw new CryptoVerificationError('CRYPTO_VERIFICATION_FAILED', 'blob content does not match its id');
  }
  return plaintext;
}

/** body = u8 compression || payload -> plaintext of at most `maxRaw` bytes (a copy). */
function unpackBody(body: Uint8Array, decompress: Decompress, maxRaw: number): Uint8Array {
  const method = body[0];
  const payload = body.subarray(1);
  if (method === COMPRESSION.stored) {
    if (payload.length > maxRaw) {
      throw new CodecError('CODEC_LENGTH_LIMIT', `stored blob of ${payload.length} bytes exceeds ${maxRaw}`);
    }
    return payload.slice();
  }
  if (method !== COMPRESSION.zstd) {
    throw new CodecError('CODEC_INVALID_VALUE', `unknown blob compression ${method}`);
  }
  let out: unknown;
  try {
    out = decompress(payload, maxRaw);
  } catch {
    throw new CodecError('CODEC_INVALID_VALUE', `blob does not decompress to at most ${maxRaw} bytes`, {
      max: maxRaw,
    });
  }
  if (!(out instanceof Uint8Array)) {
    throw new CodecError('CODEC_INVALID_VALUE', 'decompression did not return bytes');
  }
  if (out.length > maxRaw) {
    out.fill(0);
    throw new CodecError('CODEC_LENGTH_LIMIT', `blob decompresses to more than ${maxRaw} bytes`, {
      max: maxRaw,
    });
  }
  return out;
}
