/**
 * Snapshot files: one per backup run, naming the root tree (docs/backup-format.md §Snapshots).
 *
 *   file    = envelope(snapshot key, aad "sealpost/backup/v1/snapshot", content, padme)
 *   content = u8 version (1) || u64 time (ms since 1970) || root tree id (32) || opaque hostname
 *             || varint p || p x opaque path || varint t || t x opaque tag
 *             || u8 hasParent (0 or 1) || [parent snapshot id (32)]
 *
 * Hostname, paths and tags are UTF-8. A snapshot's id (its storage name) is SHA-256 of the file;
 * `parent` names the snapshot this one was made against (for `diff` and faster change detection).
 */
import { CodecError, ValidationError } from '../errors.ts';
import { LIMITS } from '../limits.ts';
import { Reader } from '../codec/reader.ts';
import { Writer } from '../codec/writer.ts';
import type { CryptoProvider } from '../crypto/provider.ts';
import { BLOB_ID_BYTES, type BlobId } from './blob.ts';
import { ENVELOPE_OVERHEAD_BYTES, openEnvelope, sealEnvelope } from './envelope.ts';
import { checkRepositoryKeys, type RepositoryKeys } from './keys.ts';
import { padme } from './padding.ts';

export const SNAPSHOT_VERSION = 1;
export const SNAPSHOT_ID_BYTES = 32;
const AAD = new TextEncoder().encode('sealpost/backup/v1/snapshot');

export interface Snapshot {
  /** Milliseconds since 1970-01-01T00:00:00Z. */
  readonly timeMs: number;
  readonly tree: BlobId;
  readonly hostname: string;
  readonly paths: readonly string[];
  readonly tags: readonly string[];
  readonly parent?: Uint8Array;
}

const utf8 = new TextEncoder();

function encodeContent(s: Snapshot): Uint8Array {
  const bad = (why: string) => new ValidationError('VALIDATION_FAILED', `snapshot: ${why}`);
  const fits = (text: unknown, max: number) => typeof text === 'string' && utf8.encode(text).length <= max;
  if (!Number.isSafeInteger(s.timeMs) || s.timeMs < 0) throw bad('time out of range');
  if (!(s.tree instanceof Uint8Array) || s.tree.length !== BLOB_ID_BYTES)
    throw bad('tree id must be 32 bytes');
  if (!fits(s.hostname, LIMITS.backupHostnameMaxBytes)) throw bad('hostname too long');
  if (
    s.paths.length > LIMITS.backupSnapshotPathsMax ||
    !s.paths.every((p) => fits(p, LIMITS.backupPathMaxBytes))
  ) {
    throw bad('paths out of range');
  }
  if (
    s.tags.length > LIMITS.backupSnapshotTagsMax ||
    !s.tags.every((t) => fits(t, LIMITS.backupSnapshotTagMaxBytes))
  ) {
    throw bad('tags out of range');
  }
  if (
    s.parent !== undefined &&
    (!(s.parent instanceof Uint8Array) || s.parent.length !== SNAPSHOT_ID_BYTES)
  ) {
    throw bad('parent id must be 32 bytes');
  }
  const w = new Writer(256).u8(SNAPSHOT_VERSION).u53(s.timeMs).fixed(s.tree).string(s.hostname);
  w.vector(s.paths, (x, p) => x.string(p));
  w.vector(s.tags, (x, t) => x.string(t));
  w.bool(s.parent !== undefined);
  if (s.parent !== undefined) w.fixed(s.parent);
  return w.finish();
}

function decodeContent(content: Uint8Array): Snapshot {
  const r = new Reader(content, LIMITS.backupSnapshotMaxBytes);
  const version = r.u8('snapshot version');
  if (version !== SNAPSHOT_VERSION) {
    throw new CodecError('CODEC_INVALID_VALUE', `unknown snapshot version ${version}`);
  }
  const timeMs = r.u53('time');
  const tree = r.fixed(BLOB_ID_BYTES, 'tree id') as BlobId;
  const hostname = r.string(LIMITS.backupHostnameMaxBytes, 'hostname');
  const paths = r.vector(
    LIMITS.backupSnapshotPathsMax,
    (x) => x.string(LIMITS.backupPathMaxBytes, 'path'),
    'paths',
  );
  const tags = r.vector(
    LIMITS.backupSnapshotTagsMax,
    (x) => x.string(LIMITS.backupSnapshotTagMaxBytes, 'tag'),
    'tags',
  );
  const hasParent = r.bool('has parent');
  const snapshot: Snapshot = { timeMs, tree, hostname, paths, tags };
  const result = hasParent ? { ...snapshot, parent: r.fixed(SNAPSHOT_ID_BYTES, 'parent id') } : snapshot;
  r.end('snapshot');
  return result;
}

/** Encrypts a snapshot into the file to store. */
export function encodeSnapshot(crypto: CryptoProvider, keys: RepositoryKeys, snapshot: Snapshot): Uint8Array {
  checkRepositoryKeys(keys);
  const content = encodeContent(snapshot);
  const total = padme(content.length + ENVELOPE_OVERHEAD_BYTES);
  if (total > LIMITS.backupSnapshotMaxBytes) {
    throw new ValidationError(
      'VALIDATION_FAILED',
      `snapshot of ${total} bytes exceeds backupSnapshotMaxBytes`,
    );
  }
  return sealEnvelope(crypto, keys.snapshot, AAD, content, total);
}

/** Decrypts and decodes a snapshot file. CodecError or CryptoVerificationError, nothing else. */
export function decodeSnapshot(crypto: CryptoProvider, keys: RepositoryKeys, file: Uint8Array): Snapshot {
  checkRepositoryKeys(keys);
  return decodeContent(
    openEnvelope(crypto, keys.snapshot, AAD, file, LIMITS.backupSnapshotMaxBytes, 'snapshot'),
  );
}
