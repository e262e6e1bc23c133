/**
 * Resuming an interrupted backup. A run stores packs as it goes and writes its index file only at
 * the end (backup.ts), so a run that was killed leaves packs that no index file lists. The next run
 * adopts them: it reads each one's header (the pack header key is ours), adds its blobs to the
 * index it deduplicates against, and lists the pack in its own index file. What the killed run had
 * stored is therefore not uploaded again; only the pack it was assembling is lost.
 *
 * A pack is fetched whole to read its header (a range would show the server where the blobs end,
 * backup-format.md §Restoring). A pack that does not open is left alone: `check` reports it and
 * `prune` leaves it for a person to look at. An unlisted pack may also be a concurrent backup's
 * pack whose index file is not written yet; adopting it as well is harmless (a pack listed twice).
 */
import { fromHex, SealpostError } from '@sealpost/core';
import type { IndexedPack } from '@sealpost/core/backup/index-file';
import { readPack } from '@sealpost/core/backup/pack';
import type { BlobReader } from './blob-reader.ts';
import { BackupError } from './errors.ts';
import type { ObjectName } from './repository.ts';
import { fetchVerified, type Session } from './session.ts';

/**
 * Stored packs no index file lists, with their entries (unreadable ones left out). `stored`: the
 * names of the stored packs, if the caller has listed them.
 */
export async function unlistedPacks(
  session: Session,
  reader: BlobReader,
  stored?: Iterable<string>,
): Promise<IndexedPack[]> {
  const { repo, deps, keys } = session;
  const out: IndexedPack[] = [];
  for (const name of stored ?? (await repo.list('packs')).map((p) => p.name)) {
    if (reader.indexedPacks.has(name)) continue;
    try {
      const entries = readPack(
        deps.crypto,
        keys,
        await fetchVerified(repo, deps, 'packs', name as ObjectName),
      );
      out.push({ packId: fromHex(name, 64, 'pack name'), entries });
    } catch (error) {
      // Damaged, or deleted since the listing: not ours to use.
      if (!(error instanceof BackupError || error instanceof SealpostError)) throw error;
    }
  }
  return out;
}

/**
 * Prepares a run's index for writing: packs an index lists but the repository no longer stores
 * are not deduplicated against, and unlisted packs are added to it. Returns the unlisted packs, for
 * the run's index file.
 */
export async function adoptUnlistedPacks(session: Session, reader: BlobReader): Promise<IndexedPack[]> {
  const stored = new Set((await session.repo.list('packs')).map((p) => p.name as string));
  reader.avoid([...reader.indexedPacks].filter((p) => !stored.has(p)));
  const packs = await unlistedPacks(session, reader, stored);
  for (const p of packs) {
    const n = reader.index.addPack(p.packId);
    for (const e of p.entries) reader.index.add(n, e);
  }
  return packs;
}
