/**
 * What the messaging commands (`send`, `read`, `chat`, `group`, `devices`) share: one device
 * session opened from the key store, the mailbox drained, and this device's local view of its
 * conversations saved encrypted with them (conversation-store.ts, as "application data"):
 *
 *   titles    group id -> the group's title, learnt from `title` messages (content.ts)
 *   unread    lines not yet printed by `read` (messages and roster events)
 *   history   group id -> the newest `CONVERSATION_LIMITS.historyMessages` messages, sent to a
 *             newly linked device of this account (devices.ts)
 *   own       label versions of this account's device list this device published (owner
 *             monitoring, account-directory.ts), and the ones its account's newest list vouched for
 *   alerted   versions already reported as not made by this account (reminded, not re-alerted)
 *   leaving   group id -> users that asked to leave (content `leave`), removed by the next commit
 *             this device makes there
 *
 * Devices are checked against the verified key directory (`VerifiedDirectory` over
 * account-directory.ts), never the server's account endpoint; once the mailbox is drained, every
 * conversation's roster is reconciled with it (`Messaging.reconcile`: the one place `read`,
 * `send`, `chat`, `group` and `devices` all pass). On every connection the device
 * monitors its own label: a version its account did not make prints an ALERT on stderr and, once
 * the command has done its work, fails it (exit status 2); later runs print a reminder only.
 *
 * Every roster change is a line for the user (DESIGN.md "Conversations"). Printed text has control
 * characters replaced: nothing another member sends can drive the terminal.
 */
import {
  CryptoVerificationError,
  SealpostError,
  ValidationError,
  deviceIdOf,
  parseUsername,
  toBase64url,
} from '@sealpost/core';
import { nodeCryptoProvider as crypto } from '@sealpost/core/node';
import { openKeystore, type KeystoreContents } from '@sealpost/client';
import { ConversationStateFile } from '@sealpost/client/node/conversation-store';
import {
  CONVERSATION_LIMITS,
  type Conversation,
  type ConversationError,
  type ConversationEvent,
  type DeviceRef,
  DeviceSession,
  VerifiedDirectory,
  decodeContent,
  encodeContent,
  isConversationError,
  mlsCiphersuite,
  nodeMlsCryptoProvider,
} from '@sealpost/client/node/conversation-cli';
import { monitorOwn, openAccountDirectory, type AccountDirectory } from './account-directory.ts';
import { resolveHome } from './home.ts';
import type { CliIo } from './io.ts';
import { readKeystoreFile } from './keystore-file.ts';
import { readPassphrase } from './passphrase.ts';

export interface MessagingOptions {
  readonly home?: string;
  readonly directoryKey?: string;
}

/**
 * How long a command waits for its mailbox to drain (`DeviceSession.caughtUp()`: the server's
 * CAUGHT_UP, then every message before it handled) before it goes on with what arrived and says
 * so on stderr. Generous: it bounds a stuck or older server, not a slow link's normal wait.
 */
export const CAUGHT_UP_WAIT_MS = 60_000;

export interface HistoryEntry {
  readonly from: string;
  readonly text: string;
}

/** Control characters (C0 but tab, DEL, C1) become '?': no terminal escapes from others. */
export function printable(text: string): string {
  let out = '';
  for (const ch of text) {
    const c = ch.codePointAt(0)!;
    out += (c < 0x20 && c !== 0x09) || (c >= 0x7f && c <= 0x9f) ? '?' : ch;
  }
  return out;
}

export function hex(b: Uint8Array): string {
  return Buffer.from(b).toString('hex');
}

const td = new TextDecoder();
const te = new TextEncoder();

/** The CLI's side of the saved state (JSON inside the encrypted conversation file). */
export class LocalState {
  readonly titles = new Map<string, string>();
  unread: string[] = [];
  readonly history = new Map<string, HistoryEntry[]>();
  readonly own = new Set<number>();
  readonly alerted = new Set<number>();
  readonly leaving = new Map<string, string[]>();

  static decode(bytes: Uint8Array): LocalState {
    const s = new LocalState();
    if (bytes.length === 0) return s;
    const j = JSON.parse(td.decode(bytes)) as unknown;
    // Version 0 was the list of unread lines alone.
    if (Array.isArray(j)) {
      s.unread = j.map(String);
      return s;
    }
    const o = j as {
      titles?: Record<string, string>;
      unread?: string[];
      history?: Record<string, HistoryEntry[]>;
      own?: number[];
      alerted?: number[];
      leaving?: Record<string, string[]>;
    };
    for (const [k, v] of Object.entries(o.titles ?? {})) s.titles.set(k, String(v));
    for (const v of o.own ?? []) s.own.add(Number(v));
    for (const v of o.alerted ?? []) s.alerted.add(Number(v));
    for (const [k, v] of Object.entries(o.leaving ?? {})) s.leaving.set(k, v.map(String));
    s.unread = (o.unread ?? []).map(String);
    for (const [k, v] of Object.entries(o.history ?? {})) s.history.set(k, v);
    return s;
  }

  encode(): Uint8Array {
    return te.encode(
      JSON.stringify({
        titles: Object.fromEntries(this.titles),
        unread: this.unread,
        history: Object.fromEntries(this.history),
        own: [...this.own],
        alerted: [...this.alerted],
        leaving: Object.fromEntries(this.leaving),
      }),
    );
  }

  remember(groupId: Uint8Array, entry: HistoryEntry): void {
    const k = hex(groupId);
    const list = this.history.get(k) ?? [];
    list.push(entry);
    if (list.length > CONVERSATION_LIMITS.historyMessages)
      list.splice(0, list.length - CONVERSATION_LIMITS.historyMessages);
    this.history.set(k, list);
  }
}

/** One open device session with its local state. */
export class Messaging {
  readonly io: CliIo;
  readonly self: DeviceRef;
  readonly state: LocalState;
  readonly directory: AccountDirectory;
  /** Set when owner monitoring raised a new alert in this run: the command fails once done. */
  alert: CryptoVerificationError | undefined;
  /** When set (interactive `chat`), lines are printed as they happen instead of kept unread. */
  live: ((line: string) => void) | undefined;
  /** Saves the conversations and this state (set by `withMessaging`). */
  save: () => Promise<void> = async () => undefined;
  #session: DeviceSession | undefined;

  constructor(io: CliIo, self: DeviceRef, state: LocalState, directory: AccountDirectory) {
    this.io = io;
    this.self = self;
    this.state = state;
    this.directory = directory;
  }

  /**
   * Owner monitoring (DESIGN.md "Identity"): every version of this account's label must be one
   * this device published or one the account's newest list vouches for. A new unexplained version
   * is an ALERT (stderr, and the command fails once done); one reported before is reminded.
   */
  async checkOwnLabel(accountKey: Uint8Array): Promise<void> {
    const known = new Set([...this.state.own, ...this.state.alerted]);
    const r = await monitorOwn(this.directory, this.self.username, accountKey, known);
    switch (r.kind) {
      case 'ok':
        for (const v of r.vouched) this.state.own.add(v);
        break;
      case 'no-list':
        this.io.stderr.write(`warning: ${this.self.username} has no device list in the key directory\n`);
        break;
      case 'unavailable':
        this.io.stderr.write(`warning: could not check the key directory: ${r.error.code}\n`);
        break;
      case 'alert': {
        const what =
          r.versions.length > 0
            ? `holds version${r.versions.length === 1 ? '' : 's'} ${r.versions.join(', ')} of ${this.self.username}'s device list that this account did not make`
            : `did not prove ${this.self.username}'s device list (${r.error.code}: ${r.error.message})`;
        this.io.stderr.write(
          `ALERT: the key directory ${what}. Someone may be adding a device or a key to your ` +
            `account behind your back: check \`sealpost verify ${this.self.username}\` on your devices.\n`,
        );
        for (const v of r.versions) this.state.alerted.add(v);
        this.alert = new CryptoVerificationError(
          r.error.code as 'KT_VERSION_MISMATCH',
          `key directory alert: ${what}`,
        );
        break;
      }
    }
    if (r.kind !== 'alert' && this.state.alerted.size > 0) {
      this.io.stderr.write(
        `warning: versions ${[...this.state.alerted].join(', ')} of ${this.self.username}'s device list were not made by this account (reported before)\n`,
      );
    }
  }

  /** Records a version this device published (owner monitoring). */
  recordOwn(version: number): void {
    this.state.own.add(version);
  }

  /** A delivered message this device refused: told to the user like a roster event. */
  refused(e: ConversationError): void {
    const who =
      typeof e.details['username'] === 'string'
        ? ` (${String(e.details['username'])}'s device ${String(e.details['deviceId'] ?? '?')})`
        : '';
    const line = `refused a message: ${e.code}${who}`;
    if (this.live !== undefined) this.live(line);
    else this.state.unread.push(line);
  }

  /**
   * Removes the users that asked to leave (content `leave`) from each conversation, one commit
   * each; one already gone (another member was first) is dropped from the list.
   */
  async carryOutLeaves(): Promise<void> {
    for (const [k, users] of [...this.state.leaving]) {
      const c = this.session.conversations.list().find((x) => x.active && hex(x.groupId) === k);
      for (const u of users) {
        if (c !== undefined && c.users().includes(u)) {
          try {
            this.record(c, await this.session.change(c, (x) => x.removeUser(u)));
          } catch (e) {
            if (!isConversationError(e, 'CONVERSATION_NO_SUCH_MEMBER')) throw e;
          }
        }
      }
      this.state.leaving.delete(k);
    }
  }

  /**
   * Roster reconciliation (docs/conversations.md): each conversation due for a check gets the
   * devices the verified key directory lists for its users, and loses those it no longer lists,
   * by one commit; the changes are lines like any roster event. A group that gained a device is
   * told its title again (the new device has no history to learn it from). A conversation that
   * could not be checked is a warning; the command goes on.
   */
  async reconcile(): Promise<void> {
    for (const r of await this.session.reconcile()) {
      if (r.error !== undefined) {
        this.io.stderr.write(
          `warning: could not check ${this.labelOf(r.conversation)} against the key directory: ${r.error.code}\n`,
        );
        continue;
      }
      this.record(r.conversation, r.events);
      await this.save();
      if (r.events.some((e) => e.kind === 'device-added')) await this.sendTitle(r.conversation);
    }
  }

  get session(): DeviceSession {
    if (this.#session === undefined) throw new ValidationError('VALIDATION_FAILED', 'no session');
    return this.#session;
  }

  attach(session: DeviceSession): void {
    this.#session = session;
  }

  titleOf(c: Conversation): string | undefined {
    return this.state.titles.get(hex(c.groupId));
  }

  /** `[title]` for a group, `[alice, bob]` (the others) for an untitled conversation. */
  labelOf(c: Conversation): string {
    const title = this.titleOf(c);
    if (title !== undefined) return `[${printable(title)}]`;
    const others = c.users().filter((u) => u !== this.self.username);
    return `[${others.join(', ') || 'only you'}]`;
  }

  /** "you", "you (device X)" or the username. */
  who(d: DeviceRef): string {
    if (d.username !== this.self.username) return d.username;
    return d.deviceId === this.self.deviceId ? 'you' : `you (device ${d.deviceId})`;
  }

  /** The active untitled conversation of exactly this user and us. */
  oneToOne(user: string): Conversation | undefined {
    return this.session.conversations
      .list()
      .find(
        (c) => c.active && this.titleOf(c) === undefined && sameUsers(c.users(), [this.self.username, user]),
      );
  }

  /**
   * The conversation `target` names: a group by title (or `#<hex prefix of its id>`, as `group
   * list` shows), else a user's 1:1 conversation (undefined when there is none yet).
   */
  find(target: string): { conversation: Conversation | undefined; user: string | undefined } {
    const active = this.session.conversations.list().filter((c) => c.active);
    if (target.startsWith('#')) {
      const prefix = target.slice(1).toLowerCase();
      const hits = active.filter((c) => prefix.length > 0 && hex(c.groupId).startsWith(prefix));
      if (hits.length !== 1) {
        throw new ValidationError(
          'VALIDATION_FAILED',
          `${hits.length} conversations have an id starting ${prefix}`,
        );
      }
      return { conversation: hits[0], user: undefined };
    }
    const titled = active.filter((c) => this.titleOf(c) === target);
    if (titled.length > 1) {
      throw new ValidationError(
        'VALIDATION_FAILED',
        `${titled.length} groups are called ${target}: name one by its id (#...) from \`sealpost group list\``,
      );
    }
    if (titled.length === 1) return { conversation: titled[0], user: undefined };
    // A group this device was removed from keeps its title: say so, rather than take the title
    // for a username ("team has no device ready") or refuse it as one.
    const left = this.session.conversations.list().some((c) => !c.active && this.titleOf(c) === target);
    if (left && this.oneToOne(target) === undefined) {
      throw new ValidationError('VALIDATION_FAILED', `you are no longer in ${target}`);
    }
    const user = parseUsername(target);
    return { conversation: this.oneToOne(user), user };
  }

  /** Like `find`, but the target must be an existing group or conversation. */
  require(target: string): Conversation {
    const { conversation } = this.find(target);
    if (conversation === undefined) {
      throw new ValidationError('VALIDATION_FAILED', `no conversation called ${target}`);
    }
    return conversation;
  }

  async sendText(c: Conversation, text: string): Promise<void> {
    this.state.remember(c.groupId, { from: this.self.username, text });
    await this.#send(c, encodeContent({ kind: 'text', text }));
  }

  /** Asks the other members to remove this user from `c` (content `leave`). */
  async sendLeave(c: Conversation): Promise<void> {
    await this.#send(c, encodeContent({ kind: 'leave' }));
  }

  /** Tells every member (joiners included) the group's title. */
  async sendTitle(c: Conversation): Promise<void> {
    const title = this.titleOf(c);
    if (title !== undefined) await this.#send(c, encodeContent({ kind: 'title', title }));
  }

  /**
   * Encrypts, saves, then hands to the server: a crash after sending can never bring back a
   * state that would encrypt again with the same key generation (RFC 9420 §9.1).
   */
  async #send(c: Conversation, plaintext: Uint8Array): Promise<void> {
    const out = await c.send(plaintext);
    await this.save();
    await this.session.delivery.sendMessage(out);
  }

  /** The lines an event of `c` prints (none for bookkeeping events). */
  describe(c: Conversation, e: ConversationEvent, all: readonly ConversationEvent[] = [e]): string[] {
    const label = this.labelOf(c);
    switch (e.kind) {
      case 'message': {
        let content;
        try {
          content = decodeContent(e.plaintext);
        } catch (error) {
          if (!isConversationError(error)) throw error;
          return [`${label} unreadable message from ${this.who(e.from)}`];
        }
        if (content.kind === 'leave') {
          if (e.from.username === this.self.username) return [];
          const k = hex(c.groupId);
          const users = this.state.leaving.get(k) ?? [];
          if (!users.includes(e.from.username)) this.state.leaving.set(k, [...users, e.from.username]);
          return [`${label} ${e.from.username} asked to leave`];
        }
        if (content.kind === 'title') {
          const had = this.titleOf(c);
          this.state.titles.set(hex(c.groupId), content.title);
          return had === content.title
            ? []
            : [`[${printable(content.title)}] group named by ${this.who(e.from)}`];
        }
        this.state.remember(c.groupId, { from: e.from.username, text: content.text });
        const line = `${e.from.username}: ${printable(content.text)}`;
        return [this.titleOf(c) === undefined ? line : `${label} ${line}`];
      }
      case 'joined': {
        const others = [...new Set(e.members.map((d) => d.username))].filter((u) => u !== this.self.username);
        return [`* you joined a conversation with ${others.join(', ') || 'your own devices'}`];
      }
      case 'user-added':
        return [`${label} ${e.username} was added by ${this.who(e.by)}`];
      case 'user-removed':
        if (e.username === this.self.username && all.some((x) => x.kind === 'removed')) return [];
        if (e.reason === 'directory') {
          return [
            `${label} ${e.username} left: no device of ${e.username} is in the key directory any more (removed by ${this.who(e.by)})`,
          ];
        }
        return [`${label} ${e.username} was removed by ${this.who(e.by)}`];
      case 'device-added':
        // A user's first device is told as the user (user-added); only later devices are named.
        if (all.some((x) => x.kind === 'user-added' && x.username === e.device.username)) return [];
        if (e.reason === 'directory') {
          // Roster reconciliation (docs/conversations.md): no history travels with it.
          return [
            `${label} ${e.device.username}'s device ${e.device.deviceId} joined: listed in ${e.device.username}'s key directory entry (added by ${this.who(e.by)}; earlier messages are not shared with it)`,
          ];
        }
        return [
          `${label} ${e.device.username} has a new device ${e.device.deviceId}, added by ${this.who(e.by)}`,
        ];
      case 'device-removed':
        if (all.some((x) => x.kind === 'user-removed' && x.username === e.device.username)) return [];
        if (e.reason === 'directory') {
          return [
            `${label} ${e.device.username}'s device ${e.device.deviceId} left: no longer in ${e.device.username}'s key directory entry (removed by ${this.who(e.by)})`,
          ];
        }
        return [
          `${label} ${e.device.username}'s device ${e.device.deviceId} was removed by ${this.who(e.by)}`,
        ];
      case 'removed':
        return [`${label} you were removed by ${this.who(e.by)}`];
      case 'proposal-ignored':
        return [
          `${label} ignored a ${e.proposalType} proposal from ${e.from === undefined ? 'outside the group' : this.who(e.from)}`,
        ];
      case 'refused':
        return [`${label} refused a message: ${e.error.code}`];
      default:
        return [];
    }
  }

  /** Records the lines of events (unread, or printed at once in `chat`). */
  record(c: Conversation, events: readonly ConversationEvent[]): void {
    for (const e of events) {
      for (const line of this.describe(c, e, events)) {
        if (this.live !== undefined) this.live(line);
        else this.state.unread.push(line);
      }
    }
  }

  /** Prints our own change's events now (they are not in the mailbox). */
  print(c: Conversation, events: readonly ConversationEvent[]): void {
    for (const e of events) for (const line of this.describe(c, e, events)) this.io.stdout.write(`${line}\n`);
  }
}

export function sameUsers(a: readonly string[], b: readonly string[]): boolean {
  const x = [...new Set(a)].sort();
  const y = [...new Set(b)].sort();
  return x.length === y.length && x.every((v, i) => v === y[i]);
}

/** Opens the key store (passphrase) of `--home`; the caller wipes the seeds. */
export async function openContents(
  io: CliIo,
  options: MessagingOptions,
): Promise<{ home: string; contents: KeystoreContents }> {
  const home = resolveHome(options.home, io.env);
  const bytes = await readKeystoreFile(home);
  const passphrase = await readPassphrase(io, false);
  try {
    return { home, contents: await openKeystore(crypto, bytes, passphrase) };
  } finally {
    passphrase.fill(0);
  }
}

export interface OpenedMessaging {
  readonly messaging: Messaging;
  readonly session: DeviceSession;
  readonly store: ConversationStateFile;
}

/**
 * Connects a device (`DeviceSession`) with its saved state, its devices checked against the verified
 * key directory, and waits until its mailbox is drained (`awaitDrained`); then, when the account
 * key is known, monitors this account's own label (`checkOwnLabel`), carries out the leave
 * requests that arrived and reconciles the rosters with the verified directory (`reconcile`). The caller saves, closes the session and the store, and saves
 * `messaging.directory`.
 */
export async function startMessaging(
  io: CliIo,
  home: string,
  device: {
    serverUrl: string;
    username: string;
    deviceSeed: Uint8Array;
    /** This account's key when the device holds it (not yet while it is being linked). */
    accountKey?: Uint8Array | undefined;
  },
  onLinkBox?: (payload: Uint8Array, m: Messaging) => Promise<void>,
  options: { directoryKey?: string | undefined; pinIfUnset?: boolean } = {},
): Promise<OpenedMessaging> {
  const directory = await openAccountDirectory(io, home, device.serverUrl, options);
  const store = new ConversationStateFile(home, crypto, device.deviceSeed);
  const self = {
    username: device.username,
    deviceId: toBase64url(deviceIdOf(crypto, crypto.ed25519.publicKey(device.deviceSeed))),
  };
  const own = device.accountKey;
  let m: Messaging | undefined;
  let session: DeviceSession;
  try {
    session = await DeviceSession.open({
      serverUrl: device.serverUrl,
      username: device.username,
      deviceSeed: device.deviceSeed,
      crypto,
      cs: await mlsCiphersuite({ provider: nodeMlsCryptoProvider }),
      directory: (claimKeyPackages) =>
        new VerifiedDirectory({
          // This account's own list must be signed by the account key this device holds.
          lookup: (u) =>
            directory.lookup(u, u === self.username && own !== undefined ? { accountKey: own } : {}),
          claimKeyPackages,
        }),
      restore: async (c) => {
        m = new Messaging(io, self, LocalState.decode(await store.restore(c)), directory);
      },
      persist: (c) => store.save(c, m!.state.encode()),
      onReceived: (c, events) => m!.record(c, events),
      onRefused: (e) => m!.refused(e),
      ...(onLinkBox === undefined ? {} : { onLinkBox: (payload: Uint8Array) => onLinkBox(payload, m!) }),
    });
  } catch (e) {
    store.close();
    throw e;
  }
  const messaging = m!;
  const s = session;
  messaging.attach(s);
  messaging.save = () => store.save(s.conversations, messaging.state.encode());
  await awaitDrained(io, s);
  if (own !== undefined) {
    await messaging.checkOwnLabel(own);
    await messaging.carryOutLeaves();
    await messaging.reconcile();
  }
  return { messaging, session: s, store };
}

/**
 * Waits until the server has pushed everything the mailbox held and each message was handled
 * (`DeviceSession.caughtUp()`), at most `waitMs`. When the server never says so (older than
 * CAUGHT_UP, or stuck), goes on with what arrived and says so on stderr, rather than failing:
 * nothing is lost (what was not handled stays in the mailbox for the next command), and a `send`
 * or `group` over such a server still does its work. A connection that ended for good is thrown.
 */
export async function awaitDrained(io: CliIo, s: DeviceSession, waitMs = CAUGHT_UP_WAIT_MS): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timedOut = new Promise<'timeout'>(
    (resolve) => (timer = setTimeout(() => resolve('timeout'), waitMs)),
  );
  try {
    const r = await Promise.race([s.caughtUp().then(() => 'drained' as const), timedOut]);
    if (r === 'timeout') {
      io.stderr.write(
        `note: the server did not say the mailbox was drained within ${waitMs / 1000} s; ` +
          'going on with the messages that arrived (the others stay for the next command)\n',
      );
    }
  } catch (e) {
    if (!(e instanceof SealpostError && e.code === 'NOT_READY')) throw e;
    io.stderr.write(`note: ${e.message}; going on with the messages that arrived\n`);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Opens this device's session from the key store, drains the mailbox, runs `use`, saves, closes,
 * and wipes the seeds whatever happens. Fails (after `use`) when owner monitoring raised an alert.
 */
export async function withMessaging(
  io: CliIo,
  options: MessagingOptions,
  use: (m: Messaging, contents: KeystoreContents) => Promise<void>,
): Promise<void> {
  const { home, contents } = await openContents(io, options);
  try {
    const { messaging, session, store } = await startMessaging(
      io,
      home,
      { ...contents, accountKey: crypto.ed25519.publicKey(contents.accountSeed) },
      undefined,
      { directoryKey: options.directoryKey },
    );
    try {
      await use(messaging, contents);
      await messaging.save();
    } finally {
      await session.close();
      store.close();
      await messaging.directory.save();
    }
    if (messaging.alert !== undefined) throw messaging.alert;
  } finally {
    contents.accountSeed.fill(0);
    contents.deviceSeed.fill(0);
  }
}
