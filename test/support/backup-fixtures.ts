/**
 * Shared pieces of the backup maintenance tests (test/backup-maintenance.test.ts,
 * backup-concurrency.test.ts, backup-resume.test.ts): a repository on a temporary directory with a
 * clock the test sets, random file trees, and a byte-for-byte digest of a directory tree.
 */
import { createHash, randomFillSync } from 'node:crypto';
import * as fs from 'node:fs/promises';
import { join } from 'node:path';
import { LocalRepository } from '../../packages/client/node/backup-local-repo.ts';
import { nodeBackupDeps } from '../../packages/client/node/backup-node.ts';
import type { BackupDeps } from '../../packages/client/src/backup/deps.ts';
import type { Repository } from '../../packages/client/src/backup/repository.ts';
import { restore } from '../../packages/client/src/backup/restore.ts';
import { initRepository, openRepository, type Session } from '../../packages/client/src/backup/session.ts';

export const MiB = 1024 * 1024;
export const PASSPHRASE = 'maintenance tests';
/** Cheap Argon2id for tests (RFC 9106 minimums are enforced by core, not cost). */
export const TEST_ARGON2 = { memoryKiB: 1024, iterations: 1, parallelism: 1 };

/** A clock the test moves: ms since 1970. */
export class TestClock {
  ms: number;
  constructor(ms = Date.UTC(2026, 0, 1)) {
    this.ms = ms;
  }
  readonly now = (): number => this.ms;
}

export function depsWith(clock: TestClock): BackupDeps {
  return nodeBackupDeps({ now: clock.now });
}

/** Creates a repository in `dir` and opens it; `repo` may wrap the LocalRepository. */
export async function newRepository(
  dir: string,
  deps: BackupDeps,
  wrap: (repo: Repository) => Repository = (r) => r,
): Promise<{ local: LocalRepository; session: Session }> {
  const local = new LocalRepository(dir);
  await initRepository(local, deps, PASSPHRASE, TEST_ARGON2);
  return { local, session: await openRepository(wrap(local), deps, PASSPHRASE) };
}

/** `bytes` random bytes (randomFillSync takes at most 64 KiB at a time without a large buffer). */
export function randomData(bytes: number): Uint8Array {
  const data = new Uint8Array(bytes);
  for (let o = 0; o < bytes; o += 65_536) randomFillSync(data, o, Math.min(65_536, bytes - o));
  return data;
}

/** Writes `files` (relative path -> content) under `root`. */
export async function writeTree(root: string, files: Record<string, Uint8Array | string>): Promise<void> {
  for (const [path, content] of Object.entries(files)) {
    await fs.mkdir(join(root, path, '..'), { recursive: true });
    await fs.writeFile(join(root, path), content);
  }
}

/** Relative path -> SHA-256 of each regular file's bytes, or "->target" for symlinks, "dir" for dirs. */
export async function digestTree(root: string, prefix = ''): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const e of await fs.readdir(join(root, prefix), { withFileTypes: true })) {
    const rel = prefix === '' ? e.name : `${prefix}/${e.name}`;
    if (e.isDirectory()) {
      out.set(rel, 'dir');
      for (const [k, v] of await digestTree(root, rel)) out.set(k, v);
    } else if (e.isSymbolicLink()) out.set(rel, `->${await fs.readlink(join(root, rel))}`);
    else
      out.set(
        rel,
        createHash('sha256')
          .update(await fs.readFile(join(root, rel)))
          .digest('hex'),
      );
  }
  return new Map([...out].sort(([a], [b]) => (a < b ? -1 : 1)));
}

/** Restores snapshot `id` into a fresh directory and returns its digest. */
export async function restoredDigest(
  session: Session,
  id: string,
  into: string,
): Promise<Map<string, string>> {
  await fs.rm(into, { recursive: true, force: true });
  await restore(session, id, into);
  return digestTree(into);
}

/** Number of stored objects of a kind in a LocalRepository. */
export async function count(repo: Repository, kind: 'packs' | 'index' | 'snapshots'): Promise<number> {
  return (await repo.list(kind)).length;
}
