/**
 * The grace period: how `prune` and any number of concurrent backups share a repository without a
 * lock (docs/backup-engine.md §Concurrent writers and prune, which argues the protocol in full).
 *
 * A prune never deletes a pack it has just found unused. It **condemns** it: the pack stays listed,
 * marked with the time (index file version 2, backup-format.md §Index files). A later prune deletes
 * it only if it has been condemned for at least the grace period G and is still unused then. A
 * backup never deduplicates against a condemned pack, and before writing its snapshot it checks
 * that every pack its snapshot needs is still stored and was not condemned more than G/2 ago; if
 * one was, it does the walk again against the current index instead of writing a snapshot that
 * might point into a pack about to go. So a crashed client leaves nothing behind that blocks
 * anyone: no lock to go stale, only packs that a later prune removes.
 *
 * Preconditions (stated in the docs): clocks of the devices differ by much less than G/2, and a
 * prune runs for much less than G/2 (minutes, against G of hours). A backup checks again right after
 * its snapshot is stored (backup.ts): a prune that listed the snapshots before that could still
 * delete a pack the snapshot uses only if it deleted more than G/2 after the second check.
 */
import { toHex } from '@sealpost/core';
import { decodeIndexFile } from '@sealpost/core/backup/index-file';
import type { BlobReader } from './blob-reader.ts';
import { corrupt } from './blob-reader.ts';
import { BackupError } from './errors.ts';
import { BACKUP_ENGINE_LIMITS } from './limits.ts';
import { fetchUnlessGone, type Session } from './session.ts';

/** A prune at `nowMs` may delete an unused pack condemned at `condemnedMs`. */
export function deletable(condemnedMs: number, nowMs: number, graceMs: number): boolean {
  return condemnedMs <= nowMs - graceMs;
}

/** A backup at `nowMs` must not write a snapshot that needs a pack condemned at `condemnedMs`. */
export function atRisk(condemnedMs: number, nowMs: number, graceMs: number): boolean {
  return condemnedMs <= nowMs - graceMs / 2;
}

/**
 * Of `packs` (hex ids) a snapshot is about to need, those that are gone or at risk now: reads the
 * index files `reader` has not seen (a prune may have written some) for their condemned packs,
 * and lists the stored packs. `own`: index files the caller wrote itself, which condemn nothing
 * (not read: a first backup's own index files are all of its blobs, ~25 MiB of objects decoded
 * for the Debian set, twice, at the peak of its memory).
 */
export async function packsAtRisk(
  session: Session,
  reader: BlobReader,
  packs: ReadonlySet<string>,
  graceMs: number,
  own: readonly string[] = [],
): Promise<Set<string>> {
  const { repo, deps, keys } = session;
  const condemned = new Map(reader.condemned);
  const read = new Set<string>([...reader.indexFiles, ...own]);
  for (let attempt = 1; ; attempt++) {
    let vanished = false;
    for (const { name } of await repo.list('index')) {
      if (read.has(name)) continue;
      let bytes: Uint8Array | undefined;
      try {
        bytes = await fetchUnlessGone(repo, deps, 'index', name);
        for (const p of bytes === undefined ? [] : decodeIndexFile(deps.crypto, keys, bytes)) {
          if (p.condemnedMs === undefined) continue;
          const hex = toHex(p.packId);
          condemned.set(hex, Math.min(p.condemnedMs, condemned.get(hex) ?? Infinity));
        }
      } catch (error) {
        throw corrupt(error, `index/${name}`);
      }
      if (bytes === undefined) vanished = true;
      else read.add(name);
    }
    // A prune stores an index file's replacement before it deletes the file: list again to read it.
    if (!vanished) break;
    if (attempt >= BACKUP_ENGINE_LIMITS.indexReadAttempts) {
      throw new BackupError(
        'BACKUP_CONCURRENT_PRUNE',
        `index files kept changing while they were read (${attempt} times)`,
        { attempts: attempt },
      );
    }
  }
  const stored = new Set<string>((await repo.list('packs')).map((p) => p.name));
  const now = deps.now();
  const out = new Set<string>();
  for (const pack of packs) {
    const since = condemned.get(pack);
    if (!stored.has(pack) || (since !== undefined && atRisk(since, now, graceMs))) out.add(pack);
  }
  return out;
}
