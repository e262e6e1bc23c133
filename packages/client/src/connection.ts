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
 *   - reconnects with exponential backoff and jitter, except after close codes that mean "stop"
 *     (authentication failed, replaced by a newer connection, device removed).
 */
import type { SealpostError } from '@sealpost/core';
import {
  CLOSE,
  LIMITS,
  UnavailableError,
  decodeServerFrame,
  deviceIdOf,
  encodeClientFrame,
  errorFromWire,
  parseUsername,
  toHex,
  wsAuthStatement,
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

interface PendingSend {
  readonly frame: ClientFrame & { type: 'send' };
  resolve(value: { duplicate: boolean; messageId: Uint8Array }): void;
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
  readonly #pending = new Map<number, PendingSend>();
  #incoming: Promise<void> = Promise.resolve();
  #acks: number[] = [];
  #ackScheduled = false;
  #readyWaiters: Array<() => void> = [];

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

  /** Opens the connection (and keeps it open until `close()`). Resolves when first ready. */
  start(): Promise<void> {
    this.#stopped = false;
    const ready = this.ready();
    if (this.#ws === undefined && this.#retryTimer === undefined) this.#open();
    return ready;
  }

  /** Resolves the next time the connection is authenticated (at once if it is). */
  ready(): Promise<void> {
    if (this.#state === 'ready') return Promise.resolve();
    return new Promise((resolve) => this.#readyWaiters.push(resolve));
  }

  send(options: SendOptions): Promise<{ duplicate: boolean; messageId: Uint8Array }> {
    const messageId = options.messageId ?? this.#o.crypto.randomBytes(LIMITS.messageIdBytes);
    const frame = {
      type: 'send' as const,
      requestId: this.#nextRequestId++ >>> 0,
      messageId,
      ttlSecs: options.ttlSecs ?? 0,
      recipients: options.recipients,
      payload: options.payload,
    };
    // Encode now so a bad argument fails here, typed, before anything is queued.
    const bytes = encodeClientFrame(frame);
    return new Promise((resolve, reject) => {
      this.#pending.set(frame.requestId, { frame, resolve, reject });
      if (this.#state === 'ready') this.#ws?.send(bytes);
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
    if (state === 'ready') for (const w of this.#readyWaiters.splice(0)) w();
  }

  #open(): void {
    const Impl = this.#o.WebSocketImpl ?? globalThis.WebSocket;
    const ws = new Impl(this.#wsUrl);
    ws.binaryType = 'arraybuffer';
    this.#ws = ws;
    this.#setState('connecting');
    ws.onmessage = (ev: MessageEvent) => {
      if (this.#ws !== ws) return;
      if (!(ev.data instanceof ArrayBuffer)) return this.#protocolFailure(ws);
      let frame: ServerFrame;
      try {
        frame = decodeServerFrame(new Uint8Array(ev.data));
      } catch {
        return this.#protocolFailure(ws);
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

  #protocolFailure(ws: WebSocket): void {
    // A server that sends bytes we cannot decode is not trusted further on this socket.
    ws.close(CLOSE.protocolError, 'bad frame from server');
  }

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
        for (const p of this.#pending.values()) ws.send(encodeClientFrame(p.frame));
        return;
      case 'deliver':
        this.#incoming = this.#incoming.then(() => this.#deliver(f));
        return;
      case 'sent': {
        const p = this.#pending.get(f.requestId);
        if (p === undefined) return;
        this.#pending.delete(f.requestId);
        p.resolve({ duplicate: f.duplicate, messageId: p.frame.messageId });
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
    const reason = this.#lastError;
    this.#lastError = undefined;
    if (this.#stopped) return this.#setState('closed', reason);
    if (FINAL_CLOSE_CODES.has(code)) {
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
