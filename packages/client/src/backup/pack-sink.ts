/**
 * Writing blobs: seals each new blob (blob.ts: zstd when it saves space, then AES-256-GCM) and
 * appends it to an open pack (pack.ts). A pack is closed and stored once its blobs reach
 * LIMITS.backupPackTargetBytes, so memory holds at most one pack's blobs (16 MiB, plus one blob).
 * Blobs already in the index, or already added in this run, are skipped: that is deduplication.
 *
 * Data and tree blobs go to separate packs, so listing a snapshot reads tree packs only.
 */
import { toHex } from '@sealpost/core';
import { blobId, sealBlob, type BlobId, type BlobType } from '@sealpost/core/backup/blob';
import type { BlobIndex } from '@sealpost/core/backup/blob-index';
import type { IndexedPack } from '@sealpost/core/backup/index-file';
import { PackWriter } from '@sealpost/core/backup/pack';
import type { ObjectName } from './repository.ts';
import type { Session } from './session.ts';

export interface SinkStats {
  blobsNew: number;
  blobsDeduplicated: number;
  /** Plaintext bytes of new blobs. */
  bytesNew: number;
  /** Bytes of the packs stored. */
  bytesStored: number;
  packs: number;
}

export class PackSink {
  readonly #session: Session;
  readonly #index: BlobIndex;
  readonly #writers: Record<BlobType, { writer: PackWriter; parts: Uint8Array[] } | undefined> = {
    data: undefined,
    tree: undefined,
  };
  /** Ids added in this run but not yet in `#index` (hex). */
  readonly #pending = new Set<string>();
  readonly packs: IndexedPack[] = [];
  readonly stats: SinkStats = { blobsNew: 0, blobsDeduplicated: 0, bytesNew: 0, bytesStored: 0, packs: 0 };

  /** `index`: what the repository holds already (blob-reader.ts). */
  constructor(session: Session, index: BlobIndex) {
    this.#session = session;
    this.#index = index;
  }

  /** Stores `plaintext` as a blob of `type` unless it is there already; returns its id. */
  async add(type: BlobType, plaintext: Uint8Array): Promise<BlobId> {
    const { deps, keys } = this.#session;
    const id = blobId(deps.crypto, keys, type, plaintext);
    const hex = toHex(id);
    if (this.#pending.has(hex) || this.#index.has(id)) {
      this.stats.blobsDeduplicated++;
      return id;
    }
    const blob = sealBlob(deps.crypto, keys, type, plaintext, deps.compress);
    let open = this.#writers[type];
    if (open !== undefined && !open.writer.canAdd(blob.sealed.length)) {
      await this.#flush(type);
      open = undefined;
    }
    if (open === undefined) {
      open = { writer: new PackWriter(deps.crypto, keys), parts: [] };
      this.#writers[type] = open;
    }
    open.parts.push(open.writer.add(blob));
    this.#pending.add(hex);
    this.stats.blobsNew++;
    this.stats.bytesNew += plaintext.length;
    if (open.writer.full) await this.#flush(type);
    return id;
  }

  /** Stores the open packs. Call once at the end of a run, before writing the index. */
  async finish(): Promise<IndexedPack[]> {
    await this.#flush('data');
    await this.#flush('tree');
    return this.packs;
  }

  async #flush(type: BlobType): Promise<void> {
    const open = this.#writers[type];
    this.#writers[type] = undefined;
    if (open === undefined || open.writer.count === 0) return;
    const { tail, entries, length } = open.writer.finish();
    const pack = new Uint8Array(length);
    let at = 0;
    for (const part of open.parts) {
      pack.set(part, at);
      at += part.length;
    }
    pack.set(tail, at);
    open.parts.length = 0;
    const packId = this.#session.deps.crypto.sha256(pack);
    await this.#session.repo.put('packs', toHex(packId) as ObjectName, pack);
    const packNumber = this.#index.addPack(packId);
    for (const e of entries) {
      this.#index.add(packNumber, e);
      this.#pending.delete(toHex(e.id));
    }
    this.packs.push({ packId, entries });
    this.stats.packs++;
    this.stats.bytesStored += length;
  }
}
