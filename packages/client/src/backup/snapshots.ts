/**
 * Snapshots and their trees: listing snapshots (`snapshots`), finding one by id or unique prefix,
 * and walking a snapshot's trees (`ls`, and the path lookup `restore` uses for a sub-path).
 */
import { decodeSnapshot, type Snapshot } from '@sealpost/core/backup/snapshot';
import { decodeTree, type TreeNode } from '@sealpost/core/backup/tree';
import type { BlobId } from '@sealpost/core/backup/blob';
import type { BlobReader } from './blob-reader.ts';
import { corrupt, damageOf, type DamagedObject } from './damaged.ts';

export type { DamagedObject } from './damaged.ts';
import { BackupError } from './errors.ts';
import { joinPath } from './fs.ts';
import type { ObjectName } from './repository.ts';
import { fetchUnlessGone, type Session } from './session.ts';

export interface SnapshotInfo {
  readonly id: ObjectName;
  readonly snapshot: Snapshot;
}

/**
 * Every snapshot, oldest first (one removed while listing is left out). A snapshot file that does
 * not open is BACKUP_DATA_CORRUPT naming it, or, when `damaged` is given, left out and added there,
 * so that one bad (or planted) file does not hide the others: `snapshots`, `restore`, `ls` and
 * `check` go on without it; `backup`, `prune` and `forget` never do (they must know every snapshot).
 */
export async function listSnapshots(session: Session, damaged?: DamagedObject[]): Promise<SnapshotInfo[]> {
  const out: SnapshotInfo[] = [];
  for (const { name } of await session.repo.list('snapshots')) {
    try {
      const bytes = await fetchUnlessGone(session.repo, session.deps, 'snapshots', name);
      if (bytes === undefined) continue; // forgotten since the listing
      out.push({ id: name, snapshot: decodeSnapshot(session.deps.crypto, session.keys, bytes) });
    } catch (error) {
      if (damaged === undefined) throw corrupt(error, `snapshots/${name}`);
      damaged.push(damageOf(error, `snapshots/${name}`));
    }
  }
  return out.sort((a, b) => a.snapshot.timeMs - b.snapshot.timeMs || (a.id < b.id ? -1 : 1));
}

/**
 * The snapshot whose id is `idOrPrefix` or starts with it ("latest" is the newest that opens).
 * Snapshot files that do not open are skipped (and added to `damaged`, if given); when nothing
 * matches and some were skipped, BACKUP_DATA_CORRUPT naming the first (the one asked for may be it).
 */
export async function findSnapshot(
  session: Session,
  idOrPrefix: string,
  damaged: DamagedObject[] = [],
): Promise<SnapshotInfo> {
  const all = await listSnapshots(session, damaged);
  if (idOrPrefix === 'latest' && all.length > 0) return all[all.length - 1]!;
  const matches = all.filter((s) => idOrPrefix.length > 0 && s.id.startsWith(idOrPrefix));
  if (matches.length === 0 && damaged.length > 0) {
    throw new BackupError(
      'BACKUP_DATA_CORRUPT',
      `no readable snapshot matches; ${damaged[0]!.object} does not open: ${damaged[0]!.message}`,
      { object: damaged[0]!.object, snapshot: idOrPrefix },
    );
  }
  if (matches.length !== 1) {
    throw new BackupError(
      'BACKUP_SNAPSHOT_NOT_FOUND',
      matches.length === 0 ? 'no snapshot matches' : 'more than one snapshot matches',
      { snapshot: idOrPrefix },
    );
  }
  return matches[0]!;
}

const utf8 = new TextDecoder('utf-8', { fatal: false });

/** Decodes a tree blob; `path` names the directory in errors. */
export async function readTree(reader: BlobReader, id: BlobId, path: string): Promise<TreeNode[]> {
  const plaintext = await reader.read(id, 'tree', path);
  try {
    return decodeTree(plaintext);
  } catch (error) {
    throw corrupt(error, 'tree', { path });
  }
}

export function nodeName(node: TreeNode): string {
  return utf8.decode(node.name);
}

export interface LsEntry {
  /** Path inside the snapshot, "/"-separated, without a leading "/". */
  readonly path: string;
  readonly node: TreeNode;
}

/** Every node under the tree `root`, depth first in name order. */
export async function* walkTree(reader: BlobReader, root: BlobId, prefix = ''): AsyncGenerator<LsEntry> {
  for (const node of await readTree(reader, root, prefix === '' ? '/' : prefix)) {
    const path = joinPath(prefix, nodeName(node));
    yield { path, node };
    if (node.kind === 'dir') yield* walkTree(reader, node.subtree, path);
  }
}

/** Every node of a snapshot (`ls`). */
export async function ls(reader: BlobReader, snapshot: Snapshot): Promise<LsEntry[]> {
  const out: LsEntry[] = [];
  for await (const entry of walkTree(reader, snapshot.tree)) out.push(entry);
  return out;
}

/**
 * The node at `path` ("a/b/c") under `root`, or undefined for the root itself ("" or "/").
 * BACKUP_PATH_NOT_FOUND when a part is missing or a non-directory has children asked of it.
 */
export async function lookupPath(
  reader: BlobReader,
  root: BlobId,
  path: string,
): Promise<TreeNode | undefined> {
  const parts = path.split('/').filter((p) => p !== '' && p !== '.');
  let tree = root;
  let node: TreeNode | undefined;
  let at = '';
  for (const part of parts) {
    if (node !== undefined) {
      if (node.kind !== 'dir') break;
      tree = node.subtree;
    }
    const nodes = await readTree(reader, tree, at === '' ? '/' : at);
    node = nodes.find((n) => nodeName(n) === part);
    at = joinPath(at, part);
    if (node === undefined) break;
  }
  if (parts.length > 0 && (node === undefined || at !== parts.join('/'))) {
    throw new BackupError('BACKUP_PATH_NOT_FOUND', 'the path is not in the snapshot', { path });
  }
  return node;
}
