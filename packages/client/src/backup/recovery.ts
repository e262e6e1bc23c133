/**
 * Opening a repository with the recovery code alone: the way back when every device of the
 * account is lost (docs/backup-format.md "Recovery key files").
 *
 * The recovery secret (core identity/recovery-key.ts, parsed from the printed code) gives the
 * backup recovery private key; each recovery key file in the repository is tried with it (one
 * X25519 each, no Argon2id). The master key it unwraps opens a session like a passphrase does, and
 * `addKeyWithRecovery` then gives the new machine a key file of its own (a new account key's, or a
 * passphrase's), so the code goes back in the drawer.
 */
import { CryptoVerificationError, SealpostError } from '@sealpost/core';
import { createKeyFile, type Argon2idParams } from '@sealpost/core/backup/key-file';
import { openRecoveryKeyFile, recoveryBoxKey } from '@sealpost/core/backup/recovery-key-file';
import type { BackupDeps } from './deps.ts';
import { BackupError } from './errors.ts';
import type { ObjectName, Repository } from './repository.ts';
import { fetchVerified, nameOf, sessionOf, type Session } from './session.ts';

/**
 * The master key (the caller's to wipe) and repository id, from the first recovery key file the
 * recovery secret opens. BACKUP_NOT_A_REPOSITORY without key files; KEYSTORE_PASSPHRASE_WRONG when
 * none opens (another account's code, or no recovery key file: the message says which).
 */
export async function unlockWithRecovery(
  repo: Repository,
  deps: BackupDeps,
  recoverySecret: Uint8Array,
): Promise<{ masterKey: Uint8Array; repositoryId: Uint8Array }> {
  const files = await repo.list('keys');
  if (files.length === 0) {
    throw new BackupError('BACKUP_NOT_A_REPOSITORY', 'no key file: the target is not a backup repository');
  }
  const { privateKey } = recoveryBoxKey(deps.crypto, recoverySecret);
  let wrongCode: unknown;
  try {
    for (const { name } of files) {
      const bytes = await fetchVerified(repo, deps, 'keys', name).catch((error: unknown) => {
        if (error instanceof BackupError) return undefined; // a damaged key file: try the others
        throw error;
      });
      if (bytes === undefined) continue;
      try {
        return openRecoveryKeyFile(deps.crypto, bytes, privateKey);
      } catch (error) {
        // A passphrase key file fails to decode (CODEC_*); a recovery key file of another code fails its tag.
        if (!(error instanceof SealpostError)) throw error;
        if (error.code === 'KEYSTORE_PASSPHRASE_WRONG') wrongCode = error;
      }
    }
  } finally {
    privateKey.fill(0);
  }
  throw (
    wrongCode ??
    new CryptoVerificationError(
      'KEYSTORE_PASSPHRASE_WRONG',
      'the repository holds no recovery key file: the recovery code cannot open it',
    )
  );
}

/** A session on the repository, opened with the recovery secret (the caller wipes it). */
export async function openRepositoryWithRecovery(
  repo: Repository,
  deps: BackupDeps,
  recoverySecret: Uint8Array,
): Promise<Session> {
  const { masterKey, repositoryId } = await unlockWithRecovery(repo, deps, recoverySecret);
  return sessionOf(repo, deps, masterKey, repositoryId);
}

/**
 * Adds a key file for `newSecret` (a passphrase, or a new account's key file secret), unlocking
 * the master key with the recovery secret. Returns its name; nothing else changes.
 */
export async function addKeyWithRecovery(
  repo: Repository,
  deps: BackupDeps,
  recoverySecret: Uint8Array,
  newSecret: Uint8Array,
  params: Argon2idParams,
): Promise<ObjectName> {
  const { masterKey, repositoryId } = await unlockWithRecovery(repo, deps, recoverySecret);
  try {
    const file = await createKeyFile(deps.crypto, deps.argon2id, masterKey, repositoryId, newSecret, params);
    const name = nameOf(deps, file);
    await repo.put('keys', name, file);
    return name;
  } finally {
    masterKey.fill(0);
  }
}
