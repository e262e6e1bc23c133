/**
 * Index files: which blobs each pack holds, so a client need not read every pack header
 * (docs/backup-format.md §Index files). A writer stores one per backup run (or per batch of packs);
 * a reader loads all of them into a `BlobIndex`.
 *
 *   file    = envelope(index key, aad "sealpost/backup/v1/index", content, padme)
 *   content = u8 version (1) || varint packCount || packCount x pack
 *   pack    = pack id (32) || varint n || n x entry (pack.ts: 45 bytes, from offset 0, contiguous)
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
const AAD = new TextEncoder().encode('sealpost/backup/v1/index');

export interface IndexedPack {
  readonly packId: Uint8Array;
  readonly entries: readonly PackEntry[];
}

/** Encrypts an index file. Requires at most `backupIndexPacksPerFileMax` packs, each with 1+ entries. */
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
  const w = new Writer(1024).u8(INDEX_VERSION).varint(packs.length);
  for (const p of packs) {
    if (p.packId.length !== PACK_ID_BYTES || p.entries.length < 1) {
      throw new ValidationError('VALIDATION_FAILED', 'indexed pack needs a 32-byte id and at least one blob');
    }
    w.fixed(p.packId).varint(p.entries.length);
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
  if (version !== INDEX_VERSION)
    throw new CodecError('CODEC_INVALID_VALUE', `unknown index version ${version}`);
  const count = r.varint('pack count');
  if (
    count > LIMITS.backupIndexPacksPerFileMax ||
    count * (PACK_ID_BYTES + 1 + PACK_ENTRY_BYTES) > r.remaining
  ) {
    throw new CodecError('CODEC_LENGTH_LIMIT', `index pack count ${count} is out of range`, { count });
  }
  const packs: IndexedPack[] = [];
  for (let i = 0; i < count; i++) {
    const packId = r.fixed(PACK_ID_BYTES, 'pack id');
    packs.push({ packId, entries: readPackEntries(r) });
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
