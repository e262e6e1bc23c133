/**
 * `sealpost send` and `sealpost read`: 1:1 conversations from the command line.
 *
 *   send <user> <text>   sends <text> to <user> (all of their devices and this account's other
 *                        devices), creating the conversation on first use
 *   read                 prints the messages that arrived since the last read (a `send` run
 *                        processes the mailbox too: what it received waits, encrypted, for `read`)
 *
 * Each run opens the key store (passphrase), connects this device (`DeviceSession`), processes its
 * mailbox until it has been idle for a moment, does its work, and saves the conversations
 * encrypted next to the key store (`conversation-store.ts`) after every message, before it is
 * acknowledged. Printed text has control characters replaced (no terminal escapes from others).
 */
import type { Command } from 'commander';
import { ValidationError, parseUsername } from '@sealpost/core';
import { nodeCryptoProvider as crypto } from '@sealpost/core/node';
import { openKeystore } from '@sealpost/client';
import { ConversationStateFile } from '@sealpost/client/node/conversation-store';
import {
  DeviceSession,
  isConversationError,
  mlsCiphersuite,
  nodeMlsCryptoProvider,
} from '@sealpost/client/node/conversation-cli';
import type { Conversation } from '@sealpost/client/node/conversation-cli';
import { resolveHome } from '../home.ts';
import type { CliIo } from '../io.ts';
import { readKeystoreFile } from '../keystore-file.ts';
import { readPassphrase } from '../passphrase.ts';

interface Options {
  readonly home?: string;
}

/** The mailbox counts as drained after this long without a delivery. */
const IDLE_MS = 600;

/** Control characters (C0 but tab, DEL, C1) become '?': no terminal escapes from others. */
function printable(text: string): string {
  let out = '';
  for (const ch of text) {
    const c = ch.codePointAt(0)!;
    out += (c < 0x20 && c !== 0x09) || (c >= 0x7f && c <= 0x9f) ? '?' : ch;
  }
  return out;
}

export function chatCommand(program: Command, io: CliIo): void {
  program
    .command('send')
    .description('send a message to a user (end-to-end encrypted, MLS)')
    .argument('<user>', 'the recipient username')
    .argument('<text>', 'the message')
    .action((user: string, text: string, _options: Options, cmd: Command) =>
      send(io, user, text, cmd.optsWithGlobals()),
    );
  program
    .command('read')
    .description('print the messages received since the last read')
    .action((_options: Options, cmd: Command) => read(io, cmd.optsWithGlobals()));
}

async function send(io: CliIo, userArg: string, text: string, options: Options): Promise<void> {
  const user = parseUsername(userArg);
  if (text.length === 0) throw new ValidationError('VALIDATION_FAILED', 'empty message');
  await withSession(io, options, async (session) => {
    if (user === session.self.username) {
      throw new ValidationError('VALIDATION_FAILED', 'send to another user (your devices get it too)');
    }
    let c = session.conversations
      .list()
      .find((x) => x.active && sameUsers(x.users(), [session.self.username, user]));
    if (c === undefined) {
      c = await session.create();
      const created = c;
      try {
        await session.change(created, (x) => x.addUser(user));
      } catch (e) {
        if (!isConversationError(e, 'CONVERSATION_NO_SUCH_MEMBER')) throw e;
        throw new ValidationError(
          'VALIDATION_FAILED',
          `${user} has no device ready to receive (no such user, or none has connected yet)`,
        );
      }
      await addOwnDevices(session, created);
    }
    await session.send(c, new TextEncoder().encode(text));
    io.stdout.write(`sent to ${user}\n`);
  });
}

async function read(io: CliIo, options: Options): Promise<void> {
  await withSession(io, options, async (session, inbox) => {
    for (const line of inbox.take()) io.stdout.write(`${line}\n`);
    for (const r of session.refusals) io.stderr.write(`refused a message: ${r.code}\n`);
  });
}

/** Messages received and not yet printed by `read`: saved ones, then this run's. */
class Inbox {
  #saved: string[] = [];
  #session: DeviceSession | undefined;
  #taken = 0;

  load(bytes: Uint8Array): void {
    this.#saved = bytes.length === 0 ? [] : (JSON.parse(new TextDecoder().decode(bytes)) as string[]);
  }
  attach(session: DeviceSession): void {
    this.#session = session;
  }
  lines(): string[] {
    const fresh = (this.#session?.events ?? [])
      .slice(this.#taken)
      .flatMap(({ event }) =>
        event.kind === 'message'
          ? [`${event.from.username}: ${printable(new TextDecoder().decode(event.plaintext))}`]
          : [],
      );
    return [...this.#saved, ...fresh];
  }
  /** Everything unread, which then counts as read. */
  take(): string[] {
    const out = this.lines();
    this.#saved = [];
    this.#taken = this.#session?.events.length ?? 0;
    return out;
  }
  encode(): Uint8Array {
    return new TextEncoder().encode(JSON.stringify(this.lines()));
  }
}

/** This account's other devices join too; none is fine. */
async function addOwnDevices(session: DeviceSession, c: Conversation): Promise<void> {
  try {
    await session.change(c, (x) => x.addUser(session.self.username));
  } catch (e) {
    if (!isConversationError(e, 'CONVERSATION_NO_SUCH_MEMBER')) throw e;
  }
}

function sameUsers(a: readonly string[], b: readonly string[]): boolean {
  const x = [...new Set(a)].sort();
  const y = [...new Set(b)].sort();
  return x.length === y.length && x.every((v, i) => v === y[i]);
}

async function withSession(
  io: CliIo,
  options: Options,
  use: (session: DeviceSession, inbox: Inbox) => Promise<void>,
): Promise<void> {
  const home = resolveHome(options.home, io.env);
  const bytes = await readKeystoreFile(home);
  const passphrase = await readPassphrase(io, false);
  let contents;
  try {
    contents = await openKeystore(crypto, bytes, passphrase);
  } finally {
    passphrase.fill(0);
  }
  const store = new ConversationStateFile(home, crypto, contents.deviceSeed);
  const inbox = new Inbox();
  let session: DeviceSession | undefined;
  try {
    session = await DeviceSession.open({
      serverUrl: contents.serverUrl,
      username: contents.username,
      deviceSeed: contents.deviceSeed,
      crypto,
      cs: await mlsCiphersuite({ provider: nodeMlsCryptoProvider }),
      restore: async (c) => inbox.load(await store.restore(c)),
      persist: (c) => store.save(c, inbox.encode()),
    });
    inbox.attach(session);
    const opened = Date.now();
    const s = session;
    while (Date.now() - Math.max(opened, s.lastMessageAt) < IDLE_MS) {
      await new Promise((r) => setTimeout(r, 50));
    }
    await use(session, inbox);
    await store.save(session.conversations, inbox.encode());
  } finally {
    await session?.close();
    store.close();
    contents.accountSeed.fill(0);
    contents.deviceSeed.fill(0);
  }
}
