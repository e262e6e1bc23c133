/**
 * `sealpost verify <user> [--directory-key <key>] [--witness <key>]... [--quorum n] [--max-lag s]`:
 * the user's devices from the device list the key directory PROVED (packages/client/src/directory/),
 * the safety code of (you, them) to compare in person, and what vouches for the directory's head:
 * its size and newest entry time, and the witnesses ("n of m cosigned" with the quorum's age, and
 * the earlier head they cosigned when they have not reached this one yet, or "none configured";
 * never "verified" when nobody was asked).
 *
 * The directory key and the witness keys are configured out of band (flags, or
 * $SEALPOST_DIRECTORY_KEY): a key taken from the server being checked would prove nothing. Keys given
 * as flags are saved in the home (directory-state.ts) and used when the flags are absent. With
 * witnesses configured, a head without a quorum of their cosignatures, each at most `--max-lag`
 * seconds old, is refused. Accepted heads and lists are kept in the home, so a rollback or a fork
 * is caught across runs.
 */
import type { Command } from 'commander';
import { LIMITS, ValidationError, fromBase64urlExact, parseUsername, toBase64url } from '@sealpost/core';
import { safetyCode } from '@sealpost/core/identity/safety-code';
import { nodeCryptoProvider as crypto } from '@sealpost/core/node';
import { keyFingerprint, openKeystore } from '@sealpost/client';
// Not yet exported from @sealpost/client's index (owned elsewhere).
import { DirectoryClient } from '../../../client/src/directory/directory-client.ts';
import { readMemory, readTrust, writeMemory, writeTrust } from '../directory-state.ts';
import { resolveHome } from '../home.ts';
import type { CliIo } from '../io.ts';
import { readKeystoreFile } from '../keystore-file.ts';
import { readPassphrase } from '../passphrase.ts';

export const DIRECTORY_KEY_ENV = 'SEALPOST_DIRECTORY_KEY';
const MS_PER_DAY = 86_400_000;
/** Default of --max-lag: cosignatures older than this (seconds) do not count. */
const DEFAULT_MAX_LAG_SECS = 3_600;

interface Options {
  readonly home?: string;
  readonly directoryKey?: string;
  readonly witness?: string[];
  readonly quorum?: string;
  readonly maxLag?: string;
  readonly json?: boolean;
}

const collect = (value: string, previous: string[] = []): string[] => [...previous, value];

function count(text: string | undefined, what: string, max: number): number | undefined {
  if (text === undefined) return undefined;
  const n = Number(text);
  if (!Number.isSafeInteger(n) || n < 1 || n > max) {
    throw new ValidationError('VALIDATION_FAILED', `${what} must be an integer from 1 to ${max}`);
  }
  return n;
}

export function verifyCommand(program: Command, io: CliIo): void {
  program
    .command('verify')
    .description("verify a user's devices through the key directory and show your safety code")
    .argument('<user>', 'the username to verify')
    .option('--directory-key <key>', `the directory's head signing key, base64url (or $${DIRECTORY_KEY_ENV})`)
    .option('--witness <key>', 'a trusted witness key, base64url (repeat; saved in the home)', collect)
    .option('--quorum <n>', 'witness cosignatures needed (default: a majority)')
    .option('--max-lag <seconds>', `oldest cosignature that counts (default ${DEFAULT_MAX_LAG_SECS})`)
    .option('--json', 'print JSON')
    .action((user: string, _options: Options, cmd: Command) => verify(io, user, cmd.optsWithGlobals()));
}

async function verify(io: CliIo, userArg: string, options: Options): Promise<void> {
  const them = parseUsername(userArg);
  const home = resolveHome(options.home, io.env);
  const saved = await readTrust(home);
  const keyText = options.directoryKey ?? io.env[DIRECTORY_KEY_ENV];
  const directoryKey =
    keyText === undefined || keyText === ''
      ? saved.directoryKey
      : fromBase64urlExact(keyText, LIMITS.publicKeyBytes, 'directory key');
  if (directoryKey === undefined) {
    throw new ValidationError(
      'VALIDATION_FAILED',
      `the directory key is required (--directory-key or $${DIRECTORY_KEY_ENV})`,
    );
  }
  const witnessKeys =
    options.witness === undefined
      ? saved.witnesses
      : options.witness.map((w) => fromBase64urlExact(w, LIMITS.publicKeyBytes, 'witness key'));
  const trust = {
    directoryKey,
    witnesses: witnessKeys,
    quorum: count(options.quorum, '--quorum', witnessKeys.length) ?? saved.quorum,
    maxLagSecs: count(options.maxLag, '--max-lag', 365 * 86_400) ?? saved.maxLagSecs,
  };
  const bytes = await readKeystoreFile(home);
  const passphrase = await readPassphrase(io, false);
  let me: { username: string; serverUrl: string; accountKey: Uint8Array };
  try {
    const contents = await openKeystore(crypto, bytes, passphrase);
    me = {
      username: contents.username,
      serverUrl: contents.serverUrl,
      accountKey: crypto.ed25519.publicKey(contents.accountSeed),
    };
    contents.accountSeed.fill(0);
    contents.deviceSeed.fill(0);
  } finally {
    passphrase.fill(0);
  }
  const client = new DirectoryClient({
    crypto,
    serverUrl: me.serverUrl,
    directoryKey,
    memory: await readMemory(crypto, home),
    witnesses:
      trust.witnesses.length === 0
        ? undefined
        : {
            keys: trust.witnesses,
            quorum: trust.quorum,
            maxLagSecs: trust.maxLagSecs ?? DEFAULT_MAX_LAG_SECS,
          },
  });
  await writeTrust(home, trust);
  // Our own list must carry the account key this device holds.
  const found = await client.lookup(them, them === me.username ? { accountKey: me.accountKey } : {});
  await writeMemory(home, client.memory);
  const code = safetyCode(
    crypto,
    { username: me.username, accountKey: me.accountKey },
    { username: found.username, accountKey: found.list.accountKey },
  );
  const w = found.head.witnesses;
  const witnesses =
    w.kind === 'none-configured'
      ? 'none configured'
      : `${w.count} of ${w.of} cosigned (quorum ${w.quorum}), oldest counted ${w.ageSecs} s ago` +
        (w.cosignedTreeSize < found.head.treeSize
          ? `, on head ${w.cosignedTreeSize} which this head extends`
          : '');
  const view = {
    username: found.username,
    version: found.version,
    accountKeyFingerprint: keyFingerprint(crypto, found.list.accountKey),
    devices: found.list.devices.map((d) => ({
      deviceId: toBase64url(d.deviceId),
      added: new Date(d.addedAtDay * MS_PER_DAY).toISOString().slice(0, 10),
    })),
    safetyCode: code,
    directory: { treeSize: found.head.treeSize, time: new Date(found.head.timestamp).toISOString() },
    witnesses,
  };
  if (options.json === true) {
    io.stdout.write(JSON.stringify(view, null, 2) + '\n');
    return;
  }
  io.stdout.write(
    `user         ${view.username} (device list version ${view.version}, verified in the key directory)\n` +
      `account key  ${view.accountKeyFingerprint}\n` +
      'DEVICE ID     ADDED\n' +
      view.devices.map((d) => `${d.deviceId.padEnd(13)} ${d.added}\n`).join('') +
      `safety code  ${code}\n` +
      `             (compare with ${view.username} in person: the same on both devices)\n` +
      `directory    head of ${view.directory.treeSize} entries, newest ${view.directory.time}\n` +
      `witnesses    ${witnesses}\n`,
  );
}
