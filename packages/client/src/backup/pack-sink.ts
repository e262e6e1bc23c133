/**
 * Writing blobs: seals each new blob (blob.ts: zstd when it saves space, then AES-256-GCM) and
 * appends it to an open pack (pack.ts). A pack is closed and stored once its blobs reach
 * LIMITS.backupPackTargetBytes, so memory holds at most one pack's blobs (16 MiB, plus one blob).
 * Blobs already in a live pack of the index, or already added in this run, are skipped: that is
 * deduplication. The packs deduplicated against are recorded in `dependsOn`, so that the run can
 * check they still exist before it writes its snapshot (backup.ts).
 *
 * Data and tree blobs go to separate packs, so listing a snapshot reads tree packs only.
 *
 * Sealing is handed to a `BlobSealer` (sealer.ts; worker threads under Node) and pipelined: `add`
 * computes the id and decides on deduplication at once, queues the sealing, and appends finished
 * blobs to their pack in the order they were added. At most BACKUP_ENGINE_LIMITS.sealQueueBlobs are
 * in flight; `add` waits for the oldest beyond that.
 */
import { toHex } from '@sealpost/core';
import { blobId, type BlobId, type BlobType, type SealedBlob } from '@sealpost/core/backup/blob';
import type { IndexedPack } from '@sealpost/core/backup/index-file';
import { PackWriter } from '@sealpost/core/backup/pack';
import type { BlobReader } from './blob-reader.ts';
import { BACKUP_ENGINE_LIMITS } from './limits.ts';
import type { ObjectName } from './repository.ts';
import { inlineSealer, type BlobSealer } from './sealer.ts';
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
  readonly #reader: BlobReader;
  readonly #sealer: BlobSealer;
  /** Blobs being sealed, oldest first. */
  readonly #queue: { type: BlobType; sealed: Promise<SealedBlob> }[] = [];
  readonly #writers: Record<BlobType, { writer: PackWriter; parts: Uint8Array[] } | undefined> = {
    data: undefined,
    tree: undefined,
  };
  /** Blobs given to `add`, for `deps.reclaim`. */
  #added = 0;
  /** Ids added in this run but not yet in the index (hex). */
  readonly #pending = new Set<string>();
  /** The packs this sink stored (hex ids). */
  readonly #own = new Set<string>();
  readonly packs: IndexedPack[] = [];
  /** Packs (hex ids) that blobs were deduplicated against, the run's own excluded. */
  readonly dependsOn = new Set<string>();
  readonly stats: SinkStats = { blobsNew: 0, blobsDeduplicated: 0, bytesNew: 0, bytesStored: 0, packs: 0 };

  /** `reader`: what the repository holds already (its index gains the packs this sink stores). */
  constructor(session: Session, reader: BlobReader) {
    this.#session = session;
    this.#reader = reader;
    this.#sealer = session.deps.sealers?.(session.keys) ?? inlineSealer(session.deps, session.keys);
  }

  /** Stores `plaintext` as a blob of `type` unless it is there already; returns its id. */
  async add(type: BlobType, plaintext: Uint8Array): Promise<BlobId> {
    const { deps, keys } = this.#session;
    const id = blobId(deps.crypto, keys, type, plaintext);
    if (++this.#added % BACKUP_ENGINE_LIMITS.reclaimEveryBlobs === 0) deps.reclaim?.();
    const hex = toHex(id);
    if (this.#pending.has(hex)) {
      this.stats.blobsDeduplicated++;
      return id;
    }
    const pack = this.#reader.livePack(id);
    if (pack !== undefined) {
      if (!this.#own.has(pack)) this.dependsOn.add(pack);
      this.stats.blobsDeduplicated++;
      return id;
    }
    const sealed = this.#sealer.seal(type, plaintext, id);
    // Awaited in order by #append; a failure surfaces there, not as an unhandled rejection.
    sealed.catch(() => undefined);
    this.#queue.push({ type, sealed });
    this.#pending.add(hex);
    this.stats.blobsNew++;
    this.stats.bytesNew += plaintext.length;
    while (this.#queue.length >= BACKUP_ENGINE_LIMITS.sealQueueBlobs) await this.#append();
    return id;
  }

  /** Appends the oldest blob in flight to its pack, storing the pack once it is full. */
  async #append(): Promise<void> {
    const { type, sealed } = this.#queue.shift()!;
    const blob = await sealed;
    const { deps, keys } = this.#session;
    // Another #append may open (and fill) a new pack of this type while one is being stored.
    for (;;) {
      let open = this.#writers[type];
      if (open === undefined) {
        open = { writer: new PackWriter(deps.crypto, keys), parts: [] };
        this.#writers[type] = open;
      }
      if (open.writer.count > 0 && !open.writer.canAdd(blob.sealed.length)) {
        await this.#flush(type);
        continue;
      }
      open.parts.push(open.writer.add(blob));
      if (open.writer.full) await this.#flush(type);
      return;
    }
  }

  /** Stores the open packs. Call once at the end of a run, before writing the index. */
  async finish(): Promise<IndexedPack[]> {
    while (this.#queue.length > 0) await this.#append();
    await this.#flush('data');
    await this.#flush('tree');
    return this.packs;
  }

  /** Ends the sealer (worker threads); call once, after `finish` or after a failure. */
  close(): Promise<void> {
    this.#queue.length = 0;
    return this.#sealer.close();
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
    this.#own.add(toHex(packId));
    const packNumber = this.#reader.index.addPack(packId);
    for (const e of entries) {
      // A blob the index already holds in a condemned pack keeps that first location there: stay
      // in `#pending` so that this run does not store it yet again.
      if (this.#reader.index.add(packNumber, e)) this.#pending.delete(toHex(e.id));
    }
    this.packs.push({ packId, entries });
    this.stats.packs++;
    this.stats.bytesStored += length;
  }
}
