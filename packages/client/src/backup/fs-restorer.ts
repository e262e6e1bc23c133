/**
 * The default PackRestorer (pack-restorer.ts): on the engine's thread, through the injected
 * BackupFs (fs.ts), for runtimes without a faster one (Node's is on worker threads with blocking
 * file calls: packages/client/node/backup-restore-sync.ts).
 *
 * Each blob of a job is opened (tag, length, keyed id: blob.ts) before a byte of it is written,
 * then written to every file and place that needs it, several files at once
 * (`restoreWritesInFlight`), with at most `restoreOpenFilesMax` open (the rest are closed and
 * reopened when their next chunk comes). Operations on one file run one after another (open,
 * writes, close, rename). A file is written to "<dest>.sealpost-partial", created exclusively, and
 * renamed into place once its last chunk is in, after its size, mode and time are set. Aligned
 * blocks of zeros (holeBlockBytes) are left as holes.
 */
import { BLOB_ID_BYTES, openBlob, type BlobId } from '@sealpost/core/backup/blob';
import type { RepositoryKeys } from '@sealpost/core/backup/keys';
import { corrupt } from './damaged.ts';
import type { BackupDeps } from './deps.ts';
import { BackupError } from './errors.ts';
import type { FsWriter } from './fs.ts';
import { Lanes } from './lanes.ts';
import { BACKUP_ENGINE_LIMITS } from './limits.ts';
import {
  FILE_CREATED,
  FILE_DONE,
  FILE_UNTOUCHED,
  type PackRestoreJob,
  type PackRestorer,
  type RestoreFileState,
} from './pack-restorer.ts';
import { PARTIAL_SUFFIX } from './restore-plan.ts';

function allZero(bytes: Uint8Array): boolean {
  if (bytes.byteOffset % 4 === 0) {
    const words = new Uint32Array(bytes.buffer, bytes.byteOffset, bytes.length >>> 2);
    for (let i = 0; i < words.length; i++) if (words[i] !== 0) return false;
    for (let i = words.length * 4; i < bytes.length; i++) if (bytes[i] !== 0) return false;
    return true;
  }
  for (let i = 0; i < bytes.length; i++) if (bytes[i] !== 0) return false;
  return true;
}

/**
 * The runs of `data` to write, as [start, end) pairs: everything but aligned blocks of
 * holeBlockBytes zeros, which are left as holes (sparse files). Shared with Node's restorer.
 */
export function* nonZeroRuns(data: Uint8Array): Generator<readonly [number, number]> {
  const block = BACKUP_ENGINE_LIMITS.holeBlockBytes;
  let runStart = -1;
  for (let at = 0; at < data.length; at += block) {
    const zero = allZero(data.subarray(at, Math.min(data.length, at + block)));
    if (!zero && runStart < 0) runStart = at;
    if (zero && runStart >= 0) {
      yield [runStart, at];
      runStart = -1;
    }
  }
  if (runStart >= 0) yield [runStart, data.length];
}

/** Writes `data` at `position`, leaving aligned blocks of zeros unwritten. */
async function writeSparse(out: FsWriter, data: Uint8Array, position: number): Promise<void> {
  for (const [start, end] of nonZeroRuns(data)) await out.write(data.subarray(start, end), position + start);
}

/** A file being written: its writer while open, and its operations' queue. */
interface Open {
  writer: FsWriter | undefined;
  queue: Promise<void>;
}

export function fsPackRestorer(
  deps: Pick<BackupDeps, 'crypto' | 'decompress' | 'reclaim' | 'fs'>,
  keys: RepositoryKeys,
  state: RestoreFileState,
): PackRestorer {
  const fs = deps.fs;
  /** Files with work queued or a writer open, by number; those with a writer, least recently used first. */
  const files = new Map<number, Open>();
  const withWriter = new Set<number>();
  const lanes = new Lanes(BACKUP_ENGINE_LIMITS.restoreWritesInFlight);
  let opened = 0;

  const close = async (n: number, file: Open) => {
    const writer = file.writer;
    file.writer = undefined;
    withWriter.delete(n);
    await writer?.close();
  };

  /** File `n`'s writer, creating its partial file the first time (and closing the least recently used beyond the bound). */
  const writerOf = async (n: number, file: Open, partial: string): Promise<FsWriter> => {
    if (file.writer !== undefined) {
      withWriter.delete(n);
      withWriter.add(n);
      return file.writer;
    }
    if (state[2 * n + 1] === FILE_UNTOUCHED) {
      try {
        file.writer = await fs.openWrite(partial);
      } catch {
        // Something is at that name (a partial file left by an earlier restore, a planted link):
        // remove it and create ours.
        await fs.remove(partial);
        file.writer = await fs.openWrite(partial);
      }
      state[2 * n + 1] = FILE_CREATED;
    } else {
      file.writer = await fs.openWrite(partial, true);
    }
    withWriter.add(n);
    while (withWriter.size > BACKUP_ENGINE_LIMITS.restoreOpenFilesMax) {
      const oldest = withWriter.values().next().value!;
      withWriter.delete(oldest);
      const other = files.get(oldest)!;
      other.queue = other.queue.then(() => close(oldest, other));
    }
    return file.writer;
  };

  return {
    width: 1,
    async restore(job: PackRestoreJob) {
      const { pack, object } = job;
      const dests = job.files.dests.split('\0');
      let paths: string[] | undefined;
      const pathOf = (f: number) => (paths ??= job.files.paths.split('\0'))[f]!;
      let bytesWritten = 0;
      let filesDone = 0;

      /** On file f's queue: writes `data` at `position` (none: an empty file), and finishes the file after its last chunk. */
      const onFile = (f: number, position: number, data: Uint8Array | undefined): Promise<void> => {
        const n = job.files.numbers[f]!;
        let file = files.get(n);
        if (file === undefined) {
          file = { writer: undefined, queue: Promise.resolve() };
          files.set(n, file);
        }
        const own = file;
        const dest = dests[f]!;
        const partial = dest + PARTIAL_SUFFIX;
        const turn = own.queue.then(async () => {
          const out = await writerOf(n, own, partial);
          if (data !== undefined) {
            await writeSparse(out, data, position);
            bytesWritten += data.length;
            state[2 * n]!--;
          }
          if (state[2 * n] !== 0) return;
          const size = job.files.sizes[f]!;
          if (size > 0) await out.truncate(size);
          await close(n, own);
          files.delete(n);
          await fs.chmod(partial, job.files.modes[f]!);
          await fs.setMtime(partial, job.files.mtimesNs[f]!, false);
          await fs.rename(partial, dest);
          state[2 * n + 1] = FILE_DONE;
          filesDone++;
        });
        own.queue = turn.catch(() => undefined);
        return turn;
      };

      if (job.blobs.length === 0) {
        for (let f = 0; f < job.files.numbers.length; f++) await lanes.start(() => onFile(f, 0, undefined));
      }
      let target = 0;
      for (let i = 0; i < job.blobs.length / 3; i++) {
        const offset = job.blobs[3 * i]!;
        const length = job.blobs[3 * i + 1]!;
        const path = pathOf(job.targetFiles[target]!);
        if (offset + length > pack.length) {
          throw new BackupError('BACKUP_DATA_CORRUPT', `${object}: blob runs past the end of the pack`, {
            object,
            path,
          });
        }
        let plain: Uint8Array;
        try {
          const id = job.ids.subarray(i * BLOB_ID_BYTES, (i + 1) * BLOB_ID_BYTES) as BlobId;
          const sealed = pack.subarray(offset, offset + length);
          plain = openBlob(deps.crypto, keys, 'data', id, sealed, deps.decompress, job.blobs[3 * i + 2]);
        } catch (error) {
          throw corrupt(error, object, { path });
        }
        if (++opened % BACKUP_ENGINE_LIMITS.reclaimEveryBlobs === 0) deps.reclaim?.();
        for (const end = job.targetEnds[i]!; target < end; target++) {
          const f = job.targetFiles[target]!;
          const position = job.targetPositions[target]!;
          await lanes.start(() => onFile(f, position, plain));
        }
      }
      // Every write of this job is done before the pack is given back (the plaintexts are copies,
      // but a failure must surface here).
      await lanes.drain();
      return { bytesWritten, filesDone };
    },
    async close() {
      await lanes.drain().catch(() => undefined);
      for (const [n, file] of files) {
        await file.queue;
        await close(n, file).catch(() => undefined);
      }
      files.clear();
    },
  };
}
