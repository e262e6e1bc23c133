/**
 * `sealpost group ...`: group conversations (every one an MLS group of devices).
 *
 *   group create <title> [users...]   a new group with these users (all their devices) and this
 *                                     account's other devices; the title is sent to the members
 *                                     inside the group, never to the server
 *   group add <group> <user>          adds every device of <user>
 *   group remove <group> <user>       removes every device of <user>
 *   group leave <group>               asks the other members to remove you (all your devices):
 *                                     MLS lets no member commit its own removal; the first other
 *                                     member online makes the commit, and you see "you were removed"
 *   group list [--json]               every conversation, its members and their devices, each
 *                                     device checked against the verified key directory now
 *
 * Each change is one commit ordered by the server; what it did is printed as roster events, as
 * the other members see them. `<group>` is a title or `#<id prefix>` as `group list` shows it.
 */
import type { Command } from 'commander';
import { ValidationError, parseUsername } from '@sealpost/core';
import { type Conversation, isConversationError } from '@sealpost/client/node/conversation-cli';
import type { CliIo } from '../io.ts';
import { type Messaging, type MessagingOptions, hex, printable, withMessaging } from '../messaging.ts';

interface Options extends MessagingOptions {
  readonly json?: boolean;
}

export function groupCommand(program: Command, io: CliIo): void {
  const group = program.command('group').description('group conversations');
  group
    .command('create')
    .description('create a group with these users (and your other devices)')
    .argument('<title>', "the group's title, seen by its members only")
    .argument('[users...]', 'users to add')
    .action((title: string, users: string[], _o: Options, cmd: Command) =>
      create(io, title, users, cmd.optsWithGlobals()),
    );
  group
    .command('add')
    .description('add a user (all of their devices) to a group')
    .argument('<group>', 'title or #id')
    .argument('<user>', 'username')
    .action((g: string, user: string, _o: Options, cmd: Command) => add(io, g, user, cmd.optsWithGlobals()));
  group
    .command('remove')
    .description('remove a user (all of their devices) from a group')
    .argument('<group>', 'title or #id')
    .argument('<user>', 'username')
    .action((g: string, user: string, _o: Options, cmd: Command) =>
      remove(io, g, user, cmd.optsWithGlobals()),
    );
  group
    .command('leave')
    .description('leave a group (the other members remove all of your devices)')
    .argument('<group>', 'title or #id')
    .action((g: string, _o: Options, cmd: Command) => leave(io, g, cmd.optsWithGlobals()));
  group
    .command('list')
    .description('your conversations, their members and devices')
    .option('--json', 'print JSON')
    .action((_o: Options, cmd: Command) => list(io, cmd.optsWithGlobals()));
}

function checkTitle(title: string): string {
  const bytes = new TextEncoder().encode(title).byteLength;
  if (bytes === 0 || bytes > 128 || printable(title) !== title || title.startsWith('#')) {
    throw new ValidationError(
      'VALIDATION_FAILED',
      'a group title is 1 to 128 bytes, without control characters, not starting with #',
    );
  }
  return title;
}

async function create(io: CliIo, titleArg: string, usersArg: string[], options: Options): Promise<void> {
  const title = checkTitle(titleArg);
  const users = [...new Set(usersArg.map((u) => parseUsername(u)))];
  await withMessaging(io, options, async (m) => {
    if (users.some((u) => u === m.self.username)) {
      throw new ValidationError('VALIDATION_FAILED', 'your own devices join every group you create');
    }
    if (m.session.conversations.list().some((c) => c.active && m.titleOf(c) === title)) {
      throw new ValidationError('VALIDATION_FAILED', `you already have a group called ${title}`);
    }
    const c = await m.session.create();
    m.state.titles.set(hex(c.groupId), title);
    io.stdout.write(`[${title}] created (#${hex(c.groupId).slice(0, 8)})\n`);
    // One commit: every user's devices and this account's other devices.
    await addUsers(m, c, users, [m.self.username]);
    await m.sendTitle(c);
  });
}

async function add(io: CliIo, target: string, userArg: string, options: Options): Promise<void> {
  const user = parseUsername(userArg);
  await withMessaging(io, options, async (m) => {
    const c = group(m, target);
    if (c.users().includes(user) && user !== m.self.username) {
      // Adding again adds the user's devices the group lacks (a new device of theirs).
      io.stdout.write(`${user} is in ${m.labelOf(c)}; adding any device of theirs it lacks\n`);
    }
    await addUsers(m, c, [user]);
    await m.sendTitle(c);
  });
}

async function remove(io: CliIo, target: string, userArg: string, options: Options): Promise<void> {
  const user = parseUsername(userArg);
  await withMessaging(io, options, async (m) => {
    const c = group(m, target);
    if (user === m.self.username) {
      throw new ValidationError(
        'VALIDATION_FAILED',
        'a device cannot remove itself (MLS); remove your other devices with `sealpost devices remove`',
      );
    }
    let events;
    try {
      events = await m.session.change(c, (x) => x.removeUser(user));
    } catch (e) {
      if (!isConversationError(e, 'CONVERSATION_NO_SUCH_MEMBER')) throw e;
      throw new ValidationError('VALIDATION_FAILED', `${user} is not in ${m.labelOf(c)}`);
    }
    m.print(c, events);
  });
}

async function leave(io: CliIo, target: string, options: Options): Promise<void> {
  await withMessaging(io, options, async (m) => {
    const c = group(m, target);
    if (!c.users().some((u) => u !== m.self.username)) {
      throw new ValidationError('VALIDATION_FAILED', `${m.labelOf(c)} has no other member to remove you`);
    }
    await m.sendLeave(c);
    io.stdout.write(
      `${m.labelOf(c)} asked the members to remove you; you are out once one of them is online\n`,
    );
  });
}

async function list(io: CliIo, options: Options): Promise<void> {
  await withMessaging(io, options, async (m) => {
    const rows = [];
    for (const c of m.session.conversations.list()) {
      const members = [];
      for (const user of c.users()) {
        // What the directory lists now; a member device it no longer lists is flagged.
        const listed = new Set((await m.session.directory.devicesOf(user)).map((d) => d.deviceId));
        const devices = c
          .members()
          .filter((d) => d.username === user)
          .map((d) => ({
            deviceId: d.deviceId,
            listed: listed.has(d.deviceId),
            thisDevice: user === m.self.username && d.deviceId === m.self.deviceId,
          }));
        members.push({ user, devices });
      }
      rows.push({
        id: hex(c.groupId),
        title: m.titleOf(c) ?? null,
        label: m.labelOf(c),
        active: c.active,
        epoch: Number(c.epoch),
        members,
      });
    }
    if (options.json === true) {
      io.stdout.write(
        JSON.stringify(
          rows.map(({ label: _label, ...r }) => r),
          null,
          2,
        ) + '\n',
      );
      return;
    }
    for (const r of rows) {
      io.stdout.write(
        `${r.label} #${r.id.slice(0, 8)} epoch ${r.epoch}${r.active ? '' : ' (you were removed)'}\n`,
      );
      for (const u of r.members) {
        const devices = u.devices.map(
          (d) =>
            `${d.deviceId}${d.thisDevice ? ' (this device)' : ''}${d.listed ? '' : ' NOT LISTED by the directory'}`,
        );
        io.stdout.write(`  ${u.user}: ${devices.join(', ')}\n`);
      }
    }
  });
}

function group(m: Messaging, target: string): Conversation {
  const c = m.require(target);
  if (!c.active) throw new ValidationError('VALIDATION_FAILED', `you are no longer in ${target}`);
  return c;
}

async function addUsers(
  m: Messaging,
  c: Conversation,
  users: readonly string[],
  optional: readonly string[] = [],
): Promise<void> {
  let events;
  try {
    events = await m.session.change(c, (x) => x.addUsers(users, optional));
  } catch (e) {
    if (!isConversationError(e, 'CONVERSATION_NO_SUCH_MEMBER')) throw e;
    if (users.length === 0) return; // only optional ones, and none to add
    const user = String(e.details['username'] ?? users.join(', '));
    throw new ValidationError(
      'VALIDATION_FAILED',
      `${user} has no device to add (no such user, none has connected yet, or all are in ${m.labelOf(c)})`,
    );
  }
  m.print(c, events);
}
