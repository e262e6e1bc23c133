/**
 * `diff`: what changed between two snapshots, path by path.
 *
 * The two root trees are walked side by side in name order. Subtrees with the same id are equal
 * (ids are keyed hashes of the tree's bytes), so an unchanged directory costs nothing, and only the
 * trees along changed paths are read. A path is `added` or `removed` (everything below an added or
 * removed directory is listed too), `modified` when its content changed (a file's chunks, a
 * symlink's target, or its kind), or `metadata` when only its mode or mtime did.
 */
import type { BlobId } from '@sealpost/core/backup/blob';
import type { TreeNode } from '@sealpost/core/backup/tree';
import { BlobReader } from './blob-reader.ts';
import { joinPath } from './fs.ts';
import type { Session } from './session.ts';
import { findSnapshot, nodeName, readTree, walkTree } from './snapshots.ts';

export type DiffChange = 'added' | 'removed' | 'modified' | 'metadata';

export interface DiffEntry {
  readonly path: string;
  readonly change: DiffChange;
  /** The kind in the second snapshot (the first, for a removed path). */
  readonly kind: TreeNode['kind'];
  /** File size in the first snapshot (absent for an added path or a non-file). */
  readonly sizeBefore?: number;
  /** File size in the second snapshot (absent for a removed path or a non-file). */
  readonly sizeAfter?: number;
}

export interface DiffResult {
  readonly from: string;
  readonly to: string;
  readonly entries: readonly DiffEntry[];
  readonly added: number;
  readonly removed: number;
  readonly modified: number;
  readonly metadata: number;
  /** File bytes in added paths, and in removed ones. */
  readonly bytesAdded: number;
  readonly bytesRemoved: number;
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

function sameContent(a: TreeNode, b: TreeNode): boolean {
  if (a.kind === 'file' && b.kind === 'file') {
    return (
      a.size === b.size &&
      a.content.length === b.content.length &&
      a.content.every((id, i) => sameBytes(id, b.content[i]!))
    );
  }
  if (a.kind === 'symlink' && b.kind === 'symlink') return sameBytes(a.target, b.target);
  return a.kind === b.kind;
}

const sizeOf = (n: TreeNode) => (n.kind === 'file' ? n.size : undefined);

class Differ {
  readonly reader: BlobReader;
  readonly entries: DiffEntry[] = [];
  constructor(reader: BlobReader) {
    this.reader = reader;
  }

  push(path: string, change: DiffChange, node: TreeNode, before?: TreeNode): void {
    const sizeBefore = change === 'added' ? undefined : sizeOf(before ?? node);
    const sizeAfter = change === 'removed' ? undefined : sizeOf(node);
    this.entries.push({
      path,
      change,
      kind: node.kind,
      ...(sizeBefore === undefined ? {} : { sizeBefore }),
      ...(sizeAfter === undefined ? {} : { sizeAfter }),
    });
  }

  /** Lists `node` at `path` and, for a directory, everything below it. */
  async all(path: string, node: TreeNode, change: 'added' | 'removed'): Promise<void> {
    this.push(path, change, node);
    if (node.kind !== 'dir') return;
    for await (const e of walkTree(this.reader, node.subtree, path)) this.push(e.path, change, e.node);
  }

  async trees(a: BlobId, b: BlobId, path: string): Promise<void> {
    if (sameBytes(a, b)) return;
    const before = await readTree(this.reader, a, path === '' ? '/' : path);
    const after = await readTree(this.reader, b, path === '' ? '/' : path);
    const old = new Map(before.map((n) => [nodeName(n), n]));
    const names = [...new Set([...before, ...after].map(nodeName))].sort();
    const now = new Map(after.map((n) => [nodeName(n), n]));
    for (const name of names) {
      const child = joinPath(path, name);
      const x = old.get(name);
      const y = now.get(name);
      if (x === undefined) await this.all(child, y!, 'added');
      else if (y === undefined) await this.all(child, x, 'removed');
      else if (x.kind === 'dir' && y.kind === 'dir') {
        if (x.mode !== y.mode || x.mtimeNs !== y.mtimeNs) this.push(child, 'metadata', y, x);
        await this.trees(x.subtree, y.subtree, child);
      } else if (!sameContent(x, y)) {
        if (x.kind !== y.kind && (x.kind === 'dir' || y.kind === 'dir')) {
          await this.all(child, x, 'removed');
          await this.all(child, y, 'added');
        } else this.push(child, 'modified', y, x);
      } else if (x.mode !== y.mode || x.mtimeNs !== y.mtimeNs) this.push(child, 'metadata', y, x);
    }
  }
}

/** The changes from snapshot `from` to snapshot `to` (ids, unique prefixes, or "latest"). */
export async function diff(session: Session, from: string, to: string): Promise<DiffResult> {
  const a = await findSnapshot(session, from);
  const b = await findSnapshot(session, to);
  const differ = new Differ(await BlobReader.load(session));
  await differ.trees(a.snapshot.tree, b.snapshot.tree, '');
  const count = (c: DiffChange) => differ.entries.filter((e) => e.change === c).length;
  const bytes = (c: DiffChange, pick: (e: DiffEntry) => number | undefined) =>
    differ.entries.filter((e) => e.change === c).reduce((t, e) => t + (pick(e) ?? 0), 0);
  return {
    from: a.id,
    to: b.id,
    entries: differ.entries,
    added: count('added'),
    removed: count('removed'),
    modified: count('modified'),
    metadata: count('metadata'),
    bytesAdded: bytes('added', (e) => e.sizeAfter),
    bytesRemoved: bytes('removed', (e) => e.sizeBefore),
  };
}
