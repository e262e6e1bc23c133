/**
 * Naming damage: a format error (core's CodecError, CryptoVerificationError, ...) becomes
 * BACKUP_DATA_CORRUPT naming the object and, where known, the file it belongs to; a reader that can
 * do without a damaged snapshot or index file records it as a DamagedObject and goes on.
 */
import { SealpostError } from '@sealpost/core';
import { BackupError } from './errors.ts';

/** Wraps a format error into BACKUP_DATA_CORRUPT naming the object; other errors pass through. */
export function corrupt(error: unknown, object: string, extra: Record<string, string> = {}): unknown {
  if (error instanceof BackupError && error.code === 'BACKUP_DATA_CORRUPT') {
    return Object.keys(extra).length === 0
      ? error
      : new BackupError(
          'BACKUP_DATA_CORRUPT',
          `${error.message}${describe(extra)}`,
          { ...error.details, ...extra },
          {
            cause: error,
          },
        );
  }
  if (error instanceof SealpostError) {
    return new BackupError(
      'BACKUP_DATA_CORRUPT',
      `${object}: ${error.message}${describe(extra)}`,
      { object, ...extra },
      {
        cause: error,
      },
    );
  }
  return error;
}

export function describe(extra: Record<string, string>): string {
  return extra.path === undefined ? '' : ` (file ${extra.path})`;
}

/** A snapshot or index file that did not open, skipped by a reader that can do without it. */
export interface DamagedObject {
  /** "snapshots/<name>" or "index/<name>". */
  readonly object: string;
  readonly message: string;
}

/** The code and message of a BackupError or a core error, for a DamagedObject; others rethrown. */
export function damageOf(error: unknown, object: string): DamagedObject {
  const wrapped = corrupt(error, object);
  if (wrapped instanceof BackupError) return { object, message: `${wrapped.code}: ${wrapped.message}` };
  throw wrapped;
}
