/**
 * `prune`: removes the data no snapshot uses, without a lock (grace.ts; docs/backup-engine.md
 * §Concurrent writers and prune).
 *
 * 1. Reads every snapshot and every index file, and walks every tree: the used blobs. Each used
 *    blob is claimed by one pack, the one the index finds it in (live packs first), so a blob two
 *    devices both stored counts once.
 * 2. Decides per pack: all its blobs used: kept; none used: condemned; some used: kept, or, when
 *    its unused share reaches `repackUnusedShare` (or it was condemned), its used blobs are copied
 *    byte for byte into new packs (the format allows it: backup-format.md §Nonces) and it is
 *    condemned. A pack condemned by an earlier prune at least `graceMs` ago, and unused now, is
 *    deleted instead; one used again is live again. Stored packs no index lists (an interrupted or
 *    running backup's) are read and condemned, never deleted on sight.
 * 3. Writes new packs, then index files listing every pack that remains (condemned ones marked,
 *    version 2), then deletes the index files it read, then the packs it deletes. An interrupted
 *    prune leaves extra index files or packs, never a missing one.
 *
 * A snapshot naming a blob that no index lists stops prune before it writes anything
 * (BACKUP_DATA_CORRUPT): the repository needs `check` first.
 */
import { fromHex, toHex } from '@sealpost/core';
import type { BlobId, BlobType } from '@sealpost/core/backup/blob';
import type { IndexedPack } from '@sealpost/core/backup/index-file';
import { PackWriter, type PackEntry } from '@sealpost/core/backup/pack';
import { BlobReader, readIndexFiles } from './blob-reader.ts';
import { BackupError } from './errors.ts';
import { joinPath } from './fs.ts';
import { deletable } from './grace.ts';
import { writeIndexFiles } from './index-writer.ts';
import { BACKUP_ENGINE_LIMITS } from './limits.ts';
import type { ObjectName } from './repository.ts';
import { unlistedPacks } from './resume.ts';
import type { Session } from './session.ts';
import { listSnapshots, nodeName, readTree } from './snapshots.ts';

export interface PruneOptions {
  /** Decide and report, write and delete nothing. */
  readonly dryRun?: boolean;
  /** How long a pack stays condemned before it is deleted (default: the engine's, grace.ts). */
  readonly graceMs?: number;
  /** Rewrite a partly used pack once this share of its bytes is unused (0: any unused byte). */
  readonly repackUnusedShare?: number;
}

export interface PruneResult {
  /** Nothing was written or deleted; the counts say what a real run would do. */
  readonly dryRun: boolean;
  readonly snapshots: number;
  readonly blobsUsed: number;
  readonly packsKept: number;
  /** Partly used packs whose used blobs were copied into new packs. */
  readonly packsRepacked: number;
  /** New packs written (none on a dry run), the blobs and bytes copied into them. */
  readonly packsWritten: number;
  readonly blobsCopied: number;
  readonly bytesCopied: number;
  /** Packs condemned by this run (deleted by a prune at least a grace period later). */
  readonly packsCondemned: number;
  /** Packs condemned earlier and still within their grace period. */
  readonly packsPending: number;
  /** Condemned packs used again by a newer snapshot, live again. */
  readonly packsRescued: number;
  readonly packsDeleted: number;
  readonly bytesDeleted: number;
  readonly indexFilesWritten: number;
  readonly indexFilesDeleted: number;
  /** Indexed but not stored, with blobs a snapshot uses (damage: `check` reports it). */
  readonly packsMissing: readonly string[];
  /** Indexed but not stored, and unused: no longer listed. */
  readonly packsDropped: number;
}

interface PackPlan {
  readonly hex: string;
  readonly entries: readonly PackEntry[];
  readonly condemnedMs: number | undefined;
  used: PackEntry[];
}

/** Collects the ids (hex) of every blob the snapshots use, checking each is indexed. */
async function usedBlobs(
  reader: BlobReader,
  roots: readonly { id: string; tree: BlobId }[],
): Promise<Set<string>> {
  const used = new Set<string>();
  const missing = (id: Uint8Array, snapshot: string, path: string) =>
    new BackupError(
      'BACKUP_DATA_CORRUPT',
      `snapshot ${snapshot} names blob ${toHex(id)} at ${path}, which no index lists: run check`,
      { snapshot, path, blob: toHex(id) },
    );
  const walk = async (tree: BlobId, path: string, snapshot: string): Promise<void> => {
    const hex = toHex(tree);
    if (used.has(hex)) return;
    if (!reader.index.has(tree)) throw missing(tree, snapshot, path);
    used.add(hex);
    for (const node of await readTree(reader, tree, path === '' ? '/' : path)) {
      const child = joinPath(path, nodeName(node));
      if (node.kind === 'dir') await walk(node.subtree, child, snapshot);
      else if (node.kind === 'file') {
        for (const id of node.content) {
          if (!reader.index.has(id)) throw missing(id, snapshot, child);
          used.add(toHex(id));
        }
      }
    }
  };
  for (const r of roots) await walk(r.tree, '', r.id);
  return used;
}

/** Builds new packs out of sealed blobs copied from old ones. */
class Repacker {
  readonly #session: Session;
  readonly #dryRun: boolean;
  readonly #open: Record<BlobType, { writer: PackWriter; parts: Uint8Array[] } | undefined> = {
    data: undefined,
    tree: undefined,
  };
  readonly packs: IndexedPack[] = [];
  blobs = 0;
  bytes = 0;

  constructor(session: Session, dryRun: boolean) {
    this.#session = session;
    this.#dryRun = dryRun;
  }

  async copy(e: PackEntry, pack: Uint8Array | undefined): Promise<void> {
    this.blobs++;
    this.bytes += e.length;
    if (pack === undefined) return; // dry run
    let open = this.#open[e.type];
    if (open !== undefined && !open.writer.canAdd(e.length)) {
      await this.flush(e.type);
      open = undefined;
    }
    if (open === undefined) {
      open = { writer: new PackWriter(this.#session.deps.crypto, this.#session.keys), parts: [] };
      this.#open[e.type] = open;
    }
    const sealed = pack.slice(e.offset, e.offset + e.length);
    open.parts.push(open.writer.add({ id: e.id, type: e.type, rawLength: e.rawLength, sealed }));
    if (open.writer.full) await this.flush(e.type);
  }

  async flush(type: BlobType): Promise<void> {
    const open = this.#open[type];
    this.#open[type] = undefined;
    if (open === undefined || open.writer.count === 0 || this.#dryRun) return;
    const { tail, entries, length } = open.writer.finish();
    const bytes = new Uint8Array(length);
    let at = 0;
    for (const part of [...open.parts, tail]) {
      bytes.set(part, at);
      at += part.length;
    }
    const packId = this.#session.deps.crypto.sha256(bytes);
    await this.#session.repo.put('packs', toHex(packId) as ObjectName, bytes);
    this.packs.push({ packId, entries });
  }
}

const packIdOf = (hex: string) => fromHex(hex, 64, 'pack id');

export async function prune(session: Session, options: PruneOptions = {}): Promise<PruneResult> {
  const { repo, deps } = session;
  const dryRun = options.dryRun === true;
  const graceMs = options.graceMs ?? BACKUP_ENGINE_LIMITS.pruneGraceMs;
  const share = options.repackUnusedShare ?? BACKUP_ENGINE_LIMITS.pruneRepackUnusedShare;
  const now = deps.now();

  const snapshots = await listSnapshots(session);
  const read = await readIndexFiles(session);
  const reader = BlobReader.fromIndexFiles(session, read);
  const stored = new Map((await repo.list('packs')).map((p) => [p.name as string, p.length]));
  const used = await usedBlobs(
    reader,
    snapshots.map((s) => ({ id: s.id, tree: s.snapshot.tree })),
  );

  // Every pack once, with its entries and earliest condemnation; unlisted stored packs last.
  const plans = new Map<string, PackPlan>();
  for (const { packs } of read.files) {
    for (const p of packs) {
      const hex = toHex(p.packId);
      if (!plans.has(hex))
        plans.set(hex, { hex, entries: p.entries, condemnedMs: read.condemned.get(hex), used: [] });
    }
  }
  const unlisted = await unlistedPacks(session, reader);
  for (const p of unlisted) {
    plans.set(toHex(p.packId), {
      hex: toHex(p.packId),
      entries: p.entries,
      condemnedMs: undefined,
      used: [],
    });
  }
  // Each used blob is claimed by the pack the index finds it in.
  for (const plan of plans.values()) {
    for (const e of plan.entries) {
      if (!used.has(toHex(e.id))) continue;
      const at = reader.index.find(e.id);
      if (at !== undefined && toHex(at.packId) === plan.hex && at.offset === e.offset) plan.used.push(e);
    }
  }

  const repacker = new Repacker(session, dryRun);
  const remaining: IndexedPack[] = [];
  const toDelete: string[] = [];
  const condemnNow: PackPlan[] = [];
  const packsMissing: string[] = [];
  let packsKept = 0;
  let packsRepacked = 0;
  let packsPending = 0;
  let packsRescued = 0;
  let packsDropped = 0;
  let bytesDeleted = 0;
  const keepCondemned = (plan: PackPlan) => {
    if (plan.condemnedMs !== undefined && deletable(plan.condemnedMs, now, graceMs)) {
      toDelete.push(plan.hex);
      bytesDeleted += stored.get(plan.hex) ?? 0;
    } else if (plan.condemnedMs !== undefined) {
      packsPending++;
      remaining.push({ packId: packIdOf(plan.hex), entries: plan.entries, condemnedMs: plan.condemnedMs });
    } else condemnNow.push(plan);
  };
  for (const plan of plans.values()) {
    if (!stored.has(plan.hex)) {
      // Gone. Unused: a prune deleted it and stopped before replacing its index files, or a backup
      // listed it just before it went and never wrote its snapshot; forgetting it loses nothing.
      // Used: damage that `check` reports, so it stays listed.
      if (plan.used.length > 0) {
        packsMissing.push(plan.hex);
        remaining.push({ packId: packIdOf(plan.hex), entries: plan.entries });
      } else packsDropped++;
      continue;
    }
    const blobBytes = plan.entries.reduce((t, e) => t + e.length, 0);
    const usedBytes = plan.used.reduce((t, e) => t + e.length, 0);
    if (plan.used.length === plan.entries.length) {
      if (plan.condemnedMs !== undefined) packsRescued++;
      packsKept++;
      remaining.push({ packId: packIdOf(plan.hex), entries: plan.entries });
    } else if (plan.used.length === 0) {
      keepCondemned(plan);
    } else if (plan.condemnedMs !== undefined || (blobBytes - usedBytes) / blobBytes >= share) {
      packsRepacked++;
      const pack = dryRun ? undefined : await reader.pack(plan.hex as ObjectName);
      for (const e of plan.used) await repacker.copy(e, pack);
      keepCondemned(plan);
    } else {
      packsKept++;
      remaining.push({ packId: packIdOf(plan.hex), entries: plan.entries });
    }
  }
  await repacker.flush('data');
  await repacker.flush('tree');

  const changed =
    toDelete.length + condemnNow.length + packsRepacked + packsRescued + packsDropped > 0 ||
    read.files.length > 1;
  let written: ObjectName[] = [];
  let indexFilesDeleted = 0;
  if (!dryRun && changed) {
    // Packs go first, while the index files that list them (condemned) are still there: once a
    // pack is listed by no index file, a backup starting then takes it for an interrupted run's
    // pack and adopts it as live (resume.ts), and its snapshot could then need a pack this prune
    // is about to delete (seen in test/backup-concurrency.test.ts, about one run in ten). A prune
    // stopped between the two steps leaves index entries of deleted packs, which the next prune
    // drops (`packsDropped`).
    for (const hex of toDelete) await repo.delete('packs', hex as ObjectName);
    const condemnedMs = Math.max(1, deps.now());
    written = await writeIndexFiles(session, [
      ...remaining,
      ...repacker.packs,
      ...condemnNow.map((p) => ({ packId: packIdOf(p.hex), entries: p.entries, condemnedMs })),
    ]);
    const keep = new Set<string>(written);
    for (const { name } of read.files) {
      if (keep.has(name)) continue;
      await repo.delete('index', name);
      indexFilesDeleted++;
    }
  }
  return {
    dryRun,
    snapshots: snapshots.length,
    blobsUsed: used.size,
    packsKept,
    packsRepacked,
    packsWritten: repacker.packs.length,
    blobsCopied: repacker.blobs,
    bytesCopied: repacker.bytes,
    packsCondemned: condemnNow.length,
    packsPending,
    packsRescued,
    packsDeleted: toDelete.length,
    bytesDeleted,
    indexFilesWritten: written.length,
    indexFilesDeleted,
    packsMissing,
    packsDropped,
  };
}
