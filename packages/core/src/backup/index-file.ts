/**
 * Index files: which blobs each pack holds, so a client need not read every pack header
 * (docs/backup-format.md §Index files). A writer stores one per backup run (or per batch of packs);
 * a reader loads all of them into a `BlobIndex`.
 *
 *   file    = envelope(index key, aad "sealpost/backup/v1/index", content, padme)
 *   content = u8 version (1) || varint packCount || packCount x pack
 *   pack    = pack id (32) || varint n || n x entry (pack.ts: 45 bytes, from offset 0, contiguous)
 *
 * Version 2 (written by `prune`, and only when a pack is condemned) adds one field to each pack:
 *
 *   pack    = pack id (32) || u64 condemned || varint n || n x entry
 *
 * `condemned` is 0 for a live pack, else the time (ms since 1970, at least 1) at which a prune found
 * the pack unused. A condemned pack stays listed, entries and all, until a later prune deletes it:
 * readers may still need its blobs, writers must not deduplicate against it
 * (docs/backup-engine.md §Concurrent writers and prune). A writer with nothing condemned writes
 * version 1.
 *
 * The envelope's padding hides the exact number of entries (hence the average chunk size).
 */
import { CodecError, ValidationError } from '../errors.ts';
import { LIMITS } from '../limits.ts';
import { Reader } from '../codec/reader.ts';
import { Writer } from '../codec/writer.ts';
import type { CryptoProvider } from '../crypto/provider.ts';
import type { BlobIndex } from './blob-index.ts';
import { ENVELOPE_OVERHEAD_BYTES, openEnvelope, sealEnvelope } from './envelope.ts';
import { checkRepositoryKeys, type RepositoryKeys } from './keys.ts';
import {
  PACK_ENTRY_BYTES,
  PACK_ID_BYTES,
  PACK_VERSION,
  readPackEntries,
  writePackEntry,
  type PackEntry,
} from './pack.ts';
import { padme } from './padding.ts';

export const INDEX_VERSION = 1;
/** The version that records condemned packs. */
export const INDEX_VERSION_CONDEMNED = 2;
const AAD = new TextEncoder().encode('sealpost/backup/v1/index');

export interface IndexedPack {
  readonly packId: Uint8Array;
  readonly entries: readonly PackEntry[];
  /** When a prune condemned the pack (ms since 1970, >= 1); absent for a live pack. */
  readonly condemnedMs?: number;
}

/**
 * A live pack whose entries are kept as its header's content encodes them (pack.ts
 * `encodePackHeaderContent`: u8 version || varint n || n x entry), the same bytes an index file
 * lists them in: 45 bytes a blob, where entry objects and their id arrays took ~350 (a backup run
 * keeps every pack it wrote until it writes the index).
 */
export interface EncodedIndexedPack {
  readonly packId: Uint8Array;
  readonly header: Uint8Array;
}

export type IndexFilePack = IndexedPack | EncodedIndexedPack;

/** The blob count of an encoded pack; ValidationError unless its header content is well formed. */
export function encodedPackCount(p: EncodedIndexedPack): number {
  try {
    const r = new Reader(p.header, LIMITS.backupPackMaxBytes);
    if (r.u8('pack version') !== PACK_VERSION) throw new CodecError('CODEC_INVALID_VALUE', 'pack version');
    const count = r.varint('blob count');
    if (count < 1 || count > LIMITS.backupBlobsPerPackMax || r.remaining !== count * PACK_ENTRY_BYTES)
      throw new CodecError('CODEC_LENGTH_LIMIT', 'blob count');
    return count;
  } catch (error) {
    if (!(error instanceof CodecError)) throw error;
    throw new ValidationError(
      'VALIDATION_FAILED',
      'an encoded pack needs a pack header content of 1+ entries',
    );
  }
}

/** The blobs a pack lists. */
export function indexFilePackCount(p: IndexFilePack): number {
  return 'header' in p ? encodedPackCount(p) : p.entries.length;
}

/**
 * Encrypts an index file. Requires at most `backupIndexPacksPerFileMax` packs, each with 1+ entries
 * and, if condemned, a `condemnedMs` that is a positive safe integer. Version 2 when any pack is
 * condemned, else version 1. An encoded pack's entries are copied as they are (its header content
 * is checked for form, not its entries one by one: the pack writer made them).
 */
export function encodeIndexFile(
  crypto: CryptoProvider,
  keys: RepositoryKeys,
  packs: readonly IndexFilePack[],
): Uint8Array {
  checkRepositoryKeys(keys);
  if (packs.length > LIMITS.backupIndexPacksPerFileMax) {
    throw new ValidationError(
      'VALIDATION_FAILED',
      'an index file lists at most backupIndexPacksPerFileMax packs',
    );
  }
  const version = packs.some((p) => 'entries' in p && p.condemnedMs !== undefined)
    ? INDEX_VERSION_CONDEMNED
    : INDEX_VERSION;
  const w = new Writer(1024).u8(version).varint(packs.length);
  for (const p of packs) {
    if ('header' in p) {
      if (p.packId.length !== PACK_ID_BYTES) {
        throw new ValidationError(
          'VALIDATION_FAILED',
          'indexed pack needs a 32-byte id and at least one blob',
        );
      }
      encodedPackCount(p);
      w.fixed(p.packId);
      if (version === INDEX_VERSION_CONDEMNED) w.u53(0);
      // The header content's version byte is not part of an index file's pack.
      w.fixed(p.header.subarray(1));
      continue;
    }
    if (p.packId.length !== PACK_ID_BYTES || p.entries.length < 1) {
      throw new ValidationError('VALIDATION_FAILED', 'indexed pack needs a 32-byte id and at least one blob');
    }
    const condemned = p.condemnedMs ?? 0;
    if (!Number.isSafeInteger(condemned) || condemned < 0 || (p.condemnedMs !== undefined && condemned < 1)) {
      throw new ValidationError('VALIDATION_FAILED', 'condemned time must be a positive safe integer');
    }
    w.fixed(p.packId);
    if (version === INDEX_VERSION_CONDEMNED) w.u53(condemned);
    w.varint(p.entries.length);
    for (const e of p.entries) writePackEntry(w, e);
  }
  const content = w.finish();
  const total = padme(content.length + ENVELOPE_OVERHEAD_BYTES);
  if (total > LIMITS.backupIndexFileMaxBytes) {
    throw new ValidationError(
      'VALIDATION_FAILED',
      `index file of ${total} bytes exceeds the limit: split it`,
    );
  }
  return sealEnvelope(crypto, keys.index, AAD, content, total);
}

/** Decrypts and decodes an index file. CodecError or CryptoVerificationError, nothing else. */
export function decodeIndexFile(
  crypto: CryptoProvider,
  keys: RepositoryKeys,
  file: Uint8Array,
): IndexedPack[] {
  checkRepositoryKeys(keys);
  const content = openEnvelope(crypto, keys.index, AAD, file, LIMITS.backupIndexFileMaxBytes, 'index file');
  const r = new Reader(content, LIMITS.backupIndexFileMaxBytes);
  const version = r.u8('index version');
  if (version !== INDEX_VERSION && version !== INDEX_VERSION_CONDEMNED)
    throw new CodecError('CODEC_INVALID_VALUE', `unknown index version ${version}`);
  const timeBytes = version === INDEX_VERSION_CONDEMNED ? 8 : 0;
  const count = r.varint('pack count');
  if (
    count > LIMITS.backupIndexPacksPerFileMax ||
    count * (PACK_ID_BYTES + timeBytes + 1 + PACK_ENTRY_BYTES) > r.remaining
  ) {
    throw new CodecError('CODEC_LENGTH_LIMIT', `index pack count ${count} is out of range`, { count });
  }
  const packs: IndexedPack[] = [];
  for (let i = 0; i < count; i++) {
    const packId = r.fixed(PACK_ID_BYTES, 'pack id');
    const condemnedMs = timeBytes === 0 ? 0 : r.u53('condemned time');
    const entries = readPackEntries(r);
    packs.push(condemnedMs === 0 ? { packId, entries } : { packId, entries, condemnedMs });
  }
  r.end('index file');
  return packs;
}

/** Adds the packs of a decoded index file to `index`; returns how many blobs were new. */
export function loadIndexFile(index: BlobIndex, packs: readonly IndexedPack[]): number {
  let added = 0;
  for (const p of packs) {
    const n = index.addPack(p.packId);
    for (const e of p.entries) if (index.add(n, e)) added++;
  }
  return added;
}
