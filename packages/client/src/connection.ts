/**
 * A device's live connection to its server (docs/protocol.md "WebSocket"), for Node and browsers
 * (WHATWG WebSocket; Node 24 has it built in).
 *
 *   - authenticates by signing the server's fresh challenge with the device key;
 *   - `send()` resolves when the server has stored the message; a send interrupted by a dropped
 *     connection is sent again with the same message id after reconnecting (idempotent), so it is
 *     stored once;
 *   - incoming messages go to `onMessage` in sequence order and are acknowledged only after the
 *     handler resolved; a message seen before (redelivery after a lost ack) is acknowledged
 *     without calling the handler again;
 *   - `caughtUp()` resolves once the server said it pushed everything the mailbox held
 *     (CAUGHT_UP, asked for with the WebSocket subprotocol WS_PROTOCOL_CAUGHT_UP) and every
 *     message delivered before that frame was handled and acknowledged;
 *   - reconnects with exponential backoff and jitter, except after close codes that mean "stop"
 *     (authentication failed, replaced by a newer connection, device removed) and after a frame
 *     it cannot decode (the CodecError is the reason it ended);
 *   - MLS delivery (docs/protocol.md "MLS delivery"): `commit()`, with the Welcome for the devices
 *     it adds in the same frame (resent after a reconnect like `send()`, idempotent by message id;
 *     a lost race rejects with ConflictError MLS_EPOCH_CONFLICT, `details.currentEpoch`, and
 *     stores no Welcome), `claimKeyPackages()` (of every device of a user, or of the named ones)
 *     and `countKeyPackages()`
 *     (resent: a lost claim answer only wastes packages the server already deleted), and
 *     `addKeyPackages()`, which is NOT resent: resending one whose first copy was stored would
 *     store the same KeyPackages twice, so an interrupted upload rejects with NOT_READY and the
 *     caller uploads fresh ones.
 */
import type { SealpostError } from '@sealpost/core';
import {
  CLOSE,
  CodecError,
  ConflictError,
  LIMITS,
  UnavailableError,
  WS_PROTOCOL_CAUGHT_UP,
  decodeServerFrame,
  deviceIdOf,
  encodeClientFrame,
  errorFromWire,
  parseUsername,
  toHex,
  wsAuthStatement,
  type ClaimedKeyPackage,
  type ClientFrame,
  type CryptoProvider,
  type DeviceAddress,
  type ServerFrame,
  type Username,
} from '@sealpost/core';

export interface IncomingMessage {
  readonly seq: number;
  readonly messageId: Uint8Array;
  readonly payload: Uint8Array;
}

export type ConnectionState = 'connecting' | 'authenticating' | 'ready' | 'backoff' | 'closed';

export interface ConnectionOptions {
  /** The server's base URL (http:// or https://); the socket goes to /v1/ws on it. */
  readonly serverUrl: string;
  readonly username: string;
  /** The device's Ed25519 seed. The connection keeps a reference; wipe it after `close()`. */
  readonly deviceSeed: Uint8Array;
  readonly crypto: CryptoProvider;
  /** Called once per new message, in order; the message is acknowledged when this resolves. */
  readonly onMessage: (message: IncomingMessage) => void | Promise<void>;
  readonly onStateChange?: (state: ConnectionState, reason?: SealpostError) => void;
  /** Message ids already processed (persist them to survive restarts); default: in memory. */
  readonly seen?: SeenIds;
  readonly WebSocketImpl?: typeof WebSocket;
  readonly reconnectBaseMs?: number;
  readonly reconnectMaxMs?: number;
  /** Uniform random in [0, 1) for backoff jitter; defaults to Math.random (not a secret). */
  readonly jitter?: () => number;
}

/** A bounded set of processed message ids (oldest forgotten first). */
export interface SeenIds {
  has(id: Uint8Array): boolean;
  add(id: Uint8Array): void;
}

export class MemorySeenIds implements SeenIds {
  readonly #max: number;
  readonly #ids = new Set<string>();
  constructor(max = 100_000) {
    this.#max = max;
  }
  has(id: Uint8Array): boolean {
    return this.#ids.has(toHex(id));
  }
  add(id: Uint8Array): void {
    const k = toHex(id);
    if (this.#ids.has(k)) return;
    this.#ids.add(k);
    if (this.#ids.size > this.#max) this.#ids.delete(this.#ids.values().next().value as string);
  }
}

export interface SendOptions {
  readonly recipients: readonly DeviceAddress[];
  readonly payload: Uint8Array;
  /** Random by default; pass the same id to retry a send across restarts. */
  readonly messageId?: Uint8Array;
  /** 0 = server default. */
  readonly ttlSecs?: number;
}

export interface CommitOptions {
  /** 1..LIMITS.mlsGroupIdMaxBytes bytes. */
  readonly groupId: Uint8Array;
  /** The group's epoch the commit is for (RFC 9420 §12.4: the epoch it was created in). */
  readonly epoch: number;
  /** May be empty (a group of one). */
  readonly recipients: readonly DeviceAddress[];
  readonly payload: Uint8Array;
  /** Random by default; pass the same id to resubmit the same commit (idempotent). */
  readonly messageId?: Uint8Array;
  readonly ttlSecs?: number;
  /**
   * The Welcome for the devices this commit adds: stored by the server in the commit's
   * transaction, so the joiners get it if and only if the commit is accepted. With the commit it
   * must fit one frame: the two payloads together at most LIMITS.handshakeMaxBytes (4 MiB, far over
   * messageMaxBytes: a large group's Welcome carries its whole ratchet tree), else `commit()`
   * rejects with CODEC_LENGTH_LIMIT.
   */
  readonly welcome?: {
    /** At least one; with `recipients`, at most LIMITS.recipientsPerSend. */
    readonly recipients: readonly DeviceAddress[];
    readonly payload: Uint8Array;
    /** Random by default; must differ from the commit's. */
    readonly messageId?: Uint8Array;
  };
}

export interface CommitResult {
  /** The group's epoch after this commit. */
  readonly epoch: number;
  /** True when this commit had already been accepted (a resend). */
  readonly duplicate: boolean;
  readonly messageId: Uint8Array;
}

/** What the server holds of this device's KeyPackages. */
export interface KeyPackageStock {
  readonly oneTime: number;
  readonly hasLastResort: boolean;
}

type RequestFrame = Extract<ClientFrame, { requestId: number }>;

/** A request awaiting its answer (any server frame carrying its request id). */
interface PendingRequest {
  readonly frame: RequestFrame;
  /** Sent again after a reconnect (false only for non-idempotent requests). */
  readonly resend: boolean;
  /** Written to a socket: a non-idempotent request is then rejected if that socket drops. */
  sent: boolean;
  answer(frame: ServerFrame): void;
  reject(err: SealpostError): void;
}

/** Close codes after which reconnecting would not help. */
const FINAL_CLOSE_CODES: ReadonlySet<number> = new Set([
  CLOSE.policyViolation,
  CLOSE.protocolError,
  CLOSE.replaced,
  CLOSE.deviceRemoved,
  CLOSE.tooBig,
]);

const ACK_BATCH_MAX = 64;

export class Connection {
  readonly #o: ConnectionOptions;
  readonly #username: Username;
  readonly #deviceId: Uint8Array;
  readonly #wsUrl: string;
  readonly #audience: string;
  readonly #seen: SeenIds;
  #ws: WebSocket | undefined;
  #state: ConnectionState = 'closed';
  #stopped = true;
  #attempt = 0;
  #retryTimer: ReturnType<typeof setTimeout> | undefined;
  #nextRequestId = 1;
  readonly #pending = new Map<number, PendingRequest>();
  #incoming: Promise<void> = Promise.resolve();
  #acks: number[] = [];
  #ackScheduled = false;
  #readyWaiters: Array<{ resolve: () => void; reject: (e: SealpostError) => void }> = [];
  /** This socket's CAUGHT_UP arrived and everything delivered before it was handled. */
  #caughtUp = false;
  #caughtUpWaiters: Array<{ resolve: () => void; reject: (e: SealpostError) => void }> = [];

  constructor(options: ConnectionOptions) {
    this.#o = options;
    this.#username = parseUsername(options.username);
    this.#deviceId = deviceIdOf(options.crypto, options.crypto.ed25519.publicKey(options.deviceSeed));
    const base = new URL(options.serverUrl);
    this.#audience = base.host;
    base.protocol = base.protocol === 'https:' ? 'wss:' : 'ws:';
    base.pathname = '/v1/ws';
    this.#wsUrl = base.toString();
    this.#seen = options.seen ?? new MemorySeenIds();
  }

  get state(): ConnectionState {
    return this.#state;
  }
  get deviceId(): Uint8Array {
    return this.#deviceId.slice();
  }

  /**
   * Opens the connection (and keeps it open until `close()`). Resolves when first ready; rejects
   * if the connection ends for good first (a final close code, e.g. an unknown device, or `close()`).
   */
  start(): Promise<void> {
    this.#stopped = false;
    this.#badFrame = false;
    const ready = this.ready();
    if (this.#ws === undefined && this.#retryTimer === undefined) this.#open();
    return ready;
  }

  /**
   * Resolves the next time the connection is authenticated (at once if it is); rejects when it
   * ends for good before that, with the reason it ended.
   */
  ready(): Promise<void> {
    if (this.#state === 'ready') return Promise.resolve();
    return new Promise((resolve, reject) => this.#readyWaiters.push({ resolve, reject }));
  }

  /**
   * Resolves once the server has pushed everything this device's mailbox held (CAUGHT_UP, sent
   * once per connection) and every message delivered before it has been handled by `onMessage`
   * and acknowledged; at once if that happened on the current connection. A connection that
   * drops first leaves it waiting for the next one's. Rejects when the connection ends for good,
   * and with UnavailableError NOT_READY when the server did not take the subprotocol
   * WS_PROTOCOL_CAUGHT_UP (it will never send CAUGHT_UP: an older server or a proxy in between).
   * A message stored later may still arrive afterwards: this says "drained", not "nothing more".
   */
  caughtUp(): Promise<void> {
    if (this.#caughtUp) return Promise.resolve();
    return new Promise((resolve, reject) => {
      this.#caughtUpWaiters.push({ resolve, reject });
      this.#checkCaughtUpOffered();
    });
  }

  /** Rejects the `caughtUp()` waiters when the live socket's server did not select the subprotocol. */
  #checkCaughtUpOffered(): void {
    const ws = this.#ws;
    if (ws === undefined || ws.readyState !== 1 || ws.protocol === WS_PROTOCOL_CAUGHT_UP) return;
    const err = new UnavailableError('NOT_READY', 'the server does not announce when the mailbox is drained');
    for (const w of this.#caughtUpWaiters.splice(0)) w.reject(err);
  }

  send(options: SendOptions): Promise<{ duplicate: boolean; messageId: Uint8Array }> {
    const messageId = options.messageId ?? this.#o.crypto.randomBytes(LIMITS.messageIdBytes);
    return this.#request(
      {
        type: 'send',
        requestId: this.#newRequestId(),
        messageId,
        ttlSecs: options.ttlSecs ?? 0,
        recipients: options.recipients,
        payload: options.payload,
      },
      true,
      (f) => (f.type === 'sent' ? { duplicate: f.duplicate, messageId } : undefined),
    );
  }

  /**
   * Orders an MLS commit into its group (docs/protocol.md "MLS delivery" 10). Resolves when the
   * server stored it for the recipients and moved the group on; rejects with ConflictError
   * MLS_EPOCH_CONFLICT (`details.currentEpoch`) when another commit took `epoch` first.
   */
  commit(options: CommitOptions): Promise<CommitResult> {
    const messageId = options.messageId ?? this.#o.crypto.randomBytes(LIMITS.messageIdBytes);
    const w = options.welcome;
    const welcome = w && {
      messageId: w.messageId ?? this.#o.crypto.randomBytes(LIMITS.messageIdBytes),
      recipients: w.recipients,
      payload: w.payload,
    };
    return this.#request(
      {
        type: 'commit',
        requestId: this.#newRequestId(),
        messageId,
        ttlSecs: options.ttlSecs ?? 0,
        groupId: options.groupId,
        epoch: options.epoch,
        recipients: options.recipients,
        payload: options.payload,
        ...(welcome && { welcome }),
      },
      true,
      (f) => {
        if (f.type === 'committed') return { epoch: f.epoch, duplicate: f.duplicate, messageId };
        if (f.type === 'epoch-conflict') {
          throw new ConflictError('MLS_EPOCH_CONFLICT', 'another commit took this epoch', {
            epoch: options.epoch,
            currentEpoch: f.currentEpoch,
          });
        }
        return undefined;
      },
    );
  }

  /**
   * Uploads one-time KeyPackages (at most LIMITS.keyPackagesPerUpload) and, if given, replaces the
   * last-resort one. Not resent after a reconnect (see the module comment): NOT_READY then.
   */
  addKeyPackages(keyPackages: readonly Uint8Array[], lastResort?: Uint8Array): Promise<KeyPackageStock> {
    return this.#request(
      {
        type: 'key-packages-add',
        requestId: this.#newRequestId(),
        keyPackages,
        lastResort: lastResort ?? new Uint8Array(0),
      },
      false,
      stockOf,
    );
  }

  /** How many one-time KeyPackages the server still holds for this device. */
  countKeyPackages(): Promise<KeyPackageStock> {
    return this.#request({ type: 'key-packages-count', requestId: this.#newRequestId() }, true, stockOf);
  }

  /**
   * One KeyPackage per device of `username` that has any (empty for an unknown user), or, with
   * `deviceIds` (1..LIMITS.devicesPerAccount, distinct), only of those devices: adding one new
   * device then uses up none of the user's others. The server is not trusted for them: check each
   * against the directory (conversations/key-packages.ts).
   */
  claimKeyPackages(
    username: string,
    deviceIds?: readonly Uint8Array[],
  ): Promise<readonly ClaimedKeyPackage[]> {
    return this.#request(
      {
        type: 'key-packages-claim',
        requestId: this.#newRequestId(),
        username: parseUsername(username),
        ...(deviceIds && { deviceIds }),
      },
      true,
      (f) => (f.type === 'key-packages' ? f.keyPackages : undefined),
    );
  }

  #newRequestId(): number {
    // 0 is the "about the connection" request id of ERROR frames: never use it.
    const id = this.#nextRequestId;
    this.#nextRequestId = this.#nextRequestId >= 0xffff_ffff ? 1 : this.#nextRequestId + 1;
    return id;
  }

  /**
   * Sends `frame` now if ready (else on the next READY) and settles with `parse` of its answer:
   * `parse` returns the value, throws a typed error, or returns undefined for a frame type that
   * does not answer this request (a protocol failure).
   */
  #request<T>(frame: RequestFrame, resend: boolean, parse: (f: ServerFrame) => T | undefined): Promise<T> {
    // Encode now so a bad argument fails here, typed, before anything is queued.
    const bytes = encodeClientFrame(frame);
    return new Promise<T>((resolve, reject) => {
      const ready = this.#state === 'ready' && this.#ws !== undefined;
      this.#pending.set(frame.requestId, {
        frame,
        resend,
        sent: ready,
        answer: (f) => {
          let value: T | undefined;
          try {
            value = parse(f);
          } catch (e) {
            return reject(e as SealpostError);
          }
          if (value === undefined) {
            return reject(new UnavailableError('NOT_READY', `server answered ${frame.type} with ${f.type}`));
          }
          resolve(value);
        },
        reject,
      });
      if (ready) this.#ws?.send(bytes);
    });
  }

  /** Closes for good; pending sends are rejected with SHUTTING_DOWN. */
  async close(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#retryTimer);
    this.#retryTimer = undefined;
    this.#flushAcks();
    await this.#incoming;
    this.#flushAcks();
    const ws = this.#ws;
    this.#ws = undefined;
    if (ws !== undefined && ws.readyState <= 1) ws.close(CLOSE.normal, 'client closing');
    for (const p of this.#pending.values())
      p.reject(new UnavailableError('SHUTTING_DOWN', 'connection closed'));
    this.#pending.clear();
    this.#setState('closed');
  }

  #setState(state: ConnectionState, reason?: SealpostError): void {
    this.#state = state;
    this.#o.onStateChange?.(state, reason);
    if (state === 'ready') for (const w of this.#readyWaiters.splice(0)) w.resolve();
    if (state === 'closed' && this.#stopped) {
      const err = reason ?? new UnavailableError('SHUTTING_DOWN', 'connection closed');
      for (const w of this.#readyWaiters.splice(0)) w.reject(err);
      for (const w of this.#caughtUpWaiters.splice(0)) w.reject(err);
    }
  }

  #open(): void {
    const Impl = this.#o.WebSocketImpl ?? globalThis.WebSocket;
    // Offered, not required: a server that does not select it just never sends CAUGHT_UP.
    const ws = new Impl(this.#wsUrl, [WS_PROTOCOL_CAUGHT_UP]);
    ws.binaryType = 'arraybuffer';
    this.#ws = ws;
    this.#caughtUp = false;
    ws.onopen = () => {
      if (this.#ws === ws) this.#checkCaughtUpOffered();
    };
    this.#setState('connecting');
    ws.onmessage = (ev: MessageEvent) => {
      if (this.#ws !== ws || this.#badFrame) return;
      if (!(ev.data instanceof ArrayBuffer)) {
        return this.#protocolFailure(ws, new CodecError('CODEC_INVALID_VALUE', 'text frame from server'));
      }
      let frame: ServerFrame;
      try {
        frame = decodeServerFrame(new Uint8Array(ev.data));
      } catch (e) {
        const err =
          e instanceof CodecError ? e : new CodecError('CODEC_INVALID_VALUE', 'bad frame from server');
        return this.#protocolFailure(ws, err);
      }
      this.#onFrame(ws, frame);
    };
    ws.onclose = (ev: CloseEvent) => {
      if (this.#ws !== ws) return;
      this.#ws = undefined;
      this.#onDisconnected(ev.code);
    };
    ws.onerror = () => {
      /* followed by onclose */
    };
  }

  /**
   * A server that sends bytes we cannot decode (an unknown frame type: a newer server sending
   * what this client did not ask for) is not trusted further: the connection ends for good, with
   * the CodecError as its reason. WHATWG `close()` takes only 1000 or 3000-4999 (1002 throws
   * InvalidAccessError, which crashed Node), so the socket closes with 1000 and the reason is kept.
   */
  #protocolFailure(ws: WebSocket, err: CodecError): void {
    this.#lastError = err;
    this.#badFrame = true;
    ws.close(CLOSE.normal, 'bad frame from server');
  }
  #badFrame = false;

  #onFrame(ws: WebSocket, f: ServerFrame): void {
    switch (f.type) {
      case 'challenge': {
        this.#setState('authenticating');
        const statement = wsAuthStatement(f.challenge, this.#audience, this.#username, this.#deviceId);
        const signature = this.#o.crypto.ed25519.sign(this.#o.deviceSeed, statement);
        ws.send(
          encodeClientFrame({ type: 'auth', username: this.#username, deviceId: this.#deviceId, signature }),
        );
        return;
      }
      case 'ready':
        this.#attempt = 0;
        this.#setState('ready');
        // Everything not yet answered goes again: same message ids, so stored at most once.
        // A request that is not idempotent was rejected when the connection dropped.
        for (const p of this.#pending.values()) {
          p.sent = true;
          ws.send(encodeClientFrame(p.frame));
        }
        return;
      case 'deliver':
        this.#incoming = this.#incoming.then(() => this.#deliver(f));
        return;
      case 'caught-up':
        // Behind every DELIVER before it: resolves once those were handled and acknowledged.
        this.#incoming = this.#incoming.then(() => {
          if (this.#ws !== ws) return; // dropped meanwhile: the next connection says it again
          this.#flushAcks();
          this.#caughtUp = true;
          for (const w of this.#caughtUpWaiters.splice(0)) w.resolve();
        });
        return;
      case 'sent':
      case 'key-package-stock':
      case 'key-packages':
      case 'committed':
      case 'epoch-conflict': {
        const p = this.#pending.get(f.requestId);
        if (p === undefined) return;
        this.#pending.delete(f.requestId);
        p.answer(f);
        return;
      }
      case 'error': {
        const err = errorFromWire({
          code: f.code,
          message: f.message,
          details: { retryAfterSecs: f.retryAfterSecs },
        });
        const p = f.requestId === 0 ? undefined : this.#pending.get(f.requestId);
        if (p !== undefined) {
          this.#pending.delete(f.requestId);
          p.reject(err);
        } else {
          this.#lastError = err;
        }
        return;
      }
    }
  }
  #lastError: SealpostError | undefined;

  async #deliver(f: { seq: number; messageId: Uint8Array; payload: Uint8Array }): Promise<void> {
    if (!this.#seen.has(f.messageId)) {
      try {
        await this.#o.onMessage({ seq: f.seq, messageId: f.messageId, payload: f.payload });
      } catch {
        // The handler failed: do not acknowledge; the server delivers it again on the next connection.
        return;
      }
      this.#seen.add(f.messageId);
    }
    this.#acks.push(f.seq);
    if (this.#acks.length >= ACK_BATCH_MAX) this.#flushAcks();
    else if (!this.#ackScheduled) {
      this.#ackScheduled = true;
      queueMicrotask(() => this.#flushAcks());
    }
  }

  #flushAcks(): void {
    this.#ackScheduled = false;
    if (this.#acks.length === 0 || this.#ws === undefined || this.#state !== 'ready') return;
    const seqs = this.#acks.splice(0, LIMITS.acksPerFrame);
    this.#ws.send(encodeClientFrame({ type: 'ack', seqs }));
    if (this.#acks.length > 0) this.#flushAcks();
  }

  #onDisconnected(code: number): void {
    // Acks not sent are simply lost: the server redelivers and `seen` drops the duplicates.
    this.#acks = [];
    this.#caughtUp = false;
    for (const [id, p] of this.#pending) {
      if (p.resend || !p.sent) continue;
      this.#pending.delete(id);
      p.reject(new UnavailableError('NOT_READY', `connection lost before ${p.frame.type} was answered`));
    }
    const reason = this.#lastError;
    this.#lastError = undefined;
    if (this.#stopped) return this.#setState('closed', reason);
    if (FINAL_CLOSE_CODES.has(code) || this.#badFrame) {
      this.#stopped = true;
      const err = reason ?? new UnavailableError('REPLACED', `connection closed with code ${code}`);
      for (const p of this.#pending.values()) p.reject(err);
      this.#pending.clear();
      return this.#setState('closed', err);
    }
    const base = this.#o.reconnectBaseMs ?? LIMITS.reconnectBaseMs;
    const max = this.#o.reconnectMaxMs ?? LIMITS.reconnectMaxMs;
    const ceiling = Math.min(max, base * 2 ** Math.min(this.#attempt, 16));
    // "Full jitter": spreads a herd of clients reconnecting after a restart.
    const delay = Math.floor(ceiling / 2 + (this.#o.jitter ?? Math.random)() * (ceiling / 2));
    this.#attempt++;
    this.#setState('backoff', reason);
    this.#retryTimer = setTimeout(() => {
      this.#retryTimer = undefined;
      if (!this.#stopped) this.#open();
    }, delay);
  }
}

function stockOf(f: ServerFrame): KeyPackageStock | undefined {
  return f.type === 'key-package-stock' ? { oneTime: f.oneTime, hasLastResort: f.hasLastResort } : undefined;
}
