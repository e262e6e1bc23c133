/**
 * `restore`: writes a snapshot, or one path of it, into a directory.
 *
 * Planned by pack (restore-plan.ts, restic's restorer): the trees are walked first, directories and
 * symlinks made, and every file's chunks grouped under the pack that holds them. Then the blobs
 * each pack holds for the restore are fetched once: from a local directory in ranges of
 * consecutive blobs of at most BACKUP_ENGINE_LIMITS.restoreReadBytes, from the server as whole
 * packs (checked against their names), each into one of a few reused buffers where the repository
 * reads into them (pack-reads.ts; the next is fetched while the others are written), and handed
 * to a PackRestorer
 * (pack-restorer.ts: on worker threads with blocking file calls in Node, on this thread through
 * `fs` otherwise: fs-restorer.ts), which opens each blob it holds for the snapshot (tag, length,
 * keyed id: blob.ts) and writes it to every file and place that needs it.
 *
 * A snapshot or index file that does not open is left out and reported (`damaged`); only what the
 * restore needs from it is then missing, which stops it as below.
 *
 * Every blob is verified before a byte of it is written (AES-GCM and its keyed id: a range of a
 * pack cannot be checked against the pack's name, and need not be; damage to bytes the restore
 * does not read, such as another blob, the header or the padding, is `check --read-data`'s to find). A file is written to
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
import { BlobReader, corrupt } from './blob-reader.ts';
import { fsPackRestorer } from './fs-restorer.ts';
import { joinPath } from './fs.ts';
import { Lanes } from './lanes.ts';
import { BACKUP_ENGINE_LIMITS } from './limits.ts';
import { PackReadPool, type PackLoan } from './pack-reads.ts';
import {
  emptyFilesJob,
  FILE_DONE,
  FILE_UNTOUCHED,
  packJob,
  packReads,
  restoreFileState,
  wholePackRead,
  type PackRestoreResult,
} from './pack-restorer.ts';
import { Planner, PARTIAL_SUFFIX, type RestorePlan } from './restore-plan.ts';
import type { Session } from './session.ts';
import { findSnapshot, lookupPath, nodeName, type DamagedObject } from './snapshots.ts';

export { PARTIAL_SUFFIX } from './restore-plan.ts';

export interface RestoreOptions {
  /** A path inside the snapshot ("dir/file"); the whole snapshot when absent. */
  readonly path?: string;
  /** Called after each range of a pack written out, with the files done and the bytes written so far. */
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

/**
 * The second half of a restore: ranges of packs fetched in plan order and written out by a PackRestorer,
 * as many at once as it takes, the next one fetched meanwhile; then directories' modes and times.
 * On failure, every partial file left is removed.
 */
async function write(
  session: Session,
  plan: RestorePlan,
  onProgress: RestoreOptions['onProgress'],
): Promise<{ files: number; bytesWritten: number }> {
  const { deps, keys, repo } = session;
  const files = plan.files;
  const state = restoreFileState(files.count);
  for (let n = 0; n < files.count; n++) state[2 * n] = files.chunks[n]!;
  const restorer = (deps.packRestorers ?? ((k, s) => fsPackRestorer(deps, k, s)))(keys, state);
  const lanes = new Lanes(restorer.width);
  const running = new Set<Promise<void>>();
  let failed: { error: unknown } | undefined;
  const progress = { files: 0, bytesWritten: 0 };
  /** Runs a job in the lane the caller holds; the first failure is kept. */
  const run = (job: () => Promise<PackRestoreResult>, after: () => void) => {
    const t = job()
      .then((result) => {
        progress.files += result.filesDone;
        progress.bytesWritten += result.bytesWritten;
        onProgress?.({ ...progress });
      })
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
  const settle = async () => {
    while (running.size > 0) await Promise.all([...running]);
  };
  try {
    if (plan.empty.length > 0) {
      await lanes.acquire();
      run(
        () => restorer.restore(emptyFilesJob(files, plan.empty)),
        () => undefined,
      );
    }
    // Ranges where the repository reads into our buffers (the local directory: the reads are this
    // machine's); whole packs elsewhere (the server), which then learns which packs a restore
    // reads but not which blobs.
    const ranged = repo.getInto !== undefined;
    const reads = [...plan.packs.values()].flatMap((p) =>
      ranged ? packReads(p, BACKUP_ENGINE_LIMITS.restoreReadBytes) : [wholePackRead(p)],
    );
    const pool = new PackReadPool(repo, deps);
    const fetch = (i: number): Promise<PackLoan> => {
      const { pack, range } = reads[i]!;
      const path = files.path(pack.targetFiles[0]!);
      const fetching = (
        range === undefined ? pool.fetch(pack.name) : pool.fetchRange(pack.name, range)
      ).catch((error: unknown) => {
        throw corrupt(error, `packs/${pack.name}`, { path });
      });
      fetching.catch(() => undefined); // awaited below
      return fetching;
    };
    // A lane is taken before its pack is awaited, and only then is the next one fetched: the packs
    // held are the lanes' and one more.
    let next = reads.length > 0 ? fetch(0) : undefined;
    for (let i = 0; i < reads.length && failed === undefined; i++) {
      await lanes.acquire();
      let loan: PackLoan;
      try {
        loan = await next!;
      } catch (error) {
        lanes.release();
        throw error;
      }
      next = i + 1 < reads.length ? fetch(i + 1) : undefined;
      const read = reads[i]!;
      run(
        () => restorer.restore(packJob(files, read, loan.bytes)),
        () => loan.release(),
      );
    }
    await settle();
    if (failed !== undefined) throw failed.error;
  } catch (error) {
    await settle();
    await restorer.close().catch(() => undefined);
    for (let n = 0; n < files.count; n++) {
      const s = Atomics.load(state, 2 * n + 1);
      if (s !== FILE_UNTOUCHED && s !== FILE_DONE) {
        await deps.fs.remove(files.dest(n) + PARTIAL_SUFFIX).catch(() => undefined);
      }
    }
    throw error;
  }
  await restorer.close();
  for (const dir of plan.dirs) {
    await deps.fs.chmod(dir.dest, dir.mode);
    await deps.fs.setMtime(dir.dest, dir.mtimeNs, false);
  }
  return progress;
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
  // The index's and the trees' decoding left garbage V8 would keep through the writing.
  session.deps.reclaim?.('after-phase');
  const written = await write(session, plan, options.onProgress);
  return {
    files: written.files,
    dirs: plan.dirs.length,
    symlinks: plan.symlinks,
    bytesWritten: written.bytesWritten,
    damaged,
  };
}
