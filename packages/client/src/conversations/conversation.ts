/**
 * One conversation: one MLS group (RFC 9420) whose members are devices, driven sans-I/O. Bytes
 * come in through `receive()`; bytes to send come out of `send()` and the membership operations.
 * Nothing here talks to a network: `delivery.ts` says what the delivery service must do.
 *
 * Rules this file enforces (docs/conversations.md "Rules"):
 *   - every leaf taken in (Add, UpdatePath, Welcome tree) must be listed by the DeviceDirectory
 *     with that signature key, or the message is refused with CONVERSATION_UNKNOWN_DEVICE;
 *   - a refused message changes nothing: ts-mls states are immutable and are replaced only after
 *     a message was fully accepted;
 *   - a proposal that arrives on its own is never stored nor committed; it becomes an event;
 *   - a commit must come from a member; a commit for an epoch already left is CONVERSATION_STALE_EPOCH;
 *   - a message seen before is dropped; one for a future epoch waits (bounded) for its commit;
 *   - roster reconciliation (`reconcile`, reconcile.ts) removes only devices the directory no
 *     longer lists and adds only devices it lists, with KeyPackages claimed for exactly those;
 *   - our own commit is applied only once the delivery service accepted it (`confirmCommit`),
 *     and resubmitted byte for byte, never re-created in the same epoch (a new commit in the same
 *     epoch would reuse the epoch's handshake key generation, RFC 9420 §9.1).
 *
 * Messages to one conversation are processed one at a time, in call order.
 */
import {
  type CiphersuiteImpl,
  type ClientState,
  type CreateCommitResult,
  createApplicationMessage,
  createCommit,
  emptyPskIndex,
  encodeMlsMessage,
  type IncomingMessageCallback,
  processMessage,
  type Proposal,
  zeroOutUint8Array,
} from 'ts-mls';
import { ConversationError } from './errors.ts';
import type { ConversationEvent } from './events.ts';
import { type DeviceDirectory, type DeviceRef, deviceKey, directoryAuthService } from './identity.ts';
import { CONVERSATION_LIMITS } from './limits.ts';
import { decodeAddableKeyPackage } from './key-packages.ts';
import {
  decodeGroupMessage,
  header,
  type Incoming,
  senderOf,
  UNKNOWN_DEVICE as UNKNOWN,
} from './incoming.ts';
import { removable, rosterDrift, withDirectoryReasons } from './reconcile.ts';
import { rosterEvents, rosterOf } from './roster.ts';
import { SeenMessages } from './seen-messages.ts';

/** What every conversation of a device shares. */
export interface ConversationContext {
  readonly self: DeviceRef;
  readonly cs: CiphersuiteImpl;
  readonly directory: DeviceDirectory;
}

/** An application message to hand to the delivery service. */
export interface OutgoingMessage {
  readonly groupId: Uint8Array;
  readonly epoch: bigint;
  readonly message: Uint8Array;
  /** Every other member device. */
  readonly recipients: readonly DeviceRef[];
}

/** A commit to submit for `epoch`; the delivery service accepts one commit per epoch. */
export interface OutgoingCommit {
  readonly groupId: Uint8Array;
  /** The epoch the commit is for (the group's current epoch when it was made). */
  readonly epoch: bigint;
  readonly commit: Uint8Array;
  /** For the devices this commit adds (RFC 9420 §12.4.3.1), carrying the ratchet tree. */
  readonly welcome: Uint8Array | undefined;
  /**
   * Every current member device but this one, including those the commit removes, except those
   * a reconciliation removes because the directory no longer lists them (the server may have
   * unlinked them, and refuses a recipient it does not know).
   */
  readonly recipients: readonly DeviceRef[];
  readonly joiners: readonly DeviceRef[];
  /** The member devices after the commit. */
  readonly members: readonly DeviceRef[];
}

/** What a conversation keeps across restarts (state-codec.ts turns it into bytes). */
export interface ConversationSnapshot {
  readonly state: ClientState;
  readonly seen: readonly Uint8Array[];
  readonly future: readonly Uint8Array[];
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.byteLength === b.byteLength && a.every((x, i) => x === b[i]);
}

export class Conversation {
  readonly #ctx: ConversationContext;
  #state: ClientState;
  readonly #seen: SeenMessages;
  #future: { epoch: bigint; bytes: Uint8Array; digest: Uint8Array }[] = [];
  #pending: { result: CreateCommitResult; outgoing: OutgoingCommit } | undefined;
  /** Devices the directory refused during the message being processed (see directoryAuthService). */
  readonly #refused: DeviceRef[];
  #queue: Promise<unknown> = Promise.resolve();

  /**
   * Use `Conversations` to create or join; this wraps a ts-mls state whose `clientConfig` carries
   * `directoryAuthService(ctx.directory, refused)` with the same `refused` array.
   */
  constructor(
    ctx: ConversationContext,
    state: ClientState,
    refused: DeviceRef[],
    seen: Iterable<Uint8Array> = [],
  ) {
    this.#ctx = ctx;
    this.#state = state;
    this.#refused = refused;
    this.#seen = new SeenMessages(seen);
  }

  /** A state whose authentication service is this context's directory. */
  static clientConfigFor(
    directory: DeviceDirectory,
    base: ClientState['clientConfig'],
  ): { config: ClientState['clientConfig']; refused: DeviceRef[] } {
    const refused: DeviceRef[] = [];
    return { config: { ...base, authService: directoryAuthService(directory, refused) }, refused };
  }

  get groupId(): Uint8Array {
    return this.#state.groupContext.groupId;
  }

  get epoch(): bigint {
    return this.#state.groupContext.epoch;
  }

  get active(): boolean {
    return this.#state.groupActiveState.kind === 'active';
  }

  get hasPendingCommit(): boolean {
    return this.#pending !== undefined;
  }

  /** The member devices, in leaf order. */
  members(): DeviceRef[] {
    return [...rosterOf(this.#state.ratchetTree).values()];
  }

  /** The users with at least one device in the group. */
  users(): string[] {
    return [...new Set(this.members().map((d) => d.username))];
  }

  snapshot(): ConversationSnapshot {
    return { state: this.#state, seen: this.#seen.values(), future: this.#future.map((f) => f.bytes) };
  }

  /** Restore the buffered future-epoch messages of a snapshot (they are re-checked on arrival). */
  async restoreFuture(messages: readonly Uint8Array[]): Promise<void> {
    for (const bytes of messages) {
      const digest = await this.#ctx.cs.hash.digest(bytes);
      const m = decodeGroupMessage(bytes);
      this.#future.push({ epoch: header(m).epoch, bytes, digest });
    }
  }

  #serial<T>(f: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(f, f);
    this.#queue = run.catch(() => undefined);
    return run;
  }

  // ---------------------------------------------------------------- sending

  /** Encrypt an application message for the current epoch. */
  send(plaintext: Uint8Array): Promise<OutgoingMessage> {
    return this.#serial(async () => {
      this.#requireActive();
      const r = await createApplicationMessage(this.#state, plaintext, this.#ctx.cs);
      this.#state = r.newState;
      r.consumed.forEach(zeroOutUint8Array);
      const message = encodeMlsMessage({
        privateMessage: r.privateMessage,
        wireformat: 'mls_private_message',
        version: 'mls10',
      });
      this.#seen.add(await this.#ctx.cs.hash.digest(message));
      return { groupId: this.groupId, epoch: this.epoch, message, recipients: this.#others() };
    });
  }

  /**
   * Add every device the directory lists for `username` that is not yet a member: adding a user,
   * or adding a user's new devices. Refused with CONVERSATION_NO_SUCH_MEMBER if there is none,
   * CONVERSATION_UNKNOWN_DEVICE if a KeyPackage does not match its directory entry.
   */
  addUser(username: string): Promise<OutgoingCommit> {
    return this.addUsers([username]);
  }

  /**
   * Add several users' devices in one commit (one epoch, one Welcome): every user of `usernames`
   * must have a device to add (else CONVERSATION_NO_SUCH_MEMBER naming the first without), the
   * users of `optional` join with whatever devices they have (e.g. this account's other devices).
   */
  addUsers(usernames: readonly string[], optional: readonly string[] = []): Promise<OutgoingCommit> {
    return this.#serial(async () => {
      const present = new Set(this.members().map(deviceKey));
      const proposals: Proposal[] = [];
      const joiners: DeviceRef[] = [];
      const wanted = [
        ...usernames.map((u) => ({ u, required: true })),
        ...optional.map((u) => ({ u, required: false })),
      ];
      for (const { u: username, required } of wanted) {
        // KeyPackages are claimed (used up): claim only for the listed devices the group lacks,
        // so adding a user's new device uses up none of its devices already in.
        const known = await this.#ctx.directory.devicesOf(username);
        const missing = known
          .map((d) => d.deviceId)
          .filter((deviceId) => !present.has(deviceKey({ username, deviceId })));
        const listed =
          missing.length > 0 ? await this.#ctx.directory.addableDevicesOf(username, missing) : [];
        let added = 0;
        for (const d of listed) {
          const device = { username, deviceId: d.deviceId };
          if (present.has(deviceKey(device))) continue;
          present.add(deviceKey(device));
          const keyPackage = decodeAddableKeyPackage(d, device);
          proposals.push({ proposalType: 'add', add: { keyPackage } });
          joiners.push(device);
          added++;
        }
        if (required && added === 0) {
          throw new ConversationError('CONVERSATION_NO_SUCH_MEMBER', 'no device of this user to add', {
            username,
          });
        }
      }
      if (proposals.length === 0) {
        throw new ConversationError('CONVERSATION_NO_SUCH_MEMBER', 'no device to add', {
          username: optional.join(','),
        });
      }
      return this.#commit(proposals, joiners);
    });
  }

  /** Remove one device (not this one: a device leaves by asking another member, see docs). */
  removeDevice(device: DeviceRef): Promise<OutgoingCommit> {
    return this.#serial(() => this.#remove((d) => deviceKey(d) === deviceKey(device), device.username));
  }

  /** Remove every device of a user. */
  removeUser(username: string): Promise<OutgoingCommit> {
    return this.#serial(() => this.#remove((d) => d.username === username, username));
  }

  /**
   * Roster reconciliation (reconcile.ts): one commit that removes the devices of the group's users
   * that the directory no longer lists and adds those it lists that are not in, each with a
   * KeyPackage claimed through `addableDevicesOf` (a listed device without one waits for the next
   * check, and so do the last devices of its user). Refused with CONVERSATION_NO_SUCH_MEMBER when
   * there is nothing to do, e.g. after another member reconciled first.
   */
  reconcile(): Promise<OutgoingCommit> {
    return this.#serial(async () => {
      this.#requireActive();
      const drift = await rosterDrift(this.members(), this.#ctx.self, this.#ctx.directory);
      const proposals: Proposal[] = [];
      const joiners: DeviceRef[] = [];
      for (const username of new Set(drift.missing.map((d) => d.username))) {
        const ids = drift.missing.filter((d) => d.username === username).map((d) => d.deviceId);
        let addable: Awaited<ReturnType<DeviceDirectory['addableDevicesOf']>>;
        try {
          addable = await this.#ctx.directory.addableDevicesOf(username, ids);
        } catch {
          continue; // no KeyPackage to be had now: the next check tries again
        }
        for (const d of addable) {
          const device = { username, deviceId: d.deviceId };
          if (!ids.includes(d.deviceId) || joiners.some((j) => deviceKey(j) === deviceKey(device))) continue;
          let keyPackage: ReturnType<typeof decodeAddableKeyPackage>;
          try {
            keyPackage = decodeAddableKeyPackage(d, device);
          } catch (e) {
            // A KeyPackage that does not match its directory entry: that device waits, the rest goes on.
            if (e instanceof ConversationError) continue;
            throw e;
          }
          proposals.push({ proposalType: 'add', add: { keyPackage } });
          joiners.push(device);
        }
      }
      const stale = removable(drift, this.members(), joiners);
      for (const [leaf, d] of rosterOf(this.#state.ratchetTree)) {
        if (stale.has(deviceKey(d))) proposals.push({ proposalType: 'remove', remove: { removed: leaf } });
      }
      if (proposals.length === 0) {
        throw new ConversationError('CONVERSATION_NO_SUCH_MEMBER', 'the roster matches the directory');
      }
      return this.#commit(proposals, joiners, stale);
    });
  }

  /** A commit with no proposal: refreshes this device's path keys (post-compromise security, RFC 9420 §12.4). */
  update(): Promise<OutgoingCommit> {
    return this.#serial(() => this.#commit([], []));
  }

  /** The commit in flight, to resubmit byte for byte after a transient delivery failure. */
  pendingCommit(): OutgoingCommit | undefined {
    return this.#pending?.outgoing;
  }

  /** The delivery service accepted our commit: move to its epoch. */
  confirmCommit(): Promise<ConversationEvent[]> {
    return this.#serial(async () => {
      const p = this.#pending;
      if (p === undefined) throw new ConversationError('CONVERSATION_COMMIT_PENDING', 'no commit to confirm');
      this.#pending = undefined;
      const before = this.#state.ratchetTree;
      this.#state = p.result.newState;
      p.result.consumed.forEach(zeroOutUint8Array);
      const events = await withDirectoryReasons(
        rosterEvents(before, this.#state, this.#ctx.self),
        this.#ctx.directory,
      );
      return [...events, ...(await this.#drainFuture())];
    });
  }

  /**
   * The delivery service refused our commit (another won the epoch). Drop it; process the
   * winner from the mailbox, then make the change again if it still applies.
   */
  discardCommit(): void {
    this.#pending = undefined;
  }

  async #remove(match: (d: DeviceRef) => boolean, what: string): Promise<OutgoingCommit> {
    const proposals: Proposal[] = [];
    for (const [leaf, d] of rosterOf(this.#state.ratchetTree)) {
      if (match(d) && leaf !== this.#state.privatePath.leafIndex) {
        proposals.push({ proposalType: 'remove', remove: { removed: leaf } });
      }
    }
    if (proposals.length === 0) {
      throw new ConversationError('CONVERSATION_NO_SUCH_MEMBER', 'no such member to remove', {
        member: what,
      });
    }
    return this.#commit(proposals, []);
  }

  /** `unreachable`: device keys left out of the recipients (see OutgoingCommit.recipients). */
  async #commit(
    proposals: Proposal[],
    joiners: DeviceRef[],
    unreachable: ReadonlySet<string> = new Set(),
  ): Promise<OutgoingCommit> {
    if (this.#pending !== undefined) {
      throw new ConversationError('CONVERSATION_COMMIT_PENDING', 'a commit is already in flight', {
        epoch: String(this.epoch),
      });
    }
    this.#requireActive();
    // Proposals that arrived on their own are never stored (see #callback); clearing here makes
    // sure ts-mls's createCommit, which commits every stored proposal by reference, commits none.
    const state: ClientState = { ...this.#state, unappliedProposals: {} };
    this.#refused.length = 0;
    let result: CreateCommitResult;
    try {
      result = await createCommit(
        { state, cipherSuite: this.#ctx.cs },
        { extraProposals: proposals, ratchetTreeExtension: true },
      );
    } catch (e) {
      throw this.#mapError(e);
    }
    const commit = encodeMlsMessage(result.commit);
    const welcome =
      result.welcome === undefined
        ? undefined
        : encodeMlsMessage({ welcome: result.welcome, wireformat: 'mls_welcome', version: 'mls10' });
    const outgoing: OutgoingCommit = {
      groupId: this.groupId,
      epoch: this.epoch,
      commit,
      welcome,
      recipients: this.#others().filter((d) => !unreachable.has(deviceKey(d))),
      joiners,
      members: [...rosterOf(result.newState.ratchetTree).values()],
    };
    this.#seen.add(await this.#ctx.cs.hash.digest(commit));
    this.#pending = { result, outgoing };
    return outgoing;
  }

  #others(): DeviceRef[] {
    const me = deviceKey(this.#ctx.self);
    return this.members().filter((d) => deviceKey(d) !== me);
  }

  #requireActive(): void {
    if (!this.active) {
      throw new ConversationError('CONVERSATION_NOT_A_MEMBER', 'this device is no longer a member', {
        state: this.#state.groupActiveState.kind,
      });
    }
  }

  // ---------------------------------------------------------------- receiving

  /**
   * Process one incoming MLS message (application, proposal or commit) for this group. Returns
   * the events it caused; throws a ConversationError when the message is refused, and then the
   * conversation is exactly as before.
   */
  receive(bytes: Uint8Array): Promise<ConversationEvent[]> {
    return this.#serial(() => this.#receive(bytes, false));
  }

  async #receive(bytes: Uint8Array, fromBuffer: boolean): Promise<ConversationEvent[]> {
    const digest = await this.#ctx.cs.hash.digest(bytes);
    if (!fromBuffer && this.#seen.has(digest)) return [{ kind: 'duplicate' }];
    const m = decodeGroupMessage(bytes);
    const h = header(m);
    if (!sameBytes(h.groupId, this.groupId)) {
      throw new ConversationError('CONVERSATION_WRONG_GROUP', 'message for another group');
    }
    const current = this.epoch;
    if (h.epoch > current) {
      if (h.epoch - current > BigInt(CONVERSATION_LIMITS.futureEpochWindow)) {
        throw new ConversationError('CONVERSATION_BUFFER_FULL', 'message too far in the future', {
          epoch: String(h.epoch),
          current: String(current),
        });
      }
      if (this.#future.length >= CONVERSATION_LIMITS.futureEpochBuffer) {
        throw new ConversationError('CONVERSATION_BUFFER_FULL', 'too many messages wait for a future epoch', {
          epoch: String(h.epoch),
        });
      }
      this.#future.push({ epoch: h.epoch, bytes, digest });
      this.#seen.add(digest);
      return [{ kind: 'deferred', epoch: h.epoch }];
    }
    if (h.epoch < current && h.contentType !== 'application') {
      throw new ConversationError('CONVERSATION_STALE_EPOCH', `${h.contentType} for an epoch already left`, {
        epoch: String(h.epoch),
        current: String(current),
      });
    }
    const events = await this.#process(m, h.epoch);
    this.#seen.add(digest);
    if (this.epoch !== current) events.push(...(await this.#drainFuture()));
    return events;
  }

  /** Process, in arrival order, the buffered messages whose epoch has come. */
  async #drainFuture(): Promise<ConversationEvent[]> {
    const events: ConversationEvent[] = [];
    for (;;) {
      const i = this.#future.findIndex((f) => f.epoch <= this.epoch);
      if (i < 0) return events;
      const [f] = this.#future.splice(i, 1);
      try {
        events.push(...(await this.#receive(f!.bytes, true)));
      } catch (e) {
        events.push({ kind: 'refused', error: this.#mapError(e) });
      }
    }
  }

  async #process(m: Incoming, epoch: bigint): Promise<ConversationEvent[]> {
    const before = this.#state;
    const roster = rosterOf(before.ratchetTree);
    const ignored: ConversationEvent[] = [];
    let committer: number | undefined;
    let refusal: string | undefined;
    const callback: IncomingMessageCallback = (incoming) => {
      if (incoming.kind === 'proposal') {
        const from = incoming.proposal.senderLeafIndex;
        ignored.push({
          kind: 'proposal-ignored',
          proposalType: String(incoming.proposal.proposal.proposalType),
          from: from === undefined ? undefined : (roster.get(from) ?? UNKNOWN),
        });
        return 'reject';
      }
      committer = incoming.senderLeafIndex;
      if (committer === undefined) {
        refusal = 'commit not sent by a member';
        return 'reject';
      }
      return 'accept';
    };
    const sender =
      m.wireformat === 'mls_private_message' ? await senderOf(this.#state, m, epoch, this.#ctx.cs) : UNKNOWN;
    this.#refused.length = 0;
    let result: Awaited<ReturnType<typeof processMessage>>;
    try {
      result = await processMessage(m, before, emptyPskIndex, callback, this.#ctx.cs);
    } catch (e) {
      throw this.#mapError(e);
    }
    if (result.kind === 'applicationMessage') {
      this.#state = result.newState;
      result.consumed.forEach(zeroOutUint8Array);
      return [{ kind: 'message', from: sender, plaintext: result.message }];
    }
    if (ignored.length > 0) {
      // A rejected proposal still advanced the sender's handshake ratchet; keep that, nothing else.
      this.#state = result.newState;
      return ignored;
    }
    if (result.actionTaken === 'reject') {
      throw new ConversationError('CONVERSATION_COMMIT_REFUSED', refusal ?? 'commit refused', {
        epoch: String(epoch),
      });
    }
    const by = committer === undefined ? UNKNOWN : (roster.get(committer) ?? UNKNOWN);
    this.#state = result.newState;
    result.consumed.forEach(zeroOutUint8Array);
    const events: ConversationEvent[] = [];
    if (this.#pending !== undefined) {
      events.push({ kind: 'commit-superseded', epoch: this.#pending.outgoing.epoch });
      this.#pending = undefined;
    }
    events.push(
      ...(await withDirectoryReasons(rosterEvents(before.ratchetTree, this.#state, by), this.#ctx.directory)),
    );
    return events;
  }

  #mapError(e: unknown): ConversationError {
    if (e instanceof ConversationError) return e;
    const who = this.#refused[0];
    if (who !== undefined) {
      return new ConversationError('CONVERSATION_UNKNOWN_DEVICE', 'the directory does not list this device', {
        username: who.username,
        deviceId: who.deviceId,
      });
    }
    const message = e instanceof Error ? `${e.name}: ${e.message}` : 'refused';
    return new ConversationError('CONVERSATION_MESSAGE_INVALID', message);
  }
}
