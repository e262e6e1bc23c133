/**
 * The key directory as the messaging commands use it (docs/identity.md "Publishing and
 * monitoring one's own list"): one `DirectoryClient` per run, configured from the home
 * (directory-state.ts: the directory key, witness keys, quorum and lag `sealpost verify` saved,
 * and the accepted heads and lists), serialised (one request at a time, so two lookups never
 * race on its memory), and saved back when the command ends.
 *
 * The directory key is configured out of band (`--directory-key`, $SEALPOST_DIRECTORY_KEY, or saved
 * in the home). When none is configured when an account is created or a device linked, the key
 * the server's head names is pinned on first use and printed with its fingerprint: from then on a
 * head under any other key is refused. That key alone does not stop a server that lies from the
 * start; witness keys (`sealpost verify --witness`) and owner monitoring do.
 */
import { LIMITS, SealpostError, ValidationError, fromBase64urlExact, type Username } from '@sealpost/core';
import { nodeCryptoProvider as crypto } from '@sealpost/core/node';
import {
  DirectoryClient,
  ServerApi,
  UnexpectedVersionAlert,
  keyFingerprint,
  monitorOwnAccount,
  type VerifiedDeviceList,
} from '@sealpost/client';
import { decodeHeadAnswer } from '../../client/src/directory/head-answer.ts';
import { DIRECTORY_KEY_ENV } from './commands/verify.ts';
import { readMemory, readTrust, writeMemory, writeTrust } from './directory-state.ts';
import type { CliIo } from './io.ts';

/** Default oldest counted witness cosignature (seconds), as `sealpost verify --max-lag`. */
export const DEFAULT_MAX_LAG_SECS = 3_600;
/** How long a command waits for a list it published to appear in the directory (an epoch or a few). */
export const DIRECTORY_CONFIRM_MS = 60_000;
const POLL_MS = 250;

export interface AccountDirectory {
  readonly client: DirectoryClient;
  /** `client.lookup`, one at a time. */
  lookup(username: string, opts?: { accountKey?: Uint8Array }): Promise<VerifiedDeviceList>;
  /** Writes the client's memory to the home. */
  save(): Promise<void>;
}

/**
 * The directory client of `home` for `serverUrl`. `pinIfUnset`: with no key configured, pin the
 * key of the server's current head (first use) instead of refusing.
 */
export async function openAccountDirectory(
  io: CliIo,
  home: string,
  serverUrl: string,
  opts: { readonly directoryKey?: string | undefined; readonly pinIfUnset?: boolean } = {},
): Promise<AccountDirectory> {
  const saved = await readTrust(home);
  const text = opts.directoryKey ?? io.env[DIRECTORY_KEY_ENV];
  let directoryKey =
    text === undefined || text === ''
      ? saved.directoryKey
      : fromBase64urlExact(text, LIMITS.publicKeyBytes, 'directory key');
  if (directoryKey === undefined) {
    if (opts.pinIfUnset !== true) {
      throw new ValidationError(
        'VALIDATION_FAILED',
        `no key directory key is configured in this home (--directory-key or $${DIRECTORY_KEY_ENV})`,
      );
    }
    directoryKey = await headKeyOf(serverUrl);
    io.stderr.write(
      `note: pinned the key directory's key ${keyFingerprint(crypto, directoryKey)} from ${serverUrl}\n` +
        `      (first use: compare it with the one the operator publishes)\n`,
    );
  }
  if (saved.directoryKey === undefined || text !== undefined)
    await writeTrust(home, { ...saved, directoryKey });
  const client = new DirectoryClient({
    crypto,
    serverUrl,
    directoryKey,
    memory: await readMemory(crypto, home),
    witnesses:
      saved.witnesses.length === 0
        ? undefined
        : {
            keys: saved.witnesses,
            quorum: saved.quorum,
            maxLagSecs: saved.maxLagSecs ?? DEFAULT_MAX_LAG_SECS,
          },
  });
  let queue: Promise<unknown> = Promise.resolve();
  return {
    client,
    lookup(username, o = {}) {
      const next = queue.then(() => client.lookup(username, o));
      queue = next.catch(() => undefined);
      return next;
    },
    save: () => writeMemory(home, client.memory),
  };
}

/** The key the server's head is signed with (for pinning on first use only). */
async function headKeyOf(serverUrl: string): Promise<Uint8Array> {
  const api = new ServerApi(serverUrl, crypto);
  const deadline = Date.now() + DIRECTORY_CONFIRM_MS;
  for (;;) {
    const res = await fetch(`${api.baseUrl}/v1/kt/head`, { redirect: 'error' }).catch(() => undefined);
    if (res?.status === 200) return decodeHeadAnswer(await res.json()).config.signaturePublicKey;
    // 404 before the directory's first epoch: the list just published makes one.
    if (Date.now() > deadline) {
      throw new ValidationError('VALIDATION_FAILED', `the key directory of ${serverUrl} has no head yet`);
    }
    await sleep(POLL_MS);
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Polls the directory until `username`'s verified newest list satisfies `done` (e.g. reached the
 * version just published, or lists a new device), for at most `DIRECTORY_CONFIRM_MS`.
 * Errors other than "no version yet" end the wait at once.
 */
export async function waitForList(
  dir: AccountDirectory,
  username: Username | string,
  done: (found: VerifiedDeviceList) => boolean,
  opts: { readonly accountKey?: Uint8Array; readonly ms?: number } = {},
): Promise<VerifiedDeviceList> {
  const deadline = Date.now() + (opts.ms ?? DIRECTORY_CONFIRM_MS);
  for (;;) {
    try {
      const found = await dir.lookup(
        username,
        opts.accountKey === undefined ? {} : { accountKey: opts.accountKey },
      );
      if (done(found)) return found;
    } catch (e) {
      if (!(e instanceof SealpostError && e.code === 'KT_VERSION_NOT_FOUND')) throw e;
    }
    if (Date.now() > deadline) {
      throw new ValidationError(
        'VALIDATION_FAILED',
        `the key directory did not show ${username}'s new device list within ${(opts.ms ?? DIRECTORY_CONFIRM_MS) / 1000} s`,
      );
    }
    await sleep(POLL_MS);
  }
}

/** What owner monitoring found for this run. */
export type MonitorOutcome =
  | { readonly kind: 'ok'; readonly vouched: readonly number[] }
  | { readonly kind: 'no-list' }
  | { readonly kind: 'unavailable'; readonly error: SealpostError }
  | { readonly kind: 'alert'; readonly versions: readonly number[]; readonly error: SealpostError };

/**
 * Owner monitoring of this account's label (`monitorOwnAccount`): `ok` (with the versions the
 * account's newest list vouched for), `no-list` (an account created before lists were published),
 * `unavailable`, or `alert` (versions the account did not make, or a proof that does not verify).
 */
export async function monitorOwn(
  dir: AccountDirectory,
  username: string,
  accountKey: Uint8Array,
  own: ReadonlySet<number>,
): Promise<MonitorOutcome> {
  try {
    const r = await monitorOwnAccount(dir.client, username, accountKey, own);
    return { kind: 'ok', vouched: r.vouched };
  } catch (e) {
    if (!(e instanceof SealpostError)) throw e;
    if (e instanceof UnexpectedVersionAlert) return { kind: 'alert', versions: e.versions, error: e };
    if (e.code === 'KT_VERSION_NOT_FOUND' && own.size === 0) return { kind: 'no-list' };
    if (e.kind === 'unavailable' || e.kind === 'rate-limited') return { kind: 'unavailable', error: e };
    return { kind: 'alert', versions: [], error: e };
  }
}
