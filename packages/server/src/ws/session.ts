/**
 * One device's WebSocket session (docs/protocol.md "WebSocket"):
 *
 *   open --CHALLENGE--> awaiting-auth --AUTH ok--> ready --close--> closed
 *                            |  AUTH bad / timeout: ERROR, close 1008 / 4002
 *
 * Frames are handled one at a time in arrival order, so one device's sends are stored in the
 * order it sent them. The pump pushes the mailbox in sequence order with at most
 * LIMITS.inFlightPerDevice unacknowledged; a new session starts from the beginning of the mailbox,
 * so everything not acknowledged is delivered again (devices drop duplicates by message id).
 * The first time a read of the mailbox past the cursor comes back short (the store held nothing
 * more), a client that offered WS_PROTOCOL_CAUGHT_UP is sent CAUGHT_UP{cursor}, once per
 * connection: with more waiting than the in-flight bound, that is after the last is pushed.
 */
import {
  AuthError,
  CodecError,
  LIMITS,
  NotFoundError,
  RateLimitedError,
  SealpostError,
  ValidationError,
  decodeClientFrame,
  encodeServerFrame,
  parseUsername,
  toHex,
  WS_PROTOCOL_CAUGHT_UP,
  wsAuthStatement,
  type AckFrame,
  type ClientFrame,
  type CommitFrame,
  type DeviceAddress,
  type KeyPackagesAddFrame,
  type SendFrame,
  type ServerFrame,
  type Username,
} from '@sealpost/core';
import type { WebSocket } from 'ws';
import { dayOf, type ServerContext } from '../context.ts';
import type { DevicePk, MailEntry } from '../store/store.ts';
import type { Hub, HubSession } from './hub.ts';
import { RecipientCache } from './recipient-cache.ts';

/** Frames waiting to be handled before the connection is closed as flooding. */
const FRAMES_QUEUED_MAX = LIMITS.inFlightPerDevice * 2;
/**
 * Their bytes: as many SENDs at their largest, or 32 commits with Welcomes at theirs. Frames may
 * be LIMITS.wsFrameMaxBytes (a handshake), so a count alone would let one connection queue GiBs.
 */
const FRAME_BYTES_QUEUED_MAX = FRAMES_QUEUED_MAX * LIMITS.messageMaxBytes;
/** Bytes of a SEND or COMMIT frame before what its digest covers: type (u8) and request id (u32). */
const SEND_DIGEST_OFFSET = 5;
/** Sends issued to an in-order store and not yet committed, per connection (pipelining depth). */
const SENDS_PIPELINED_MAX = 64;

export class DeviceSession implements HubSession {
  readonly connectionId: string;
  readonly connectedAtMs: number;
  #device: DevicePk | undefined;
  #state: 'awaiting-auth' | 'ready' | 'closed' = 'awaiting-auth';
  readonly #ws: WebSocket;
  readonly #ctx: ServerContext;
  readonly #hub: Hub;
  readonly #audience: string;
  readonly #challenge: Uint8Array;
  #queue: Promise<void> = Promise.resolve();
  #queued = 0;
  #queuedBytes = 0;
  readonly #inFlight = new Set<number>();
  /** Highest seq pushed on this connection. */
  #cursor = 0;
  /** Highest seq known to be stored (from offers and hints). */
  #tail = 0;
  /** The mailbox may hold entries past `#cursor` that no offer or hint announced. */
  #behind = true;
  #pumping = false;
  #pumpAgain = false;
  /** Sent CAUGHT_UP, or never will: the client did not offer WS_PROTOCOL_CAUGHT_UP. */
  #caughtUpSent: boolean;
  #authTimer: ReturnType<typeof setTimeout> | undefined;
  #pollTimer: ReturnType<typeof setInterval> | undefined;

  constructor(ws: WebSocket, ctx: ServerContext, hub: Hub, audience: string) {
    this.#ws = ws;
    this.#ctx = ctx;
    this.#hub = hub;
    this.#audience = audience;
    this.connectedAtMs = ctx.now();
    this.connectionId = toHex(ctx.crypto.randomBytes(12));
    this.#challenge = ctx.crypto.randomBytes(LIMITS.challengeBytes);
    // `ws` selects the first subprotocol the client offered; a client that offered none (an older
    // one, which would close on a frame type it does not know) is never sent CAUGHT_UP.
    this.#caughtUpSent = ws.protocol !== WS_PROTOCOL_CAUGHT_UP;
    ws.on('message', (data, isBinary) => this.#onMessage(data, isBinary));
    ws.on('close', () => this.#onClosed());
    ws.on('error', () => this.#onClosed());
    this.#authTimer = setTimeout(
      () => this.#fail(new AuthError('AUTH_TIMEOUT', 'no authentication in time'), 0),
      LIMITS.authTimeoutMs,
    );
    this.#authTimer.unref?.();
    this.#sendFrame({ type: 'challenge', challenge: this.#challenge });
  }

  get device(): DevicePk {
    if (this.#device === undefined) throw new AuthError('AUTH_REQUIRED', 'session is not authenticated');
    return this.#device;
  }

  /** Resolves when every frame received so far has been handled and every send answered. */
  async settled(): Promise<void> {
    await this.#queue;
    await Promise.allSettled([...this.#storing]);
  }
  readonly #storing = new Set<Promise<void>>();

  wake(seq?: number): void {
    if (this.#state !== 'ready') return;
    if (seq === undefined) this.#behind = true;
    else if (seq > this.#tail) this.#tail = seq;
    if (!this.#behind && this.#tail <= this.#cursor) return; // already pushed: no read needed
    void this.#pump();
  }

  offer(entry: MailEntry): void {
    if (entry.seq > this.#tail) this.#tail = entry.seq;
    if (
      this.#state === 'ready' &&
      !this.#pumping &&
      entry.seq === this.#cursor + 1 &&
      this.#inFlight.size < LIMITS.inFlightPerDevice
    ) {
      this.#push(entry);
      this.#ctx.metrics.messagesPushed.inc();
    } else {
      this.wake(entry.seq);
    }
  }

  #push(e: MailEntry): void {
    this.#sendFrame({ type: 'deliver', seq: e.seq, messageId: e.messageId, payload: e.payload });
    this.#inFlight.add(e.seq);
    this.#cursor = e.seq;
  }

  close(code: number, reason: string): void {
    if (this.#state === 'closed') return;
    this.#state = 'closed';
    try {
      this.#ws.close(code, reason);
    } catch {
      this.#ws.terminate();
    }
    this.#onClosed();
  }

  #onMessage(data: unknown, isBinary: boolean): void {
    if (this.#state === 'closed') return;
    if (!isBinary || !(data instanceof Buffer)) {
      this.#fail(new ValidationError('UNEXPECTED_FRAME', 'frames must be binary'), 0);
      return;
    }
    this.#queuedBytes += data.byteLength;
    if (++this.#queued > FRAMES_QUEUED_MAX || this.#queuedBytes > FRAME_BYTES_QUEUED_MAX) {
      this.#fail(new RateLimitedError('too many frames waiting; wait for answers', 1), 0);
      return;
    }
    const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    this.#queue = this.#queue.then(async () => {
      this.#queued--;
      this.#queuedBytes -= bytes.length;
      if (this.#state === 'closed') return;
      let frame: ClientFrame;
      try {
        frame = decodeClientFrame(bytes);
      } catch (err) {
        this.#fail(err instanceof CodecError ? err : new CodecError('CODEC_INVALID_VALUE', 'bad frame'), 0);
        return;
      }
      await this.#handle(frame, bytes);
    });
  }

  /** A failed request is answered and the session goes on; anything unexpected ends the session. */
  #sendFailed(err: unknown, requestId: number): void {
    const typed = err instanceof SealpostError ? err : new SealpostError('INTERNAL', 'internal error');
    if (!(err instanceof SealpostError)) this.#ctx.log.error({ err }, 'request failed');
    this.#ctx.metrics.errors.inc({ code: typed.code });
    const currentEpoch = typed.details['currentEpoch'];
    if (this.#state === 'ready' && typed.code === 'MLS_EPOCH_CONFLICT' && typeof currentEpoch === 'number') {
      this.#sendFrame({ type: 'epoch-conflict', requestId, currentEpoch });
    } else if (this.#state === 'ready' && typed.kind !== 'codec' && typed.kind !== 'internal') {
      this.#sendError(typed, requestId);
    } else {
      this.#fail(typed, requestId);
    }
  }

  async #handle(frame: ClientFrame, bytes: Uint8Array): Promise<void> {
    try {
      if (this.#state === 'awaiting-auth') {
        if (frame.type !== 'auth') throw new ValidationError('UNEXPECTED_FRAME', 'first frame must be AUTH');
        await this.#authenticate(frame.username, frame.deviceId, frame.signature);
        return;
      }
      switch (frame.type) {
        case 'send':
          return await this.#send(frame, bytes);
        case 'ack':
          return this.#ack(frame);
        case 'key-packages-add':
          return await this.#addKeyPackages(frame);
        case 'key-packages-count':
          return this.#sendFrame({
            type: 'key-package-stock',
            requestId: frame.requestId,
            ...(await this.#ctx.store.countKeyPackages(this.device)),
          });
        case 'key-packages-claim':
          return await this.#claimKeyPackages(frame.requestId, frame.username, frame.deviceIds);
        case 'commit':
          return await this.#commit(frame, bytes);
        case 'auth':
          throw new ValidationError('UNEXPECTED_FRAME', 'already authenticated');
      }
    } catch (err) {
      if ('requestId' in frame) return this.#sendFailed(err, frame.requestId);
      const typed = err instanceof SealpostError ? err : new SealpostError('INTERNAL', 'internal error');
      if (!(err instanceof SealpostError)) this.#ctx.log.error({ err }, 'session frame failed');
      this.#ctx.metrics.errors.inc({ code: typed.code });
      this.#fail(typed, 0);
    }
  }

  async #authenticate(name: string, deviceId: Uint8Array, signature: Uint8Array): Promise<void> {
    let username: Username;
    try {
      username = parseUsername(name);
    } catch {
      throw new AuthError('AUTH_SIGNATURE_INVALID', 'unknown device or bad signature');
    }
    const device = await this.#ctx.store.getDevice(username, deviceId);
    const statement = wsAuthStatement(this.#challenge, this.#audience, username, deviceId);
    // One answer for unknown device and bad signature: the endpoint is no device-existence oracle.
    if (device === undefined || !this.#ctx.crypto.ed25519.verify(device.publicKey, statement, signature)) {
      throw new AuthError('AUTH_SIGNATURE_INVALID', 'unknown device or bad signature');
    }
    if (this.#state !== 'awaiting-auth') return;
    clearTimeout(this.#authTimer);
    // Before the session is ready and registered: nothing is pushed while this waits, so no
    // delivery can precede the `ready` frame (the pump below reads whatever arrived meanwhile).
    await this.#ctx.store.touchDevice(device.pk, dayOf(this.#ctx.now()));
    if (this.#state !== 'awaiting-auth') return; // closed while waiting
    this.#device = device.pk;
    this.#state = 'ready';
    this.#hub.register(this);
    this.#ctx.metrics.wsConnections.inc();
    this.#sendFrame({
      type: 'ready',
      inFlightMax: LIMITS.inFlightPerDevice,
      messageMaxBytes: LIMITS.messageMaxBytes,
    });
    this.#pollTimer = setInterval(() => this.wake(), LIMITS.mailboxPollMs);
    this.#pollTimer.unref?.();
    void this.#pump();
  }

  /** `bytes`: the frame as received; the idempotency digest covers all of it after the request id. */
  async #send(f: SendFrame, bytes: Uint8Array): Promise<void> {
    const wait = this.#ctx.deviceLimiter.take(this.device);
    if (wait > 0) throw new RateLimitedError('device is sending too fast', wait);
    if (f.recipients.length === 0) throw new ValidationError('VALIDATION_FAILED', 'a send needs recipients');
    const ttlSecs = ttlOf(f.ttlSecs);
    const recipients = await this.#recipients(f.recipients);
    // SHA-256 of the frame after type and request id: message id, ttl, recipients and payload as
    // sent. A resend is the same frame (the client keeps it), so it has the same digest.
    const digest = this.#ctx.crypto.sha256(bytes.subarray(SEND_DIGEST_OFFSET));
    const stopTimer = this.#ctx.metrics.storeSeconds.startTimer();
    const stored = this.#ctx.store
      .enqueue({
        sender: this.device,
        messageId: f.messageId,
        digest,
        recipients,
        payload: f.payload,
        expiresAtSecs: Math.ceil(this.#ctx.now() / 1000) + ttlSecs,
      })
      .then(
        ({ duplicate, seqs }) => {
          stopTimer();
          this.#stored(f, recipients, duplicate, seqs);
        },
        (err: unknown) => {
          // A cached recipient may have been removed since: forget them all, the client retries.
          if (err instanceof SealpostError && err.code === 'DEVICE_NOT_FOUND') {
            this.#ctx.recipients.evict(new Set(recipients));
          }
          throw err;
        },
      );
    if (!this.#ctx.store.writesInOrder) return stored;
    // In-order store: issue the next frame's write without waiting for this commit, so one
    // connection's sends share group commits; the store keeps them in order.
    const tracked = stored.catch((err: unknown) => this.#sendFailed(err, f.requestId));
    this.#storing.add(tracked);
    void tracked.finally(() => this.#storing.delete(tracked));
    if (this.#storing.size >= SENDS_PIPELINED_MAX) await Promise.race(this.#storing);
  }

  /**
   * MLS delivery service (docs/protocol.md "MLS delivery"): an accepted commit is stored for its
   * recipients, and its Welcome (if it carries one) for the joiners, in the same transaction that
   * moves the group's epoch, then both are offered like sends. A commit that loses its epoch stores
   * neither. Sends this connection issued before are committed first, so a device's frames keep
   * their order.
   */
  async #commit(f: CommitFrame, bytes: Uint8Array): Promise<void> {
    const wait = this.#ctx.deviceLimiter.take(this.device);
    if (wait > 0) throw new RateLimitedError('device is sending too fast', wait);
    if (f.groupId.length === 0) throw new ValidationError('VALIDATION_FAILED', 'a group id is not empty');
    if (f.welcome?.recipients.length === 0) {
      throw new ValidationError('VALIDATION_FAILED', 'a Welcome needs recipients');
    }
    const ttlSecs = ttlOf(f.ttlSecs);
    const recipients = await this.#recipients(f.recipients);
    const joiners = f.welcome === undefined ? [] : await this.#recipients(f.welcome.recipients, 'joiner');
    const welcome = f.welcome && {
      messageId: f.welcome.messageId,
      recipients: joiners,
      payload: f.welcome.payload,
    };
    await Promise.allSettled([...this.#storing]);
    const stopTimer = this.#ctx.metrics.storeSeconds.startTimer();
    const result = await this.#ctx.store
      .commit({
        sender: this.device,
        messageId: f.messageId,
        digest: this.#ctx.crypto.sha256(bytes.subarray(SEND_DIGEST_OFFSET)),
        recipients,
        payload: f.payload,
        expiresAtSecs: Math.ceil(this.#ctx.now() / 1000) + ttlSecs,
        groupId: f.groupId,
        epoch: f.epoch,
        welcome,
      })
      .catch((err: unknown) => {
        // A cached recipient may have been removed since: forget them all, the client retries.
        if (err instanceof SealpostError && err.code === 'DEVICE_NOT_FOUND') {
          this.#ctx.recipients.evict(new Set([...recipients, ...joiners]));
        }
        throw err;
      });
    stopTimer();
    if (!result.duplicate) {
      this.#ctx.metrics.messagesStored.inc(recipients.length + result.welcomeSeqs.length);
      recipients.forEach((pk, i) =>
        this.#hub.mailStored(pk, { seq: result.seqs[i]!, messageId: f.messageId, payload: f.payload }),
      );
      if (welcome !== undefined) {
        joiners.forEach((pk, i) =>
          this.#hub.mailStored(pk, {
            seq: result.welcomeSeqs[i]!,
            messageId: welcome.messageId,
            payload: welcome.payload,
          }),
        );
      }
    }
    this.#sendFrame({
      type: 'committed',
      requestId: f.requestId,
      epoch: result.epoch,
      duplicate: result.duplicate,
    });
  }

  async #addKeyPackages(f: KeyPackagesAddFrame): Promise<void> {
    const wait = this.#ctx.deviceLimiter.take(this.device);
    if (wait > 0) throw new RateLimitedError('device is sending too fast', wait);
    if (f.keyPackages.some((kp) => kp.length === 0)) {
      throw new ValidationError('VALIDATION_FAILED', 'a KeyPackage is not empty');
    }
    const lastResort = f.lastResort.length === 0 ? undefined : f.lastResort;
    const stock = await this.#ctx.store.addKeyPackages(this.device, f.keyPackages, lastResort);
    this.#sendFrame({ type: 'key-package-stock', requestId: f.requestId, ...stock });
  }

  /**
   * Each claim uses up one-time KeyPackages of someone else's devices, so it costs a token of the
   * claiming device's rate limit like a send. `deviceIds`: only those devices of the user (0x09).
   */
  async #claimKeyPackages(
    requestId: number,
    name: string,
    deviceIds: readonly Uint8Array[] | undefined,
  ): Promise<void> {
    const wait = this.#ctx.deviceLimiter.take(this.device);
    if (wait > 0) throw new RateLimitedError('device is sending too fast', wait);
    const username = parseUsername(name);
    const keyPackages = await this.#ctx.store.claimKeyPackages(username, deviceIds);
    this.#sendFrame({ type: 'key-packages', requestId, keyPackages });
  }

  /** Parses and resolves recipient addresses: each a device, none twice. `role` names them in errors. */
  async #recipients(
    list: readonly DeviceAddress[],
    role: 'recipient' | 'joiner' = 'recipient',
  ): Promise<DevicePk[]> {
    const seen = new Set<string>();
    const addresses = list.map((r, i) => {
      let username: Username;
      try {
        username = parseUsername(r.username);
      } catch {
        throw new NotFoundError('DEVICE_NOT_FOUND', `${role} ${i} is not a device`, { [role]: i });
      }
      const k = `${username}/${toHex(r.deviceId)}`;
      if (seen.has(k)) throw new ValidationError('VALIDATION_FAILED', `${role} ${i} is listed twice`);
      seen.add(k);
      return { username, deviceId: r.deviceId };
    });
    return addresses.length === 0 ? [] : this.#resolve(addresses, role);
  }

  /** Device pks of `addresses`, from the cache where possible, else from the store. */
  async #resolve(
    addresses: readonly { username: Username; deviceId: Uint8Array }[],
    role: 'recipient' | 'joiner',
  ): Promise<DevicePk[]> {
    const keys = addresses.map((a) => RecipientCache.key(a.username, a.deviceId));
    const out: (DevicePk | undefined)[] = keys.map((k) => this.#ctx.recipients.get(k));
    const missing = out.flatMap((pk, i) => (pk === undefined ? [i] : []));
    if (missing.length > 0) {
      const found = await this.#ctx.store.resolveDevices(missing.map((i) => addresses[i]!));
      found.forEach((pk, j) => {
        const i = missing[j]!;
        if (pk === undefined) {
          throw new NotFoundError('DEVICE_NOT_FOUND', `${role} ${i} is not a device`, { [role]: i });
        }
        out[i] = pk;
        this.#ctx.recipients.set(keys[i]!, pk);
      });
    }
    return out as DevicePk[];
  }

  #stored(f: SendFrame, recipients: readonly DevicePk[], duplicate: boolean, seqs: readonly number[]): void {
    if (duplicate) {
      this.#ctx.metrics.sendsDuplicate.inc();
    } else {
      this.#ctx.metrics.messagesStored.inc(recipients.length);
      recipients.forEach((pk, i) =>
        this.#hub.mailStored(pk, { seq: seqs[i]!, messageId: f.messageId, payload: f.payload }),
      );
    }
    this.#sendFrame({ type: 'sent', requestId: f.requestId, duplicate });
  }

  /**
   * Acks need no order relative to other frames, so the next frame does not wait for this one's
   * commit (an ack lost with a dropped connection only means a redelivery, which devices drop).
   */
  #ack(f: AckFrame): void {
    if (f.seqs.length === 0) return;
    for (const s of f.seqs) this.#inFlight.delete(s);
    const device = this.device;
    const done = this.#ctx.store.ack(device, f.seqs).then(
      (n) => {
        this.#ctx.metrics.messagesAcked.inc(n);
        // Room opened: read only if something is waiting that was not pushed yet.
        if (this.#behind || this.#tail > this.#cursor) void this.#pump();
      },
      (err: unknown) => {
        this.#ctx.log.warn({ code: err instanceof SealpostError ? err.code : 'INTERNAL' }, 'ack failed');
      },
    );
    this.#storing.add(done);
    void done.finally(() => this.#storing.delete(done));
  }

  /** Pushes unacknowledged mail in sequence order up to the in-flight bound. Never runs twice at once. */
  async #pump(): Promise<void> {
    if (this.#pumping) {
      this.#pumpAgain = true;
      return;
    }
    this.#pumping = true;
    try {
      do {
        this.#pumpAgain = false;
        const room = LIMITS.inFlightPerDevice - this.#inFlight.size;
        if (this.#state !== 'ready') break;
        if (room <= 0) {
          this.#behind = true; // something may wait for room; the next ack reads
          break;
        }
        const entries = await this.#ctx.store.fetchMail(
          this.device,
          this.#cursor,
          room,
          Math.floor(this.#ctx.now() / 1000),
        );
        for (const e of entries) {
          if (this.#state !== 'ready') break;
          if (e.seq <= this.#cursor) continue; // offered directly while the read was running
          this.#push(e);
        }
        this.#ctx.metrics.messagesPushed.inc(entries.length);
        // A full page may have more behind it; a short page means the store had nothing more.
        this.#behind = entries.length === room;
        if (this.#behind) this.#pumpAgain = true;
        else if (!this.#caughtUpSent && this.#state === 'ready') {
          this.#caughtUpSent = true;
          this.#sendFrame({ type: 'caught-up', seq: this.#cursor });
        }
      } while (this.#pumpAgain);
    } catch (err) {
      // The store is down or the device was removed: the next wake or poll tries again.
      this.#ctx.log.warn(
        { code: err instanceof SealpostError ? err.code : 'INTERNAL' },
        'mailbox pump failed',
      );
    } finally {
      this.#pumping = false;
    }
  }

  #sendFrame(frame: ServerFrame): void {
    if (this.#ws.readyState !== this.#ws.OPEN) return;
    this.#ws.send(encodeServerFrame(frame), { binary: true });
  }

  #sendError(e: SealpostError, requestId: number): void {
    this.#sendFrame({
      type: 'error',
      requestId,
      code: e.code,
      message: e.message,
      retryAfterSecs: e instanceof RateLimitedError ? e.retryAfterSecs : 0,
    });
  }

  #fail(e: SealpostError, requestId: number): void {
    if (this.#state === 'closed') return;
    this.#sendError(e, requestId);
    this.close(e.closeCode, e.code);
  }

  #onClosed(): void {
    this.#state = 'closed';
    clearTimeout(this.#authTimer);
    clearInterval(this.#pollTimer);
    if (this.#device !== undefined && !this.#unregistered) {
      this.#unregistered = true;
      this.#hub.unregister(this);
      this.#ctx.metrics.wsConnections.dec();
    }
  }
  #unregistered = false;
}

/** A frame's time to live: 0 asks for the default; more than the maximum is refused. */
function ttlOf(ttlSecs: number): number {
  const ttl = ttlSecs === 0 ? LIMITS.messageTtlDefaultSecs : ttlSecs;
  if (ttl > LIMITS.messageTtlMaxSecs) {
    throw new ValidationError('VALIDATION_FAILED', `ttl over ${LIMITS.messageTtlMaxSecs} seconds`);
  }
  return ttl;
}
