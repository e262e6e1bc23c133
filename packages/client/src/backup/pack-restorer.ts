/**
 * Writing a restore's packs out behind an interface, as sealing (sealer.ts) and verifying
 * (pack-verifier.ts) are: opening every blob (AES-GCM, zstd, the keyed id) and writing it to its
 * files is all of a restore's work but the walk. packages/client/node/backup-restore-sync.ts does it
 * with blocking file calls, on worker threads (backup-workers.ts): node's asynchronous file calls go
 * through its thread pool, and a restore of 80,000 small files (six calls each: open, write, chmod,
 * utimes, close, rename) spent more CPU in the kernel handing calls to that pool and back
 * (futexes: 2.8 million) than in the calls themselves.
 *
 * A pack's part of the plan goes out as a `PackRestoreJob`: a few typed arrays rather than objects
 * per blob and file (a message costs per object). Whoever writes a file's last chunk finishes it
 * (sizes it, sets its mode and time, renames it into place); files whose chunks are in several
 * packs may be written by several threads at once, so each file's state is in shared memory
 * (`RestoreFileState`): its chunks not yet written, and whether its partial file exists.
 */
import type { RepositoryKeys } from '@sealpost/core/backup/keys';
import { BLOB_ID_BYTES } from '@sealpost/core/backup/blob';
import type { PackPlan, PlannedFiles } from './restore-plan.ts';

/** A file's partial file: not made yet, being made (by one thread; others wait), made, renamed into place, failed. */
export const FILE_UNTOUCHED = 0;
export const FILE_CREATING = 1;
export const FILE_CREATED = 2;
export const FILE_DONE = 3;
export const FILE_FAILED = 4;

/**
 * Two Int32 per file of a restore (FileJob.number): [chunks not yet written, FILE_*], in a
 * SharedArrayBuffer where there is one (worker threads then share it), updated with Atomics.
 */
export type RestoreFileState = Int32Array;

export function restoreFileState(files: number): RestoreFileState {
  const bytes = Math.max(1, files) * 2 * Int32Array.BYTES_PER_ELEMENT;
  return new Int32Array(
    typeof SharedArrayBuffer === 'function' ? new SharedArrayBuffer(bytes) : new ArrayBuffer(bytes),
  );
}

/** The files a job writes to, each once. */
export interface PackRestoreFiles {
  /** Each file's number in the restore (its place in RestoreFileState). */
  readonly numbers: Uint32Array;
  readonly sizes: Float64Array;
  readonly modes: Uint32Array;
  readonly mtimesNs: BigInt64Array;
  /** Where each goes (its partial file is that plus PARTIAL_SUFFIX), joined by NUL. */
  readonly dests: string;
  /** Each one's path in the snapshot (named by errors), joined by NUL. */
  readonly paths: string;
}

/** One pack's part of a restore; with no pack and no blobs, the files are empty ones to create. */
export interface PackRestoreJob {
  /** The range of the pack that holds the blobs, lent until the job settles. */
  readonly pack: Uint8Array;
  /** "packs/<name>", for errors. */
  readonly object: string;
  /** Per blob: offset in `pack` (the range), sealed length, plaintext length. */
  readonly blobs: Float64Array;
  /** Per blob, its id (BLOB_ID_BYTES each). */
  readonly ids: Uint8Array;
  /** Blob i's targets are targets targetEnds[i - 1] (0 for the first) up to targetEnds[i]. */
  readonly targetEnds: Uint32Array;
  /** Per target: the file (an index into `files`) and the position in it. */
  readonly targetFiles: Uint32Array;
  readonly targetPositions: Float64Array;
  readonly files: PackRestoreFiles;
}

export interface PackRestoreResult {
  readonly bytesWritten: number;
  /** Files this job finished (renamed into place). */
  readonly filesDone: number;
}

export interface PackRestorer {
  /** Jobs it takes at once (restore keeps that many packs out). */
  readonly width: number;
  /**
   * Opens the job's blobs and writes them to their files. Rejects with BACKUP_DATA_CORRUPT naming
   * the pack and a file that needs the blob, or with the file system's error; partial files stay
   * (the caller removes them: their state is not FILE_DONE).
   */
  restore(job: PackRestoreJob): Promise<PackRestoreResult>;
  /** Ends the restorer and wipes its copy of the keys. */
  close(): Promise<void>;
}

export type PackRestorerFactory = (keys: RepositoryKeys, state: RestoreFileState) => PackRestorer;

/** Files `numbers` of `files` as a job's file list. */
function filesOf(files: PlannedFiles, numbers: readonly number[]): PackRestoreFiles {
  return {
    numbers: Uint32Array.from(numbers),
    sizes: Float64Array.from(numbers, (n) => files.sizes[n]!),
    modes: Uint32Array.from(numbers, (n) => files.modes[n]!),
    mtimesNs: BigInt64Array.from(numbers, (n) => files.mtimesNs[n]!),
    dests: numbers.map((n) => files.dest(n)).join('\0'),
    paths: numbers.map((n) => files.path(n)).join('\0'),
  };
}

/** What a restore reads of a pack (packReads, wholePackRead) for some of its planned blobs. */
export interface PackRead {
  readonly pack: PackPlan;
  /** The blobs' numbers in the pack's plan, in the order of their offsets. */
  readonly blobs: readonly number[];
  /**
   * The range read: where it starts in the pack (the first blob's offset) and its length; absent
   * when the whole pack is read.
   */
  readonly range?: { readonly offset: number; readonly length: number };
}

/** The whole of `pack`, for all its planned blobs. */
export function wholePackRead(pack: PackPlan): PackRead {
  return { pack, blobs: Array.from({ length: pack.blobCount }, (_, b) => b) };
}

/**
 * The ranges a restore reads of `pack`: its planned blobs in the order of their offsets, in runs
 * spanning at most `most` bytes (a longer blob is a range alone). The bytes between two planned
 * blobs of a run (blobs the restore does not need) are read too.
 */
export function packReads(pack: PackPlan, most: number): PackRead[] {
  const order = Array.from({ length: pack.blobCount }, (_, b) => b).sort(
    (a, b) => pack.offsets[a]! - pack.offsets[b]!,
  );
  const reads: PackRead[] = [];
  let blobs: number[] = [];
  let offset = 0;
  let end = 0;
  for (const b of order) {
    const blobEnd = pack.offsets[b]! + pack.lengths[b]!;
    if (blobs.length > 0 && blobEnd - offset > most) {
      reads.push({ pack, blobs, range: { offset, length: end - offset } });
      blobs = [];
    }
    if (blobs.length === 0) offset = pack.offsets[b]!;
    blobs.push(b);
    end = blobEnd;
  }
  if (blobs.length > 0) reads.push({ pack, blobs, range: { offset, length: end - offset } });
  return reads;
}

/**
 * The blobs of `read` as a job over `bytes` (what it read of the pack), their targets grouped by
 * blob; blob offsets in the job are in `bytes`.
 */
export function packJob(files: PlannedFiles, read: PackRead, bytes: Uint8Array): PackRestoreJob {
  const { pack } = read;
  const base = read.range?.offset ?? 0;
  const count = read.blobs.length;
  const blobs = new Float64Array(count * 3);
  const ids = new Uint8Array(count * BLOB_ID_BYTES);
  /** A pack blob's number in this job, or -1. */
  const inJob = new Int32Array(pack.blobCount).fill(-1);
  for (let j = 0; j < count; j++) {
    const b = read.blobs[j]!;
    inJob[b] = j;
    blobs[3 * j] = pack.offsets[b]! - base;
    blobs[3 * j + 1] = pack.lengths[b]!;
    blobs[3 * j + 2] = pack.rawLengths[b]!;
    ids.set(pack.ids.subarray(b * BLOB_ID_BYTES, (b + 1) * BLOB_ID_BYTES), j * BLOB_ID_BYTES);
  }
  // Targets by blob (a counting sort: each blob's in the order planned), files numbered locally.
  const targetEnds = new Uint32Array(count);
  let targets = 0;
  for (const b of pack.targetBlobs) {
    const j = inJob[b]!;
    if (j < 0) continue;
    targetEnds[j]!++;
    targets++;
  }
  for (let j = 1; j < count; j++) targetEnds[j]! += targetEnds[j - 1]!;
  const next = new Uint32Array(count);
  for (let j = 1; j < count; j++) next[j] = targetEnds[j - 1]!;
  const targetFiles = new Uint32Array(targets);
  const targetPositions = new Float64Array(targets);
  const local = new Map<number, number>();
  const numbers: number[] = [];
  for (let t = 0; t < pack.targetBlobs.length; t++) {
    const j = inJob[pack.targetBlobs[t]!]!;
    if (j < 0) continue;
    const n = pack.targetFiles[t]!;
    let f = local.get(n);
    if (f === undefined) {
      f = numbers.length;
      local.set(n, f);
      numbers.push(n);
    }
    const at = next[j]!++;
    targetFiles[at] = f;
    targetPositions[at] = pack.targetPositions[t]!;
  }
  return {
    pack: bytes,
    object: `packs/${pack.name}`,
    blobs,
    ids,
    targetEnds,
    targetFiles,
    targetPositions,
    files: filesOf(files, numbers),
  };
}

/** A job that creates the empty files `numbers`. */
export function emptyFilesJob(files: PlannedFiles, numbers: readonly number[]): PackRestoreJob {
  return {
    pack: new Uint8Array(0),
    object: 'empty files',
    blobs: new Float64Array(0),
    ids: new Uint8Array(0),
    targetEnds: new Uint32Array(0),
    targetFiles: new Uint32Array(0),
    targetPositions: new Float64Array(0),
    files: filesOf(files, numbers),
  };
}
