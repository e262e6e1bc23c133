/**
 * `workerSealers(count)`: the engine's BlobSealer (../src/backup/sealer.ts) on node:worker_threads.
 * Each worker holds a copy of the repository keys (wiped on close) and seals with node:crypto and
 * node:zlib zstd; jobs go to the worker with the fewest in flight. The chunk is copied once (the
 * engine reuses its buffer) and the copy, then the sealed bytes, are transferred, not cloned.
 * Ordering and the bound on blobs in flight are the caller's (pack-sink.ts).
 *
 * When every worker already has `BUSY_BEFORE_INLINE` jobs, the calling thread seals the blob itself:
 * on 2 cores one worker beside the engine's thread left whichever waited on the other idle (the
 * engine's share of the work, reading, chunking and ids, is about a third of sealing's), so the
 * engine thread takes sealing work whenever it would otherwise wait.
 *
 * This file is also the workers' entry point (`workerData.sealpostSealer`).
 */
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { constants, zstdCompressSync } from 'node:zlib';
import type { Compress } from '@sealpost/core/backup/blob';
import { nodeCryptoProvider } from '@sealpost/core/node';
import { sealBlob, type BlobId, type BlobType, type SealedBlob } from '@sealpost/core/backup/blob';
import { wipeRepositoryKeys, type RepositoryKeys } from '@sealpost/core/backup/keys';
import { BACKUP_ENGINE_LIMITS } from '../src/backup/limits.ts';
import type { BlobSealer, SealerFactory } from '../src/backup/sealer.ts';
import { reclaimNativeMemory } from './backup-reclaim.ts';

/**
 * A worker collects its dead zstd contexts after this many blobs, or this many bytes of chunks,
 * whichever comes first: a context holds about its input's size (window and buffers) until then.
 * Every 16 blobs (~16 MiB) left ~25 MiB more RSS than every 4 MiB, at the same speed.
 */
const RECLAIM_EVERY_JOBS = 16;
const RECLAIM_EVERY_BYTES = 4 * 1024 * 1024;
/** Jobs every worker has in flight (one being sealed, one queued) before the caller seals inline. */
const BUSY_BEFORE_INLINE = 2;

interface Job {
  readonly job: number;
  readonly type: BlobType;
  readonly plaintext: Uint8Array;
  /** Computed by the engine thread (it deduplicates on it), not again here. */
  readonly id: Uint8Array;
}
type Reply =
  | { readonly job: number; readonly id: Uint8Array; readonly rawLength: number; readonly sealed: Uint8Array }
  | { readonly job: number; readonly error: string };

interface Setup {
  readonly sealpostSealer: true;
  readonly keys: RepositoryKeys;
  readonly zstdLevel: number;
}

/** Seal blobs on `count` worker threads (at least 1). */
export function workerSealers(count: number, options: { zstdLevel?: number } = {}): SealerFactory {
  const zstdLevel = options.zstdLevel ?? BACKUP_ENGINE_LIMITS.zstdLevel;
  return (keys) => {
    const setup: Setup = { sealpostSealer: true, keys, zstdLevel };
    const compress = zstdCompressor(zstdLevel);
    const pending = new Map<
      number,
      { resolve: (b: SealedBlob) => void; reject: (e: Error) => void; type: BlobType }
    >();
    const workers = Array.from({ length: Math.max(1, count) }, () => {
      const worker = new Worker(new URL(import.meta.url), { workerData: setup });
      const slot = { worker, busy: 0 };
      worker.on('message', (reply: Reply) => {
        const waiting = pending.get(reply.job);
        if (waiting === undefined) return;
        pending.delete(reply.job);
        slot.busy--;
        if ('error' in reply) waiting.reject(new Error(`sealing failed in a worker: ${reply.error}`));
        else
          waiting.resolve({
            id: reply.id as BlobId,
            type: waiting.type,
            rawLength: reply.rawLength,
            sealed: reply.sealed,
          });
      });
      worker.on('error', (error) => {
        for (const w of pending.values()) w.reject(error);
        pending.clear();
      });
      return slot;
    });
    let next = 0;
    const sealer: BlobSealer = {
      seal(type, plaintext, id) {
        const slot = workers.reduce((a, b) => (b.busy < a.busy ? b : a));
        if (slot.busy >= BUSY_BEFORE_INLINE) {
          try {
            return Promise.resolve(sealBlob(nodeCryptoProvider, keys, type, plaintext, compress, id));
          } catch (error) {
            return Promise.reject(error as Error);
          }
        }
        const job = next++;
        slot.busy++;
        const copy = plaintext.slice();
        return new Promise((resolve, reject) => {
          pending.set(job, { resolve, reject, type });
          slot.worker.postMessage({ job, type, plaintext: copy, id } satisfies Job, [copy.buffer]);
        });
      },
      async close() {
        await Promise.all(
          workers.map(({ worker }) => {
            const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
            worker.postMessage('close');
            return exited;
          }),
        );
      },
    };
    return sealer;
  };
}

function zstdCompressor(level: number): Compress {
  return (data) => zstdCompressSync(data, { params: { [constants.ZSTD_c_compressionLevel]: level } });
}

/** The worker: seals each job and sends the result back; wipes its keys on "close". */
function serve(setup: Setup): void {
  const port = parentPort!;
  const { keys, zstdLevel } = setup;
  const compress = zstdCompressor(zstdLevel);
  let jobs = 0;
  let bytes = 0;
  port.on('message', (message: Job | 'close') => {
    if (message === 'close') {
      wipeRepositoryKeys(keys);
      port.close();
      return;
    }
    const { job, type, plaintext, id } = message;
    try {
      const blob = sealBlob(nodeCryptoProvider, keys, type, plaintext, compress, id as BlobId);
      plaintext.fill(0);
      const reply: Reply = { job, id: blob.id, rawLength: blob.rawLength, sealed: blob.sealed };
      port.postMessage(reply, [blob.sealed.buffer as ArrayBuffer]);
      // Each job's zstd context is freed only when collected (backup-reclaim.ts).
      bytes += plaintext.length;
      if (++jobs >= RECLAIM_EVERY_JOBS || bytes >= RECLAIM_EVERY_BYTES) {
        jobs = 0;
        bytes = 0;
        reclaimNativeMemory();
      }
    } catch (error) {
      plaintext.fill(0);
      port.postMessage({ job, error: error instanceof Error ? error.message : 'unknown' } satisfies Reply);
    }
  });
}

if (!isMainThread && (workerData as Partial<Setup> | null)?.sealpostSealer === true)
  serve(workerData as Setup);
