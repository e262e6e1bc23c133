/**
 * Snapshots and their trees: listing snapshots (`snapshots`), selecting them by host, tags and paths
 * (restic's `--host`, `--tag`, `--path`), finding one by id or unique prefix, and walking a
 * snapshot's trees (`ls`, and the path lookup `restore` uses for a sub-path).
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
 * Which snapshots a command considers (restic's snapshot filter); an absent or empty field selects
 * every snapshot. A snapshot is selected when its hostname is one of `hosts`, it has every tag of
 * at least one list of `tags` (a list holding only "" selects the snapshots without tags), and its
 * paths include every one of `paths`.
 */
export interface SnapshotFilter {
  readonly hosts?: readonly string[];
  readonly tags?: readonly (readonly string[])[];
  readonly paths?: readonly string[];
}

/** restic's `HasTags`: every tag of `list` is in `tags` ("" matches a snapshot without tags). */
export function hasTags(tags: readonly string[], list: readonly string[]): boolean {
  return list.every((t) => (t === '' ? tags.length === 0 : tags.includes(t)));
}

function isSelected(s: Snapshot, filter: SnapshotFilter): boolean {
  const { hosts = [], tags = [], paths = [] } = filter;
  return (
    (hosts.length === 0 || hosts.includes(s.hostname)) &&
    (tags.length === 0 || tags.some((list) => hasTags(s.tags, list))) &&
    paths.every((p) => s.paths.includes(p))
  );
}

/** The snapshots `filter` selects, in their order. */
export function selectSnapshots(all: readonly SnapshotInfo[], filter: SnapshotFilter): SnapshotInfo[] {
  return all.filter((s) => isSelected(s.snapshot, filter));
}

/**
 * The snapshot whose id is `idOrPrefix` or starts with it; "latest" is the newest that opens among
 * those `filter` selects (an id or prefix names its snapshot whatever the filter, as in restic).
 * Snapshot files that do not open are skipped (and added to `damaged`, if given); when nothing
 * matches and some were skipped, BACKUP_DATA_CORRUPT naming the first (the one asked for may be it).
 */
export async function findSnapshot(
  session: Session,
  idOrPrefix: string,
  damaged: DamagedObject[] = [],
  filter: SnapshotFilter = {},
): Promise<SnapshotInfo> {
  return pickSnapshot(await listSnapshots(session, damaged), idOrPrefix, damaged, filter);
}

/**
 * `findSnapshot` on snapshots already listed (`all`, oldest first, with the `damaged` the listing
 * reported): for callers that resolve several names, which list the repository once.
 */
export function pickSnapshot(
  all: readonly SnapshotInfo[],
  idOrPrefix: string,
  damaged: readonly DamagedObject[] = [],
  filter: SnapshotFilter = {},
): SnapshotInfo {
  if (idOrPrefix === 'latest') {
    const selected = selectSnapshots(all, filter);
    if (selected.length > 0) return selected[selected.length - 1]!;
  }
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
