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
import { sealBlob, type BlobId, type BlobType } from '@sealpost/core/backup/blob';
import { wipeRepositoryKeys, type RepositoryKeys } from '@sealpost/core/backup/keys';
import { BACKUP_ENGINE_LIMITS } from '../src/backup/limits.ts';
import {
  verifyPack,
  type PackVerdict,
  type PackVerifier,
  type PackVerifierFactory,
} from '../src/backup/pack-verifier.ts';
import type { BlobSealer, SealerFactory } from '../src/backup/sealer.ts';
import { reclaimNativeMemory } from './backup-reclaim.ts';
import { zstdCompressor, zstdDecompress } from './backup-zstd.ts';

/**
 * A worker collects its dead zstd contexts after this many blobs, or this many bytes of chunks,
 * whichever comes first: a context holds about its input's size (window and buffers) until then.
 * Every 16 blobs (~16 MiB) left ~25 MiB more RSS than every 4 MiB, at the same speed.
 */
const RECLAIM_EVERY_JOBS = 16;
const RECLAIM_EVERY_BYTES = 4 * 1024 * 1024;
/** Jobs a worker has in flight (one being done, others queued) before the caller does one itself. */
const BUSY_BEFORE_INLINE = { seal: 4, verify: 1 } as const;
/**
 * Jobs are sent in batches: a message costs ~50 µs of CPU between the two threads whatever it
 * carries (20 KB chunks, 2 threads: 52-62 µs a job one by one, 25 with 4 a message, 16-19 with 8),
 * as much as sealing a small chunk. Jobs given in one turn of the event loop go in one message
 * (sent on `setImmediate`), or at once when the batch holds this many bytes or jobs.
 */
const BATCH_MAX_BYTES = 1024 * 1024;
const BATCH_MAX_JOBS = 8;

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
}
type JobBody = SealJob | VerifyJob;
type Job = JobBody & { readonly job: number };
type Reply =
  | { readonly job: number; readonly id: Uint8Array; readonly rawLength: number; readonly sealed: Uint8Array }
  | { readonly job: number; readonly verdict: PackVerdict }
  | { readonly job: number; readonly error: string };

interface Setup {
  readonly sealpostSealer: true;
  readonly keys: RepositoryKeys;
  readonly zstdLevel: number;
}

interface Pool {
  /** Jobs in flight on the least busy worker. */
  leastBusy(): number;
  /** Sends `body` to the least busy worker; its reply (an error reply rejects). */
  run(body: JobBody, transfer: ArrayBuffer[]): Promise<Reply>;
  close(): Promise<void>;
}

interface Slot {
  readonly worker: Worker;
  busy: number;
  /** Jobs not sent yet, and what they transfer. */
  batch: Job[];
  transfer: ArrayBuffer[];
  bytes: number;
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
  const pending = new Map<number, { resolve: (r: Reply) => void; reject: (e: Error) => void }>();
  const send = (slot: Slot) => {
    if (slot.batch.length === 0) return;
    slot.worker.postMessage(slot.batch, slot.transfer);
    slot.batch = [];
    slot.transfer = [];
    slot.bytes = 0;
  };
  const workers = Array.from({ length: Math.max(1, count) }, () => {
    const worker = new Worker(WORKER_URL, { workerData: setup });
    const slot: Slot = { worker, busy: 0, batch: [], transfer: [], bytes: 0 };
    worker.on('message', (replies: Reply[]) => {
      for (const reply of replies) {
        const waiting = pending.get(reply.job);
        if (waiting === undefined) continue;
        pending.delete(reply.job);
        slot.busy--;
        if ('error' in reply) waiting.reject(new Error(`a backup worker failed: ${reply.error}`));
        else waiting.resolve(reply);
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
  return {
    leastBusy: () => idlest().busy,
    run(body, transfer) {
      const slot = idlest();
      const job: Job = { ...body, job: next++ };
      slot.busy++;
      return new Promise((resolve, reject) => {
        pending.set(job.job, { resolve, reject });
        if (slot.batch.length === 0) setImmediate(() => send(slot));
        slot.batch.push(job);
        slot.transfer.push(...transfer);
        slot.bytes += job.kind === 'seal' ? job.plaintext.length : job.pack.length;
        if (slot.bytes >= BATCH_MAX_BYTES || slot.batch.length >= BATCH_MAX_JOBS) send(slot);
      });
    },
    async close() {
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

/** Seal blobs on `count` worker threads (at least 1). */
export function workerSealers(
  count: number,
  options: { zstdLevel?: number; zstdLevelSmall?: number } = {},
): SealerFactory {
  const levels = {
    fast: options.zstdLevel ?? BACKUP_ENGINE_LIMITS.zstdLevel,
    small: options.zstdLevelSmall ?? BACKUP_ENGINE_LIMITS.zstdLevelSmall,
  };
  return (keys, effort = 'fast') => {
    const zstdLevel = levels[effort];
    const pool = workerPool(count, { sealpostSealer: true, keys, zstdLevel });
    const compress = zstdCompressor(zstdLevel);
    const sealer: BlobSealer = {
      async seal(type, plaintext, id) {
        if (pool.leastBusy() >= BUSY_BEFORE_INLINE.seal)
          return sealBlob(nodeCryptoProvider, keys, type, plaintext, compress, id);
        const copy = new Uint8Array(plaintext); // a copy even of a Buffer (whose slice is a view)
        const reply = await pool.run({ kind: 'seal', type, plaintext: copy, id }, [copy.buffer]);
        if (!('sealed' in reply)) throw new Error('a backup worker answered a seal with something else');
        return { id: reply.id as BlobId, type, rawLength: reply.rawLength, sealed: reply.sealed };
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
    const inline = { crypto: nodeCryptoProvider, decompress: zstdDecompress, reclaim: reclaimNativeMemory };
    const verifier: PackVerifier = {
      async verify(pack) {
        if (pool.leastBusy() >= BUSY_BEFORE_INLINE.verify) return verifyPack(inline, keys, pack);
        // Shared memory (check's reused pack buffers, pack-reads.ts) is read in place, lent until the
        // verdict. Any other view into a larger buffer is copied: transferring would take the rest too.
        const shared = pack.buffer instanceof SharedArrayBuffer;
        const own =
          shared || (pack.byteOffset === 0 && pack.byteLength === pack.buffer.byteLength)
            ? pack
            : new Uint8Array(pack);
        const reply = await pool.run(
          { kind: 'verify', pack: own },
          shared ? [] : [own.buffer as ArrayBuffer],
        );
        if (!('verdict' in reply)) throw new Error('a backup worker answered a check with something else');
        return reply.verdict;
      },
      close: () => pool.close(),
    };
    return verifier;
  };
}

/** The worker: does each job and sends the result back; wipes its keys on "close". */
function serve(setup: Setup): void {
  const port = parentPort!;
  const { keys } = setup;
  const compress = zstdCompressor(setup.zstdLevel);
  const verifyDeps = { crypto: nodeCryptoProvider, decompress: zstdDecompress, reclaim: reclaimNativeMemory };
  let jobs = 0;
  let bytes = 0;
  /** Does one job: its reply, and what the reply transfers. */
  const perform = (message: Job): [Reply, ArrayBuffer[]] => {
    if (message.kind === 'verify') {
      try {
        // verifyPack reclaims every few blobs itself.
        return [{ job: message.job, verdict: verifyPack(verifyDeps, keys, message.pack) }, []];
      } catch (error) {
        return [{ job: message.job, error: error instanceof Error ? error.message : 'unknown' }, []];
      }
    }
    const { job, type, plaintext, id } = message;
    try {
      const blob = sealBlob(nodeCryptoProvider, keys, type, plaintext, compress, id as BlobId);
      plaintext.fill(0);
      // A minor GC now and then frees the dead chunk copies and sealed blobs (and the zstd
      // contexts, should backup-zstd.ts fall back to one per call).
      bytes += plaintext.length;
      if (++jobs >= RECLAIM_EVERY_JOBS || bytes >= RECLAIM_EVERY_BYTES) {
        jobs = 0;
        bytes = 0;
        reclaimNativeMemory();
      }
      return [
        { job, id: blob.id, rawLength: blob.rawLength, sealed: blob.sealed },
        [blob.sealed.buffer as ArrayBuffer],
      ];
    } catch (error) {
      plaintext.fill(0);
      return [{ job, error: error instanceof Error ? error.message : 'unknown' }, []];
    }
  };
  // A batch is answered in one message, once every job of it is done.
  port.on('message', (message: Job[] | 'close') => {
    if (message === 'close') {
      wipeRepositoryKeys(keys);
      port.close();
      return;
    }
    const replies: Reply[] = [];
    const transfer: ArrayBuffer[] = [];
    for (const job of message) {
      const [reply, buffers] = perform(job);
      replies.push(reply);
      transfer.push(...buffers);
    }
    port.postMessage(replies, transfer);
  });
}

if (!isMainThread && (workerData as Partial<Setup> | null)?.sealpostSealer === true)
  serve(workerData as Setup);
