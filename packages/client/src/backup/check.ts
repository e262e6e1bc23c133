/**
 * `check`: is the repository whole?
 *
 * Structure (always): every key, snapshot and index file is intact and opens; every pack an index
 * names is stored; every tree of every snapshot opens and decodes, and every blob it names (data or
 * tree) is in the index. This reads the packs holding tree blobs (tree packs, and a run's last pack
 * when it mixes both types), never the data-only packs.
 *
 * `readData`: also fetches every stored pack, checks it against its name, opens its trailer and
 * header (pack.ts), compares them with the index, and opens every blob in it (tag, length, keyed
 * id). That reads the whole repository, BACKUP_ENGINE_LIMITS.checkPacksInFlight packs at a time:
 * this thread reads (into reused buffers, pack-reads.ts) and hashes packs while a PackVerifier
 * (pack-verifier.ts; worker threads under Node, reading the buffers in place) opens their blobs.
 *
 * Problems are collected, not thrown: the report lists every damaged object it found.
 */
import { equalPublicBytes, toHex } from '@sealpost/core';
import type { BlobId } from '@sealpost/core/backup/blob';
import { BlobIndex } from '@sealpost/core/backup/blob-index';
import { decodeIndexFile, type IndexedPack } from '@sealpost/core/backup/index-file';
import { decodeAnyKeyFile } from '@sealpost/core/backup/recovery-key-file';
import { BlobReader } from './blob-reader.ts';
import { Lanes } from './lanes.ts';
import { BACKUP_ENGINE_LIMITS } from './limits.ts';
import { PackReadPool } from './pack-reads.ts';
import { inlinePackVerifier, packEntriesDigest, problemText } from './pack-verifier.ts';
import type { ObjectName } from './repository.ts';
import { fetchVerified, type Session } from './session.ts';
import { joinPath } from './fs.ts';
import { listSnapshots, nodeName, readTree, type DamagedObject, type SnapshotInfo } from './snapshots.ts';

export interface CheckOptions {
  readonly readData?: boolean;
  /** With `readData`: called after each pack with the packs and bytes read so far, and the totals. */
  readonly onProgress?: (progress: {
    readonly packs: number;
    readonly bytes: number;
    readonly totalPacks: number;
    readonly totalBytes: number;
  }) => void;
}

export interface CheckProblem {
  /** "packs/<name>", "index/<name>", a snapshot, or a path inside a snapshot. */
  readonly object: string;
  readonly message: string;
}

export interface CheckReport {
  readonly ok: boolean;
  readonly problems: CheckProblem[];
  readonly snapshots: number;
  readonly packs: number;
  readonly blobs: number;
  readonly trees: number;
  /** Stored packs no index names (left by an interrupted run; `prune` removes them). */
  readonly unreferencedPacks: number;
  /** Packs read and verified blob by blob (readData only). */
  readonly packsRead: number;
}

export async function check(session: Session, options: CheckOptions = {}): Promise<CheckReport> {
  const { repo, deps, keys } = session;
  const problems: CheckProblem[] = [];
  const problem = (object: string, error: unknown) => problems.push({ object, message: problemText(error) });

  for (const { name } of await repo.list('keys')) {
    try {
      decodeAnyKeyFile(await fetchVerified(repo, deps, 'keys', name));
    } catch (error) {
      problem(`keys/${name}`, error);
    }
  }

  // Index files: each pack's entries, as the index says, kept as the SHA-256 of their encoding (a
  // pack header's, pack.ts): 32 bytes a pack, where the entries themselves (an object and an id
  // array each) took ~20 MiB of a check's heap on a repository of 85,000 blobs.
  const indexed = new Map<string, Uint8Array>();
  const index = new BlobIndex();
  for (const { name } of await repo.list('index')) {
    let packs: IndexedPack[];
    try {
      packs = decodeIndexFile(deps.crypto, keys, await fetchVerified(repo, deps, 'index', name));
    } catch (error) {
      problem(`index/${name}`, error);
      continue;
    }
    for (const p of packs) {
      const n = index.addPack(p.packId);
      for (const e of p.entries) index.add(n, e);
      indexed.set(toHex(p.packId), packEntriesDigest(deps.crypto, p.entries));
    }
  }
  index.compact();
  deps.reclaim?.('after-phase');

  const stored = new Map((await repo.list('packs')).map((p) => [p.name as string, p.length]));
  for (const name of indexed.keys()) {
    if (!stored.has(name)) problems.push({ object: `packs/${name}`, message: 'indexed but not stored' });
  }
  let unreferencedPacks = 0;
  for (const name of stored.keys()) if (!indexed.has(name)) unreferencedPacks++;

  // Snapshots and their trees.
  const damaged: DamagedObject[] = [];
  const snapshots: SnapshotInfo[] = await listSnapshots(session, damaged);
  problems.push(...damaged);
  const reader = new BlobReader(session, index, []);
  const seen = new Set<string>();
  let trees = 0;
  const walk = async (id: BlobId, path: string, snapshot: string): Promise<void> => {
    const hex = toHex(id);
    if (seen.has(hex)) return;
    seen.add(hex);
    trees++;
    let nodes;
    try {
      nodes = await readTree(reader, id, path);
    } catch (error) {
      problem(`snapshot ${snapshot}: ${path}`, error);
      return;
    }
    for (const node of nodes) {
      const childPath = joinPath(path === '/' ? '' : path, nodeName(node));
      if (node.kind === 'dir') await walk(node.subtree, childPath, snapshot);
      else if (node.kind === 'file') {
        for (const chunk of node.content) {
          if (!index.has(chunk)) {
            problems.push({
              object: `snapshot ${snapshot}: ${childPath}`,
              message: `data blob ${toHex(chunk)} is not in the index`,
            });
          }
        }
      }
    }
  };
  for (const s of snapshots) await walk(s.snapshot.tree, '/', s.id);
  deps.reclaim?.('after-phase');

  let packsRead = 0;
  let bytesRead = 0;
  const totalBytes = [...stored.values()].reduce((t, n) => t + n, 0);
  if (options.readData === true) {
    const verifier = deps.packVerifiers?.(keys) ?? inlinePackVerifier(deps, keys);
    const lanes = new Lanes(BACKUP_ENGINE_LIMITS.checkPacksInFlight);
    // One buffer per lane, reused once the pack's verdict is in (pack-reads.ts).
    const pool = new PackReadPool(repo, deps);
    const checkPack = async (name: string): Promise<void> => {
      const object = `packs/${name}`;
      try {
        // The verifier checks the pack's name (hashing it on a worker, not here).
        const loan = await pool.fetch(name as ObjectName, { checked: false });
        try {
          const verdict = await verifier.verify(loan.bytes, name);
          if ('problem' in verdict) problems.push({ object, message: verdict.problem });
          else {
            const expected = indexed.get(name);
            if (expected !== undefined && !equalPublicBytes(expected, verdict.entriesDigest)) {
              problems.push({ object, message: 'pack header and index disagree' });
            }
            packsRead++;
          }
        } finally {
          loan.release();
        }
      } catch (error) {
        problem(object, error);
      }
      bytesRead += stored.get(name) ?? 0;
      options.onProgress?.({ packs: packsRead, bytes: bytesRead, totalPacks: stored.size, totalBytes });
    };
    try {
      for (const name of stored.keys()) await lanes.start(() => checkPack(name));
      await lanes.drain();
    } finally {
      await verifier.close();
    }
  }

  return {
    ok: problems.length === 0,
    problems,
    snapshots: snapshots.length,
    packs: stored.size,
    blobs: index.size,
    trees,
    unreferencedPacks,
    packsRead,
  };
}
