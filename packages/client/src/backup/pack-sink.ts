/**
 * Writing blobs: seals each new blob (blob.ts: zstd when it saves space, then AES-256-GCM) and
 * appends it to an open pack (pack.ts). A pack is closed and stored once the next blob would take
 * it, header and trailer included, past LIMITS.backupPackTargetBytes. Each sealed blob is appended
 * to its pack's spool when it is added: a file where the repository keeps its objects, when it can
 * (Repository.spoolPack: the local directory), so that no pack is held in memory; else a buffer
 * (pack-buffers.ts: a few buffers reused from pack to pack). A full pack is stored while the next
 * fills: at most BACKUP_ENGINE_LIMITS.packsStoringMax packs are being stored at once, so memory
 * holds at most that many packs plus one open pack per type when packs are buffered.
 * Blobs already in a live pack of the index, or already added in this run, are skipped: that is
 * deduplication. The packs deduplicated against are recorded in `dependsOn`, so that the run can
 * check they still exist before it writes its snapshot (backup.ts).
 *
 * Data and tree blobs go to separate packs while a run fills them, so listing a snapshot reads
 * mostly tree packs. At the end of a run the last open data pack takes the remaining tree blobs when
 * they all fit (PackWriter.canAddAll: within LIMITS.backupPackTargetBytes and the blob count
 * limit): every pack is padded to at least LIMITS.backupPackMinBytes (padding.ts), so two small last
 * packs cost two padded MiB where one mixed pack costs one (docs/backup-format.md §Packs).
 *
 * Sealing is handed to a `BlobSealer` (sealer.ts; worker threads under Node) and pipelined: `add`
 * computes the id and decides on deduplication at once, queues the sealing, and appends finished
 * blobs to their pack in the order they were added. At most BACKUP_ENGINE_LIMITS.sealQueueBlobs are
 * in flight; `add` waits for the oldest beyond that.
 *
 * A pack's blobs enter the index only once the pack is stored, and `finish`
 * returns only when every pack is: the run's index file never names a pack that is not durable.
 */
import { LIMITS, toHex } from '@sealpost/core';
import { blobId, type BlobId, type BlobType, type SealedBlob } from '@sealpost/core/backup/blob';
import { IdSet } from '@sealpost/core/backup/id-set';
import type { EncodedIndexedPack, IndexedPack } from '@sealpost/core/backup/index-file';
import { encodePackHeaderContent, PackWriter } from '@sealpost/core/backup/pack';
import type { BlobReader } from './blob-reader.ts';
import { BACKUP_ENGINE_LIMITS } from './limits.ts';
import { BufferedPackSpool, PackBufferPool } from './pack-buffers.ts';
import type { PackSpool } from './repository.ts';
import { inlineSealer, type BlobSealer, type CompressionEffort } from './sealer.ts';
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
  /** Where `add` seals: the sealer, or this thread when the sealer takes whole files (constructor). */
  readonly #chunkSealer: BlobSealer;
  readonly #inline: boolean;
  /** Blobs being sealed, oldest first. */
  readonly #queue: { type: BlobType; sealed: Promise<SealedBlob> }[] = [];
  readonly #writers: Record<BlobType, { writer: PackWriter; spool: PackSpool } | undefined> = {
    data: undefined,
    tree: undefined,
  };
  /**
   * Buffers by type, for a repository that takes whole packs (no `spoolPack`), so that a small tree
   * pack does not keep a data pack's pages: room for a typical data pack, and for a small run's
   * trees (a buffer grows when needed, and stays grown).
   */
  readonly #buffers: Record<BlobType, PackBufferPool> = {
    data: new PackBufferPool(LIMITS.backupPackTargetBytes + (1 << 20)),
    tree: new PackBufferPool(1 << 20),
  };
  /** The last append asked for (#appendNext), and how many are asked for and not done. */
  #appending: Promise<void> = Promise.resolve();
  #appendsInFlight = 0;
  /** Packs being stored, oldest first; each settles once its pack is stored and indexed. */
  readonly #storing: Promise<void>[] = [];
  /**
   * Blobs given to `add`, for `deps.reclaim`: only when sealing on this thread (which makes the
   * zstd contexts); a forced GC here costs time and frees nothing when workers seal.
   */
  #added = 0;
  #addedBytes = 0;
  /** Ids this run has queued or stored: a blob is added once per run. */
  readonly #pending = new IdSet();
  /** Blobs a sealer sent unsealed before their sealed copy came (#addSealed). */
  readonly #awaited: BlobId[] = [];
  /** The packs this sink stored (hex ids). */
  readonly #own = new Set<string>();
  /** The packs this run stored, their entries encoded (45 bytes a blob), for the run's index file. */
  readonly packs: EncodedIndexedPack[] = [];
  /** Packs (hex ids) that blobs were deduplicated against, the run's own excluded. */
  readonly dependsOn = new Set<string>();
  readonly stats: SinkStats = { blobsNew: 0, blobsDeduplicated: 0, bytesNew: 0, bytesStored: 0, packs: 0 };

  readonly #signal: AbortSignal | undefined;

  /**
   * `reader`: what the repository holds already (its index gains the packs this sink stores);
   * `signal`: once aborted, no further pack is stored.
   */
  constructor(
    session: Session,
    reader: BlobReader,
    signal?: AbortSignal,
    effort: CompressionEffort = 'fast',
  ) {
    this.#session = session;
    this.#reader = reader;
    this.#signal = signal;
    this.#inline = session.deps.sealers === undefined;
    this.#sealer =
      session.deps.sealers?.(session.keys, effort, reader.liveIdWords()) ??
      inlineSealer(session.deps, session.keys, effort);
    // A sealer that takes whole files may hold a worker until its parts are handled (sealFile), and
    // handling a part can wait for the oldest blob in the queue: blobs given to `add` are then
    // sealed here, so that nothing in the queue waits on a worker that waits on the queue. They are
    // few: trees, and the new chunks of files changed since the parent snapshot.
    this.#chunkSealer =
      this.#sealer.sealFile === undefined ? this.#sealer : inlineSealer(session.deps, session.keys, effort);
  }

  /** Whether `addFile` reads and seals whole files elsewhere (BlobSealer.sealFile). */
  get sealsFiles(): boolean {
    return this.#sealer.sealFile !== undefined;
  }

  /**
   * Stores the blobs of the file at `path`, read, chunked and sealed by the sealer (`sealsFiles`
   * must hold); returns its size and chunk ids. Known blobs are dropped here (deduplication), after
   * they were sealed: meant for files whose chunks are likely new. `onRead`: bytes read, as they are.
   * Errors: FileSourceError when the file cannot be read.
   */
  addFile(
    path: string,
    expected: number,
    onRead: (bytes: number) => void,
  ): Promise<{ size: number; content: BlobId[] }> {
    const content: BlobId[] = [];
    let read = 0;
    const sealed = this.#sealer.sealFile!(
      path,
      expected,
      (part) => {
        onRead(part.bytesRead - read);
        read = part.bytesRead;
        for (const blob of part.blobs) content.push(blob.id);
        return this.#addSealedPart(part.blobs, 0);
      },
      this.#signal,
    );
    return sealed.then((size) => ({ size, content }));
  }

  /**
   * Adds `blobs` from `from` on, each as #addSealed does; resolves once every one is in its pack
   * (the part's bytes are the sealer's again then: a worker's ring). Most parts go in at once,
   * without a promise per blob (the engine thread's share of a backup over small files is mostly
   * such bookkeeping): while nothing is queued or being appended before them, a blob that fits the
   * open data pack is copied into it here. The first that cannot (a pack to store first, or a
   * blob queued ahead) sends the rest the way `add`'s blobs go, in order.
   */
  #addSealedPart(blobs: readonly SealedBlob[], from: number): Promise<void> | undefined {
    for (let i = from; i < blobs.length; i++) {
      const blob = blobs[i]!;
      if (this.#queue.length > 0 || this.#appendsInFlight > 0) return this.#addSealedSlowly(blobs, i);
      if (this.#known(blob.id)) continue;
      if (blob.sealed.length === 0) {
        this.#awaitSealed(blob);
        continue;
      }
      const open = this.#openWriter('data');
      if (open.writer.count > 0 && !open.writer.canAdd(blob.sealed.length))
        return this.#addSealedSlowly(blobs, i);
      this.#pending.add(blob.id);
      this.stats.blobsNew++;
      this.stats.bytesNew += blob.rawLength;
      open.spool.append(open.writer.add(blob));
      // A full pack is stored in turn (#appendNext), and the rest waits for it.
      if (open.writer.full) return this.#addSealedSlowly(blobs, i + 1);
    }
    return undefined;
  }

  /** #addSealedPart's way for blobs that cannot go in at once: queued, then appended in order. */
  async #addSealedSlowly(blobs: readonly SealedBlob[], from: number): Promise<void> {
    for (let i = from; i < blobs.length; i++) await this.#addSealed(blobs[i]!);
    while (this.#queue.length > 0 || this.#writers.data?.writer.full === true) await this.#appendNext();
  }

  /** Queues a blob sealed elsewhere unless its id is known (as `add` does for plaintext). */
  async #addSealed(blob: SealedBlob): Promise<void> {
    // No `deps.reclaim` here: what dies on this thread is small (the workers' parts are freed as
    // external memory), and a forced GC per MiB cost ~4% more instructions and ~20 MiB more RSS
    // on the Debian set.
    if (this.#known(blob.id)) return;
    if (blob.sealed.length === 0) {
      this.#awaitSealed(blob);
      return;
    }
    this.#queue.push({ type: blob.type, sealed: Promise.resolve(blob) });
    this.#pending.add(blob.id);
    this.stats.blobsNew++;
    this.stats.bytesNew += blob.rawLength;
    while (this.#queue.length >= BACKUP_ENGINE_LIMITS.sealQueueBlobs) await this.#appendNext();
  }

  /**
   * A blob sent unsealed that is not known: another job of the run claimed it first
   * (SealerFactory), and its sealed copy is on its way; `finish` checks that it came.
   */
  #awaitSealed(blob: SealedBlob): void {
    this.#awaited.push(blob.id.slice() as BlobId);
    this.stats.blobsDeduplicated++;
  }

  /**
   * Whether blob `id` is stored already, in a live pack of the index or earlier in this run (then
   * counted as deduplicated, its pack recorded in `dependsOn`).
   */
  #known(id: BlobId): boolean {
    if (this.#pending.has(id)) {
      this.stats.blobsDeduplicated++;
      return true;
    }
    const pack = this.#reader.livePack(id);
    if (pack === undefined) return false;
    if (!this.#own.has(pack)) this.dependsOn.add(pack);
    this.stats.blobsDeduplicated++;
    return true;
  }

  /** Stores `plaintext` as a blob of `type` unless it is there already; returns its id. */
  async add(type: BlobType, plaintext: Uint8Array): Promise<BlobId> {
    const { deps, keys } = this.#session;
    const id = blobId(deps.crypto, keys, type, plaintext);
    this.#reclaimIfDue(plaintext.length);
    if (this.#known(id)) return id;
    const sealed = this.#chunkSealer.seal(type, plaintext, id);
    // Awaited in order by #append; a failure surfaces there, not as an unhandled rejection.
    sealed.catch(() => undefined);
    this.#queue.push({ type, sealed });
    this.#pending.add(id);
    this.stats.blobsNew++;
    this.stats.bytesNew += plaintext.length;
    while (this.#queue.length >= BACKUP_ENGINE_LIMITS.sealQueueBlobs) await this.#appendNext();
    return id;
  }

  #reclaimIfDue(bytes: number): void {
    this.#added++;
    this.#addedBytes += bytes;
    const due = this.#inline
      ? this.#added % BACKUP_ENGINE_LIMITS.reclaimEveryBlobs === 0
      : this.#addedBytes >= BACKUP_ENGINE_LIMITS.reclaimEveryBytes;
    if (!due) return;
    this.#addedBytes = 0;
    this.#session.deps.reclaim?.();
  }

  /**
   * Appends the oldest blob in flight to its pack, after the appends already asked for: one at a
   * time, so blobs enter packs in the order they were added, and a pack waiting for its turn to be
   * stored holds every append back (which bounds the packs in memory).
   */
  #appendNext(): Promise<void> {
    this.#appendsInFlight++;
    const next = this.#appending.then(() => this.#append());
    this.#appending = next.catch(() => undefined);
    return next;
  }

  async #append(): Promise<void> {
    try {
      await this.#appendOldest();
    } finally {
      this.#appendsInFlight--;
    }
  }

  async #appendOldest(): Promise<void> {
    const oldest = this.#queue.shift();
    if (oldest === undefined) {
      // Asked with nothing queued (#addSealedSlowly): a data pack #addSealedPart filled is stored.
      if (this.#writers.data?.writer.full === true) await this.#flush('data');
      return;
    }
    const { type, sealed } = oldest;
    const blob = await sealed;
    for (;;) {
      const open = this.#openWriter(type);
      if (open.writer.count > 0 && !open.writer.canAdd(blob.sealed.length)) {
        await this.#flush(type);
        continue;
      }
      open.spool.append(open.writer.add(blob));
      if (open.writer.full) await this.#flush(type);
      return;
    }
  }

  /**
   * The open pack of `type`, opened if there is none: written where the repository keeps it as it
   * fills when the repository can (`spoolPack`: a backup then holds no pack in memory), else in a
   * pooled buffer.
   */
  #openWriter(type: BlobType): { writer: PackWriter; spool: PackSpool } {
    let open = this.#writers[type];
    if (open === undefined) {
      const { deps, keys, repo } = this.#session;
      const spool =
        repo.spoolPack?.() ??
        new BufferedPackSpool(this.#buffers[type], repo, (bytes) => deps.crypto.sha256(bytes));
      open = { writer: new PackWriter(deps.crypto, keys), spool };
      this.#writers[type] = open;
    }
    return open;
  }

  /** Stores the open packs. Call once at the end of a run, before writing the index. */
  async finish(): Promise<EncodedIndexedPack[]> {
    while (this.#queue.length > 0) await this.#appendNext();
    // Every file is done, so every blob a sealer sent came; one that did not would leave the
    // snapshot naming a blob no pack holds.
    const missing = this.#awaited.filter((id) => !this.#pending.has(id)).length;
    if (missing > 0) throw new Error(`a sealer sent ${missing} blobs unsealed that were never sent sealed`);
    this.#awaited.length = 0;
    await this.#combineLast();
    await this.#flush('data');
    await this.#flush('tree');
    while (this.#storing.length > 0) await this.#storing.shift();
    return this.packs;
  }

  /**
   * Moves the open tree pack's blobs into the open data pack when both fit in one pack (see the
   * header): the run's last pack is then one padded pack, not two. The sealed bytes are copied from
   * the tree pack unchanged (a blob's aad binds its type and id, not its pack).
   */
  async #combineLast(): Promise<void> {
    const data = this.#writers.data;
    const tree = this.#writers.tree;
    if (data === undefined || tree === undefined || data.writer.count === 0 || tree.writer.count === 0)
      return;
    if (!data.writer.canAddAll(tree.writer.count, tree.writer.blobBytes)) return;
    for (const e of tree.writer.entries) {
      const sealed = tree.spool.read(e.offset, e.length);
      data.spool.append(data.writer.add({ type: e.type, id: e.id, rawLength: e.rawLength, sealed }));
    }
    this.#writers.tree = undefined;
    await tree.spool.discard();
  }

  /**
   * Ends the sealer (worker threads); call once, after `finish` or after a failure. After a failure
   * it waits for the packs still being stored (their errors are the failure's, or later ones).
   */
  async close(): Promise<void> {
    this.#queue.length = 0;
    await Promise.allSettled(this.#storing.splice(0));
    for (const type of ['data', 'tree'] as const) {
      const open = this.#writers[type];
      this.#writers[type] = undefined;
      await open?.spool.discard();
    }
    await this.#sealer.close();
  }

  /**
   * Closes the open pack of `type` and starts storing it; waits first while
   * BACKUP_ENGINE_LIMITS.packsStoringMax packs are being stored (a failure to store one surfaces here).
   */
  async #flush(type: BlobType): Promise<void> {
    const open = this.#writers[type];
    this.#writers[type] = undefined;
    if (open === undefined) return;
    if (open.writer.count === 0) {
      await open.spool.discard();
      return;
    }
    try {
      while (this.#storing.length >= BACKUP_ENGINE_LIMITS.packsStoringMax) await this.#storing.shift();
      this.#signal?.throwIfAborted();
    } catch (error) {
      await open.spool.discard();
      throw error;
    }
    const { tail, entries, length } = open.writer.finish();
    open.spool.append(tail);
    const packId = open.spool.seal();
    this.packs.push({ packId, header: encodePackHeaderContent(entries) });
    const stored = this.#store(packId, entries, length, open.spool);
    // Awaited in order by #flush, finish or close; a failure surfaces there, not as an unhandled rejection.
    stored.catch(() => undefined);
    this.#storing.push(stored);
  }

  async #store(
    packId: Uint8Array,
    entries: IndexedPack['entries'],
    length: number,
    spool: PackSpool,
  ): Promise<void> {
    try {
      await spool.store();
    } catch (error) {
      await spool.discard();
      throw error;
    }
    this.#own.add(toHex(packId));
    const packNumber = this.#reader.index.addPack(packId);
    // A blob the index already holds in a condemned pack keeps that first location there; it stays
    // in `#pending` (as every blob of the run does), so this run does not store it yet again.
    for (const e of entries) this.#reader.index.add(packNumber, e);
    this.stats.packs++;
    this.stats.bytesStored += length;
  }
}
