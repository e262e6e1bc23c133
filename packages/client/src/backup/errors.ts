/**
 * The backup engine's typed errors. Each has a stable `code`; `details` holds public facts only
 * (object names, paths inside the snapshot), never key material or file contents.
 *
 * Errors of the format itself (a malformed object, a failing tag) are core's `CodecError` and
 * `CryptoVerificationError`; the engine wraps them into `BACKUP_DATA_CORRUPT` with the object and,
 * during a restore, the file they belong to, keeping the original as `cause`. A wrong passphrase
 * stays core's `KEYSTORE_PASSPHRASE_WRONG` (a wrong passphrase and an altered key file cannot be
 * told apart). These codes are meant to join core's table in errors.ts when the engine is wired to
 * the server (docs/backup-engine.md).
 */
export const BACKUP_ERRORS = {
  /** The target holds no key file: it is not a repository (or not one yet). */
  BACKUP_NOT_A_REPOSITORY: 'not-found',
  /** `init` on a target that already holds a key file. */
  BACKUP_REPOSITORY_EXISTS: 'conflict',
  /** No snapshot, or more than one, matches the given id or prefix. */
  BACKUP_SNAPSHOT_NOT_FOUND: 'not-found',
  /** A path asked for is not in the snapshot. */
  BACKUP_PATH_NOT_FOUND: 'not-found',
  /** A stored object does not match its name, fails to decrypt or decode, or is missing. */
  BACKUP_DATA_CORRUPT: 'crypto',
  /** An object name that is not 64 lowercase hex digits, or bytes that do not hash to it. */
  BACKUP_OBJECT_NAME_INVALID: 'validation',
  /** A forget policy that keeps nothing (refused rather than removing every snapshot). */
  BACKUP_POLICY_EMPTY: 'validation',
  /** `key remove` of the key file the given secret opened: one that opens must remain. */
  BACKUP_KEY_IN_USE: 'conflict',
  /** `key remove` of a name no key file has, or a prefix more than one has. */
  BACKUP_KEY_NOT_FOUND: 'not-found',
  /** Concurrent prunes condemned packs a backup needed in each of its attempts (grace.ts). */
  BACKUP_CONCURRENT_PRUNE: 'conflict',
} as const;
export type BackupErrorCode = keyof typeof BACKUP_ERRORS;

export class BackupError extends Error {
  readonly code: BackupErrorCode;
  readonly details: Readonly<Record<string, string | number>>;
  constructor(
    code: BackupErrorCode,
    message: string,
    details: Record<string, string | number> = {},
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'BackupError';
    this.code = code;
    this.details = details;
  }
  get kind(): (typeof BACKUP_ERRORS)[BackupErrorCode] {
    return BACKUP_ERRORS[this.code];
  }
}
