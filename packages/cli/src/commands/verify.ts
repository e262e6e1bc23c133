/**
 * `sealpost verify <user> --directory-key <key>`: the user's devices from the device list the key
 * directory PROVED (packages/client/src/directory/), the safety code of (you, them) to compare in
 * person, and what vouches for the directory's head: its size and newest entry time, and the
 * witnesses ("none configured" until witness keys and served cosignatures exist; never "verified").
 *
 * The directory key is configured out of band (`--directory-key` or $SEALPOST_DIRECTORY_KEY): a key
 * taken from the server being checked would prove nothing. Accepted heads are kept for this run only.
 */
import type { Command } from 'commander';
import { LIMITS, ValidationError, fromBase64urlExact, parseUsername, toBase64url } from '@sealpost/core';
import { safetyCode } from '@sealpost/core/identity/safety-code';
import { nodeCryptoProvider as crypto } from '@sealpost/core/node';
import { keyFingerprint, openKeystore } from '@sealpost/client';
// Not yet exported from @sealpost/client's index (owned elsewhere).
import { DirectoryClient } from '../../../client/src/directory/directory-client.ts';
import { resolveHome } from '../home.ts';
import type { CliIo } from '../io.ts';
import { readKeystoreFile } from '../keystore-file.ts';
import { readPassphrase } from '../passphrase.ts';

export const DIRECTORY_KEY_ENV = 'SEALPOST_DIRECTORY_KEY';
const MS_PER_DAY = 86_400_000;

interface Options {
  readonly home?: string;
  readonly directoryKey?: string;
  readonly json?: boolean;
}

export function verifyCommand(program: Command, io: CliIo): void {
  program
    .command('verify')
    .description("verify a user's devices through the key directory and show your safety code")
    .argument('<user>', 'the username to verify')
    .option('--directory-key <key>', `the directory's head signing key, base64url (or $${DIRECTORY_KEY_ENV})`)
    .option('--json', 'print JSON')
    .action((user: string, _options: Options, cmd: Command) => verify(io, user, cmd.optsWithGlobals()));
}

async function verify(io: CliIo, userArg: string, options: Options): Promise<void> {
  const them = parseUsername(userArg);
  const keyText = options.directoryKey ?? io.env[DIRECTORY_KEY_ENV];
  if (keyText === undefined || keyText === '') {
    throw new ValidationError(
      'VALIDATION_FAILED',
      `the directory key is required (--directory-key or $${DIRECTORY_KEY_ENV})`,
    );
  }
  const directoryKey = fromBase64urlExact(keyText, LIMITS.publicKeyBytes, 'directory key');
  const bytes = await readKeystoreFile(resolveHome(options.home, io.env));
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
  const client = new DirectoryClient({ crypto, serverUrl: me.serverUrl, directoryKey });
  // Our own list must carry the account key this device holds.
  const found = await client.lookup(them, them === me.username ? { accountKey: me.accountKey } : {});
  const code = safetyCode(
    crypto,
    { username: me.username, accountKey: me.accountKey },
    { username: found.username, accountKey: found.list.accountKey },
  );
  const w = found.head.witnesses;
  const witnesses =
    w.kind === 'none-configured' ? 'none configured' : `${w.count} of ${w.of} (quorum ${w.quorum})`;
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
