/**
 * Resuming an interrupted backup. A run stores packs as it goes and writes its index file only at
 * the end (backup.ts), so a run that was killed leaves packs that no index file lists. The next run
 * adopts them: it reads each one's header (the pack header key is ours), adds its blobs to the
 * index it deduplicates against, and lists the pack in its own index file. What the killed run had
 * stored is therefore not uploaded again; only the pack it was assembling is lost.
 *
 * A pack no larger than `resumeTailBytes` is fetched whole and checked against its name. A larger
 * one is read by one range: its last `resumeTailBytes`, the same for every pack, so the request
 * tells the server nothing it does not know (a range fitted to the header would show where the
 * blobs end, backup-format.md §Restoring). The trailer and header are authenticated (AES-GCM under
 * our pack-header key), so a forged tail does not open; a tail of another of our packs served in
 * its place would make entries point at the wrong pack, which every reader catches when it opens
 * those blobs (tag, keyed id) from the whole, name-checked pack. A header longer than the tail (a
 * pack of very many tiny blobs) costs one more, whole, fetch. So a run that dies again and again
 * no longer re-reads every unlisted pack in full.
 *
 * A pack that does not open is left alone: `check` reports it and
 * `prune` leaves it for a person to look at. An unlisted pack may also be a concurrent backup's
 * pack whose index file is not written yet; adopting it as well is harmless (a pack listed twice).
 */
import { fromHex, SealpostError } from '@sealpost/core';
import type { IndexedPack } from '@sealpost/core/backup/index-file';
import {
  decodePackHeader,
  decodePackTrailer,
  PACK_TRAILER_BYTES,
  readPack,
  type PackEntry,
} from '@sealpost/core/backup/pack';
import type { BlobReader } from './blob-reader.ts';
import { BackupError } from './errors.ts';
import { BACKUP_ENGINE_LIMITS } from './limits.ts';
import type { ObjectName } from './repository.ts';
import { fetchVerified, type Session } from './session.ts';

/**
 * Stored packs no index file lists, with their entries (unreadable ones left out). `stored`: the
 * names of the stored packs, if the caller has listed them.
 */
export async function unlistedPacks(
  session: Session,
  reader: BlobReader,
  stored?: readonly { readonly name: string; readonly length: number }[],
): Promise<IndexedPack[]> {
  const { repo } = session;
  const out: IndexedPack[] = [];
  for (const { name, length } of stored ?? (await repo.list('packs'))) {
    if (reader.indexedPacks.has(name)) continue;
    try {
      const entries = await packEntries(session, name as ObjectName, length);
      out.push({ packId: fromHex(name, 64, 'pack name'), entries });
    } catch (error) {
      // Damaged, or deleted since the listing: not ours to use.
      if (!(error instanceof BackupError || error instanceof SealpostError)) throw error;
    }
  }
  return out;
}

/** A stored pack's entries, from its tail when it is longer than `resumeTailBytes` (see above). */
async function packEntries(session: Session, name: ObjectName, length: number): Promise<PackEntry[]> {
  const { repo, deps, keys } = session;
  const tailBytes = BACKUP_ENGINE_LIMITS.resumeTailBytes;
  if (length > tailBytes) {
    const tail = await repo.get('packs', name, { offset: length - tailBytes, length: tailBytes });
    const trailerAt = tail.length - PACK_TRAILER_BYTES;
    const headerLength = decodePackTrailer(deps.crypto, keys, tail.subarray(trailerAt), length);
    if (headerLength <= trailerAt) {
      const headerAt = trailerAt - headerLength;
      return decodePackHeader(
        deps.crypto,
        keys,
        tail.subarray(headerAt, trailerAt),
        length - tailBytes + headerAt,
      );
    }
  }
  return readPack(deps.crypto, keys, await fetchVerified(repo, deps, 'packs', name));
}

/**
 * Prepares a run's index for writing: packs an index lists but the repository no longer stores
 * are not deduplicated against, and unlisted packs are added to it. Returns the unlisted packs, for
 * the run's index file.
 */
export async function adoptUnlistedPacks(session: Session, reader: BlobReader): Promise<IndexedPack[]> {
  const listed = await session.repo.list('packs');
  const stored = new Set(listed.map((p) => p.name as string));
  reader.avoid([...reader.indexedPacks].filter((p) => !stored.has(p)));
  const packs = await unlistedPacks(session, reader, listed);
  for (const p of packs) {
    const n = reader.index.addPack(p.packId);
    for (const e of p.entries) reader.index.add(n, e);
  }
  return packs;
}
