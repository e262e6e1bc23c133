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
 * backup writes its snapshot within G/2 of its check (seconds, against G of hours).
 */
import { toHex } from '@sealpost/core';
import { decodeIndexFile } from '@sealpost/core/backup/index-file';
import type { BlobReader } from './blob-reader.ts';
import { corrupt } from './blob-reader.ts';
import { fetchVerified, type Session } from './session.ts';

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
 * and lists the stored packs.
 */
export async function packsAtRisk(
  session: Session,
  reader: BlobReader,
  packs: ReadonlySet<string>,
  graceMs: number,
): Promise<Set<string>> {
  const { repo, deps, keys } = session;
  const condemned = new Map(reader.condemned);
  const seen = new Set<string>(reader.indexFiles);
  for (const { name } of await repo.list('index')) {
    if (seen.has(name)) continue;
    try {
      const file = decodeIndexFile(deps.crypto, keys, await fetchVerified(repo, deps, 'index', name));
      for (const p of file) {
        if (p.condemnedMs === undefined) continue;
        const hex = toHex(p.packId);
        condemned.set(hex, Math.min(p.condemnedMs, condemned.get(hex) ?? Infinity));
      }
    } catch (error) {
      throw corrupt(error, `index/${name}`);
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
