/**
 * Where a backup repository lives: a store of named, immutable objects (docs/backup-format.md
 * §Overview). The engine only ever talks to this interface; packages/client/node/backup-local-repo.ts
 * implements it on a local directory, and the Sealpost server's blob store comes later.
 *
 * Four kinds of object, each named by the SHA-256 of its bytes as 64 lowercase hex digits, so a
 * reader can check what it fetched and a writer can repeat a `put` safely:
 *
 *   keys/       key files (key-file.ts)
 *   packs/      pack files (pack.ts)
 *   index/      index files (index-file.ts)
 *   snapshots/  snapshot files (snapshot.ts)
 */
import { BackupError } from './errors.ts';

export const OBJECT_KINDS = ['keys', 'packs', 'index', 'snapshots'] as const;
export type ObjectKind = (typeof OBJECT_KINDS)[number];

/** 64 lowercase hex digits: SHA-256 of the object's bytes. */
export type ObjectName = string & { readonly __brand: 'ObjectName' };

const NAME = /^[0-9a-f]{64}$/;

export function objectNameArg(value: unknown): ObjectName {
  if (typeof value !== 'string' || !NAME.test(value)) {
    throw new BackupError('BACKUP_OBJECT_NAME_INVALID', 'object name must be 64 lowercase hex digits');
  }
  return value as ObjectName;
}

export interface ByteRange {
  readonly offset: number;
  readonly length: number;
}

export interface PutOptions {
  /** `name` is SHA-256 of `bytes`, computed by the caller from the same bytes (not taken from elsewhere). */
  readonly hashed?: boolean;
}

/**
 * A pack written where the repository keeps it as it fills (`Repository.spoolPack`), so that a
 * backup does not hold each pack in memory until it is stored (pack-sink.ts). Used by one caller,
 * in this order: `append`s (and `read`s), `seal`, then `store`; `discard` at any point drops it.
 */
export interface PackSpool {
  /** Bytes appended so far. */
  readonly length: number;
  /** Appends `bytes`; they are the caller's again on return. */
  append(bytes: Uint8Array): void;
  /** `length` bytes at `offset` of what was appended (a new array). */
  read(offset: number, length: number): Uint8Array;
  /** Ends the appends; returns SHA-256 of the bytes, the pack's name. */
  seal(): Uint8Array;
  /** Stores the bytes as packs/<name> (as `put` would: whole under its name, or absent); durable on return. */
  store(): Promise<void>;
  /** Drops the bytes unless stored; may be called more than once. */
  discard(): Promise<void>;
}

export interface Repository {
  /**
   * Optional: a new pack to fill (PackSpool). A repository without it is sent whole packs with
   * `put`, assembled in memory.
   */
  spoolPack?(): PackSpool;
  /**
   * Stores `bytes` as `kind/name`. Requires `name` = SHA-256(bytes) (checked: BACKUP_OBJECT_NAME_INVALID).
   * Idempotent: storing an object that is already there, intact, writes nothing. Durable on return.
   * `bytes` belongs to the caller again once the returned promise settles (packs come from reused
   * buffers: pack-buffers.ts); until then the caller leaves it unchanged.
   * `options.hashed`: the caller computed `name` from these very bytes itself (pack-sink.ts hashes
   * each pack for its name), so the repository may skip its own check; a caller that did not
   * leaves it out, and the check stands.
   */
  put(kind: ObjectKind, name: ObjectName, bytes: Uint8Array, options?: PutOptions): Promise<void>;
  /**
   * The object's bytes, or `range` of them. BACKUP_DATA_CORRUPT if it is missing (or the range
   * runs past its end). The caller checks the hash of whole objects.
   */
  get(kind: ObjectKind, name: ObjectName, range?: ByteRange): Promise<Uint8Array>;
  /**
   * Optional: like `get`, but reads into the start of `target` (the caller's, reused from object to
   * object: pack-reads.ts) and returns the view of it that holds the bytes. When the object (or
   * range) is longer than `target`, returns a new array holding it instead, as `get` would. The
   * caller reads the returned view, never past it. A repository without it is read with `get`.
   */
  getInto?(kind: ObjectKind, name: ObjectName, target: Uint8Array, range?: ByteRange): Promise<Uint8Array>;
  /** Every stored object of `kind`, with its length, in no particular order. */
  list(kind: ObjectKind): Promise<{ name: ObjectName; length: number }[]>;
  exists(kind: ObjectKind, name: ObjectName): Promise<boolean>;
  /** Removes an object; removing a missing object is not an error. */
  delete(kind: ObjectKind, name: ObjectName): Promise<void>;
}
