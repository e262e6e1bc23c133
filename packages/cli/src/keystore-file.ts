/**
 * The key store on disk (layout in home.ts). Writes are atomic and never replace an existing key
 * store: the bytes go to a temporary file (mode 0600, created exclusively, flushed), which is then
 * hard-linked to its final name, an operation that fails rather than overwrite (POSIX link(2)),
 * and the directory is flushed. A crash leaves either no key store or a whole one.
 *
 * Staging is separate from committing so that `account create` can write the key store before it
 * registers the account, and put it in place only once the server accepted it.
 */
import { randomBytes } from 'node:crypto';
import { link, mkdir, open, rename, stat, unlink, readFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { CodecError, ConflictError, LIMITS, ValidationError } from '@sealpost/core';
import { keystorePath } from './home.ts';

/** Throws ValidationError when `home` holds no key store, CodecError when the file is too large. */
export async function readKeystoreFile(home: string): Promise<Uint8Array> {
  const path = keystorePath(home);
  let size: number;
  try {
    size = (await stat(path)).size;
  } catch (error) {
    if (isCode(error, 'ENOENT')) {
      throw new ValidationError(
        'VALIDATION_FAILED',
        `no keystore at ${path}: run \`sealpost account create\` first`,
      );
    }
    throw error;
  }
  if (size > LIMITS.keystoreMaxBytes) {
    throw new CodecError(
      'CODEC_LENGTH_LIMIT',
      `keystore ${path} is ${size} bytes, over ${LIMITS.keystoreMaxBytes}`,
    );
  }
  return new Uint8Array(await readFile(path));
}

/** Throws ConflictError DEVICE_EXISTS when `home` already holds a key store. */
export async function assertNoKeystore(home: string): Promise<void> {
  const path = keystorePath(home);
  try {
    await stat(path);
  } catch (error) {
    if (isCode(error, 'ENOENT')) return;
    throw error;
  }
  throw existing(path);
}

export interface StagedKeystore {
  /** Where the bytes are now (until commit or discard). */
  readonly tempPath: string;
  /** Where commit puts them. */
  readonly finalPath: string;
  /** Puts the key store in place; throws DEVICE_EXISTS if one appeared meanwhile. */
  commit(): Promise<void>;
  /** Removes the staged file (safe to call after commit). */
  discard(): Promise<void>;
}

export async function stageKeystoreFile(home: string, bytes: Uint8Array): Promise<StagedKeystore> {
  const path = keystorePath(home);
  await mkdir(home, { recursive: true, mode: 0o700 });
  const temp = `${path}.${randomBytes(6).toString('hex')}.tmp`;
  const file = await open(temp, 'wx', 0o600);
  try {
    await file.writeFile(bytes);
    await file.sync();
  } catch (error) {
    await file.close();
    await unlink(temp).catch(() => undefined);
    throw error;
  }
  await file.close();
  let committed = false;
  return {
    tempPath: temp,
    finalPath: path,
    async commit() {
      try {
        await link(temp, path);
      } catch (error) {
        if (isCode(error, 'EEXIST')) throw existing(path);
        // File systems without hard links: check, then rename (atomic, but racy against a second writer).
        if (!isCode(error, 'EPERM') && !isCode(error, 'ENOTSUP') && !isCode(error, 'EOPNOTSUPP')) throw error;
        await assertNoKeystore(home);
        await rename(temp, path);
      }
      committed = true;
      await unlink(temp).catch(() => undefined);
      await syncDirectory(dirname(path));
    },
    async discard() {
      if (!committed) await unlink(temp).catch(() => undefined);
    },
  };
}

async function syncDirectory(path: string): Promise<void> {
  const dir = await open(path, 'r');
  try {
    await dir.sync();
  } finally {
    await dir.close();
  }
}

function existing(path: string): ConflictError {
  return new ConflictError('DEVICE_EXISTS', `a keystore already exists at ${path}; refusing to overwrite it`);
}

function isCode(error: unknown, code: string): boolean {
  return typeof error === 'object' && error !== null && (error as { code?: unknown }).code === code;
}
