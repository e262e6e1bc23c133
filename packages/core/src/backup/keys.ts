/**
 * The key hierarchy of a backup repository (docs/backup-format.md §Keys).
 *
 * One 32-byte master key, random, never stored in the clear (key-file.ts wraps it under a
 * passphrase; an account keeps it with its other secrets). Every other key is derived from it with
 * HKDF-SHA256 (RFC 5869), the repository id as salt and one label per purpose, so a key serves one
 * purpose in one repository:
 *
 *   key = HKDF-SHA256(ikm = masterKey, salt = repositoryId, info = "sealpost/backup/v1/" || label, L = 32)
 *
 * | field      | label        | used for                                                       |
 * |------------|--------------|----------------------------------------------------------------|
 * | chunkId    | chunk-id     | data blob id = HMAC-SHA256(chunkId, plaintext)                 |
 * | treeId     | tree-id      | tree blob id = HMAC-SHA256(treeId, plaintext)                  |
 * | chunker    | chunker      | the FastCDC gear table (chunker.ts)                            |
 * | blob       | blob         | AES-256-GCM of every blob in a pack (blob.ts)                  |
 * | packHeader | pack-header  | AES-256-GCM of pack headers and trailers (pack.ts)             |
 * | index      | index        | AES-256-GCM of index files (index-file.ts)                     |
 * | snapshot   | snapshot     | AES-256-GCM of snapshot files (snapshot.ts)                    |
 *
 * Ids are keyed (HMAC, not a hash) so that the server, which sees no plaintext, cannot confirm that
 * a user holds a file it knows by computing that file's chunk ids.
 */
import { ValidationError } from '../errors.ts';
import type { CryptoProvider } from '../crypto/provider.ts';
import { exactBytesArg } from '../crypto/arguments.ts';

export const KEY_BYTES = 32;
/** A repository id: public, random, chosen at `init`; it salts every derivation. */
export const REPOSITORY_ID_BYTES = 32;

export const KEY_LABELS = {
  chunkId: 'chunk-id',
  treeId: 'tree-id',
  chunker: 'chunker',
  blob: 'blob',
  packHeader: 'pack-header',
  index: 'index',
  snapshot: 'snapshot',
} as const;
export type KeyName = keyof typeof KEY_LABELS;

/** Every subkey of a repository. Secrets: call `wipeRepositoryKeys` when done. */
export type RepositoryKeys = { readonly [K in KeyName]: Uint8Array };

const utf8 = new TextEncoder();
const INFO_PREFIX = 'sealpost/backup/v1/';

/** A fresh master key (32 random bytes). */
export function newMasterKey(crypto: CryptoProvider): Uint8Array {
  return crypto.randomBytes(KEY_BYTES);
}

/** A fresh repository id (32 random bytes, public). */
export function newRepositoryId(crypto: CryptoProvider): Uint8Array {
  return crypto.randomBytes(REPOSITORY_ID_BYTES);
}

/** Derives every subkey. The master key stays the caller's to wipe. */
export function deriveRepositoryKeys(
  crypto: CryptoProvider,
  masterKey: Uint8Array,
  repositoryId: Uint8Array,
): RepositoryKeys {
  exactBytesArg(masterKey, KEY_BYTES, 'master key');
  exactBytesArg(repositoryId, REPOSITORY_ID_BYTES, 'repository id');
  const keys = {} as Record<KeyName, Uint8Array>;
  for (const name of Object.keys(KEY_LABELS) as KeyName[]) {
    keys[name] = crypto.hkdfSha256(
      masterKey,
      repositoryId,
      utf8.encode(INFO_PREFIX + KEY_LABELS[name]),
      KEY_BYTES,
    );
  }
  return keys;
}

export function wipeRepositoryKeys(keys: RepositoryKeys): void {
  for (const name of Object.keys(KEY_LABELS) as KeyName[]) keys[name].fill(0);
}

/** Checks that a value is a full set of 32-byte keys (used at the boundary of every sealing function). */
export function checkRepositoryKeys(keys: RepositoryKeys): void {
  if (typeof keys !== 'object' || keys === null) {
    throw new ValidationError('VALIDATION_FAILED', 'repository keys must be an object');
  }
  for (const name of Object.keys(KEY_LABELS) as KeyName[])
    exactBytesArg(keys[name], KEY_BYTES, `${name} key`);
}
