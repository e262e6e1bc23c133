/**
 * `sealpost send`, `read` and `chat`: conversations from the command line (messaging.ts holds
 * what they share).
 *
 *   send <user|group> <text>   sends <text> to a group (by title, or #id) or to a user (all of
 *                              their devices and this account's others), creating the 1:1
 *                              conversation on first use
 *   read                       prints the messages and roster events that arrived since the
 *                              last read (other runs process the mailbox too: what they receive
 *                              waits, encrypted, for `read`)
 *   chat <user|group>          interactive: each line read from stdin is sent; messages and
 *                              roster events are printed as they arrive over the live
 *                              connection; end of input (Ctrl-D) saves and exits
 *
 * Each run opens the key store (passphrase), connects this device (`DeviceSession`), processes its
 * mailbox until it has been idle for a moment, does its work, and saves the conversations
 * encrypted next to the key store (`conversation-store.ts`) after every message, before it is
 * acknowledged.
 */
import { createInterface } from 'node:readline';
import type { Command } from 'commander';
import { ValidationError } from '@sealpost/core';
import { type Conversation, isConversationError } from '@sealpost/client/node/conversation-cli';
import type { CliIo } from '../io.ts';
import { type Messaging, type MessagingOptions, withMessaging } from '../messaging.ts';

export function chatCommand(program: Command, io: CliIo): void {
  program
    .command('send')
    .description('send a message to a user or a group (end-to-end encrypted, MLS)')
    .argument('<to>', 'a username, a group title, or #<group id> from `sealpost group list`')
    .argument('<text>', 'the message')
    .action((to: string, text: string, _options: MessagingOptions, cmd: Command) =>
      send(io, to, text, cmd.optsWithGlobals()),
    );
  program
    .command('read')
    .description('print the messages and roster events received since the last read')
    .action((_options: MessagingOptions, cmd: Command) => read(io, cmd.optsWithGlobals()));
  program
    .command('chat')
    .description('chat with a user or a group: lines from stdin are sent, arrivals printed; Ctrl-D ends')
    .argument('<with>', 'a username, a group title, or #<group id>')
    .action((to: string, _options: MessagingOptions, cmd: Command) => chat(io, to, cmd.optsWithGlobals()));
}

async function send(io: CliIo, to: string, text: string, options: MessagingOptions): Promise<void> {
  if (text.length === 0) throw new ValidationError('VALIDATION_FAILED', 'empty message');
  await withMessaging(io, options, async (m) => {
    const c = await conversationFor(m, to);
    await m.sendText(c, text);
    io.stdout.write(`sent to ${to}\n`);
  });
}

async function read(io: CliIo, options: MessagingOptions): Promise<void> {
  await withMessaging(io, options, async (m) => {
    for (const line of m.state.unread.splice(0)) io.stdout.write(`${line}\n`);
    for (const r of m.session.refusals) io.stderr.write(`refused a message: ${r.code}\n`);
  });
}

async function chat(io: CliIo, to: string, options: MessagingOptions): Promise<void> {
  await withMessaging(io, options, async (m) => {
    const c = await conversationFor(m, to);
    for (const line of m.state.unread.splice(0)) io.stdout.write(`${line}\n`);
    m.live = (line) => io.stdout.write(`${line}\n`);
    io.stderr.write(`chatting in ${m.labelOf(c)}; end with Ctrl-D\n`);
    const lines = createInterface({ input: io.input, terminal: false, crlfDelay: Infinity });
    try {
      for await (const line of lines) {
        if (line.trim().length === 0) continue;
        if (!c.active) {
          io.stderr.write('you are no longer in this conversation\n');
          break;
        }
        await m.reconcile(); // rate-limited: a no-op unless the interval has passed
        await m.sendText(c, line);
      }
    } finally {
      lines.close();
      m.live = undefined;
    }
  });
}

/**
 * The conversation `to` names; for a user without one yet, a new 1:1 conversation with all of
 * the user's devices and this account's other devices.
 */
async function conversationFor(m: Messaging, to: string): Promise<Conversation> {
  const { conversation, user } = m.find(to);
  if (conversation !== undefined) return conversation;
  if (user === undefined) throw new ValidationError('VALIDATION_FAILED', `no conversation called ${to}`);
  if (user === m.self.username) {
    throw new ValidationError('VALIDATION_FAILED', 'send to another user (your devices get it too)');
  }
  const created = await m.session.create();
  try {
    // One commit: the user's devices and this account's other devices.
    await m.session.change(created, (x) => x.addUsers([user], [m.self.username]));
  } catch (e) {
    if (!isConversationError(e, 'CONVERSATION_NO_SUCH_MEMBER')) throw e;
    throw new ValidationError(
      'VALIDATION_FAILED',
      `${user} has no device ready to receive (no such user, or none has connected yet)`,
    );
  }
  return created;
}
