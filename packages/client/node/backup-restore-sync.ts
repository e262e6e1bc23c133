/**
 * `restorePackSync`: one pack's part of a restore (../src/backup/pack-restorer.ts), written with
 * blocking node:fs calls, on a worker thread (backup-workers.ts) or, when the workers are busy, on
 * the engine's. The same rules as restore.ts on node:fs/promises:
 *
 * - every blob is opened (AES-GCM, zstd, the keyed id) before a byte of it is written; one that
 *   does not open is BACKUP_DATA_CORRUPT naming the pack and a file that needs it;
 * - a file is written to "<dest>.sealpost-partial", created exclusively (anything already at that
 *   name is removed first, and a reopening never follows a symlink), and renamed into place by
 *   whichever thread writes its last chunk, after its size, mode and times are set on the open
 *   descriptor;
 * - aligned blocks of zeros (holeBlockBytes) are left as holes.
 *
 * A file's partial file is made once across threads: the first to claim it in the shared state
 * (FILE_UNTOUCHED -> FILE_CREATING) makes it, the others wait for FILE_CREATED (Atomics.wait: a few
 * microseconds) and reopen it.
 */
import {
  closeSync,
  constants,
  fchmodSync,
  ftruncateSync,
  futimesSync,
  openSync,
  renameSync,
  rmSync,
  writeSync,
} from 'node:fs';
import { BLOB_ID_BYTES, openBlob, type BlobId } from '@sealpost/core/backup/blob';
import type { RepositoryKeys } from '@sealpost/core/backup/keys';
import type { BackupDeps } from '../src/backup/deps.ts';
import { corrupt } from '../src/backup/damaged.ts';
import { BackupError } from '../src/backup/errors.ts';
import { nonZeroRuns } from '../src/backup/fs-restorer.ts';
import { BACKUP_ENGINE_LIMITS } from '../src/backup/limits.ts';
import {
  FILE_CREATED,
  FILE_CREATING,
  FILE_DONE,
  FILE_FAILED,
  FILE_UNTOUCHED,
  type PackRestoreJob,
  type PackRestoreResult,
  type RestoreFileState,
} from '../src/backup/pack-restorer.ts';
import { PARTIAL_SUFFIX } from '../src/backup/restore-plan.ts';
import { utimesSeconds } from './backup-fs.ts';

const CREATE = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL;
const REOPEN = constants.O_WRONLY | constants.O_NOFOLLOW;

function writeAll(fd: number, data: Uint8Array, position: number): void {
  for (let done = 0; done < data.length;) {
    done += writeSync(fd, data, done, data.length - done, position + done);
  }
}

/** Writes `data` at `position`, leaving aligned blocks of zeros unwritten. */
function writeSparse(fd: number, data: Uint8Array, position: number): void {
  for (const [start, end] of nonZeroRuns(data)) writeAll(fd, data.subarray(start, end), position + start);
}

export function restorePackSync(
  deps: Pick<BackupDeps, 'crypto' | 'decompress' | 'reclaim'>,
  keys: RepositoryKeys,
  state: RestoreFileState,
  job: PackRestoreJob,
): PackRestoreResult {
  const { files, pack, object } = job;
  const dests = files.dests.split('\0');
  let paths: string[] | undefined; // split only for an error
  const pathOf = (f: number) => (paths ??= files.paths.split('\0'))[f]!;
  const count = files.numbers.length;
  const fds = new Int32Array(count).fill(-1);
  let open = 0;
  let bytesWritten = 0;
  let filesDone = 0;

  /** Makes file f's partial file, or waits for the thread making it and reopens it. */
  const openFile = (f: number): number => {
    const at = 2 * files.numbers[f]! + 1;
    const partial = dests[f]! + PARTIAL_SUFFIX;
    if (Atomics.compareExchange(state, at, FILE_UNTOUCHED, FILE_CREATING) === FILE_UNTOUCHED) {
      let fd: number;
      try {
        try {
          fd = openSync(partial, CREATE, 0o600);
        } catch {
          // Something is at that name (a partial file left by an earlier restore, a planted link):
          // remove it and create ours.
          rmSync(partial, { force: true });
          fd = openSync(partial, CREATE, 0o600);
        }
      } catch (error) {
        Atomics.store(state, at, FILE_FAILED);
        Atomics.notify(state, at);
        throw error;
      }
      Atomics.store(state, at, FILE_CREATED);
      Atomics.notify(state, at);
      return fd;
    }
    for (;;) {
      const now = Atomics.load(state, at);
      if (now !== FILE_CREATING) break;
      Atomics.wait(state, at, FILE_CREATING);
    }
    if (Atomics.load(state, at) === FILE_FAILED) {
      throw new Error(`${pathOf(f)}: its partial file could not be created`);
    }
    return openSync(partial, REOPEN);
  };

  const descriptor = (f: number): number => {
    if (fds[f]! >= 0) return fds[f]!;
    if (open >= BACKUP_ENGINE_LIMITS.restoreOpenFilesMax) closeAll();
    const fd = openFile(f);
    fds[f] = fd;
    open++;
    return fd;
  };

  const closeAll = () => {
    for (let f = 0; f < count; f++) {
      if (fds[f]! < 0) continue;
      try {
        closeSync(fds[f]!);
      } catch {
        // Closing a descriptor only written to: nothing to report that the rename would not.
      }
      fds[f] = -1;
    }
    open = 0;
  };

  /** Sizes file f (a trailing hole), sets its mode and times, closes and renames it. */
  const finish = (f: number) => {
    const fd = descriptor(f);
    const size = files.sizes[f]!;
    if (size > 0) ftruncateSync(fd, size);
    fchmodSync(fd, files.modes[f]!);
    const seconds = utimesSeconds(files.mtimesNs[f]!);
    futimesSync(fd, seconds, seconds);
    fds[f] = -1;
    open--;
    closeSync(fd);
    renameSync(dests[f]! + PARTIAL_SUFFIX, dests[f]!);
    Atomics.store(state, 2 * files.numbers[f]! + 1, FILE_DONE);
    filesDone++;
  };

  try {
    if (job.blobs.length === 0) {
      for (let f = 0; f < count; f++) finish(f);
      return { bytesWritten, filesDone };
    }
    const blobs = job.blobs.length / 3;
    let target = 0;
    for (let i = 0; i < blobs; i++) {
      const offset = job.blobs[3 * i]!;
      const length = job.blobs[3 * i + 1]!;
      const rawLength = job.blobs[3 * i + 2]!;
      const firstPath = () => pathOf(job.targetFiles[target]!);
      if (offset + length > pack.length) {
        throw new BackupError('BACKUP_DATA_CORRUPT', `${object}: blob runs past the end of the pack`, {
          object,
          path: firstPath(),
        });
      }
      const id = job.ids.subarray(i * BLOB_ID_BYTES, (i + 1) * BLOB_ID_BYTES) as BlobId;
      let plain: Uint8Array;
      try {
        plain = openBlob(
          deps.crypto,
          keys,
          'data',
          id,
          pack.subarray(offset, offset + length),
          deps.decompress,
          rawLength,
        );
      } catch (error) {
        throw corrupt(error, object, { path: firstPath() });
      }
      for (const end = job.targetEnds[i]!; target < end; target++) {
        const f = job.targetFiles[target]!;
        writeSparse(descriptor(f), plain, job.targetPositions[target]!);
        bytesWritten += plain.length;
        if (Atomics.sub(state, 2 * files.numbers[f]!, 1) === 1) finish(f);
      }
      if ((i + 1) % BACKUP_ENGINE_LIMITS.reclaimEveryBlobs === 0) deps.reclaim?.();
    }
    return { bytesWritten, filesDone };
  } finally {
    closeAll();
  }
}
