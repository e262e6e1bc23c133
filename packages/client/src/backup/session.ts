/**
 * Creating and opening a repository: the key file, the master key, the derived keys and the gear
 * table, plus the one fetch every reader goes through (whole objects, checked against their name).
 *
 * `init` writes one key file (key-file.ts) wrapping a fresh master key under the passphrase. `open`
 * tries each key file with the passphrase; every other key derives from the master key (keys.ts),
 * which is wiped as soon as they are derived. Call `session.close()` to wipe the subkeys.
 */
import { SealpostError, toHex } from '@sealpost/core';
import { deriveGearTable } from '@sealpost/core/backup/chunker';
import {
  createKeyFile,
  DEFAULT_ARGON2ID_PARAMS,
  openKeyFile,
  type Argon2idParams,
} from '@sealpost/core/backup/key-file';
import {
  deriveRepositoryKeys,
  newMasterKey,
  newRepositoryId,
  wipeRepositoryKeys,
  type RepositoryKeys,
} from '@sealpost/core/backup/keys';
import type { BackupDeps } from './deps.ts';
import { BackupError } from './errors.ts';
import type { ObjectKind, ObjectName, Repository } from './repository.ts';

const utf8 = new TextEncoder();

export interface Session {
  readonly repo: Repository;
  readonly deps: BackupDeps;
  readonly keys: RepositoryKeys;
  readonly gear: Uint32Array;
  /** Wipes the keys; the session is unusable afterwards. */
  close(): void;
}

/** SHA-256 of `bytes` as an object name. */
export function nameOf(deps: BackupDeps, bytes: Uint8Array): ObjectName {
  return toHex(deps.crypto.sha256(bytes)) as ObjectName;
}

/**
 * Fetches a whole object and checks it hashes to its name (docs/backup-format.md: "checked by the
 * reader on every fetch"). BACKUP_DATA_CORRUPT otherwise, naming the object.
 */
export async function fetchVerified(
  repo: Repository,
  deps: BackupDeps,
  kind: ObjectKind,
  name: ObjectName,
): Promise<Uint8Array> {
  const bytes = await repo.get(kind, name);
  if (nameOf(deps, bytes) !== name) {
    throw new BackupError('BACKUP_DATA_CORRUPT', `${kind}/${name} does not match its name`, {
      object: `${kind}/${name}`,
    });
  }
  return bytes;
}

/**
 * Like `fetchVerified`, but undefined when the object is no longer stored: a listing is only a
 * moment's view, and a concurrent `forget` or `prune` may remove what it named.
 */
export async function fetchUnlessGone(
  repo: Repository,
  deps: BackupDeps,
  kind: ObjectKind,
  name: ObjectName,
): Promise<Uint8Array | undefined> {
  try {
    return await fetchVerified(repo, deps, kind, name);
  } catch (error) {
    if (
      error instanceof BackupError &&
      error.code === 'BACKUP_DATA_CORRUPT' &&
      !(await repo.exists(kind, name))
    )
      return undefined;
    throw error;
  }
}

/** The passphrase as UTF-8 bytes, in a copy the caller of this module wipes. */
function secretOf(passphrase: string | Uint8Array): Uint8Array {
  return typeof passphrase === 'string' ? utf8.encode(passphrase) : passphrase.slice();
}

/**
 * The session on `repo` for an unlocked master key: derives the subkeys and the gear table, then
 * wipes `masterKey`; the session's `close()` wipes the rest.
 */
export function sessionOf(
  repo: Repository,
  deps: BackupDeps,
  masterKey: Uint8Array,
  repositoryId: Uint8Array,
): Session {
  const keys = deriveRepositoryKeys(deps.crypto, masterKey, repositoryId);
  masterKey.fill(0);
  const gear = deriveGearTable(deps.crypto, keys.chunker);
  return {
    repo,
    deps,
    keys,
    gear,
    close: () => {
      wipeRepositoryKeys(keys);
      gear.fill(0);
    },
  };
}

/** Creates a repository in an empty target. BACKUP_REPOSITORY_EXISTS if it holds a key file. */
export async function initRepository(
  repo: Repository,
  deps: BackupDeps,
  passphrase: string | Uint8Array,
  params: Argon2idParams = DEFAULT_ARGON2ID_PARAMS,
): Promise<{ repositoryId: string }> {
  if ((await repo.list('keys')).length > 0) {
    throw new BackupError('BACKUP_REPOSITORY_EXISTS', 'the target already holds a repository');
  }
  const masterKey = newMasterKey(deps.crypto);
  const repositoryId = newRepositoryId(deps.crypto);
  const secret = secretOf(passphrase);
  try {
    const file = await createKeyFile(deps.crypto, deps.argon2id, masterKey, repositoryId, secret, params);
    await repo.put('keys', nameOf(deps, file), file);
    return { repositoryId: toHex(repositoryId) };
  } finally {
    masterKey.fill(0);
    secret.fill(0);
  }
}

/**
 * Opens a repository with a passphrase. BACKUP_NOT_A_REPOSITORY when there is no key file;
 * core's KEYSTORE_PASSPHRASE_WRONG when no key file opens with it.
 */
export async function openRepository(
  repo: Repository,
  deps: BackupDeps,
  passphrase: string | Uint8Array,
): Promise<Session> {
  const keyFiles = await repo.list('keys');
  if (keyFiles.length === 0) {
    throw new BackupError('BACKUP_NOT_A_REPOSITORY', 'no key file: the target is not a backup repository');
  }
  const secret = secretOf(passphrase);
  let firstError: unknown;
  try {
    for (const { name } of keyFiles) {
      try {
        const bytes = await fetchVerified(repo, deps, 'keys', name);
        const { masterKey, repositoryId } = await openKeyFile(deps.crypto, deps.argon2id, bytes, secret);
        return sessionOf(repo, deps, masterKey, repositoryId);
      } catch (error) {
        // Try the next key file; report a wrong passphrase in preference to a damaged file.
        if (!(error instanceof SealpostError || error instanceof BackupError)) throw error;
        if (
          firstError === undefined ||
          (error instanceof SealpostError && error.code === 'KEYSTORE_PASSPHRASE_WRONG')
        )
          firstError = error;
      }
    }
  } finally {
    secret.fill(0);
  }
  throw firstError;
}
