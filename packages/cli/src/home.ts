/**
 * The CLI's home directory, which holds this device's key store:
 *
 *   <home>/                 mode 0700
 *     keystore.spks         mode 0600, format in packages/client/src/keystore/keystore.ts
 *
 * Chosen by `--home`, else SEALPOST_HOME, else `~/.sealpost`.
 */
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';

export const KEYSTORE_FILE = 'keystore.spks';

export function resolveHome(
  flag: string | undefined,
  env: Readonly<Record<string, string | undefined>>,
): string {
  if (flag !== undefined && flag !== '') return resolve(flag);
  const fromEnv = env['SEALPOST_HOME'];
  if (fromEnv !== undefined && fromEnv !== '') return resolve(fromEnv);
  return join(homedir(), '.sealpost');
}

export function keystorePath(home: string): string {
  return join(home, KEYSTORE_FILE);
}
