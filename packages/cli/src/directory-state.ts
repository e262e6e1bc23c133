/**
 * What `sealpost verify` keeps in the CLI home between runs (docs/key-transparency.md "Client"):
 *
 *   <home>/
 *     directory-trust.json   mode 0600  {"directoryKey", "witnesses": [b64], "quorum", "maxLagSecs"}:
 *                                       the keys configured out of band, saved when given as flags
 *     directory-memory.json  mode 0600  the directory client's accepted heads, views and lists
 *                                       (client directory-memory.ts), so a rollback or a fork is
 *                                       caught across runs
 *
 * Both are written atomically (a temporary file in the same directory, then rename): a crash leaves
 * the old file or the new one, never half of one.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { CodecError, LIMITS, fromBase64urlExact, toBase64url, type CryptoProvider } from '@sealpost/core';
// Not yet exported from @sealpost/client's index (owned elsewhere).
import { newDirectoryMemory, type DirectoryMemory } from '../../client/src/directory/directory-client.ts';
import { decodeDirectoryMemory, encodeDirectoryMemory } from '../../client/src/directory/directory-memory.ts';

export const TRUST_FILE = 'directory-trust.json';
export const MEMORY_FILE = 'directory-memory.json';

export interface DirectoryTrust {
  readonly directoryKey?: Uint8Array | undefined;
  readonly witnesses: readonly Uint8Array[];
  /** Witnesses needed; a majority when undefined. */
  readonly quorum?: number | undefined;
  readonly maxLagSecs?: number | undefined;
}

async function readIfPresent(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch (e) {
    if ((e as { code?: string }).code === 'ENOENT') return undefined;
    throw e;
  }
}

/** Writes `text` to `home/name` atomically, mode 0600. */
export async function writeAtomically(home: string, name: string, text: string): Promise<void> {
  await mkdir(home, { recursive: true, mode: 0o700 });
  const tmp = join(home, `.${name}.${randomBytes(6).toString('hex')}.tmp`);
  try {
    await writeFile(tmp, text, { mode: 0o600, flush: true });
    await rename(tmp, join(home, name));
  } finally {
    await rm(tmp, { force: true });
  }
}

export async function readTrust(home: string): Promise<DirectoryTrust> {
  const text = await readIfPresent(join(home, TRUST_FILE));
  if (text === undefined) return { witnesses: [] };
  let j: { directoryKey?: unknown; witnesses?: unknown; quorum?: unknown; maxLagSecs?: unknown };
  try {
    j = JSON.parse(text) as typeof j;
  } catch {
    throw new CodecError('CODEC_INVALID_VALUE', `${TRUST_FILE} is not JSON`);
  }
  const key = (v: unknown, what: string) => {
    if (typeof v !== 'string') throw new CodecError('CODEC_INVALID_VALUE', `${TRUST_FILE}: ${what}`);
    return fromBase64urlExact(v, LIMITS.publicKeyBytes, what);
  };
  const count = (v: unknown, what: string) => {
    if (v === undefined || v === null) return undefined;
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) {
      throw new CodecError('CODEC_INVALID_VALUE', `${TRUST_FILE}: ${what}`);
    }
    return v;
  };
  if (j.witnesses !== undefined && !Array.isArray(j.witnesses)) {
    throw new CodecError('CODEC_INVALID_VALUE', `${TRUST_FILE}: witnesses`);
  }
  return {
    directoryKey: j.directoryKey === undefined ? undefined : key(j.directoryKey, 'directory key'),
    witnesses: (j.witnesses ?? []).map((w) => key(w, 'witness key')),
    quorum: count(j.quorum, 'quorum'),
    maxLagSecs: count(j.maxLagSecs, 'max lag'),
  };
}

export async function writeTrust(home: string, trust: DirectoryTrust): Promise<void> {
  const text = JSON.stringify({
    directoryKey: trust.directoryKey === undefined ? undefined : toBase64url(trust.directoryKey),
    witnesses: trust.witnesses.map(toBase64url),
    quorum: trust.quorum,
    maxLagSecs: trust.maxLagSecs,
  });
  await writeAtomically(home, TRUST_FILE, text + '\n');
}

export async function readMemory(crypto: CryptoProvider, home: string): Promise<DirectoryMemory> {
  const text = await readIfPresent(join(home, MEMORY_FILE));
  return text === undefined ? newDirectoryMemory() : decodeDirectoryMemory(crypto, text);
}

export async function writeMemory(home: string, memory: DirectoryMemory): Promise<void> {
  await writeAtomically(home, MEMORY_FILE, encodeDirectoryMemory(memory));
}
