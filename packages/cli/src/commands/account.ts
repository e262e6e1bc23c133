/**
 * `sealpost account ...`: this device's account.
 *
 *   account create <username> --server <url>   new account key and device key, registered, key store
 *                                              written; the first signed device list published to the
 *                                              key directory (its recovery key committed, the recovery
 *                                              code printed once) and confirmed there; the key
 *                                              store keeps the backup recovery public key
 *   account recover <username> --server <url>  every device lost: the recovery code (SEALPOST_RECOVERY_CODE
 *                                              or a hidden prompt) takes the account back on this
 *                                              machine: new account key and device key, the old
 *                                              devices unlinked, the next list (rotation signed by
 *                                              the recovery key) published, key store written
 *   account show [--json]                      what the key store holds (public parts only)
 *   account devices [--json]                   the account's devices as the server lists them
 *   account devices remove <deviceId>          as `devices remove`: out of every conversation, out
 *                                              of the account (account key), next list published
 *
 * Arguments are checked before any prompt or request. Seeds and passphrases are wiped when done;
 * only public values (keys, ids, fingerprints) are printed.
 */
import type { Command } from 'commander';
import {
  CryptoVerificationError,
  SealpostError,
  deviceIdOf,
  equalPublicBytes,
  parseUsername,
  toBase64url,
  type Username,
} from '@sealpost/core';
import { nodeCryptoProvider as crypto } from '@sealpost/core/node';
import {
  ServerApi,
  dayOf,
  firstDeviceList,
  keyFingerprint,
  openKeystore,
  parseServerUrl,
  recoveryDeviceList,
  sealKeystore,
} from '@sealpost/client';
import type { KeystoreContents } from '@sealpost/client';
import {
  generateRecoverySecret,
  recoveryCodeOf,
  recoverySigningKey,
} from '@sealpost/core/identity/recovery-key';
import { recoveryBoxKey } from '@sealpost/core/backup/recovery-key-file';
import { openAccountDirectory, waitForList } from '../account-directory.ts';
import { resolveHome } from '../home.ts';
import { startMessaging } from '../messaging.ts';
import { remove as removeEverywhere } from './devices.ts';
import type { CliIo } from '../io.ts';
import { assertNoKeystore, readKeystoreFile, stageKeystoreFile } from '../keystore-file.ts';
import { readPassphrase } from '../passphrase.ts';
import { readRecoveryCode } from '../recovery-code.ts';

const SEED_BYTES = 32;
const MS_PER_DAY = 86_400_000;

interface Options {
  readonly home?: string;
  readonly server?: string;
  readonly json?: boolean;
  readonly directoryKey?: string;
}

export function accountCommand(program: Command, io: CliIo): void {
  const account = program.command('account').description("this device's account");

  account
    .command('create')
    .description('create an account with this device as its first device')
    .argument('<username>', '3 to 32 ASCII letters, digits and _')
    .requiredOption('--server <url>', 'server to register with, http(s)://host[:port]')
    .option(
      '--directory-key <key>',
      "the key directory's head signing key, base64url (else pinned from the server on first use)",
    )
    .action((username: string, _options: Options, cmd: Command) =>
      create(io, username, cmd.optsWithGlobals()),
    );

  account
    .command('recover')
    .description('take the account back with its recovery code after every device was lost')
    .argument('<username>', 'the account to recover')
    .requiredOption('--server <url>', "the account's server, http(s)://host[:port]")
    .option(
      '--directory-key <key>',
      "the key directory's head signing key, base64url (else pinned from the server on first use)",
    )
    .action((username: string, _options: Options, cmd: Command) =>
      recover(io, username, cmd.optsWithGlobals()),
    );

  account
    .command('show')
    .description("show this device's account (from the local key store)")
    .option('--json', 'print JSON')
    .action((_options: Options, cmd: Command) => show(io, cmd.optsWithGlobals()));

  const devices = account
    .command('devices')
    .description("list the account's devices")
    .option('--json', 'print JSON')
    .action((_options: Options, cmd: Command) => listDevices(io, cmd.optsWithGlobals()));

  devices
    .command('remove')
    .description('remove a device from the account')
    .argument('<deviceId>', 'device id as listed by `sealpost account devices`')
    .action((deviceId: string, _options: Options, cmd: Command) =>
      removeDevice(io, deviceId, cmd.optsWithGlobals()),
    );
}

async function create(io: CliIo, usernameArg: string, options: Options): Promise<void> {
  const username = parseUsername(usernameArg);
  const serverUrl = parseServerUrl(options.server);
  const home = resolveHome(options.home, io.env);
  await assertNoKeystore(home);
  const api = new ServerApi(serverUrl, crypto);
  const passphrase = await readPassphrase(io, true);
  const accountSeed = crypto.randomBytes(SEED_BYTES);
  const deviceSeed = crypto.randomBytes(SEED_BYTES);
  // Made before the key store, which keeps its backup recovery public key (docs/backup-format.md
  // "Recovery key files"): every backup init writes a key file the recovery code opens.
  const recoverySecret = generateRecoverySecret(crypto);
  const backupRecovery = recoveryBoxKey(crypto, recoverySecret);
  backupRecovery.privateKey.fill(0);
  try {
    const sealed = await sealKeystore(
      crypto,
      { username, serverUrl, accountSeed, deviceSeed, backupRecoveryKey: backupRecovery.publicKey },
      passphrase,
    );
    // Written before registering, put in place after: an account is never left without its keys.
    const staged = await stageKeystoreFile(home, sealed);
    let keep = false;
    try {
      const { deviceId } = await api.createAccount({ username, accountSeed, deviceSeed });
      keep = true;
      await staged.commit();
      io.stdout.write(`Created account ${username} on ${serverUrl}\n`);
      io.stdout.write(`device id  ${toBase64url(deviceId)}\n`);
      io.stdout.write(`keystore   ${staged.finalPath}\n`);
    } catch (error) {
      // Unreachable server: the account may exist now. Keep its keys rather than lose them.
      if (error instanceof SealpostError && error.kind === 'unavailable') keep = true;
      if (keep) io.stderr.write(`note: the new key store was kept at ${staged.tempPath}\n`);
      throw error;
    } finally {
      if (!keep) await staged.discard();
    }
    await publishFirstList(
      io,
      home,
      { username, serverUrl, accountSeed, deviceSeed },
      recoverySecret,
      options,
    );
  } finally {
    recoverySecret.fill(0);
    accountSeed.fill(0);
    deviceSeed.fill(0);
    passphrase.fill(0);
  }
}

/**
 * The account's first device list (version 0: this device; the recovery key committed), submitted
 * to the key directory and confirmed there; the version is recorded as this device's own (owner
 * monitoring), in the encrypted conversation state, whose first session also uploads KeyPackages.
 * The recovery code is printed once and kept nowhere: it is the way back when every device is lost.
 */
async function publishFirstList(
  io: CliIo,
  home: string,
  device: { username: Username; serverUrl: string; accountSeed: Uint8Array; deviceSeed: Uint8Array },
  secret: Uint8Array,
  options: Options,
): Promise<void> {
  const recovery = recoverySigningKey(crypto, secret);
  recovery.seed.fill(0);
  const list = firstDeviceList(crypto, {
    username: device.username,
    accountSeed: device.accountSeed,
    recoveryKey: recovery.publicKey,
    deviceKeys: [crypto.ed25519.publicKey(device.deviceSeed)],
    day: dayOf(Date.now()),
  });
  const { version } = await new ServerApi(device.serverUrl, crypto).publishDeviceList({
    username: device.username,
    deviceList: list,
  });
  io.stdout.write(
    `recovery code  ${recoveryCodeOf(crypto, secret)}\n` +
      `               write it down and keep it offline: it is shown once, and it is the only way\n` +
      `               to take the account back if every device is lost\n`,
  );
  secret.fill(0);
  const accountKey = crypto.ed25519.publicKey(device.accountSeed);
  const dir = await openAccountDirectory(io, home, device.serverUrl, {
    directoryKey: options.directoryKey,
    pinIfUnset: true,
  });
  await waitForList(dir, device.username, (f) => f.version >= version, { accountKey });
  await dir.save();
  const { messaging, session, store } = await startMessaging(io, home, { ...device, accountKey });
  try {
    messaging.recordOwn(version);
    await messaging.save();
  } finally {
    await session.close();
    store.close();
    await messaging.directory.save();
  }
  io.stdout.write(`published  device list version ${version} in the key directory\n`);
}

/**
 * Takes the account back with the recovery code alone, on a machine with no key store
 * (docs/identity.md "Recovery"): a new account key and device key; the next device list, with
 * this device only and an account-key rotation signed by the recovery key, built on the newest
 * list the key directory proves; the server replaces the account key with it and unlinks every
 * other device; a key store with the new seeds and the backup recovery public key, staged before
 * the request and put in place after it. A run that failed part way is run again: it builds on
 * the newest list the directory proves (a list the server queued but did not publish yet is
 * newest after the next epoch; until then the chain check refuses the new one, typed).
 */
async function recover(io: CliIo, usernameArg: string, options: Options): Promise<void> {
  const username = parseUsername(usernameArg);
  const serverUrl = parseServerUrl(options.server);
  const home = resolveHome(options.home, io.env);
  await assertNoKeystore(home);
  const api = new ServerApi(serverUrl, crypto);
  const secret = await readRecoveryCode(io);
  const recovery = recoverySigningKey(crypto, secret);
  const accountSeed = crypto.randomBytes(SEED_BYTES);
  const deviceSeed = crypto.randomBytes(SEED_BYTES);
  let passphrase: Uint8Array | undefined;
  try {
    const dir = await openAccountDirectory(io, home, serverUrl, {
      directoryKey: options.directoryKey,
      pinIfUnset: true,
    });
    const current = await dir.lookup(username);
    const deviceKey = crypto.ed25519.publicKey(deviceSeed);
    // Refuses a code of another account before anything is asked or sent.
    const deviceList = recoveryDeviceList(crypto, current, {
      recoverySeed: recovery.seed,
      accountSeed,
      deviceKey,
      day: dayOf(Date.now()),
    });
    passphrase = await readPassphrase(io, true);
    const backupRecovery = recoveryBoxKey(crypto, secret);
    backupRecovery.privateKey.fill(0);
    const sealed = await sealKeystore(
      crypto,
      { username, serverUrl, accountSeed, deviceSeed, backupRecoveryKey: backupRecovery.publicKey },
      passphrase,
    );
    const staged = await stageKeystoreFile(home, sealed);
    let result: Awaited<ReturnType<ServerApi['recoverAccount']>>;
    let keep = false;
    try {
      result = await api.recoverAccount({ username, accountSeed, deviceSeed, deviceList });
      keep = true;
      await staged.commit();
    } catch (error) {
      // Unreachable server: the recovery may have happened. Keep the keys rather than lose them.
      if (error instanceof SealpostError && error.kind === 'unavailable') keep = true;
      if (keep) io.stderr.write(`note: the new key store was kept at ${staged.tempPath}\n`);
      throw error;
    } finally {
      if (!keep) await staged.discard();
    }
    const accountKey = crypto.ed25519.publicKey(accountSeed);
    io.stdout.write(
      `Recovered account ${username} on ${serverUrl}\n` +
        `device id    ${toBase64url(result.deviceId)}\n` +
        `keystore     ${staged.finalPath}\n` +
        `account key  ${keyFingerprint(crypto, accountKey)} (new)\n` +
        `unlinked     ${result.removedDevices} old device(s): they can no longer sign in or back up\n` +
        `             your contacts will see a new safety code for ${username}: compare it with them again\n` +
        `             your contacts' devices add this one to the conversations you shared when\n` +
        `             they next connect (earlier messages are not carried over); backups are\n` +
        `             (sealpost backup ... --repo ${serverUrl} --recovery-code, once)\n`,
    );
    // Without the account key first: until the next epoch the directory proves the old key's list.
    await waitForList(
      dir,
      username,
      (f) => f.version >= result.version && equalPublicBytes(f.list.accountKey, accountKey),
    );
    await dir.lookup(username, { accountKey }); // records the version as this account's own
    await dir.save();
    const { messaging, session, store } = await startMessaging(io, home, {
      username,
      serverUrl,
      deviceSeed,
      accountKey,
    });
    try {
      messaging.recordOwn(result.version);
      await messaging.save();
    } finally {
      await session.close();
      store.close();
      await messaging.directory.save();
    }
    io.stdout.write(`published    device list version ${result.version} in the key directory\n`);
  } finally {
    secret.fill(0);
    recovery.seed.fill(0);
    accountSeed.fill(0);
    deviceSeed.fill(0);
    passphrase?.fill(0);
  }
}

async function show(io: CliIo, options: Options): Promise<void> {
  await withKeystore(io, options, (contents) => {
    const accountKey = crypto.ed25519.publicKey(contents.accountSeed);
    const deviceKey = crypto.ed25519.publicKey(contents.deviceSeed);
    const view = {
      username: contents.username,
      server: contents.serverUrl,
      deviceId: toBase64url(deviceIdOf(crypto, deviceKey)),
      accountKey: toBase64url(accountKey),
      accountKeyFingerprint: keyFingerprint(crypto, accountKey),
    };
    if (options.json === true) {
      io.stdout.write(JSON.stringify(view, null, 2) + '\n');
      return;
    }
    io.stdout.write(
      `username     ${view.username}\n` +
        `server       ${view.server}\n` +
        `device id    ${view.deviceId}\n` +
        `account key  ${view.accountKeyFingerprint}\n` +
        `             (SHA-256 fingerprint; compare it on your other devices)\n`,
    );
  });
}

async function listDevices(io: CliIo, options: Options): Promise<void> {
  await withKeystore(io, options, async (contents) => {
    const api = new ServerApi(contents.serverUrl, crypto);
    const account = await api.getAccount(contents.username);
    // The server must list the account key this device holds; anything else is a substituted key.
    if (!equalPublicBytes(account.accountKey, crypto.ed25519.publicKey(contents.accountSeed))) {
      throw new CryptoVerificationError(
        'CRYPTO_VERIFICATION_FAILED',
        `the server lists a different account key for ${contents.username} than this device holds`,
      );
    }
    const ownId = deviceIdOf(crypto, crypto.ed25519.publicKey(contents.deviceSeed));
    const rows = account.devices.map((d) => ({
      deviceId: toBase64url(d.deviceId),
      created: new Date(d.createdDay * MS_PER_DAY).toISOString().slice(0, 10),
      thisDevice: equalPublicBytes(d.deviceId, ownId),
    }));
    if (!rows.some((r) => r.thisDevice)) io.stderr.write('warning: this device is not in the list\n');
    if (options.json === true) {
      io.stdout.write(JSON.stringify({ username: account.username, devices: rows }, null, 2) + '\n');
      return;
    }
    io.stdout.write('DEVICE ID     CREATED\n');
    for (const r of rows) {
      io.stdout.write(`${r.deviceId.padEnd(13)} ${r.created}${r.thisDevice ? '  (this device)' : ''}\n`);
    }
  });
}

/**
 * Same as `sealpost devices remove`: out of every conversation, out of the account, and the next
 * device list published without it (a removal the directory did not show would leave the device
 * trusted by everyone who checks the directory).
 */
async function removeDevice(io: CliIo, deviceIdArg: string, options: Options): Promise<void> {
  await removeEverywhere(io, deviceIdArg, options);
}

/** Opens the key store of `--home`, runs `use`, and wipes the seeds and passphrase whatever happens. */
async function withKeystore(
  io: CliIo,
  options: Options,
  use: (contents: KeystoreContents) => void | Promise<void>,
): Promise<void> {
  const bytes = await readKeystoreFile(resolveHome(options.home, io.env));
  const passphrase = await readPassphrase(io, false);
  let contents: KeystoreContents;
  try {
    contents = await openKeystore(crypto, bytes, passphrase);
  } finally {
    passphrase.fill(0);
  }
  try {
    await use(contents);
  } finally {
    contents.accountSeed.fill(0);
    contents.deviceSeed.fill(0);
  }
}
