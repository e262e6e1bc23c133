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
import { PACK_ENTRY_BYTES, PACK_ID_BYTES, readPackEntries, writePackEntry, type PackEntry } from './pack.ts';
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
 * Encrypts an index file. Requires at most `backupIndexPacksPerFileMax` packs, each with 1+ entries
 * and, if condemned, a `condemnedMs` that is a positive safe integer. Version 2 when any pack is
 * condemned, else version 1.
 */
export function encodeIndexFile(
  crypto: CryptoProvider,
  keys: RepositoryKeys,
  packs: readonly IndexedPack[],
): Uint8Array {
  checkRepositoryKeys(keys);
  if (packs.length > LIMITS.backupIndexPacksPerFileMax) {
    throw new ValidationError(
      'VALIDATION_FAILED',
      'an index file lists at most backupIndexPacksPerFileMax packs',
    );
  }
  const version = packs.some((p) => p.condemnedMs !== undefined) ? INDEX_VERSION_CONDEMNED : INDEX_VERSION;
  const w = new Writer(1024).u8(version).varint(packs.length);
  for (const p of packs) {
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
