/**
 * The backup engine as a Node program (the `sealpost backup` command) uses it: the engine
 * (../src/backup/) with the Node adapters, reachable as `@sealpost/client/node/backup-api` until
 * the package's index exports the engine.
 */
export { LocalRepository } from './backup-local-repo.ts';
export { HttpRepository } from './backup-http-repo.ts';
export type { Repository } from '../src/backup/repository.ts';
export type { BackupDeps } from '../src/backup/deps.ts';
export {
  ACCOUNT_KEY_FILE_PARAMS,
  accountKeySecret,
  addKey,
  addRecoveryKey,
  changeKey,
  initAccountRepository,
  listKeys,
  removeKey,
  type KeyFileInfo,
} from '../src/backup/keys.ts';
export { addKeyWithRecovery, openRepositoryWithRecovery } from '../src/backup/recovery.ts';
export { nodeBackupDeps } from './backup-node.ts';
export { favourMemory } from './backup-reclaim.ts';
export { backup, type BackupResult } from '../src/backup/backup.ts';
export { BlobReader } from '../src/backup/blob-reader.ts';
export { check } from '../src/backup/check.ts';
export { diff } from '../src/backup/diff.ts';
export { Excludes, parseSize, type ExcludeRules } from '../src/backup/exclude.ts';
export type { FsKind } from '../src/backup/fs.ts';
export { BackupError } from '../src/backup/errors.ts';
export {
  forget,
  FORGET_RULES,
  GROUP_FIELDS,
  DEFAULT_GROUP_BY,
  parseKeepWithin,
  type ForgetPolicy,
  type GroupField,
} from '../src/backup/forget.ts';
export { prune } from '../src/backup/prune.ts';
export { restore } from '../src/backup/restore.ts';
export { initRepository, openRepository, type Session } from '../src/backup/session.ts';
export {
  findSnapshot,
  listSnapshots,
  selectSnapshots,
  walkTree,
  type DamagedObject,
  type SnapshotFilter,
} from '../src/backup/snapshots.ts';
