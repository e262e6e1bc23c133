/**
 * Who can open a repository: adding and changing key files, and the key files of an account
 * (docs/backup-format.md "Keys from the account").
 *
 * A key file wraps the one master key; every other key derives from it, so adding or changing a
 * passphrase writes one 123-byte key file (and deletes one) and re-encrypts nothing.
 *
 * An account's repository needs no passphrase of its own. It holds an account key file, whose
 * "passphrase" is a 32-byte secret derived from the account seed,
 *
 *   HKDF(ikm = account seed, salt = "", info = "sealpost/backup/v1/account-key-file", L = 32)
 *
 * and a recovery key file (core backup/recovery-key-file.ts): the master key sealed to the
 * account's backup recovery public key, which a device keeps in its key store. Writing it needs no
 * secret; opening it needs the recovery code (recovery.ts). The account seed is 256 uniformly
 * random bits, so Argon2id has nothing to stretch: account key files use the smallest parameters
 * core accepts (`ACCOUNT_KEY_FILE_PARAMS`).
 */
import { SealpostError, type CryptoProvider } from '@sealpost/core';
import { createKeyFile, openKeyFile, type Argon2idParams } from '@sealpost/core/backup/key-file';
import { DEFAULT_ARGON2ID_PARAMS } from '@sealpost/core/backup/key-file';
import { createRecoveryKeyFile, decodeAnyKeyFile } from '@sealpost/core/backup/recovery-key-file';
import type { BackupDeps } from './deps.ts';
import { BackupError } from './errors.ts';
import type { ObjectName, Repository } from './repository.ts';
import { fetchVerified, initRepository, nameOf } from './session.ts';

const utf8 = new TextEncoder();
const ACCOUNT_INFO = utf8.encode('sealpost/backup/v1/account-key-file');
const SECRET_BYTES = 32;

/** RFC 9106 §3.1 minimum (m >= 8p): the input is already a uniformly random key. */
export const ACCOUNT_KEY_FILE_PARAMS: Argon2idParams = { memoryKiB: 8, iterations: 1, parallelism: 1 };

/** The account key file's secret, from the account's Ed25519 seed. The caller wipes both. */
export function accountKeySecret(crypto: CryptoProvider, accountSeed: Uint8Array): Uint8Array {
  return crypto.hkdfSha256(accountSeed, new Uint8Array(0), ACCOUNT_INFO, SECRET_BYTES);
}

function bytesOf(secret: string | Uint8Array): Uint8Array {
  return typeof secret === 'string' ? utf8.encode(secret) : secret.slice();
}

/**
 * The master key and repository id, from the first key file `secret` opens, with that file's
 * name. BACKUP_NOT_A_REPOSITORY without key files; KEYSTORE_PASSPHRASE_WRONG when none opens.
 */
async function unlock(
  repo: Repository,
  deps: BackupDeps,
  secret: Uint8Array,
): Promise<{ masterKey: Uint8Array; repositoryId: Uint8Array; name: ObjectName }> {
  const files = await repo.list('keys');
  if (files.length === 0) {
    throw new BackupError('BACKUP_NOT_A_REPOSITORY', 'no key file: the target is not a backup repository');
  }
  let firstError: unknown;
  for (const { name } of files) {
    try {
      const bytes = await fetchVerified(repo, deps, 'keys', name);
      return { ...(await openKeyFile(deps.crypto, deps.argon2id, bytes, secret)), name };
    } catch (error) {
      if (!(error instanceof SealpostError || error instanceof BackupError)) throw error;
      if (
        firstError === undefined ||
        (error instanceof SealpostError && error.code === 'KEYSTORE_PASSPHRASE_WRONG')
      )
        firstError = error;
    }
  }
  throw firstError;
}

/**
 * Adds a key file for `newSecret`, unlocking the master key with `secret` (any key file it opens).
 * Returns the new key file's name. Nothing else in the repository changes.
 */
export async function addKey(
  repo: Repository,
  deps: BackupDeps,
  secret: string | Uint8Array,
  newSecret: string | Uint8Array,
  params: Argon2idParams = DEFAULT_ARGON2ID_PARAMS,
): Promise<ObjectName> {
  const [old, next] = [bytesOf(secret), bytesOf(newSecret)];
  try {
    const { masterKey, repositoryId } = await unlock(repo, deps, old);
    try {
      const file = await createKeyFile(deps.crypto, deps.argon2id, masterKey, repositoryId, next, params);
      const name = nameOf(deps, file);
      await repo.put('keys', name, file);
      return name;
    } finally {
      masterKey.fill(0);
    }
  } finally {
    old.fill(0);
    next.fill(0);
  }
}

/**
 * Changes a passphrase: stores a key file for `newSecret`, then deletes the one `oldSecret` opened
 * (in that order, so a failure between leaves both usable, never neither). Returns the new name.
 */
export async function changeKey(
  repo: Repository,
  deps: BackupDeps,
  oldSecret: string | Uint8Array,
  newSecret: string | Uint8Array,
  params: Argon2idParams = DEFAULT_ARGON2ID_PARAMS,
): Promise<ObjectName> {
  const old = bytesOf(oldSecret);
  try {
    const { masterKey, name: oldName } = await unlock(repo, deps, old);
    masterKey.fill(0);
    const name = await addKey(repo, deps, old, newSecret, params);
    if (name !== oldName) await repo.delete('keys', oldName);
    return name;
  } finally {
    old.fill(0);
  }
}

/**
 * Adds a recovery key file for `recoveryPublicKey` (the account's backup recovery key), unlocking
 * the master key with `secret`. Needs no recovery secret. Returns the new key file's name.
 */
export async function addRecoveryKey(
  repo: Repository,
  deps: BackupDeps,
  secret: string | Uint8Array,
  recoveryPublicKey: Uint8Array,
): Promise<ObjectName> {
  const old = bytesOf(secret);
  try {
    const { masterKey, repositoryId } = await unlock(repo, deps, old);
    try {
      const file = createRecoveryKeyFile(deps.crypto, masterKey, repositoryId, recoveryPublicKey);
      const name = nameOf(deps, file);
      await repo.put('keys', name, file);
      return name;
    } finally {
      masterKey.fill(0);
    }
  } finally {
    old.fill(0);
  }
}

/**
 * Creates an account's repository: a key file under the account seed and, given the account's
 * backup recovery public key, a recovery key file the recovery code opens. BACKUP_REPOSITORY_EXISTS
 * if the target holds a key file.
 */
export async function initAccountRepository(
  repo: Repository,
  deps: BackupDeps,
  keys: { readonly accountSeed: Uint8Array; readonly recoveryPublicKey?: Uint8Array | undefined },
): Promise<{ repositoryId: string; recoveryKeyFile: boolean }> {
  const account = accountKeySecret(deps.crypto, keys.accountSeed);
  try {
    const created = await initRepository(repo, deps, account, ACCOUNT_KEY_FILE_PARAMS);
    if (keys.recoveryPublicKey === undefined) return { ...created, recoveryKeyFile: false };
    await addRecoveryKey(repo, deps, account, keys.recoveryPublicKey);
    return { ...created, recoveryKeyFile: true };
  } finally {
    account.fill(0);
  }
}

/** One key file as `listKeys` reports it: public facts only. */
export interface KeyFileInfo {
  readonly name: ObjectName;
  /**
   * `passphrase`: Argon2id under a passphrase; `account`: the account key file (Argon2id with
   * ACCOUNT_KEY_FILE_PARAMS, a secret from the account seed); `recovery`: sealed to the recovery
   * key; `damaged`: does not parse (check reports it).
   */
  readonly kind: 'passphrase' | 'account' | 'recovery' | 'damaged';
  readonly argon2id?: Argon2idParams;
  /** The key file `secret` opened. */
  readonly current: boolean;
}

const isAccountParams = (p: Argon2idParams): boolean =>
  p.memoryKiB === ACCOUNT_KEY_FILE_PARAMS.memoryKiB &&
  p.iterations === ACCOUNT_KEY_FILE_PARAMS.iterations &&
  p.parallelism === ACCOUNT_KEY_FILE_PARAMS.parallelism;

/**
 * Every key file of the repository, sorted by name, once `secret` has opened one of them (so only
 * someone who can open the repository learns what its key files are). The kind `account` is told
 * by its Argon2id parameters, which the CLI never uses for a passphrase.
 */
export async function listKeys(
  repo: Repository,
  deps: BackupDeps,
  secret: string | Uint8Array,
): Promise<KeyFileInfo[]> {
  const own = bytesOf(secret);
  try {
    const { masterKey, name: current } = await unlock(repo, deps, own);
    masterKey.fill(0);
    const infos: KeyFileInfo[] = [];
    for (const { name } of await repo.list('keys')) {
      let info: KeyFileInfo;
      try {
        const parsed = decodeAnyKeyFile(await fetchVerified(repo, deps, 'keys', name));
        info =
          parsed.kind === 'recovery'
            ? { name, kind: 'recovery', current: name === current }
            : {
                name,
                kind: isAccountParams(parsed.file.params) ? 'account' : 'passphrase',
                argon2id: parsed.file.params,
                current: name === current,
              };
      } catch (error) {
        if (!(error instanceof SealpostError || error instanceof BackupError)) throw error;
        info = { name, kind: 'damaged', current: false };
      }
      infos.push(info);
    }
    return infos.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  } finally {
    own.fill(0);
  }
}

/**
 * Removes the key file `name` (a full name, or a unique prefix of at least 8 hex digits) after
 * `secret` has opened the repository. Refuses to remove the key file `secret` opened
 * (BACKUP_KEY_IN_USE: there is always one left that opens, as restic refuses), and a name no key
 * file has, or more than one has (BACKUP_KEY_NOT_FOUND). Returns the removed file's name. No data
 * changes: the master key stays the same.
 */
export async function removeKey(
  repo: Repository,
  deps: BackupDeps,
  secret: string | Uint8Array,
  name: string,
): Promise<ObjectName> {
  const own = bytesOf(secret);
  try {
    const { masterKey, name: current } = await unlock(repo, deps, own);
    masterKey.fill(0);
    const wanted = name.toLowerCase();
    const matches = /^[0-9a-f]{8,64}$/.test(wanted)
      ? (await repo.list('keys')).filter((k) => k.name.startsWith(wanted))
      : [];
    if (matches.length !== 1) {
      throw new BackupError(
        'BACKUP_KEY_NOT_FOUND',
        matches.length === 0
          ? 'no key file has that name (give 8 or more hex digits of it: backup key list)'
          : 'more than one key file starts with that name: give more of it',
        { key: name.slice(0, 64) },
      );
    }
    const target = matches[0]!.name;
    if (target === current) {
      throw new BackupError(
        'BACKUP_KEY_IN_USE',
        'that key file is the one this passphrase opens: remove it with another passphrase',
        { key: target },
      );
    }
    await repo.delete('keys', target);
    return target;
  } finally {
    own.fill(0);
  }
}
