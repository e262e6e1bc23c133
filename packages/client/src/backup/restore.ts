/**
 * `restore`: writes a snapshot, or one path of it, into a directory.
 *
 * Planned by pack (restore-plan.ts, restic's restorer): the trees are walked first, directories and
 * symlinks made, and every file's chunks grouped under the pack that holds them. Then each pack is
 * fetched once, into one of a few reused buffers (pack-reads.ts; the next one is fetched while this
 * one is written: `restorePacksAhead`), checked against its name once, and each blob it holds for
 * the snapshot is opened (tag, length, keyed id: blob.ts) and written to every file and place that
 * needs it, several files at once
 * (`restoreWritesInFlight`), with at most `restoreOpenFilesMax` open (the rest are closed and
 * reopened when their next chunk comes).
 *
 * A snapshot or index file that does not open is left out and reported (`damaged`); only what the
 * restore needs from it is then missing, which stops it as below.
 *
 * Every blob is verified before a byte of it is written. A file is written to
 * "<name>.sealpost-partial" and renamed into place only once all of its chunks are written, so a
 * corrupt repository never leaves a wrong file under the right name: the restore stops with
 * BACKUP_DATA_CORRUPT naming a file that needs the damaged pack (`path`) and the pack (`object`),
 * and every partial file is removed. Aligned 64 KiB blocks of zeros are skipped (a hole) and the file
 * is sized at the end, so sparse files stay sparse. Modes and times are set after the content (a
 * directory's after all files, children first, so writing into it does not change its time and a
 * read-only one can be filled).
 *
 * Restoring into a directory that holds older files: files are replaced by rename, a symlink or
 * file where a directory goes is removed first, and partial files are created exclusively (and
 * reopened without following symlinks), so nothing is ever written through a symlink found in the
 * target.
 */
import { openBlob } from '@sealpost/core/backup/blob';
import { BlobReader, corrupt } from './blob-reader.ts';
import { BackupError } from './errors.ts';
import type { FsWriter } from './fs.ts';
import { joinPath } from './fs.ts';
import { Lanes } from './lanes.ts';
import { BACKUP_ENGINE_LIMITS } from './limits.ts';
import { PackReadPool, type PackLoan } from './pack-reads.ts';
import {
  emptyFilesJob,
  FILE_DONE,
  FILE_UNTOUCHED,
  packJob,
  restoreFileState,
  type PackRestoreResult,
  type PackRestorerFactory,
} from './pack-restorer.ts';
import { Planner, type FileJob, type PackPlan, type RestorePlan } from './restore-plan.ts';
import type { Session } from './session.ts';
import { findSnapshot, lookupPath, nodeName, type DamagedObject } from './snapshots.ts';

export { PARTIAL_SUFFIX } from './restore-plan.ts';

export interface RestoreOptions {
  /** A path inside the snapshot ("dir/file"); the whole snapshot when absent. */
  readonly path?: string;
  /** Called after each chunk written, with the files done and the bytes written so far. */
  readonly onProgress?: (progress: { readonly files: number; readonly bytesWritten: number }) => void;
}

export interface RestoreResult {
  files: number;
  dirs: number;
  symlinks: number;
  bytesWritten: number;
  /** Snapshot and index files that did not open, left out (the restore needed none of them). */
  damaged: DamagedObject[];
}

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
 * Writes `data` at `position`, leaving `holeBlockBytes` blocks of zeros unwritten (sparse files).
 * Returns the end of the last byte written (`position` when all of it was zeros).
 */
async function writeSparse(out: FsWriter, data: Uint8Array, position: number): Promise<number> {
  let end = position;
  let runStart = -1;
  for (let at = 0; at < data.length; at += BACKUP_ENGINE_LIMITS.holeBlockBytes) {
    const block = data.subarray(at, Math.min(data.length, at + BACKUP_ENGINE_LIMITS.holeBlockBytes));
    const zero = allZero(block);
    if (!zero && runStart < 0) runStart = at;
    if (zero && runStart >= 0) {
      await out.write(data.subarray(runStart, at), position + runStart);
      end = position + at;
      runStart = -1;
    }
  }
  if (runStart >= 0) {
    await out.write(data.subarray(runStart), position + runStart);
    end = position + data.length;
  }
  return end;
}

/** The second half of a restore: packs fetched in plan order, their blobs written to the files. */
class Writing {
  readonly #session: Session;
  readonly #onProgress: RestoreOptions['onProgress'];
  /** Files with an open writer, least recently used first. */
  readonly #open = new Set<FileJob>();
  /** Partial files this run created and has not renamed yet (removed if the restore fails). */
  readonly #partials = new Set<FileJob>();
  readonly #lanes = new Lanes(BACKUP_ENGINE_LIMITS.restoreWritesInFlight);
  files = 0;
  bytesWritten = 0;

  constructor(session: Session, onProgress: RestoreOptions['onProgress']) {
    this.#session = session;
    this.#onProgress = onProgress;
  }

  async run(plan: RestorePlan): Promise<void> {
    const restorers = this.#session.deps.packRestorers;
    if (restorers !== undefined) {
      await this.#onRestorer(plan, restorers);
    } else {
      try {
        for (const file of plan.empty) await this.#lanes.start(() => this.#onFile(file, 0, undefined));
        await this.#packs([...plan.packs.values()]);
        await this.#lanes.drain();
      } catch (error) {
        await this.#lanes.drain().catch(() => undefined);
        await this.#removePartials();
        throw error;
      }
    }
    const fs = this.#session.deps.fs;
    for (const dir of plan.dirs) {
      await fs.chmod(dir.dest, dir.mode);
      await fs.setMtime(dir.dest, dir.mtimeNs, false);
    }
  }

  /**
   * The packs written out by a PackRestorer (pack-restorer.ts): as many packs out at once as it
   * takes, and the next one fetched meanwhile. On failure, every partial file left is removed.
   */
  async #onRestorer(plan: RestorePlan, factory: PackRestorerFactory): Promise<void> {
    const { deps, keys, repo } = this.#session;
    const state = restoreFileState(plan.files);
    const eachFile = function* () {
      yield* plan.empty;
      for (const pack of plan.packs.values())
        for (const blob of pack.blobs.values()) for (const { file } of blob.targets) yield file;
    };
    for (const file of eachFile()) state[2 * file.number] = file.remaining;
    const restorer = factory(keys, state);
    const lanes = new Lanes(restorer.width);
    const running = new Set<Promise<void>>();
    let failed: { error: unknown } | undefined;
    /** Runs `task` in the lane the caller holds; the first failure is kept. */
    const run = (task: () => Promise<void>, after: () => void) => {
      const t = task()
        .catch((error: unknown) => {
          failed ??= { error };
        })
        .finally(() => {
          after();
          lanes.release();
          running.delete(t);
        });
      running.add(t);
    };
    const done = (result: PackRestoreResult) => {
      this.files += result.filesDone;
      this.bytesWritten += result.bytesWritten;
      this.#onProgress?.({ files: this.files, bytesWritten: this.bytesWritten });
    };
    try {
      if (plan.empty.length > 0) {
        await lanes.acquire();
        run(
          async () => done(await restorer.restore(emptyFilesJob(plan.empty))),
          () => undefined,
        );
      }
      const packs = [...plan.packs.values()];
      const pool = new PackReadPool(repo, deps);
      const fetch = (i: number): Promise<PackLoan> => {
        const pack = packs[i]!;
        const firstPath = pack.blobs.values().next().value!.targets[0]!.file.path;
        const fetching = pool.fetch(pack.name).catch((error: unknown) => {
          throw corrupt(error, `packs/${pack.name}`, { path: firstPath });
        });
        fetching.catch(() => undefined); // awaited below
        return fetching;
      };
      // A lane is taken before its pack is awaited, and only then is the next one fetched: the packs
      // held are the lanes' and one more.
      let next = packs.length > 0 ? fetch(0) : undefined;
      for (let i = 0; i < packs.length && failed === undefined; i++) {
        await lanes.acquire();
        let loan: PackLoan;
        try {
          loan = await next!;
        } catch (error) {
          lanes.release();
          throw error;
        }
        next = i + 1 < packs.length ? fetch(i + 1) : undefined;
        const pack = packs[i]!;
        run(
          async () => done(await restorer.restore(packJob(pack, loan.bytes))),
          () => loan.release(),
        );
      }
      while (running.size > 0) await Promise.all([...running]);
      if (failed !== undefined) throw failed.error;
    } catch (error) {
      while (running.size > 0) await Promise.all([...running]);
      await restorer.close().catch(() => undefined);
      const seen = new Set<number>();
      for (const file of eachFile()) {
        if (seen.has(file.number)) continue;
        seen.add(file.number);
        const s = Atomics.load(state, 2 * file.number + 1);
        if (s !== FILE_UNTOUCHED && s !== FILE_DONE)
          await deps.fs.remove(file.partial).catch(() => undefined);
      }
      throw error;
    }
    await restorer.close();
  }

  async #packs(packs: readonly PackPlan[]): Promise<void> {
    const { deps, keys } = this.#session;
    // restorePacksAhead + 1 buffers, each reused once its pack's blobs are all opened (each blob's
    // plaintext is a copy, so the writes still in flight do not read the pack).
    const pool = new PackReadPool(this.#session.repo, deps);
    const fetches: Promise<PackLoan>[] = [];
    const fetch = (i: number) => {
      const pack = packs[i]!;
      const firstPath = pack.blobs.values().next().value!.targets[0]!.file.path;
      const fetching = pool.fetch(pack.name).catch((error: unknown) => {
        throw corrupt(error, `packs/${pack.name}`, { path: firstPath });
      });
      fetching.catch(() => undefined); // awaited below, in order
      fetches[i] = fetching;
    };
    let opened = 0;
    for (let i = 0; i < packs.length; i++) {
      for (let j = i; j <= i + BACKUP_ENGINE_LIMITS.restorePacksAhead && j < packs.length; j++)
        if (fetches[j] === undefined) fetch(j);
      const loan = await fetches[i]!;
      delete fetches[i];
      try {
        const bytes = loan.bytes;
        const object = `packs/${packs[i]!.name}`;
        for (const blob of packs[i]!.blobs.values()) {
          const path = blob.targets[0]!.file.path;
          if (blob.offset + blob.length > bytes.length) {
            throw new BackupError('BACKUP_DATA_CORRUPT', `${object}: blob runs past the end of the pack`, {
              object,
              path,
            });
          }
          let plain: Uint8Array;
          try {
            const sealed = bytes.subarray(blob.offset, blob.offset + blob.length);
            plain = openBlob(deps.crypto, keys, 'data', blob.id, sealed, deps.decompress, blob.rawLength);
          } catch (error) {
            throw corrupt(error, object, { path });
          }
          if (++opened % BACKUP_ENGINE_LIMITS.reclaimEveryBlobs === 0) deps.reclaim?.();
          for (const { file, position } of blob.targets) {
            await this.#lanes.start(() => this.#onFile(file, position, plain));
          }
        }
      } finally {
        loan.release();
      }
    }
  }

  /**
   * Runs on `file`'s queue: opens it (creating or reopening the partial file), writes `data` at
   * `position` (none for an empty file), and once every chunk is in, sizes, closes and renames it.
   */
  #onFile(file: FileJob, position: number, data: Uint8Array | undefined): Promise<void> {
    const turn = file.queue.then(async () => {
      const out = await this.#writer(file);
      if (data !== undefined) {
        file.end = Math.max(file.end, await writeSparse(out, data, position));
        file.remaining--;
        this.bytesWritten += data.length;
      }
      if (file.remaining === 0) await this.#finish(file, out);
      this.#onProgress?.({ files: this.files, bytesWritten: this.bytesWritten });
    });
    file.queue = turn.catch(() => undefined);
    return turn;
  }

  /** `file`'s open writer, opening it (and closing the least recently used beyond the bound). */
  async #writer(file: FileJob): Promise<FsWriter> {
    const fs = this.#session.deps.fs;
    if (file.writer !== undefined) {
      this.#open.delete(file);
      this.#open.add(file);
      return file.writer;
    }
    if (file.created) {
      file.writer = await fs.openWrite(file.partial, true);
    } else {
      try {
        file.writer = await fs.openWrite(file.partial);
      } catch {
        // Something is at that name (a partial file left by an earlier restore, a planted link):
        // remove it and create ours.
        await fs.remove(file.partial);
        file.writer = await fs.openWrite(file.partial);
      }
      file.created = true;
      this.#partials.add(file);
    }
    this.#open.add(file);
    while (this.#open.size > BACKUP_ENGINE_LIMITS.restoreOpenFilesMax) {
      const oldest = this.#open.values().next().value!;
      this.#open.delete(oldest);
      oldest.queue = oldest.queue.then(() => this.#close(oldest));
    }
    return file.writer;
  }

  async #close(file: FileJob): Promise<void> {
    const writer = file.writer;
    file.writer = undefined;
    this.#open.delete(file);
    await writer?.close();
  }

  async #finish(file: FileJob, out: FsWriter): Promise<void> {
    const fs = this.#session.deps.fs;
    // The partial file is new: only trailing zeros left as a hole need it sized.
    if (file.end < file.size) await out.truncate(file.size);
    await this.#close(file);
    await fs.chmod(file.partial, file.mode);
    await fs.setMtime(file.partial, file.mtimeNs, false);
    await fs.rename(file.partial, file.dest);
    this.#partials.delete(file);
    this.files++;
  }

  async #removePartials(): Promise<void> {
    const fs = this.#session.deps.fs;
    for (const file of this.#partials) {
      await file.queue.catch(() => undefined);
      await file.writer?.close().catch(() => undefined);
      file.writer = undefined;
      await fs.remove(file.partial);
    }
  }
}

/**
 * Restores snapshot `snapshotId` (an id, a unique prefix, or "latest") into `target`. With
 * `options.path`, only that path: a directory's contents go into `target/<its name>`, a file to
 * `target/<its name>`. Errors: BACKUP_SNAPSHOT_NOT_FOUND, BACKUP_PATH_NOT_FOUND, BACKUP_DATA_CORRUPT.
 */
export async function restore(
  session: Session,
  snapshotId: string,
  target: string,
  options: RestoreOptions = {},
): Promise<RestoreResult> {
  const damaged: DamagedObject[] = [];
  const reader = await BlobReader.load(session, damaged);
  const { snapshot } = await findSnapshot(session, snapshotId, damaged);
  const planner = new Planner(session, reader);
  const node = await lookupPath(reader, snapshot.tree, options.path ?? '');
  if (node === undefined) {
    await planner.contents(snapshot.tree, target, '');
  } else {
    await session.deps.fs.mkdir(target);
    const path = (options.path ?? '')
      .split('/')
      .filter((p) => p !== '' && p !== '.')
      .join('/');
    await planner.node(node, joinPath(target, nodeName(node)), path);
  }
  reader.dropCache();
  const plan = planner.plan;
  const writing = new Writing(session, options.onProgress);
  await writing.run(plan);
  return {
    files: writing.files,
    dirs: plan.dirs.length,
    symlinks: plan.symlinks,
    bytesWritten: writing.bytesWritten,
    damaged,
  };
}
