/**
 * `sealpost devices ...`: this account's devices and their conversations
 * (docs/conversations.md "Linking a device").
 *
 *   devices link <username> --server <url>   on the NEW device: makes its keys, prints a one-time
 *                                            link code and the device's fingerprint, and waits
 *                                            until an existing device approves it; then receives
 *                                            the account key, every conversation and their recent
 *                                            history, and writes its key store
 *   devices approve <code>                   on an EXISTING device: registers the new device
 *                                            (account key signature), publishes the next signed
 *                                            device list, sends it the account key, adds it to
 *                                            every conversation by a commit once the verified key
 *                                            directory lists it and it has KeyPackages, and sends
 *                                            each conversation's recent history
 *   devices list [--json]                    the account's devices, and in how many of this
 *                                            device's conversations each one is
 *   devices remove <deviceId>                removes a device from every conversation (one commit
 *                                            each), from the account, and publishes the next
 *                                            signed device list without it
 *
 * Everything sent to the new device is end-to-end encrypted to a key only it holds (link.ts).
 */
import { mkdir } from 'node:fs/promises';
import type { Command } from 'commander';
import {
  CryptoVerificationError,
  LIMITS,
  UnavailableError,
  ValidationError,
  deviceAddStatement,
  deviceIdOf,
  equalPublicBytes,
  fromBase64urlExact,
  parseUsername,
  toBase64url,
} from '@sealpost/core';
import { nodeCryptoProvider as crypto } from '@sealpost/core/node';
import {
  ServerApi,
  dayOf,
  keyFingerprint,
  nextDeviceList,
  parseServerUrl,
  sealKeystore,
} from '@sealpost/client';
import { openAccountDirectory, waitForList } from '../account-directory.ts';
import {
  type Conversation,
  addressOf,
  decodeLinkCode,
  encodeLinkCode,
  isConversationError,
  mlsCiphersuite,
  nodeMlsCryptoProvider,
  openLinkBox,
  sealLinkBox,
  VerifiedDirectory,
} from '@sealpost/client/node/conversation-cli';
import type { KeystoreContents } from '@sealpost/client';
import { resolveHome } from '../home.ts';
import type { CliIo } from '../io.ts';
import { assertNoKeystore, stageKeystoreFile } from '../keystore-file.ts';
import {
  type Messaging,
  type MessagingOptions,
  hex,
  printable,
  startMessaging,
  withMessaging,
} from '../messaging.ts';
import { readPassphrase } from '../passphrase.ts';

/** How long `link` waits for approval and for everything to arrive, and `approve` for the new device. */
export const LINK_WAIT_MS = 10 * 60_000;
const POLL_MS = 500;
const MS_PER_DAY = 86_400_000;

interface Options extends MessagingOptions {
  readonly server?: string;
  readonly directoryKey?: string;
  readonly json?: boolean;
  readonly waitSeconds?: string;
}

export function devicesCommand(program: Command, io: CliIo): void {
  const devices = program.command('devices').description("this account's devices");
  devices
    .command('link')
    .description('link this (new) device to an existing account; approve it from a device you have')
    .argument('<username>', 'the account')
    .requiredOption('--server <url>', "the account's server")
    .option('--wait-seconds <n>', 'how long to wait for the approval', String(LINK_WAIT_MS / 1000))
    .option(
      '--directory-key <key>',
      "the key directory's head signing key, base64url (else pinned from the server on first use)",
    )
    .action((username: string, _o: Options, cmd: Command) => link(io, username, cmd.optsWithGlobals()));
  devices
    .command('approve')
    .description('approve a new device from its link code (on a device of the account)')
    .argument('<code>', 'the link code the new device printed')
    .action((code: string, _o: Options, cmd: Command) => approve(io, code, cmd.optsWithGlobals()));
  devices
    .command('list')
    .description("the account's devices and their conversations")
    .option('--json', 'print JSON')
    .action((_o: Options, cmd: Command) => list(io, cmd.optsWithGlobals()));
  devices
    .command('remove')
    .description('remove a device from the account and from every conversation')
    .argument('<deviceId>', 'as `sealpost devices list` shows it')
    .action((id: string, _o: Options, cmd: Command) => remove(io, id, cmd.optsWithGlobals()));
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function link(io: CliIo, usernameArg: string, options: Options): Promise<void> {
  const username = parseUsername(usernameArg);
  const serverUrl = parseServerUrl(options.server);
  const waitMs = Number(options.waitSeconds ?? LINK_WAIT_MS / 1000) * 1000;
  if (!Number.isFinite(waitMs) || waitMs <= 0)
    throw new ValidationError('VALIDATION_FAILED', 'bad --wait-seconds');
  const home = resolveHome(options.home, io.env);
  await assertNoKeystore(home);
  // The conversation state is saved before the key store exists (it arrives from the approver).
  await mkdir(home, { recursive: true, mode: 0o700 });
  const api = new ServerApi(serverUrl, crypto);
  const passphrase = await readPassphrase(io, true);
  const deviceSeed = crypto.randomBytes(32);
  const cs = await mlsCiphersuite({ provider: nodeMlsCryptoProvider });
  const box = await cs.hpke.generateKeyPair();
  const boxPrivate = await cs.hpke.exportPrivateKey(box.privateKey);
  try {
    const deviceKey = crypto.ed25519.publicKey(deviceSeed);
    const deviceId = deviceIdOf(crypto, deviceKey);
    const { challenge } = await api.challenge();
    const deviceSignature = crypto.ed25519.sign(
      deviceSeed,
      deviceAddStatement(challenge, api.audience, username, deviceKey),
    );
    const code = encodeLinkCode({
      deviceKey,
      challenge,
      deviceSignature,
      boxKey: await cs.hpke.exportPublicKey(box.publicKey),
    });
    io.stdout.write(`link code           ${code}\n`);
    io.stdout.write(`device fingerprint  ${keyFingerprint(crypto, deviceKey)}\n`);
    io.stderr.write(
      `On a device of ${username}, within ${LIMITS.challengeTtlMs / 1000} s, run:\n` +
        `  sealpost devices approve <link code>\nand check that it shows the same device fingerprint.\n`,
    );
    const deadline = Date.now() + waitMs;
    const idText = toBase64url(deviceId);
    // Approved once the VERIFIED key directory lists this device: the approving device published
    // the account's next list, signed by the account key, and an epoch made it visible.
    const dir = await openAccountDirectory(io, home, serverUrl, {
      directoryKey: options.directoryKey,
      pinIfUnset: true,
    });
    const found = await waitForList(
      dir,
      username,
      (f) => f.list.devices.some((d) => equalPublicBytes(d.deviceId, deviceId)),
      { ms: waitMs },
    );
    await dir.save();
    io.stdout.write(`approved: this device is ${idText}\n`);

    let done = false;
    let keystoreWritten = false;
    let history = 0;
    const onLinkBox = async (payload: Uint8Array, m: Messaging): Promise<void> => {
      const opened = await openLinkBox(crypto, cs, boxPrivate, deviceKey, payload);
      // Believe a box only from a device the verified list holds, with that device's key.
      const sender = found.list.devices.find((d) => equalPublicBytes(d.deviceId, opened.senderId));
      if (sender === undefined || !opened.verify(sender.signatureKey)) {
        throw new CryptoVerificationError(
          'CRYPTO_VERIFICATION_FAILED',
          'a link box not from a device of the account',
        );
      }
      const account = { accountKey: found.list.accountKey };
      const c = opened.content;
      if (c.kind === 'account-seed') {
        if (!equalPublicBytes(crypto.ed25519.publicKey(c.accountSeed), account.accountKey)) {
          throw new CryptoVerificationError(
            'CRYPTO_VERIFICATION_FAILED',
            'not the account key the verified device list names',
          );
        }
        const sealed = await sealKeystore(
          crypto,
          {
            username,
            serverUrl,
            accountSeed: c.accountSeed,
            deviceSeed,
            // Sent by the approving device: this device's backup init writes a recovery key file.
            ...(c.backupRecoveryKey === undefined ? {} : { backupRecoveryKey: c.backupRecoveryKey }),
          },
          passphrase,
        );
        c.accountSeed.fill(0);
        const staged = await stageKeystoreFile(home, sealed);
        await staged.commit();
        keystoreWritten = true;
        io.stdout.write(`account key         ${keyFingerprint(crypto, account.accountKey)}\n`);
      } else if (c.kind === 'history') {
        const k = hex(c.groupId);
        if (c.title !== '') m.state.titles.set(k, c.title);
        m.state.history.set(k, [...c.messages]);
        const label = c.title !== '' ? `[${printable(c.title)}] ` : '';
        for (const e of c.messages) m.state.unread.push(`${label}${e.from}: ${printable(e.text)} (history)`);
        history += c.messages.length;
      } else {
        done = true;
      }
    };
    const opened2 = await startMessaging(io, home, { serverUrl, username, deviceSeed }, onLinkBox, {
      directoryKey: options.directoryKey,
    });
    try {
      await opened2.session.waitUntil(() => done, Math.max(0, deadline - Date.now()), 'the approving device');
      await opened2.messaging.save();
    } finally {
      await opened2.session.close();
      opened2.store.close();
      await opened2.messaging.directory.save();
    }
    if (!keystoreWritten)
      throw new CryptoVerificationError('CRYPTO_VERIFICATION_FAILED', 'no account key arrived');
    const n = opened2.session.conversations.list().length;
    io.stdout.write(
      `linked: ${n} conversation${n === 1 ? '' : 's'}, ${history} messages of history (sealpost read)\n`,
    );
  } finally {
    deviceSeed.fill(0);
    boxPrivate.fill(0);
    passphrase.fill(0);
  }
}

async function approve(io: CliIo, codeArg: string, options: Options): Promise<void> {
  const code = decodeLinkCode(codeArg);
  await withMessaging(io, options, async (m, contents) => {
    const api = new ServerApi(contents.serverUrl, crypto);
    const cs = await mlsCiphersuite({ provider: nodeMlsCryptoProvider });
    const deviceId = deviceIdOf(crypto, code.deviceKey);
    const device = { username: m.self.username, deviceId: toBase64url(deviceId) };
    io.stdout.write(`device ${device.deviceId}, fingerprint ${keyFingerprint(crypto, code.deviceKey)}\n`);
    await api.addSignedDevice({
      username: m.self.username,
      accountSeed: contents.accountSeed,
      deviceKey: code.deviceKey,
      challenge: code.challenge,
      deviceSignature: code.deviceSignature,
    });
    io.stdout.write(`added to ${m.self.username}\n`);
    const version = await publishNext(m, contents, { add: [code.deviceKey] });
    const sender = {
      crypto,
      cs,
      deviceSeed: contents.deviceSeed,
      deviceId: fromBase64urlExact(m.self.deviceId, LIMITS.deviceIdBytes, 'device id'),
    };
    const to = [addressOf(device)];
    const send = async (payload: Uint8Array) =>
      void (await m.session.connection.send({ recipients: to, payload }));
    await send(
      await sealLinkBox(sender, code, {
        kind: 'account-seed',
        accountSeed: contents.accountSeed,
        backupRecoveryKey: contents.backupRecoveryKey,
      }),
    );
    // Issue 4: a new device joins conversations only once the verified directory shows it.
    await confirmPublished(m, contents, version);

    const deadline = Date.now() + LINK_WAIT_MS;
    for (const c of m.session.conversations.list().filter((x) => x.active)) {
      await addDevice(m, c, device.deviceId, deadline);
      const history = m.state.history.get(hex(c.groupId)) ?? [];
      await send(
        await sealLinkBox(sender, code, {
          kind: 'history',
          groupId: c.groupId,
          title: m.titleOf(c) ?? '',
          messages: history,
        }),
      );
    }
    await send(await sealLinkBox(sender, code, { kind: 'done' }));
    io.stdout.write(`linked ${device.deviceId}\n`);
  });
}

/**
 * Adds this account's devices the group lacks, until `deviceId` is in: it may not have uploaded
 * KeyPackages yet (it does once it sees itself approved). Another member's roster reconciliation
 * may add it first (it is listed by then): it is then found in, and nothing more is done.
 */
async function addDevice(m: Messaging, c: Conversation, deviceId: string, deadline: number): Promise<void> {
  const isIn = () => c.members().some((d) => d.username === m.self.username && d.deviceId === deviceId);
  while (!isIn()) {
    try {
      m.print(c, await m.session.change(c, (x) => x.addUsers([], [m.self.username])));
    } catch (e) {
      if (!isConversationError(e, 'CONVERSATION_NO_SUCH_MEMBER')) throw e;
    }
    if (isIn()) return;
    if (Date.now() > deadline)
      throw new UnavailableError('NOT_READY', 'the new device has no KeyPackages yet');
    await sleep(POLL_MS);
  }
}

async function list(io: CliIo, options: Options): Promise<void> {
  await withMessaging(io, options, async (m, contents) => {
    const account = await new ServerApi(contents.serverUrl, crypto).getAccount(m.self.username);
    const conversations = m.session.conversations.list().filter((c) => c.active);
    const rows = account.devices.map((d) => {
      const id = toBase64url(d.deviceId);
      return {
        deviceId: id,
        created: new Date(d.createdDay * MS_PER_DAY).toISOString().slice(0, 10),
        fingerprint: keyFingerprint(crypto, d.publicKey),
        thisDevice: id === m.self.deviceId,
        conversations: conversations.filter((c) =>
          c.members().some((x) => x.username === m.self.username && x.deviceId === id),
        ).length,
      };
    });
    if (options.json === true) {
      io.stdout.write(JSON.stringify({ username: account.username, devices: rows }, null, 2) + '\n');
      return;
    }
    io.stdout.write('DEVICE ID     CREATED     CONVERSATIONS  FINGERPRINT\n');
    for (const r of rows) {
      io.stdout.write(
        `${r.deviceId.padEnd(13)} ${r.created}  ${`${r.conversations}/${conversations.length}`.padEnd(14)} ${r.fingerprint}${r.thisDevice ? '  (this device)' : ''}\n`,
      );
    }
  });
}

/**
 * Publishes the account's next device list (`nextDeviceList` over the newest list the directory
 * proves, signed by the account key) and records its label version as this device's own.
 */
async function publishNext(
  m: Messaging,
  contents: KeystoreContents,
  change: { add?: Uint8Array[]; remove?: Uint8Array[] },
): Promise<number> {
  const accountKey = crypto.ed25519.publicKey(contents.accountSeed);
  const current = await m.directory.lookup(m.self.username, { accountKey });
  const list = nextDeviceList(crypto, current, {
    accountSeed: contents.accountSeed,
    ...change,
    day: dayOf(Date.now()),
  });
  const { version } = await new ServerApi(contents.serverUrl, crypto).publishDeviceList({
    username: m.self.username,
    deviceList: list,
  });
  m.recordOwn(version);
  await m.save();
  m.io.stdout.write(`published device list version ${version}\n`);
  return version;
}

/** Waits until the verified directory shows `version` of this account's list (then forgets caches). */
async function confirmPublished(m: Messaging, contents: KeystoreContents, version: number): Promise<void> {
  const accountKey = crypto.ed25519.publicKey(contents.accountSeed);
  await waitForList(m.directory, m.self.username, (f) => f.version >= version, { accountKey });
  const d = m.session.directory;
  if (d instanceof VerifiedDirectory) d.forget(m.self.username);
}

/** `devices remove`, also behind `account devices remove`. */
export async function remove(io: CliIo, idArg: string, options: MessagingOptions): Promise<void> {
  const deviceId = fromBase64urlExact(idArg, LIMITS.deviceIdBytes, 'device id');
  const id = toBase64url(deviceId);
  await withMessaging(io, options, async (m, contents) => {
    if (id === m.self.deviceId) {
      throw new ValidationError('VALIDATION_FAILED', 'remove this device from another device of the account');
    }
    // Out of every conversation first: the commit still reaches the device it removes, which
    // the server refuses once the device has left the account.
    const device = { username: m.self.username, deviceId: id };
    for (const c of m.session.conversations.list().filter((x) => x.active)) {
      if (!c.members().some((d) => d.username === device.username && d.deviceId === id)) continue;
      try {
        m.print(c, await m.session.change(c, (x) => x.removeDevice(device)));
      } catch (e) {
        // Another member's roster reconciliation removed it first (a rerun after the list
        // without it was published): nothing left to do here.
        if (!isConversationError(e, 'CONVERSATION_NO_SUCH_MEMBER')) throw e;
      }
    }
    await new ServerApi(contents.serverUrl, crypto).removeDevice({
      username: m.self.username,
      accountSeed: contents.accountSeed,
      deviceId,
    });
    const version = await publishNext(m, contents, { remove: [deviceId] });
    await confirmPublished(m, contents, version);
    io.stdout.write(`removed ${id} from ${m.self.username}\n`);
  });
}
