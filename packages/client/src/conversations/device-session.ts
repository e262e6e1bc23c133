/**
 * One device's conversations wired to its server: `Conversations` (sans-I/O) fed by a live
 * `Connection`'s mailbox, changes ordered by `ServerDelivery`, devices checked by the
 * `DeviceDirectory` the caller makes (`VerifiedDirectory`, the key-transparency directory: there
 * is no default, since a directory that believes the server lets it add devices of its making),
 * and this device's KeyPackages kept stocked on the server.
 *
 *   - every delivered message goes to `Conversations.receive`; a refused one (ConversationError)
 *     is recorded in `refusals` and acknowledged (redelivering it would change nothing), any other
 *     failure leaves it unacknowledged, so the server delivers it again;
 *   - `change()` is `commitThrough` with the catch-up of a lost race: wait until the mailbox has
 *     brought the conversation to the epoch EPOCH_CONFLICT named (the winner is in it);
 *   - `reconcile()` keeps each conversation's roster equal to the verified directory's device
 *     lists (reconcile.ts), at most once per `reconcileIntervalMs` per conversation; the caller
 *     runs it once the mailbox is drained (`caughtUp()`; the CLI: every connected command,
 *     messaging.ts);
 *   - the device's MLS signature key is its device key (Ed25519): the signed device list holds
 *     it, which is what the directory checks credentials against. MLS signs with its own labels
 *     ("MLS 1.0 " || label, RFC 9420 §5.1.2), distinct from Sealpost's statement labels. The raw
 *     seed is the signature private key, as the node provider takes it (node/mls-crypto.ts).
 */
import {
  type CryptoProvider,
  LIMITS,
  SealpostError,
  UnavailableError,
  deviceIdOf,
  parseUsername,
  toBase64url,
} from '@sealpost/core';
import type { CiphersuiteImpl } from 'ts-mls';
import { Connection, type ConnectionOptions, type IncomingMessage } from '../connection.ts';
import type { Conversation, OutgoingCommit } from './conversation.ts';
import { Conversations } from './conversations.ts';
import { commitThrough } from './delivery.ts';
import { ConversationError, isConversationError } from './errors.ts';
import type { ConversationEvent } from './events.ts';
import type { DeviceDirectory, DeviceRef } from './identity.ts';
import { CONVERSATION_LIMITS } from './limits.ts';
import type { ClaimKeyPackages } from './key-package-claim.ts';
import { isLinkBox } from './link.ts';
import { ReconcileSchedule } from './reconcile.ts';
import { ServerDelivery } from './server-delivery.ts';

export interface DeviceSessionOptions {
  readonly serverUrl: string;
  readonly username: string;
  /** The device's Ed25519 seed; also its MLS signature key. Copied. */
  readonly deviceSeed: Uint8Array;
  readonly crypto: CryptoProvider;
  readonly cs: CiphersuiteImpl;
  /** Reconnect timings, WebSocket implementation, persisted seen ids. */
  readonly connection?: Partial<Omit<ConnectionOptions, 'onMessage'>>;
  /** Top the server's one-time KeyPackages up to this many (default `keyPackageStock`, 8)... */
  readonly keyPackageStock?: number;
  /** ...when it holds fewer than this many (default `keyPackageLowWater`, 4). */
  readonly keyPackageLowWater?: number;
  /** How often the count is checked while connected (default `keyPackageCheckMs`, 60 s). */
  readonly keyPackageCheckMs?: number;
  /** How long `change()` waits for a lost race's winner (default 15 s). */
  readonly catchUpMs?: number;
  /** How often one conversation is reconciled at most (default `reconcileIntervalMs`, 60 s). */
  readonly reconcileIntervalMs?: number;
  /** Restores saved state (conversations, KeyPackages) before the connection opens. */
  readonly restore?: (conversations: Conversations) => Promise<void>;
  /**
   * Saves state: called after each delivered message is processed, before it is acknowledged
   * (a failure leaves it unacknowledged), and after new KeyPackages are made, before they are
   * uploaded (a KeyPackage is never on the server without its private half saved).
   */
  readonly persist?: (conversations: Conversations) => Promise<void>;
  /**
   * Takes the link boxes (link.ts) delivered to this device: a device being linked gets its
   * account key and history this way. Without it, a link box is refused like any stray payload.
   */
  readonly onLinkBox?: (payload: Uint8Array) => Promise<void>;
  /** Called with the events of each delivered message once it is processed, before `persist`. */
  readonly onReceived?: (conversation: Conversation, events: readonly ConversationEvent[]) => void;
  /** Called with each delivered message this device refused (e.g. CONVERSATION_UNKNOWN_DEVICE). */
  readonly onRefused?: (error: ConversationError) => void;
  /**
   * Makes the directory credentials and Adds are checked against, given the connection's
   * KeyPackage claim: `VerifiedDirectory` (devices from the verified key directory). Required.
   */
  readonly directory: (claimKeyPackages: ClaimKeyPackages) => DeviceDirectory;
}

/** Something that happened in one conversation. */
export interface SessionEvent {
  readonly conversation: Conversation;
  readonly event: ConversationEvent;
}

/** What `reconcile()` did to one conversation: its events, or why it could not be checked. */
export interface Reconciled {
  readonly conversation: Conversation;
  readonly events: readonly ConversationEvent[];
  readonly error?: SealpostError | ConversationError;
}

export class DeviceSession {
  readonly self: DeviceRef;
  readonly conversations: Conversations;
  readonly connection: Connection;
  readonly delivery: ServerDelivery;
  readonly directory: DeviceDirectory;
  readonly events: SessionEvent[] = [];
  readonly refusals: ConversationError[] = [];
  /** How many of our commits lost their epoch to another (EPOCH_CONFLICT). */
  conflicts = 0;
  readonly #o: DeviceSessionOptions;
  #waiters: Array<() => void> = [];
  #stockTimer: ReturnType<typeof setInterval> | undefined;
  #stocking: Promise<void> | undefined;
  readonly #reconciled: ReconcileSchedule;

  private constructor(
    o: DeviceSessionOptions,
    self: DeviceRef,
    conversations: Conversations,
    connection: Connection,
    directory: DeviceDirectory,
  ) {
    this.#o = o;
    this.self = self;
    this.conversations = conversations;
    this.connection = connection;
    this.directory = directory;
    this.delivery = new ServerDelivery(connection, o.cs);
    this.#reconciled = new ReconcileSchedule(o.reconcileIntervalMs);
  }

  /** Connects, and stocks the server with this device's KeyPackages. */
  static async open(o: DeviceSessionOptions): Promise<DeviceSession> {
    const seed = o.deviceSeed.slice();
    const publicKey = o.crypto.ed25519.publicKey(seed);
    const self = {
      username: parseUsername(o.username),
      deviceId: toBase64url(deviceIdOf(o.crypto, publicKey)),
    };
    const opened: { session?: DeviceSession; refused?: (e: SealpostError) => void } = {};
    const connection = new Connection({
      ...o.connection,
      // `start()` resolves only once ready: a connection the server closes for good (this device
      // removed from its account, replaced) would leave `open` waiting forever.
      onStateChange: (state, reason) => {
        o.connection?.onStateChange?.(state, reason);
        if (state === 'closed' && reason !== undefined) opened.refused?.(reason);
      },
      serverUrl: o.serverUrl,
      username: self.username,
      deviceSeed: seed,
      crypto: o.crypto,
      onMessage: (m) => {
        // The connection starts only once `session` is set, below.
        const session = opened.session;
        if (session === undefined) throw new UnavailableError('NOT_READY', 'session not open');
        return session.#handle(m);
      },
    });
    const claim: ClaimKeyPackages = (u, ids) => connection.claimKeyPackages(u, ids);
    const directory = o.directory(claim);
    const conversations = await Conversations.open({
      self,
      cs: o.cs,
      directory,
      signatureKeys: { signKey: seed, publicKey },
    });
    await o.restore?.(conversations);
    const session = new DeviceSession(o, self, conversations, connection, directory);
    opened.session = session;
    await new Promise<void>((resolve, reject) => {
      opened.refused = reject;
      connection.start().then(resolve, reject);
    }).finally(() => (opened.refused = undefined));
    await session.replenishKeyPackages();
    session.#stockTimer = setInterval(
      () => void session.replenishKeyPackages().catch(() => undefined),
      o.keyPackageCheckMs ?? CONVERSATION_LIMITS.keyPackageCheckMs,
    );
    session.#stockTimer.unref?.();
    return session;
  }

  /**
   * Asks the server how many one-time KeyPackages of this device it holds and, below the low
   * water mark (or without a last-resort one), uploads fresh ones up to the stock. One at a time:
   * a call while another runs waits for it.
   */
  replenishKeyPackages(): Promise<void> {
    this.#stocking ??= this.#replenish().finally(() => (this.#stocking = undefined));
    return this.#stocking;
  }

  async #replenish(): Promise<void> {
    const target = Math.min(
      this.#o.keyPackageStock ?? CONVERSATION_LIMITS.keyPackageStock,
      LIMITS.keyPackagesPerDevice,
    );
    const low = Math.min(this.#o.keyPackageLowWater ?? CONVERSATION_LIMITS.keyPackageLowWater, target);
    const stock = await this.connection.countKeyPackages();
    if (stock.oneTime >= low && stock.hasLastResort) return;
    const fresh: Uint8Array[] = [];
    for (let i = stock.oneTime; i < target && fresh.length < LIMITS.keyPackagesPerUpload; i++) {
      fresh.push(await this.conversations.newKeyPackage());
    }
    const lastResort = stock.hasLastResort ? undefined : await this.conversations.newLastResortKeyPackage();
    await this.#o.persist?.(this.conversations);
    await this.connection.addKeyPackages(fresh, lastResort);
  }

  /** A new conversation with this device alone (a group needs no creation step on the server). */
  create(): Promise<Conversation> {
    return this.conversations.create();
  }

  /**
   * Make a change (add, remove, update) through the server; after a lost race, wait for the
   * winner to arrive and make it again (at most 3 times).
   */
  change(
    conversation: Conversation,
    make: (c: Conversation) => Promise<OutgoingCommit>,
  ): Promise<ConversationEvent[]> {
    return commitThrough(
      this.delivery,
      conversation,
      () => make(conversation),
      async () => {
        this.conflicts++;
        const target = this.delivery.conflictEpoch(conversation.groupId) ?? conversation.epoch + 1n;
        await this.waitUntil(
          () => conversation.epoch >= target || !conversation.active,
          this.#o.catchUpMs ?? 15_000,
          'the commit that won the epoch',
        );
      },
    );
  }

  /**
   * Roster reconciliation (reconcile.ts) of the active conversations not checked within the
   * interval: one commit each where the roster differs from the verified directory. A lost race
   * catches up and checks again (then usually finds nothing left). A conversation that could not
   * be checked (directory or server unavailable, a race lost 3 times) is returned with its error
   * and checked again after the interval; nothing is thrown for it.
   */
  async reconcile(list: readonly Conversation[] = this.conversations.list()): Promise<Reconciled[]> {
    const out: Reconciled[] = [];
    for (const conversation of list) {
      if (!conversation.active || !this.#reconciled.take(conversation.groupId)) continue;
      try {
        out.push({ conversation, events: await this.change(conversation, (c) => c.reconcile()) });
      } catch (e) {
        if (isConversationError(e, 'CONVERSATION_NO_SUCH_MEMBER')) continue;
        if (!(e instanceof ConversationError || e instanceof SealpostError)) throw e;
        out.push({ conversation, events: [], error: e });
      }
    }
    return out;
  }

  async send(conversation: Conversation, plaintext: Uint8Array): Promise<void> {
    await this.delivery.sendMessage(await conversation.send(plaintext));
  }

  /**
   * Resolves once the mailbox is drained: the server pushed everything it held for this device
   * (CAUGHT_UP) and each of those messages was received (`onReceived`/`onRefused`), saved
   * (`persist`) and acknowledged. `Connection.caughtUp()` says when it rejects.
   */
  caughtUp(): Promise<void> {
    return this.connection.caughtUp();
  }

  /** Resolves once `check()` holds, re-checked after every delivered message. */
  waitUntil(check: () => boolean, ms = 15_000, what = 'condition'): Promise<void> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiters = this.#waiters.filter((w) => w !== poll);
        reject(new UnavailableError('NOT_READY', `waited ${ms} ms for ${what}`));
      }, ms);
      const poll = (): void => {
        if (!check()) return void this.#waiters.push(poll);
        clearTimeout(timer);
        resolve();
      };
      poll();
    });
  }

  async close(): Promise<void> {
    clearInterval(this.#stockTimer);
    await this.#stocking?.catch(() => undefined);
    await this.connection.close();
  }

  async #handle(m: IncomingMessage): Promise<void> {
    try {
      if (isLinkBox(m.payload)) {
        if (this.#o.onLinkBox === undefined) {
          throw new ConversationError('CONVERSATION_MALFORMED', 'a link box for a device not being linked');
        }
        await this.#o.onLinkBox(m.payload);
      } else {
        const r = await this.conversations.receive(m.payload);
        for (const event of r.events) this.events.push({ conversation: r.conversation, event });
        this.#o.onReceived?.(r.conversation, r.events);
        if (r.events.some((e) => e.kind === 'joined')) {
          // A one-time KeyPackage was used: top up, without holding the mailbox on it.
          this.replenishKeyPackages().catch(() => undefined);
        }
      }
    } catch (e) {
      if (!isConversationError(e)) throw e;
      this.refusals.push(e);
      this.#o.onRefused?.(e);
    } finally {
      for (const w of this.#waiters.splice(0)) w();
    }
    await this.#o.persist?.(this.conversations);
  }
}
