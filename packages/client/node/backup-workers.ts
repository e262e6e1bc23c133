/**
 * The engine's slow stages on node:worker_threads: `workerSealers(count)`, its BlobSealer
 * (../src/backup/sealer.ts), and `workerPackVerifiers(count)`, its PackVerifier for `check
 * --read-data` (../src/backup/pack-verifier.ts). Each worker holds a copy of the repository keys
 * (wiped on close) and works with node:crypto and node:zlib zstd; jobs go to the worker with the
 * fewest in flight. A chunk is copied once (the engine reuses its buffer) and the copy, the sealed
 * bytes and a pack are transferred, not cloned. Ordering and the bound on jobs in flight are the
 * caller's (pack-sink.ts, check.ts).
 *
 * Jobs go to a worker in batches, and come back in one message per batch (BATCH_MAX_* below).
 *
 * When every worker already has `BUSY_BEFORE_INLINE` jobs, the calling thread does the job itself:
 * on 2 cores one worker beside the engine's thread left whichever waited on the other idle (the
 * engine's share of a backup, reading, chunking and ids, is about a third of sealing's), so the
 * engine thread takes work whenever it would otherwise wait.
 *
 * This file is also the workers' entry point (`workerData.sealpostSealer`).
 */
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { nodeCryptoProvider } from '@sealpost/core/node';
import { openSync, readSync, closeSync, readlinkSync } from 'node:fs';
import { getPriority, setPriority } from 'node:os';
import { LIMITS } from '@sealpost/core';
import {
  BLOB_ID_BYTES,
  BLOB_OVERHEAD_BYTES,
  blobId,
  sealBlob,
  sealBlobInto,
  type BlobId,
  type BlobType,
  type SealedBlob,
} from '@sealpost/core/backup/blob';
import { sortedIdsHave } from '@sealpost/core/backup/blob-index';
import { Chunker, deriveGearTable } from '@sealpost/core/backup/chunker';
import { wipeRepositoryKeys, type RepositoryKeys } from '@sealpost/core/backup/keys';
import { BACKUP_ENGINE_LIMITS } from '../src/backup/limits.ts';
import {
  verifyPack,
  type PackVerdict,
  type PackVerifier,
  type PackVerifierFactory,
} from '../src/backup/pack-verifier.ts';
import { FileSourceError, type BlobSealer, type SealerFactory } from '../src/backup/sealer.ts';
import type { BackupDeps } from '../src/backup/deps.ts';
import { BackupError } from '../src/backup/errors.ts';
import type {
  PackRestoreJob,
  PackRestoreResult,
  PackRestorer,
  PackRestorerFactory,
  RestoreFileState,
} from '../src/backup/pack-restorer.ts';
import { ClaimTable } from './backup-claims.ts';
import { restorePackSync } from './backup-restore-sync.ts';
import { reclaimNativeMemory } from './backup-reclaim.ts';
import { zstdCompressor, zstdDecompressor } from './backup-zstd.ts';

/**
 * A worker runs a minor GC after this many blobs, or this many bytes of chunks, whichever comes
 * first: it frees the dead sealed blobs and chunk copies (and zstd contexts, should backup-zstd.ts
 * fall back to one per call), which V8 would otherwise leave to grow. Every 16 blobs (~16 MiB) left
 * ~25 MiB more RSS than every 4 MiB, at the same speed. Whole small files (session 4) made the blob
 * count the trigger: every 64 blobs rather than 16 cost ~3% fewer instructions on the Debian set at
 * the same RSS; every 16 MiB rather than 4 peaked 80-150 MiB higher.
 */
const RECLAIM_EVERY_JOBS = 64;
const RECLAIM_EVERY_BYTES = 4 * 1024 * 1024;
/**
 * Jobs a worker has in flight (one being done, others queued) before the caller does one itself.
 * A check's engine thread has nothing else to do, so it verifies a pack whenever the worker has
 * one (check.ts holds BACKUP_ENGINE_LIMITS.checkPacksInFlight packs: one each).
 */
const BUSY_BEFORE_INLINE = { seal: 4, verify: 1, restore: 1 } as const;
/**
 * Jobs are sent in batches: a message costs ~50 µs of CPU between the two threads whatever it
 * carries (20 KB chunks, 2 threads: 52-62 µs a job one by one, 25 with 4 a message, 16-19 with 8),
 * as much as sealing a small chunk. Jobs given in one turn of the event loop go in one message
 * (sent on `setImmediate`), or at once when the batch holds this many bytes or jobs.
 */
const BATCH_MAX_BYTES = 1024 * 1024;
const BATCH_MAX_JOBS = 8;
/**
 * File jobs in one message: few, so that a worker's queue refills as it goes (a file's blobs come
 * back at the end of its batch or every PART_BYTES) while the engine keeps backupFileJobsInFlight out.
 */
const BATCH_MAX_FILES = 16;

interface SealJob {
  readonly kind: 'seal';
  readonly type: BlobType;
  readonly plaintext: Uint8Array;
  /** Computed by the engine thread (it deduplicates on it), not again here. */
  readonly id: Uint8Array;
}
interface VerifyJob {
  readonly kind: 'verify';
  readonly pack: Uint8Array;
  /** The pack's name to check it against, if any. */
  readonly name: string | undefined;
}
/** Write out one pack's part of a restore (PackRestorer.restore). */
interface RestoreJob {
  readonly kind: 'restore';
  readonly restore: PackRestoreJob;
}
/** Read, chunk and seal a whole file (BlobSealer.sealFile). */
interface FileJob {
  readonly kind: 'file';
  readonly path: string;
  /** The file's size from lstat: a short read that reaches it ends the file. */
  readonly expected: number;
}
type JobBody = SealJob | VerifyJob | RestoreJob | FileJob;
type Job = JobBody & { readonly job: number };
/**
 * Some of a file job's data blobs: their ids (32 bytes each) end to end, and [offset in the
 * worker's ring, sealed length, plaintext length] per blob, as views of a message's FileReplies;
 * the sealed bytes stay in the ring (RING_BYTES below) until the part is handled. Arrays rather
 * than objects and buffers per blob: the engine thread's share of a backup was mostly its
 * messages' decoding and the garbage they left (docs/backup-engine.md "Sealing on workers").
 */
interface WirePart {
  readonly ids: Uint8Array;
  readonly places: Uint32Array;
  /** The worker's ring count (RingControl `released`) once this part's bytes are released. */
  readonly upTo: number;
}
type Reply =
  | { readonly job: number; readonly id: Uint8Array; readonly rawLength: number; readonly sealed: Uint8Array }
  | { readonly job: number; readonly verdict: PackVerdict }
  | { readonly job: number; readonly restored: PackRestoreResult }
  /** A restore job's BACKUP_DATA_CORRUPT (`details`), or its file system error's code. */
  | {
      readonly job: number;
      readonly error: string;
      readonly corrupt: Record<string, string>;
    }
  | { readonly job: number; readonly error: string; readonly errno: string | undefined }
  /** A file job's end (sent as a FileReplies record). */
  | { readonly job: number; readonly size: number }
  /** `source`: the file could not be read; `aborted`: the pool was told to stop. */
  | { readonly job: number; readonly error: string; readonly source?: true; readonly aborted?: true };

interface Setup {
  readonly sealpostSealer: true;
  /** File jobs will come (BlobSealer.sealFile): each worker gets a ring (RING_BYTES). */
  readonly sealsFiles?: true;
  readonly keys: RepositoryKeys;
  readonly zstdLevel: number;
  /** A restore's shared file state (pack-restorer.ts), for restore jobs. */
  readonly restoreState?: RestoreFileState;
  /** Ids the repository holds (SealerFactory `known`, in shared memory): file jobs skip sealing them. */
  readonly known?: Uint32Array;
  /**
   * The run's ClaimTable (backup-claims.ts): a file job seals a chunk only when it is the first to
   * claim its id, and sends later ones unsealed.
   */
  readonly claims?: SharedArrayBuffer;
}

/**
 * Shared between the pool and one worker (Int32Array over a SharedArrayBuffer): the count of ring
 * bytes the pool has released (modulo 2^32: see the ring below), and a flag that tells the worker
 * to abandon its file jobs.
 */
const CONTROL_RELEASED = 0;
const CONTROL_ABORT = 1;
/**
 * Each worker seals file jobs' chunks straight into a ring of shared memory and sends where they
 * are; the engine thread copies them into its pack and releases them, in the order they were
 * sent. A blob takes one contiguous stretch (a blob that does not fit before the ring's end starts
 * again at its beginning, and the end is released with it), so the ring holds the largest sealed
 * chunk and the sealed bytes a worker may have ahead of the engine thread's handling: beyond that
 * it waits, so a fast reader over a slow repository does not fill memory.
 *
 * Why: a sealed copy per blob and a buffer per part, made on the worker and freed on the engine
 * thread, left malloc's per-thread arenas holding ~45 MiB per worker at the end of the Debian set's
 * first backup (the arenas keep what they once held); the ring is the same memory every time.
 */
const RING_AHEAD_BYTES = 4 * 1024 * 1024;
const RING_BYTES = LIMITS.backupChunkMaxBytes + BLOB_OVERHEAD_BYTES + RING_AHEAD_BYTES;
/** A worker sends what it has of its file jobs once this many sealed bytes are ready. */
const PART_BYTES = 1024 * 1024;

interface Pool {
  /** Jobs in flight on the least busy worker. */
  leastBusy(): number;
  /**
   * Sends `body` to the least busy worker; its reply (an error reply rejects). A file job's parts go
   * to `onPart` in order, and the job settles after the last one's promise.
   */
  run(
    body: JobBody,
    transfer: ArrayBuffer[],
    onPart?: (reply: PartReply) => Promise<void> | undefined,
  ): Promise<Reply>;
  /** Tells the workers to abandon their file jobs (each then answers with an `aborted` error). */
  abort(): void;
  close(): Promise<void>;
}
/** Some of a file job's blobs (more may follow), as the pool hands them on: with the ring its places are in. */
interface PartReply {
  readonly job: number;
  readonly part: WirePart;
  readonly bytesRead: number;
  readonly ring: SharedArrayBuffer;
}

interface Slot {
  readonly worker: Worker;
  readonly control: Int32Array;
  /** The worker's ring (file jobs' sealed bytes), as views are made of it. */
  readonly ring: SharedArrayBuffer;
  /** Parts received and not yet released, oldest first: released in this order (`upTo` counts). */
  readonly unreleased: { readonly upTo: number; handled: boolean }[];
  busy: number;
  /** Jobs not sent yet, and what they transfer. */
  batch: Job[];
  transfer: ArrayBuffer[];
  bytes: number;
}

interface Waiting {
  readonly resolve: (r: Reply) => void;
  readonly reject: (e: Error) => void;
  readonly onPart: ((reply: PartReply) => Promise<void> | undefined) | undefined;
  /**
   * The job's parts being handled, in order: undefined while every part so far was handled when
   * it came (onPart returned no promise), as most are (pack-sink.ts), so that they cost no promise.
   */
  parts: Promise<void> | undefined;
}

/**
 * Set by the CLI's bundle (scripts/build-cli.ts) to the bundled worker's file name, beside the
 * bundle: there `import.meta.url` is the bundle's, which would start the CLI again in each worker.
 */
declare const SEALPOST_BACKUP_WORKER: string | undefined;
const WORKER_URL =
  typeof SEALPOST_BACKUP_WORKER === 'string'
    ? new URL(SEALPOST_BACKUP_WORKER, import.meta.url)
    : new URL(import.meta.url);

function workerPool(count: number, setup: Setup): Pool {
  const pending = new Map<number, Waiting>();
  const send = (slot: Slot) => {
    if (slot.batch.length === 0) return;
    slot.worker.postMessage(encodeBatch(slot.batch), slot.transfer);
    slot.batch = [];
    slot.transfer = [];
    slot.bytes = 0;
  };
  const settle = (slot: Slot, waiting: Waiting, reply: Reply) => {
    slot.busy--;
    const end = () => ('error' in reply ? waiting.reject(jobError(reply)) : waiting.resolve(reply));
    // After the job's parts: a failure to handle one is the job's failure.
    if (waiting.parts === undefined) end();
    else waiting.parts.then(end, (error: unknown) => waiting.reject(asError(error)));
  };
  /**
   * Hands a part to its job's onPart, after the parts before it; `done` once it is handled (or
   * failed: the job then fails, and its later parts are released unhandled).
   */
  const handlePart = (waiting: Waiting | undefined, reply: PartReply, done: () => void) => {
    if (waiting === undefined) {
      done();
      return;
    }
    let result: Promise<void> | undefined;
    if (waiting.parts === undefined) {
      try {
        result = waiting.onPart?.(reply);
      } catch (error) {
        result = Promise.reject(asError(error));
      }
      if (result === undefined) {
        done();
        return;
      }
    } else {
      result = waiting.parts.then(() => waiting.onPart?.(reply));
    }
    const handled: Promise<void> = result.then(() => {
      if (waiting.parts === handled) waiting.parts = undefined;
    });
    waiting.parts = handled;
    void handled.catch(() => undefined).then(done);
  };
  const workers = Array.from({ length: Math.max(1, count) }, () => {
    const control = new Int32Array(new SharedArrayBuffer(2 * Int32Array.BYTES_PER_ELEMENT));
    // Made only for pools that seal files: its pages are touched as the worker fills it.
    const ring = new SharedArrayBuffer(setup.sealsFiles === true ? RING_BYTES : 0);
    const worker = new Worker(WORKER_URL, { workerData: { ...setup, control, ring } });
    const slot: Slot = { worker, control, ring, unreleased: [], busy: 0, batch: [], transfer: [], bytes: 0 };
    /** Releases the ring up to the oldest part not handled yet. */
    const release = () => {
      let upTo: number | undefined;
      while (slot.unreleased.length > 0 && slot.unreleased[0]!.handled) upTo = slot.unreleased.shift()!.upTo;
      if (upTo === undefined) return;
      Atomics.store(control, CONTROL_RELEASED, upTo | 0);
      Atomics.notify(control, CONTROL_RELEASED);
    };
    worker.on('message', ({ files, replies }: WorkerMessage) => {
      let id = 0;
      for (let r = 0; r < files.records.length; r += RECORD_WORDS) {
        const job = files.records[r + 1]!;
        const value = files.records[r + 2]!;
        if (files.records[r] === RECORD_END) {
          const waiting = pending.get(job);
          if (waiting === undefined) continue;
          pending.delete(job);
          settle(slot, waiting, { job, size: value });
          continue;
        }
        const upTo = files.records[r + 3]!;
        const blobs = files.records[r + 4]!;
        const part: WirePart = {
          ids: files.ids.subarray(id * BLOB_ID_BYTES, (id + blobs) * BLOB_ID_BYTES),
          places: files.places.subarray(id * 3, (id + blobs) * 3),
          upTo,
        };
        id += blobs;
        // Released once handled (or failed: the job then fails), even when no job waits for it.
        const entry = { upTo, handled: false };
        slot.unreleased.push(entry);
        handlePart(pending.get(job), { job, part, bytesRead: value, ring }, () => {
          entry.handled = true;
          release();
        });
      }
      for (const reply of replies) {
        const waiting = pending.get(reply.job);
        if (waiting === undefined) continue;
        pending.delete(reply.job);
        settle(slot, waiting, reply);
      }
    });
    worker.on('error', (error) => {
      for (const w of pending.values()) w.reject(error);
      pending.clear();
    });
    return slot;
  });
  const idlest = () => workers.reduce((a, b) => (b.busy < a.busy ? b : a));
  let next = 0;
  const abort = () => {
    for (const { control } of workers) Atomics.store(control, CONTROL_ABORT, 1);
  };
  return {
    leastBusy: () => idlest().busy,
    run(body, transfer, onPart) {
      const slot = idlest();
      const job: Job = { ...body, job: next++ };
      slot.busy++;
      return new Promise((resolve, reject) => {
        pending.set(job.job, { resolve, reject, onPart, parts: undefined });
        if (slot.batch.length === 0) setImmediate(() => send(slot));
        slot.batch.push(job);
        slot.transfer.push(...transfer);
        slot.bytes +=
          job.kind === 'seal'
            ? job.plaintext.length
            : job.kind === 'verify'
              ? job.pack.length
              : job.kind === 'restore'
                ? BATCH_MAX_BYTES
                : 0;
        const max = job.kind === 'file' ? BATCH_MAX_FILES : BATCH_MAX_JOBS;
        if (slot.bytes >= BATCH_MAX_BYTES || slot.batch.length >= max) send(slot);
      });
    },
    abort,
    async close() {
      // Queued file jobs are abandoned rather than read to no purpose (after a failure).
      abort();
      for (const slot of workers) send(slot);
      await Promise.all(
        workers.map(({ worker }) => {
          const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
          worker.postMessage('close');
          return exited;
        }),
      );
    },
  };
}

function asError(error: unknown): Error {
  return error instanceof Error ? error : new Error(String(error));
}

/** A worker's error reply as the error to throw. */
function jobError(reply: Extract<Reply, { error: string }>): Error {
  if ('corrupt' in reply) return new BackupError('BACKUP_DATA_CORRUPT', reply.error, reply.corrupt);
  if ('errno' in reply) return Object.assign(new Error(reply.error), { code: reply.errno });
  return new WorkerJobError(reply);
}

/** A worker's error reply. */
class WorkerJobError extends Error {
  readonly source: boolean;
  readonly aborted: boolean;
  constructor(reply: { error: string; source?: true; aborted?: true }) {
    super(
      reply.source === true || reply.aborted === true
        ? reply.error
        : `a backup worker failed: ${reply.error}`,
    );
    this.source = reply.source === true;
    this.aborted = reply.aborted === true;
  }
}

/** `words` in shared memory (one copy for every worker, not one each), when there is any. */
function sharedCopy(words: Uint32Array | undefined): Uint32Array | undefined {
  if (words === undefined || typeof SharedArrayBuffer !== 'function') return words;
  const shared = new Uint32Array(new SharedArrayBuffer(words.byteLength));
  shared.set(words);
  return shared;
}

/**
 * A pack as a worker gets it: one in shared memory (the reused pack buffers, pack-reads.ts) is
 * read in place, lent until the reply; any other is taken (transferred), a view into a larger
 * buffer copied first (transferring would take the rest too).
 */
function lentPack(pack: Uint8Array): { own: Uint8Array; transfer: ArrayBuffer[] } {
  if (pack.buffer instanceof SharedArrayBuffer) return { own: pack, transfer: [] };
  const own =
    pack.byteOffset === 0 && pack.byteLength === pack.buffer.byteLength ? pack : new Uint8Array(pack);
  return { own, transfer: own.buffer.byteLength === 0 ? [] : [own.buffer as ArrayBuffer] };
}

/**
 * What a thread needs to open blobs (check's verifying, restore's writing): both are done with each
 * plaintext before the next blob is opened, so one decompression output buffer serves them all.
 */
function openingDeps(): Pick<BackupDeps, 'crypto' | 'decompress' | 'reclaim'> {
  return {
    crypto: nodeCryptoProvider,
    decompress: zstdDecompressor({ keepOutput: true }),
    reclaim: reclaimNativeMemory,
  };
}

/** Seal blobs on `count` worker threads (at least 1). */
export function workerSealers(
  count: number,
  options: { zstdLevel?: number; zstdLevelSmall?: number } = {},
): SealerFactory {
  const levels = {
    fast: options.zstdLevel ?? BACKUP_ENGINE_LIMITS.zstdLevel,
    small: options.zstdLevelSmall ?? BACKUP_ENGINE_LIMITS.zstdLevelSmall,
  };
  return (keys, effort = 'fast', known) => {
    const zstdLevel = levels[effort];
    const pool = workerPool(count, {
      sealpostSealer: true,
      sealsFiles: true,
      keys,
      zstdLevel,
      known: sharedCopy(known),
      claims: new ClaimTable().buffer,
    });
    const compress = zstdCompressor(zstdLevel);
    /**
     * The signals whose abort stops the pool's file jobs: a run's files share one, which is
     * listened to once (a listener added and removed per file cost the engine thread ~1 µs each).
     */
    const watched = new WeakSet<AbortSignal>();
    const sealer: BlobSealer = {
      async seal(type, plaintext, id) {
        if (pool.leastBusy() >= BUSY_BEFORE_INLINE.seal)
          return sealBlob(nodeCryptoProvider, keys, type, plaintext, compress, id);
        const copy = new Uint8Array(plaintext); // a copy even of a Buffer (whose slice is a view)
        const reply = await pool.run({ kind: 'seal', type, plaintext: copy, id }, [copy.buffer]);
        if (!('sealed' in reply)) throw new Error('a backup worker answered a seal with something else');
        return { id: reply.id as BlobId, type, rawLength: reply.rawLength, sealed: reply.sealed };
      },
      // Not an async function: one promise a file fewer on the engine thread (80,000 files).
      sealFile(path, expected, onPart, signal) {
        try {
          signal?.throwIfAborted();
        } catch (error) {
          return Promise.reject(error as Error);
        }
        if (signal !== undefined && !watched.has(signal)) {
          watched.add(signal);
          signal.addEventListener('abort', () => pool.abort(), { once: true });
        }
        return pool
          .run({ kind: 'file', path, expected }, [], (reply) =>
            onPart({ blobs: blobsOf(reply.part, reply.ring), bytesRead: reply.bytesRead }),
          )
          .then(
            (reply) => {
              if (!('size' in reply)) throw new Error('a backup worker answered a file with something else');
              return reply.size;
            },
            (error: unknown) => {
              if (error instanceof WorkerJobError && error.source) throw new FileSourceError(error.message);
              if (error instanceof WorkerJobError && error.aborted) signal?.throwIfAborted();
              throw error;
            },
          );
      },
      close: () => pool.close(),
    };
    return sealer;
  };
}

/** Open packs' blobs for `check --read-data` on `count` worker threads (at least 1). */
export function workerPackVerifiers(count: number): PackVerifierFactory {
  return (keys) => {
    const pool = workerPool(count, {
      sealpostSealer: true,
      keys,
      zstdLevel: BACKUP_ENGINE_LIMITS.zstdLevel,
    });
    const inline = openingDeps();
    const verifier: PackVerifier = {
      async verify(pack, name) {
        if (pool.leastBusy() >= BUSY_BEFORE_INLINE.verify) return verifyPack(inline, keys, pack, name);
        const { own, transfer } = lentPack(pack);
        const reply = await pool.run({ kind: 'verify', pack: own, name }, transfer);
        if (!('verdict' in reply)) throw new Error('a backup worker answered a check with something else');
        return reply.verdict;
      },
      close: () => pool.close(),
    };
    return verifier;
  };
}

/**
 * Write restores' packs out on `count` worker threads (at least 1), with blocking file calls
 * (backup-restore-sync.ts); the calling thread takes a pack too when every worker has one.
 */
export function workerPackRestorers(count: number): PackRestorerFactory {
  return (keys, state) => {
    const pool = workerPool(count, {
      sealpostSealer: true,
      keys,
      zstdLevel: BACKUP_ENGINE_LIMITS.zstdLevel,
      restoreState: state,
    });
    const inline = openingDeps();
    const restorer: PackRestorer = {
      width: Math.max(1, count) + 1,
      async restore(job) {
        if (pool.leastBusy() >= BUSY_BEFORE_INLINE.restore) {
          // Yield first, so that the pack fetches and worker replies already in do not wait on it.
          await new Promise(setImmediate);
          return restorePackSync(inline, keys, state, job);
        }
        const { own, transfer } = lentPack(job.pack);
        const reply = await pool.run({ kind: 'restore', restore: { ...job, pack: own } }, transfer);
        if (!('restored' in reply)) throw new Error('a backup worker answered a restore with something else');
        return reply.restored;
      },
      close: () => pool.close(),
    };
    return restorer;
  };
}

/** A file job's chunk the repository holds: no bytes (SealerFactory `known`). */
const UNSEALED = new Uint8Array(0);

/** The worker: does each job and sends the result back; wipes its keys on "close". */
function serve(setup: Setup & { readonly control: Int32Array; readonly ring: SharedArrayBuffer }): void {
  const port = parentPort!;
  lowerThreadPriority(BACKUP_ENGINE_LIMITS.workerNiceIncrement);
  const { keys, control } = setup;
  const compress = zstdCompressor(setup.zstdLevel);
  const verifyDeps = openingDeps();
  const gear = deriveGearTable(nodeCryptoProvider, keys.chunker);
  const claims = setup.claims === undefined ? undefined : new ClaimTable(setup.claims);
  /** File jobs' chunk buffer, made on the first one (LIMITS.backupChunkMaxBytes, touched as far as used). */
  let chunk: Uint8Array | undefined;
  let jobs = 0;
  let bytes = 0;
  /** Replies not sent yet, and what they transfer. */
  let out: Reply[] = [];
  let outTransfer: ArrayBuffer[] = [];
  /** File jobs' parts and ends not sent yet (FileReplies): records, and the parts' ids and places. */
  let records: number[] = [];
  let recordIds: BlobId[] = [];
  let recordPlaces: number[] = [];

  /** Sends the replies gathered: file jobs' records first (a job's parts before its error reply). */
  const flush = () => {
    if (out.length === 0 && records.length === 0) return;
    const files = fileReplies(records, recordIds, recordPlaces);
    const message: WorkerMessage = { files, replies: out };
    port.postMessage(message, [
      ...outTransfer,
      files.records.buffer as ArrayBuffer,
      files.ids.buffer as ArrayBuffer,
      files.places.buffer as ArrayBuffer,
    ]);
    out = [];
    outTransfer = [];
    records = [];
    recordIds = [];
    recordPlaces = [];
  };

  /** File jobs' sealed bytes (RING_BYTES); where the next blob goes; ring bytes used so far, mod 2^32. */
  const ring = new Uint8Array(setup.ring);
  let ringAt = 0;
  let produced = 0;
  /** `produced` as the last part sent carried it (what the engine thread can release so far). */
  let sentUpTo = 0;
  /**
   * Where a blob of at most `need` bytes may be sealed: a stretch of the ring the engine thread has
   * released, after the last blob or, when that one ends too close to the ring's end, at its start
   * (the end then counts as used). While there is no room it calls `send`, which must post the
   * parts this worker holds, and a part (empty if need be) up to `produced` when `sentUpTo` is
   * behind it (else the skipped end is never released), then waits for the engine thread.
   */
  const reserve = (need: number, send: () => void): number => {
    if (ringAt + need > ring.length) {
      produced = (produced + ring.length - ringAt) >>> 0;
      ringAt = 0;
    }
    for (;;) {
      const released = Atomics.load(control, CONTROL_RELEASED);
      if (ring.length - ((produced - released) >>> 0) >= need) return ringAt;
      send();
      Atomics.wait(control, CONTROL_RELEASED, released);
    }
  };

  /**
   * A minor GC now and then frees the dead chunk copies and sealed blobs, and node:crypto's
   * output buffers (and the zstd contexts, should backup-zstd.ts fall back to one per call).
   */
  const reclaimIfDue = (plaintextBytes: number) => {
    bytes += plaintextBytes;
    if (++jobs >= RECLAIM_EVERY_JOBS || bytes >= RECLAIM_EVERY_BYTES) {
      jobs = 0;
      bytes = 0;
      reclaimNativeMemory();
    }
  };

  /**
   * Reads `path` in readBufferBytes pieces into the chunk buffer, right after the current chunk's
   * bytes (as backup.ts does on the engine thread), and seals each chunk into the ring; parts go
   * out every PART_BYTES of sealed bytes, and whenever the ring is full.
   */
  const sealFile = (job: number, path: string, expected: number) => {
    const buffer = (chunk ??= new Uint8Array(LIMITS.backupChunkMaxBytes));
    const chunker = new Chunker(gear);
    /** The part being gathered: its blobs' ids, and [ring offset, sealed length, plaintext length] each. */
    let ids: BlobId[] = [];
    let places: number[] = [];
    let partBytes = 0;
    let fill = 0;
    let used = 0;
    let size = 0;
    const part = () => {
      records.push(RECORD_PART, job, size, produced, ids.length);
      for (const id of ids) recordIds.push(id);
      for (const p of places) recordPlaces.push(p);
      sentUpTo = produced;
      ids = [];
      places = [];
      partBytes = 0;
    };
    const send = () => {
      if (ids.length > 0 || sentUpTo !== produced) part();
      flush();
    };
    /**
     * A chunk: left unsealed when the repository holds it or another job of the run claimed it
     * first (the engine thread deduplicates it), else sealed in place in the ring (sealBlobInto: no
     * joined plaintext, no copy). A claimed chunk is always sent: every reply that ends a job early
     * (`failed`) sends the part gathered so far before it.
     */
    const seal = (plaintext: Uint8Array) => {
      const id = blobId(nodeCryptoProvider, keys, 'data', plaintext);
      if (
        (setup.known !== undefined && sortedIdsHave(setup.known, id)) ||
        (claims !== undefined && !claims.claim(id))
      ) {
        places.push(0, 0, plaintext.length);
      } else {
        const at = reserve(plaintext.length + BLOB_OVERHEAD_BYTES, send);
        const n = sealBlobInto(nodeCryptoProvider, keys, 'data', plaintext, compress, id, ring, at);
        ringAt = at + n;
        produced = (produced + n) >>> 0;
        places.push(at, n, plaintext.length);
        partBytes += n;
      }
      ids.push(id);
      reclaimIfDue(plaintext.length);
    };
    /** Ends the job with an error reply, after the blobs sealed so far (some may be claimed). */
    const failed = (reply: Reply) => {
      if (ids.length > 0) part();
      out.push(reply);
    };
    let fd: number;
    try {
      fd = openSync(path, 'r');
    } catch (error) {
      out.push({ job, error: messageOf(error), source: true });
      return;
    }
    try {
      for (;;) {
        if (Atomics.load(control, CONTROL_ABORT) !== 0) {
          failed({ job, error: 'aborted', aborted: true });
          return;
        }
        const room = Math.min(BACKUP_ENGINE_LIMITS.readBufferBytes, buffer.length - fill);
        let n: number;
        try {
          n = readSync(fd, buffer, fill, room, size);
        } catch (error) {
          failed({ job, error: messageOf(error), source: true });
          return;
        }
        if (n === 0) break;
        const end = fill + n;
        used = Math.max(used, end);
        let start = 0;
        for (const length of chunker.push(buffer.subarray(fill, end))) {
          seal(buffer.subarray(start, start + length));
          start += length;
        }
        if (start > 0) buffer.copyWithin(0, start, end);
        fill = end - start;
        size += n;
        if (partBytes >= PART_BYTES) send();
        if (n < room && size >= expected) break;
      }
      const last = chunker.finish();
      if (last > 0) seal(buffer.subarray(0, last));
      if (ids.length > 0 || size > 0) part();
      records.push(RECORD_END, job, size, 0, 0);
    } catch (error) {
      failed({ job, error: messageOf(error) });
    } finally {
      closeSync(fd);
      buffer.fill(0, 0, used);
    }
  };

  /** Does one seal or verify job: its reply, and what the reply transfers. */
  const perform = (message: SealJob | VerifyJob | RestoreJob, job: number): [Reply, ArrayBuffer[]] => {
    if (message.kind === 'restore') {
      try {
        return [
          { job, restored: restorePackSync(verifyDeps, keys, setup.restoreState!, message.restore) },
          [],
        ];
      } catch (error) {
        if (error instanceof BackupError && error.code === 'BACKUP_DATA_CORRUPT') {
          return [{ job, error: error.message, corrupt: error.details as Record<string, string> }, []];
        }
        const errno = (error as { code?: unknown }).code;
        return [{ job, error: messageOf(error), errno: typeof errno === 'string' ? errno : undefined }, []];
      }
    }
    if (message.kind === 'verify') {
      try {
        // verifyPack reclaims every few blobs itself.
        return [{ job, verdict: verifyPack(verifyDeps, keys, message.pack, message.name) }, []];
      } catch (error) {
        return [{ job, error: messageOf(error) }, []];
      }
    }
    const { type, plaintext, id } = message;
    try {
      const blob = sealBlob(nodeCryptoProvider, keys, type, plaintext, compress, id as BlobId);
      reclaimIfDue(plaintext.length);
      return [
        { job, id: blob.id, rawLength: blob.rawLength, sealed: blob.sealed },
        [blob.sealed.buffer as ArrayBuffer],
      ];
    } catch (error) {
      return [{ job, error: messageOf(error) }, []];
    } finally {
      plaintext.fill(0);
    }
  };
  // A batch is answered in one message once every job of it is done, or sooner in parts when its
  // files' sealed bytes pile up (sealFile).
  port.on('message', (message: Batch | 'close') => {
    if (message === 'close') {
      wipeRepositoryKeys(keys);
      chunk?.fill(0);
      port.close();
      return;
    }
    for (const job of message.jobs) {
      const [reply, buffers] = perform(job, job.job);
      out.push(reply);
      outTransfer.push(...buffers);
    }
    const paths = message.files.paths.split('\0');
    message.files.jobs.forEach((job, i) => sealFile(job, paths[i]!, message.files.expected[i]!));
    flush();
  });
}

/**
 * A message of jobs: seal and verify jobs as they are, and file jobs as one string of paths joined
 * by NUL (which no path holds) and two arrays: cloning an object per file cost ~5 µs of the engine
 * thread's CPU (80,000 files: ~0.4 s).
 */
interface Batch {
  readonly jobs: (Job & (SealJob | VerifyJob | RestoreJob))[];
  readonly files: { readonly jobs: Float64Array; readonly expected: Float64Array; readonly paths: string };
}

function encodeBatch(batch: readonly Job[]): Batch {
  const jobs: Batch['jobs'] = [];
  const files: (Job & FileJob)[] = [];
  for (const job of batch) {
    if (job.kind === 'file') files.push(job);
    else jobs.push(job);
  }
  return {
    jobs,
    files: {
      jobs: Float64Array.from(files, (f) => f.job),
      expected: Float64Array.from(files, (f) => f.expected),
      paths: files.map((f) => f.path).join('\0'),
    },
  };
}

/**
 * A worker's message: its file jobs' parts and ends as FileReplies, and every other reply (seal,
 * verify and restore jobs' results, and errors, a file job's after its parts) as an object.
 */
interface WorkerMessage {
  readonly files: FileReplies;
  readonly replies: Reply[];
}

/**
 * File jobs' parts and ends in one message, as three arrays: `records` holds RECORD_WORDS numbers
 * a record, [RECORD_PART, job, bytes read, ring count (WirePart `upTo`), blobs] or [RECORD_END,
 * job, size, 0, 0]; `ids` the parts' ids end to end, `places` their [ring offset, sealed length,
 * plaintext length]. An object per part and per end, cloned, cost the engine thread ~1 KB of
 * garbage a file and a deserialisation each (the Debian set's 80,000 files).
 */
interface FileReplies {
  readonly records: Float64Array;
  readonly ids: Uint8Array;
  readonly places: Uint32Array;
}
const RECORD_PART = 0;
const RECORD_END = 1;
const RECORD_WORDS = 5;

function fileReplies(
  records: readonly number[],
  ids: readonly BlobId[],
  places: readonly number[],
): FileReplies {
  const joined = new Uint8Array(ids.length * BLOB_ID_BYTES);
  for (let i = 0; i < ids.length; i++) joined.set(ids[i]!, i * BLOB_ID_BYTES);
  return { records: Float64Array.from(records), ids: joined, places: Uint32Array.from(places) };
}

/** A WirePart's blobs, as views into its buffers and the ring (valid until the part is released). */
function blobsOf(part: WirePart, ring: SharedArrayBuffer): SealedBlob[] {
  const bytes = new Uint8Array(ring);
  const blobs: SealedBlob[] = [];
  for (let i = 0; i < part.places.length / 3; i++) {
    const at = part.places[3 * i]!;
    const length = part.places[3 * i + 1]!;
    blobs.push({
      id: part.ids.subarray(i * BLOB_ID_BYTES, (i + 1) * BLOB_ID_BYTES) as BlobId,
      type: 'data',
      rawLength: part.places[3 * i + 2]!,
      // A chunk the repository holds has no bytes (SealerFactory `known`).
      sealed: length === 0 ? UNSEALED : bytes.subarray(at, at + length),
    });
  }
  return blobs;
}

/**
 * Raises this thread's nice value by `increment` (Linux, where a thread has its own, found through
 * /proc/thread-self): the engine thread, which feeds the workers and empties their rings, then
 * gets a core as soon as it has work, instead of waiting behind two workers for a time slice. On
 * the Debian set's first backup (2 cores) that took 2-3% off the wall time (8.11-8.57 -> 7.94-8.05
 * s in alternating runs) for the same CPU. Elsewhere, or when refused, the thread keeps its
 * priority. Only ever lowers it: no privilege is needed.
 */
function lowerThreadPriority(increment: number): void {
  try {
    const tid = Number(/task\/(\d+)$/.exec(readlinkSync('/proc/thread-self'))?.[1]);
    if (Number.isInteger(tid) && tid > 0) setPriority(tid, Math.min(19, getPriority(tid) + increment));
  } catch {
    // not Linux, or refused: the thread keeps its priority
  }
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : 'unknown';
}

if (!isMainThread && (workerData as Partial<Setup> | null)?.sealpostSealer === true)
  serve(workerData as Setup & { readonly control: Int32Array; readonly ring: SharedArrayBuffer });
