/**
 * Pack files: the only thing the server stores for file contents (docs/backup-format.md §Packs).
 *
 *   pack    = blob_0 || ... || blob_{n-1} || header || trailer
 *   header  = envelope(packHeader key, aad "sealpost/backup/v1/pack-header", content, padded)
 *   content = u8 version (1) || varint n || n x entry
 *   entry   = u8 type || id (32) || u32 offset || u32 length || u32 rawLength          (45 bytes)
 *   trailer = nonce (12) || AES-256-GCM(packHeader key, nonce, u8 version (1) || u32 headerLength,
 *                                       aad "sealpost/backup/v1/pack-trailer") || tag (16) (33 bytes)
 *
 * The blobs are sealed blobs (blob.ts), back to back from offset 0; each entry gives one blob's
 * place, its sealed length and its plaintext length. A reader requires the entries in order,
 * contiguous, and ending where the header begins.
 *
 * What the server sees of a pack is its length only, and that length is padded: the header's
 * envelope absorbs padding so that the whole pack is padme(max(unpadded, backupPackMinBytes)) bytes
 * (padding.ts). The trailer is encrypted too, so not even the split between blobs and header is
 * visible: the number of blobs, their boundaries and sizes stay hidden (eprint 2025/532).
 * The pack id, its storage name, is SHA-256 of the whole pack.
 */
import { CodecError, ValidationError } from '../errors.ts';
import { LIMITS } from '../limits.ts';
import { Reader } from '../codec/reader.ts';
import { Writer } from '../codec/writer.ts';
import type { CryptoProvider } from '../crypto/provider.ts';
import { CRYPTO_SIZES } from '../crypto/arguments.ts';
import {
  BLOB_ID_BYTES,
  BLOB_OVERHEAD_BYTES,
  BLOB_TYPE,
  blobMaxRawBytes,
  blobMaxSealedBytes,
  blobTypeFromByte,
  type BlobId,
  type BlobType,
  type SealedBlob,
} from './blob.ts';
import { ENVELOPE_OVERHEAD_BYTES, openEnvelope, sealEnvelope } from './envelope.ts';
import { checkRepositoryKeys, type RepositoryKeys } from './keys.ts';
import { padme } from './padding.ts';

export const PACK_ID_BYTES = 32;
export const PACK_VERSION = 1;
export const PACK_ENTRY_BYTES = 1 + BLOB_ID_BYTES + 4 + 4 + 4;
export const PACK_TRAILER_BYTES = CRYPTO_SIZES.gcmNonce + 1 + 4 + CRYPTO_SIZES.gcmTag;
/** A pack's blobs never take more than the largest single blob (a tree blob at its limit). */
export const PACK_BLOB_REGION_MAX_BYTES = blobMaxSealedBytes('tree');

const utf8 = new TextEncoder();
const HEADER_AAD = utf8.encode('sealpost/backup/v1/pack-header');
const TRAILER_AAD = utf8.encode('sealpost/backup/v1/pack-trailer');

/** Where one blob sits in its pack. */
export interface PackEntry {
  readonly type: BlobType;
  readonly id: BlobId;
  readonly offset: number;
  /** Sealed length (what is stored). */
  readonly length: number;
  /** Plaintext length. */
  readonly rawLength: number;
}

/** The padded length of a pack whose unpadded length is `length`. */
export function paddedPackLength(length: number): number {
  return padme(Math.max(length, LIMITS.backupPackMinBytes));
}

/**
 * The length of a pack before padding: `count` blobs of `blobBytes` sealed bytes in all, the header
 * (envelope overhead, version, varint count, entries) and the trailer.
 */
export function unpaddedPackLength(count: number, blobBytes: number): number {
  const varint = count < 64 ? 1 : count < 16_384 ? 2 : 4;
  return blobBytes + 1 + varint + count * PACK_ENTRY_BYTES + ENVELOPE_OVERHEAD_BYTES + PACK_TRAILER_BYTES;
}

/** Writes one 45-byte entry. */
export function writePackEntry(w: Writer, e: PackEntry): void {
  if (e.id.length !== BLOB_ID_BYTES)
    throw new ValidationError('VALIDATION_FAILED', 'blob id must be 32 bytes');
  w.u8(BLOB_TYPE[e.type]).fixed(e.id).u32(e.offset).u32(e.length).u32(e.rawLength);
}

/** Encodes a header's content (the pack writer builds the entries, so they are well formed). */
export function encodePackHeaderContent(entries: readonly PackEntry[]): Uint8Array {
  const w = new Writer(3 + entries.length * PACK_ENTRY_BYTES).u8(PACK_VERSION).varint(entries.length);
  for (const e of entries) writePackEntry(w, e);
  return w.finish();
}

/** Reads one entry; offsets are checked by the caller, sizes here. */
export function readPackEntry(r: Reader): PackEntry {
  const typeByte = r.u8('blob type');
  const type = blobTypeFromByte(typeByte);
  if (type === undefined) throw new CodecError('CODEC_INVALID_VALUE', `unknown blob type ${typeByte}`);
  const id = r.fixed(BLOB_ID_BYTES, 'blob id') as BlobId;
  const offset = r.u32('blob offset');
  const length = r.u32('blob length');
  const rawLength = r.u32('blob raw length');
  if (length < BLOB_OVERHEAD_BYTES || length > blobMaxSealedBytes(type)) {
    throw new CodecError('CODEC_INVALID_VALUE', `${type} blob length ${length} is out of range`, { length });
  }
  if (rawLength > blobMaxRawBytes(type)) {
    throw new CodecError('CODEC_LENGTH_LIMIT', `${type} blob raw length ${rawLength} is out of range`, {
      rawLength,
    });
  }
  return { type, id, offset, length, rawLength };
}

/**
 * Reads a varint count and that many entries, which must tile [0, regionLength) in order (from 0 and
 * contiguous only, when the region's length is not known: index files).
 */
export function readPackEntries(r: Reader, regionLength?: number): PackEntry[] {
  const count = r.varint('blob count');
  if (count < 1 || count > LIMITS.backupBlobsPerPackMax || count * PACK_ENTRY_BYTES > r.remaining) {
    throw new CodecError('CODEC_LENGTH_LIMIT', `pack blob count ${count} is out of range`, { count });
  }
  const entries: PackEntry[] = [];
  let end = 0;
  for (let i = 0; i < count; i++) {
    const e = readPackEntry(r);
    if (e.offset !== end) {
      throw new CodecError('CODEC_INVALID_VALUE', `blob ${i} starts at ${e.offset}, expected ${end}`);
    }
    end += e.length;
    if (end > PACK_BLOB_REGION_MAX_BYTES) {
      throw new CodecError('CODEC_LENGTH_LIMIT', `blobs exceed ${PACK_BLOB_REGION_MAX_BYTES} bytes`);
    }
    entries.push(e);
  }
  if (regionLength !== undefined && end !== regionLength) {
    throw new CodecError('CODEC_INVALID_VALUE', `blobs end at ${end}, the header starts at ${regionLength}`);
  }
  return entries;
}

/**
 * Decrypts a pack's trailer and returns the header length.
 * Precondition: `packLength` is the whole pack's length (at most `backupPackMaxBytes`).
 */
export function decodePackTrailer(
  crypto: CryptoProvider,
  keys: RepositoryKeys,
  trailer: Uint8Array,
  packLength: number,
): number {
  checkRepositoryKeys(keys);
  if (!(trailer instanceof Uint8Array) || trailer.length !== PACK_TRAILER_BYTES) {
    throw new CodecError('CODEC_INVALID_VALUE', `pack trailer must be ${PACK_TRAILER_BYTES} bytes`);
  }
  checkPackLength(packLength);
  const plain = crypto.aes256gcm.open(
    keys.packHeader,
    trailer.subarray(0, CRYPTO_SIZES.gcmNonce),
    trailer.subarray(CRYPTO_SIZES.gcmNonce),
    TRAILER_AAD,
  );
  const r = new Reader(plain, 5);
  const version = r.u8('pack version');
  if (version !== PACK_VERSION)
    throw new CodecError('CODEC_INVALID_VALUE', `unknown pack version ${version}`);
  const headerLength = r.u32('header length');
  const room = packLength - PACK_TRAILER_BYTES - BLOB_OVERHEAD_BYTES;
  if (headerLength < ENVELOPE_OVERHEAD_BYTES + 2 + PACK_ENTRY_BYTES || headerLength > room) {
    throw new CodecError('CODEC_INVALID_VALUE', `pack header length ${headerLength} does not fit the pack`);
  }
  return headerLength;
}

/** Decrypts a pack header whose blobs take `blobRegionLength` bytes, and returns its entries. */
export function decodePackHeader(
  crypto: CryptoProvider,
  keys: RepositoryKeys,
  header: Uint8Array,
  blobRegionLength: number,
): PackEntry[] {
  checkRepositoryKeys(keys);
  const content = openEnvelope(
    crypto,
    keys.packHeader,
    HEADER_AAD,
    header,
    LIMITS.backupPackMaxBytes,
    'pack header',
  );
  const r = new Reader(content, LIMITS.backupPackMaxBytes);
  const version = r.u8('pack header version');
  if (version !== PACK_VERSION)
    throw new CodecError('CODEC_INVALID_VALUE', `unknown pack version ${version}`);
  const entries = readPackEntries(r, blobRegionLength);
  r.end('pack header');
  return entries;
}

/** Reads the index of a whole pack held in memory (check, rebuild-index). */
export function readPack(crypto: CryptoProvider, keys: RepositoryKeys, pack: Uint8Array): PackEntry[] {
  if (!(pack instanceof Uint8Array)) throw new CodecError('CODEC_INVALID_VALUE', 'pack is not bytes');
  checkPackLength(pack.length);
  const trailerAt = pack.length - PACK_TRAILER_BYTES;
  const headerLength = decodePackTrailer(crypto, keys, pack.subarray(trailerAt), pack.length);
  const headerAt = trailerAt - headerLength;
  return decodePackHeader(crypto, keys, pack.subarray(headerAt, trailerAt), headerAt);
}

function checkPackLength(length: number): void {
  if (
    !Number.isInteger(length) ||
    length < PACK_TRAILER_BYTES + ENVELOPE_OVERHEAD_BYTES + BLOB_OVERHEAD_BYTES
  ) {
    throw new CodecError('CODEC_TRUNCATED', `pack of ${length} bytes is too short`);
  }
  if (length > LIMITS.backupPackMaxBytes) {
    throw new CodecError(
      'CODEC_LENGTH_LIMIT',
      `pack of ${length} bytes exceeds ${LIMITS.backupPackMaxBytes}`,
    );
  }
}

/** What `PackWriter.finish` returns. */
export interface FinishedPack {
  /** Header and trailer: append them after the blobs to complete the pack. */
  readonly tail: Uint8Array;
  readonly entries: readonly PackEntry[];
  /** Length of the complete pack (blobs and tail). */
  readonly length: number;
}

/**
 * Builds one pack, sans I/O: `add` hands back the bytes to append (the caller streams them to
 * storage), `finish` the header and trailer. Only entries are kept in memory, never blob bytes.
 */
export class PackWriter {
  readonly #crypto: CryptoProvider;
  readonly #keys: RepositoryKeys;
  readonly #padTo: (unpadded: number) => number;
  readonly #entries: PackEntry[] = [];
  #length = 0;
  #finished = false;

  /**
   * `padTo` maps the unpadded length to the pack's length (default `paddedPackLength`). Readers accept
   * any padding; only the default hides sizes, other policies are for test vectors.
   */
  constructor(
    crypto: CryptoProvider,
    keys: RepositoryKeys,
    padTo: (unpadded: number) => number = paddedPackLength,
  ) {
    checkRepositoryKeys(keys);
    this.#crypto = crypto;
    this.#keys = keys;
    this.#padTo = padTo;
  }

  get count(): number {
    return this.#entries.length;
  }
  /** Bytes of blobs added so far. */
  get blobBytes(): number {
    return this.#length;
  }
  /** The entries of the blobs added so far, in order (offsets in this pack). */
  get entries(): readonly PackEntry[] {
    return this.#entries;
  }
  /** True once no blob fits any more (see `canAddAll`): the pack should be finished. */
  get full(): boolean {
    return !this.canAdd(BLOB_OVERHEAD_BYTES);
  }

  /**
   * Whether `count` more sealed blobs of `bytes` bytes in all may join this pack: the pack, header
   * and trailer included, must stay within `LIMITS.backupPackTargetBytes` unpadded, and within the
   * blob count limit; an empty pack takes any one blob (a blob larger than the target is a pack
   * alone). Packs so filled pad to the target at most (padme(16 MiB) = 16 MiB), where a pack closed
   * only once its blobs had passed the target padded to the next Padmé step (up to 512 KiB more).
   */
  canAddAll(count: number, bytes: number): boolean {
    if (this.#finished) return false;
    const n = this.#entries.length + count;
    if (n > LIMITS.backupBlobsPerPackMax) return false;
    if (this.#entries.length === 0 && count === 1) return true;
    return unpaddedPackLength(n, this.#length + bytes) <= LIMITS.backupPackTargetBytes;
  }

  /** Whether a sealed blob of `length` bytes may join this pack (`canAddAll(1, length)`). */
  canAdd(length: number): boolean {
    return this.canAddAll(1, length);
  }

  /** Adds a blob and returns the bytes to append. Precondition: `canAdd(blob.sealed.length)`. */
  add(blob: SealedBlob): Uint8Array {
    const length = blob.sealed.length;
    if (!this.canAdd(length)) {
      throw new ValidationError('VALIDATION_FAILED', 'pack cannot take this blob: finish it first');
    }
    if (length < BLOB_OVERHEAD_BYTES || length > blobMaxSealedBytes(blob.type)) {
      throw new ValidationError(
        'VALIDATION_FAILED',
        `sealed ${blob.type} blob of ${length} bytes is out of range`,
      );
    }
    this.#entries.push({
      type: blob.type,
      id: blob.id,
      offset: this.#length,
      length,
      rawLength: blob.rawLength,
    });
    this.#length += length;
    return blob.sealed;
  }

  /** Seals the header and trailer. Precondition: at least one blob was added. */
  finish(): FinishedPack {
    if (this.#finished || this.#entries.length === 0) {
      throw new ValidationError('VALIDATION_FAILED', 'a pack needs at least one blob and is finished once');
    }
    this.#finished = true;
    const content = encodePackHeaderContent(this.#entries);
    const unpadded = unpaddedPackLength(this.#entries.length, this.#length);
    const length = this.#padTo(unpadded);
    if (!Number.isInteger(length) || length < unpadded || length > LIMITS.backupPackMaxBytes) {
      throw new ValidationError('VALIDATION_FAILED', `padded pack length ${length} is out of range`);
    }
    const headerLength = length - this.#length - PACK_TRAILER_BYTES;
    const header = sealEnvelope(this.#crypto, this.#keys.packHeader, HEADER_AAD, content, headerLength);
    const trailerPlain = new Writer(5).u8(PACK_VERSION).u32(headerLength).finish();
    const nonce = this.#crypto.randomBytes(CRYPTO_SIZES.gcmNonce);
    const sealedTrailer = this.#crypto.aes256gcm.seal(
      this.#keys.packHeader,
      nonce,
      trailerPlain,
      TRAILER_AAD,
    );
    const tail = new Uint8Array(headerLength + PACK_TRAILER_BYTES);
    tail.set(header);
    tail.set(nonce, headerLength);
    tail.set(sealedTrailer, headerLength + nonce.length);
    return { tail, entries: this.#entries.slice(), length };
  }
}
