/**
 * Writing index files (index-file.ts) for a list of packs, split so that each stays within
 * LIMITS (`backupIndexPacksPerFileMax` packs, half of `backupIndexFileMaxBytes` of content). Used by
 * a backup run for its packs and by prune for the whole repository.
 */
import { LIMITS } from '@sealpost/core';
import { encodeIndexFile, indexFilePackCount, type IndexFilePack } from '@sealpost/core/backup/index-file';
import { PACK_ENTRY_BYTES } from '@sealpost/core/backup/pack';
import { BACKUP_ENGINE_LIMITS } from './limits.ts';
import type { ObjectName } from './repository.ts';
import { nameOf, type Session } from './session.ts';

/** Splits packs into batches small enough for one index file each. */
export function indexBatches<P extends IndexFilePack>(packs: readonly P[]): P[][] {
  const batches: P[][] = [];
  let batch: P[] = [];
  let bytes = 0;
  for (const p of packs) {
    const cost = 32 + 8 + 4 + indexFilePackCount(p) * PACK_ENTRY_BYTES;
    if (
      batch.length > 0 &&
      (bytes + cost > BACKUP_ENGINE_LIMITS.indexContentBudgetBytes ||
        batch.length >= LIMITS.backupIndexPacksPerFileMax)
    ) {
      batches.push(batch);
      batch = [];
      bytes = 0;
    }
    batch.push(p);
    bytes += cost;
  }
  if (batch.length > 0) batches.push(batch);
  return batches;
}

/** Stores index files listing `packs`; returns their names. */
export async function writeIndexFiles(
  session: Session,
  packs: readonly IndexFilePack[],
): Promise<ObjectName[]> {
  const { repo, deps, keys } = session;
  const names: ObjectName[] = [];
  for (const batch of indexBatches(packs)) {
    const file = encodeIndexFile(deps.crypto, keys, batch);
    const name = nameOf(deps, file);
    await repo.put('index', name, file);
    names.push(name);
  }
  return names;
}
