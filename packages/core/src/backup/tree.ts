/**
 * Trees: one directory's listing, stored as the plaintext of a tree blob (blob.ts), so names, modes,
 * times and sizes are only ever stored encrypted (docs/backup-format.md §Trees).
 *
 *   tree  = u8 version (1) || varint n || n x node          (nodes sorted by name, bytewise, no repeats)
 *   node  = opaque name || u8 kind || u16 mode || i64 mtime (ns since 1970, two's complement) || body
 *   body  = file (1):    u64 size || varint k || k x chunk id (32)
 *           dir (2):     subtree id (32)
 *           symlink (3): opaque target
 *           file+ (0x81): u64 size || u64 inode || i64 ctime (ns) || varint k || k x chunk id (32)
 *
 * Kind 0x81 (the file kind with the high bit set) is a file that also records its inode number and
 * status-change time, which a later backup compares to notice a file rewritten with its old size and
 * mtime put back (restic records them the same way). A writer uses 0x81 when it has both, 1
 * otherwise; both decode to a file node.
 *
 * `opaque` and `varint` are core's codec (RFC 9420 §2.1.2 varints). Names are bytes (POSIX names
 * need not be UTF-8): 1 to backupNameMaxBytes bytes, no NUL, no '/', not "." or "..". Mode holds
 * the permission bits (0o7777); the kind is separate. An empty directory is a dir node whose subtree
 * is the empty tree (n = 0). A file's content is its chunks' ids in order.
 */
import { CodecError, ValidationError } from '../errors.ts';
import { LIMITS } from '../limits.ts';
import { Reader } from '../codec/reader.ts';
import { Writer } from '../codec/writer.ts';
import { BLOB_ID_BYTES, type BlobId } from './blob.ts';

export const TREE_VERSION = 1;
export const NODE_KIND = { file: 1, dir: 2, symlink: 3 } as const;
/** The wire kind of a file node that carries `inode` and `ctimeNs`: the file kind, high bit set. */
export const NODE_KIND_FILE_STAT = 0x81;
export const MODE_MAX = 0o7777;

interface NodeBase {
  readonly name: Uint8Array;
  /** Permission bits, at most 0o7777. */
  readonly mode: number;
  /** Modification time in nanoseconds since 1970-01-01T00:00:00Z (negative before). */
  readonly mtimeNs: bigint;
}
export interface FileNode extends NodeBase {
  readonly kind: 'file';
  readonly size: number;
  readonly content: readonly BlobId[];
  /** Inode number (u64), recorded together with `ctimeNs` or not at all (wire kind 0x81). */
  readonly inode?: bigint;
  /** Status-change time in nanoseconds since 1970. */
  readonly ctimeNs?: bigint;
}
export interface DirNode extends NodeBase {
  readonly kind: 'dir';
  readonly subtree: BlobId;
}
export interface SymlinkNode extends NodeBase {
  readonly kind: 'symlink';
  readonly target: Uint8Array;
}
export type TreeNode = FileNode | DirNode | SymlinkNode;

const DOT = 0x2e;
const SLASH = 0x2f;

/** Why a name is refused, or undefined when it is fine. */
function nameProblem(name: Uint8Array): string | undefined {
  if (name.length < 1 || name.length > LIMITS.backupNameMaxBytes) return 'length out of range';
  if (name.includes(0) || name.includes(SLASH)) return 'contains NUL or /';
  if (name[0] === DOT && (name.length === 1 || (name.length === 2 && name[1] === DOT))) return 'is . or ..';
  return undefined;
}

function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return a[i]! - b[i]!;
  return a.length - b.length;
}

/** Sorts nodes into tree order (a copy); `encodeTree` requires that order. */
export function sortTreeNodes(nodes: readonly TreeNode[]): TreeNode[] {
  return [...nodes].sort((a, b) => compareBytes(a.name, b.name));
}

const I64_MIN = -(2n ** 63n);
const I64_MAX = 2n ** 63n - 1n;

function writeU64(w: Writer, v: bigint): Writer {
  return w.u32(Number(v >> 32n)).u32(Number(v & 0xffffffffn));
}

function readU64(r: Reader, what: string): bigint {
  const hi = r.u32(what);
  const lo = r.u32(what);
  return (BigInt(hi) << 32n) | BigInt(lo);
}

/** Encodes a tree. Requires nodes sorted by name without repeats, every field in range. */
export function encodeTree(nodes: readonly TreeNode[]): Uint8Array {
  const w = new Writer(64 + nodes.length * 64).u8(TREE_VERSION).varint(nodes.length);
  let previous: Uint8Array | undefined;
  for (const node of nodes) {
    const bad = (why: string) => new ValidationError('VALIDATION_FAILED', `tree node: ${why}`);
    if (!(node.name instanceof Uint8Array)) throw bad('name must be bytes');
    const problem = nameProblem(node.name);
    if (problem !== undefined) throw bad(`name ${problem}`);
    if (previous !== undefined && compareBytes(previous, node.name) >= 0)
      throw bad('names not sorted or repeated');
    previous = node.name;
    if (!Number.isInteger(node.mode) || node.mode < 0 || node.mode > MODE_MAX) throw bad('mode out of range');
    if (typeof node.mtimeNs !== 'bigint' || node.mtimeNs < I64_MIN || node.mtimeNs > I64_MAX) {
      throw bad('mtime out of range');
    }
    const stat = node.kind === 'file' && (node.inode !== undefined || node.ctimeNs !== undefined);
    if (stat) {
      const { inode, ctimeNs } = node;
      if (typeof inode !== 'bigint' || inode < 0n || inode >= 2n ** 64n) throw bad('inode out of range');
      if (typeof ctimeNs !== 'bigint' || ctimeNs < I64_MIN || ctimeNs > I64_MAX)
        throw bad('ctime out of range');
    }
    w.opaque(node.name)
      .u8(stat ? NODE_KIND_FILE_STAT : NODE_KIND[node.kind])
      .u16(node.mode);
    writeU64(w, BigInt.asUintN(64, node.mtimeNs));
    if (node.kind === 'file') {
      w.u53(node.size);
      if (stat) {
        writeU64(w, node.inode!);
        writeU64(w, BigInt.asUintN(64, node.ctimeNs!));
      }
      w.varint(node.content.length);
      for (const id of node.content) {
        if (id.length !== BLOB_ID_BYTES) throw bad('chunk id must be 32 bytes');
        w.fixed(id);
      }
    } else if (node.kind === 'dir') {
      if (node.subtree.length !== BLOB_ID_BYTES) throw bad('subtree id must be 32 bytes');
      w.fixed(node.subtree);
    } else if (node.kind === 'symlink') {
      if (node.target.length < 1 || node.target.length > LIMITS.backupPathMaxBytes)
        throw bad('link target length');
      w.opaque(node.target);
    } else {
      throw bad('unknown kind');
    }
  }
  const out = w.finish();
  if (out.length > LIMITS.backupTreeMaxBytes) {
    throw new ValidationError('VALIDATION_FAILED', `tree of ${out.length} bytes exceeds backupTreeMaxBytes`);
  }
  return out;
}

/** Decodes a tree (the plaintext of a tree blob). Total: a tree or a CodecError. */
export function decodeTree(bytes: Uint8Array): TreeNode[] {
  const r = new Reader(bytes, LIMITS.backupTreeMaxBytes);
  const version = r.u8('tree version');
  if (version !== TREE_VERSION)
    throw new CodecError('CODEC_INVALID_VALUE', `unknown tree version ${version}`);
  const count = r.varint('node count');
  // The smallest node (1-byte name, symlink with a 1-byte target) takes 15 bytes.
  if (count * 15 > r.remaining)
    throw new CodecError('CODEC_LENGTH_LIMIT', `tree node count ${count} is too large`);
  const nodes: TreeNode[] = [];
  let previous: Uint8Array | undefined;
  for (let i = 0; i < count; i++) {
    const node = readNode(r);
    if (previous !== undefined && compareBytes(previous, node.name) >= 0) {
      throw new CodecError('CODEC_INVALID_VALUE', `tree node ${i}: names not sorted or repeated`);
    }
    previous = node.name;
    nodes.push(node);
  }
  r.end('tree');
  return nodes;
}

function readNode(r: Reader): TreeNode {
  const name = r.opaque(LIMITS.backupNameMaxBytes, 'name');
  const problem = nameProblem(name);
  if (problem !== undefined) throw new CodecError('CODEC_INVALID_VALUE', `node name ${problem}`);
  const kind = r.u8('node kind');
  const mode = r.u16('mode');
  if (mode > MODE_MAX)
    throw new CodecError('CODEC_INVALID_VALUE', `mode 0o${mode.toString(8)} is out of range`);
  const mtimeNs = BigInt.asIntN(64, readU64(r, 'mtime'));
  if (kind === NODE_KIND.file || kind === NODE_KIND_FILE_STAT) {
    const size = r.u53('file size');
    const inode = kind === NODE_KIND_FILE_STAT ? readU64(r, 'inode') : undefined;
    const ctimeNs = kind === NODE_KIND_FILE_STAT ? BigInt.asIntN(64, readU64(r, 'ctime')) : undefined;
    const k = r.varint('chunk count');
    if (k * BLOB_ID_BYTES > r.remaining)
      throw new CodecError('CODEC_TRUNCATED', `chunk list of ${k} ids is truncated`);
    const content: BlobId[] = [];
    for (let j = 0; j < k; j++) content.push(r.fixed(BLOB_ID_BYTES, 'chunk id') as BlobId);
    return inode === undefined
      ? { kind: 'file', name, mode, mtimeNs, size, content }
      : { kind: 'file', name, mode, mtimeNs, size, content, inode, ctimeNs: ctimeNs! };
  }
  if (kind === NODE_KIND.dir) {
    return { kind: 'dir', name, mode, mtimeNs, subtree: r.fixed(BLOB_ID_BYTES, 'subtree id') as BlobId };
  }
  if (kind === NODE_KIND.symlink) {
    const target = r.opaque(LIMITS.backupPathMaxBytes, 'link target');
    if (target.length < 1) throw new CodecError('CODEC_INVALID_VALUE', 'empty link target');
    return { kind: 'symlink', name, mode, mtimeNs, target };
  }
  throw new CodecError('CODEC_INVALID_VALUE', `unknown node kind ${kind}`);
}
