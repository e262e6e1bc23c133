/**
 * The bus between several server instances, on core NATS (DESIGN.md "Delivery", "Storage and scale").
 *
 * Core NATS, not JetStream: a hint may be lost (while disconnected, or by a slow consumer) and that
 * is by design, since every connection re-reads its mailbox every LIMITS.mailboxPollMs and the bus
 * asks for a full re-read (`onResync`) after every reconnect. Subjects, one per event type:
 *
 *   <prefix>.mail        encodeHint({type: 'mail', ...})        (codec.ts: the fields, nothing else)
 *   <prefix>.connected   encodeHint({type: 'connected', ...})
 *
 * An instance hears its own events locally, not through NATS (`noEcho`), so they reach its
 * subscribers even while NATS is down. publish() never waits for the network: while disconnected it
 * drops the hint rather than let the client queue it (its outbound buffer is unbounded; it is also
 * discarded at every dial). Incoming bytes are decoded by a total decoder; a malformed hint is
 * counted and dropped.
 */
import { connect, type NatsConnection, type Msg } from '@nats-io/transport-node';
import { ConfigError, LIMITS } from '@sealpost/core';
import type { Bus, BusEvent } from './bus.ts';
import { decodeHint, encodeHint } from './codec.ts';
import { Fanout } from './fanout.ts';

/** Timings of the NATS bus. They belong in core's LIMITS table; kept here until it gains a bus section. */
export const NATS_BUS_TIMING = {
  /** Initial connect: a server must complete the handshake within this long. */
  connectTimeoutMs: 5_000,
  /** Reconnect backoff: the first retry is immediate, then base * 2^n up to max, plus jitter. */
  reconnectBaseMs: 250,
  /** A bus outage should not outlast the mailbox poll that covers for it. */
  reconnectMaxMs: LIMITS.mailboxPollMs,
  reconnectJitterMs: 100,
  /** A silently dead link (no FIN) is noticed after about pingIntervalMs * (maxPingOut + 1). */
  pingIntervalMs: 10_000,
  maxPingOut: 2,
  /** close() waits at most this long for hints already handed to the client to leave. */
  closeFlushMs: 1_000,
} as const;

const DEFAULT_SUBJECT_PREFIX = 'sealpost.hint';
const SUBJECT_PREFIX = /^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/;
const SUBJECT_PREFIX_MAX_LENGTH = 200;

/** The bus could not reach any NATS server on the first connect. Not a SealpostError: it never reaches a client. */
export class BusUnavailableError extends Error {
  /** The servers tried, with any credentials removed. */
  readonly servers: readonly string[];
  constructor(message: string, servers: readonly string[], options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'BusUnavailableError';
    this.servers = servers;
  }
}

export interface NatsBusOptions {
  /** `host:port` or `nats://host:port`, one or several (a cluster). */
  readonly servers: string | readonly string[];
  /** NATS subject prefix of the hints; instances that share hints share it. Default `sealpost.hint`. */
  readonly subjectPrefix?: string;
  /** Client name shown by the NATS server's monitoring. */
  readonly name?: string;
  /** Default NATS_BUS_TIMING.connectTimeoutMs. */
  readonly connectTimeoutMs?: number;
  /**
   * false (default): connect() rejects with BusUnavailableError when no server answers.
   * true: connect() resolves at once with a disconnected bus that keeps dialling (with backoff)
   * until close(), and calls the onResync handlers when it first connects.
   */
  readonly waitOnFirstConnect?: boolean;
  /** Receives an error thrown by a handler, or the CodecError of an event that cannot be carried. */
  readonly onError?: (error: unknown) => void;
}

export interface NatsBusCounters {
  /** Hints handed to the NATS client. */
  readonly published: number;
  /** Hints not sent because the bus was disconnected or closing (delivered locally all the same). */
  readonly droppedDisconnected: number;
  /** Events refused by the codec (out-of-range number, bad connection id); not delivered at all. */
  readonly invalid: number;
  /** Well-formed hints received from other instances. */
  readonly received: number;
  /** Messages on the hint subjects that did not decode, or whose type did not match their subject. */
  readonly malformed: number;
  readonly handlerErrors: number;
  /** Successful reconnects (each followed by a resync). */
  readonly reconnects: number;
}

type Counters = { -readonly [K in keyof NatsBusCounters]: number };

/** Delay before reconnect attempt `attempt + 1`, after `attempt` >= 1 failed ones. */
function backoffMs(attempt: number): number {
  const exp = NATS_BUS_TIMING.reconnectBaseMs * 2 ** Math.min(attempt - 1, 30);
  return (
    Math.min(NATS_BUS_TIMING.reconnectMaxMs, exp) +
    Math.floor(Math.random() * NATS_BUS_TIMING.reconnectJitterMs)
  );
}

/** `nats://user:pass@host` -> `nats://host`: error messages never carry a secret. */
function redact(server: string): string {
  return server.replace(/^([a-z][a-z0-9+.-]*:\/\/)?[^@/]*@/i, '$1');
}

export class NatsBus implements Bus {
  readonly kind = 'nats';
  readonly #servers: string[];
  readonly #prefix: string;
  readonly #name: string;
  readonly #connectTimeoutMs: number;
  readonly #events: Fanout<BusEvent>;
  readonly #resync: Fanout<void>;
  readonly #onError: (error: unknown) => void;
  readonly #counters: Counters = {
    published: 0,
    droppedDisconnected: 0,
    invalid: 0,
    received: 0,
    malformed: 0,
    handlerErrors: 0,
    reconnects: 0,
  };

  #nc: NatsConnection | undefined;
  #connected = false;
  #closed = false;
  /** Failed dial attempts since the link was last up, and the delay before the next one. */
  #attempts = 0;
  #nextDelayMs = 0;
  /** The background dial loop (waitOnFirstConnect, or after the client closed on its own). */
  #dialling: Promise<void> | undefined;
  #wake: (() => void) | undefined;
  #watching: Promise<void> | undefined;

  private constructor(options: NatsBusOptions) {
    const prefix = options.subjectPrefix ?? DEFAULT_SUBJECT_PREFIX;
    if (prefix.length > SUBJECT_PREFIX_MAX_LENGTH || !SUBJECT_PREFIX.test(prefix)) {
      throw new ConfigError('bus subject prefix must be dot-separated tokens of [A-Za-z0-9_-]', {
        length: prefix.length,
      });
    }
    const servers = typeof options.servers === 'string' ? [options.servers] : [...options.servers];
    if (servers.length === 0) throw new ConfigError('bus needs at least one NATS server');
    this.#servers = servers;
    this.#prefix = prefix;
    this.#name = options.name ?? 'sealpost-server';
    this.#connectTimeoutMs = options.connectTimeoutMs ?? NATS_BUS_TIMING.connectTimeoutMs;
    this.#onError = options.onError ?? (() => {});
    const onHandlerError = (error: unknown): void => {
      this.#counters.handlerErrors++;
      this.#report(error);
    };
    this.#events = new Fanout(onHandlerError);
    this.#resync = new Fanout(onHandlerError);
  }

  /**
   * Connects to NATS and subscribes to `<prefix>.*`; resolves once the subscription is live on the
   * server (or after connectTimeoutMs). Throws ConfigError for a bad prefix, and
   * BusUnavailableError when no server completes a handshake within connectTimeoutMs (per server)
   * unless `waitOnFirstConnect` is set.
   */
  static async connect(options: NatsBusOptions): Promise<NatsBus> {
    const bus = new NatsBus(options);
    if (options.waitOnFirstConnect === true) {
      bus.#dialInBackground();
    } else {
      await bus.#attach(await bus.#dial());
    }
    return bus;
  }

  get connected(): boolean {
    return this.#connected;
  }

  get counters(): NatsBusCounters {
    return { ...this.#counters };
  }

  publish(event: BusEvent): void {
    if (this.#closed) return;
    let bytes: Uint8Array;
    let normalized: BusEvent;
    try {
      bytes = encodeHint(event);
      normalized = decodeHint(bytes);
    } catch (error) {
      this.#counters.invalid++;
      this.#report(error);
      return;
    }
    this.#events.emit(normalized);
    const nc = this.#nc;
    if (nc === undefined || !this.#connected) {
      this.#counters.droppedDisconnected++;
      return;
    }
    try {
      nc.publish(this.#subject(normalized.type), bytes);
      this.#counters.published++;
    } catch {
      // Closed or draining underneath us: the same as disconnected.
      this.#counters.droppedDisconnected++;
    }
  }

  subscribe(handler: (event: BusEvent) => void): () => void {
    return this.#events.add(handler);
  }

  onResync(handler: () => void): () => void {
    return this.#resync.add(handler);
  }

  /** Stops dialling, flushes what was published (bounded by closeFlushMs) and closes the client. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const wasConnected = this.#connected;
    this.#connected = false;
    this.#events.clear();
    this.#resync.clear();
    this.#wake?.();
    await this.#dialling;
    const nc = this.#nc;
    if (nc !== undefined && !nc.isClosed()) {
      if (wasConnected) await settleWithin(nc.flush(), NATS_BUS_TIMING.closeFlushMs);
      await nc.close();
    }
    await this.#watching;
  }

  #subject(type: BusEvent['type']): string {
    return `${this.#prefix}.${type}`;
  }

  async #dial(): Promise<NatsConnection> {
    try {
      return await connect({
        servers: this.#servers,
        name: this.#name,
        timeout: this.#connectTimeoutMs,
        noEcho: true,
        maxReconnectAttempts: -1,
        pingInterval: NATS_BUS_TIMING.pingIntervalMs,
        maxPingOut: NATS_BUS_TIMING.maxPingOut,
        // Called synchronously before every dial: counts attempts for the backoff below.
        reconnectToServer: () => {
          this.#attempts++;
          this.#nextDelayMs = backoffMs(this.#attempts);
          return null;
        },
        // Asked (possibly several times) how long to wait after the latest attempt.
        reconnectDelayHandler: () => this.#nextDelayMs,
      });
    } catch (error) {
      const servers = this.#servers.map(redact);
      throw new BusUnavailableError(
        `no NATS server answered at ${servers.join(', ')} (connect timeout ${this.#connectTimeoutMs} ms)`,
        servers,
        { cause: error },
      );
    }
  }

  /**
   * Subscribes, then waits for a PING/PONG round trip (bounded by connectTimeoutMs) so that the
   * subscription is live on the server when connect() resolves: a hint published by another
   * instance after that reaches this one.
   */
  async #attach(nc: NatsConnection): Promise<void> {
    this.#nc = nc;
    this.#attempts = 0;
    this.#nextDelayMs = 0;
    this.#connected = true;
    nc.subscribe(`${this.#prefix}.*`, { callback: (error, msg) => this.#receive(error, msg) });
    this.#watching = this.#watch(nc);
    await settleWithin(nc.flush(), this.#connectTimeoutMs);
  }

  #receive(error: Error | null, msg: Msg): void {
    if (error !== null) {
      this.#report(error);
      return;
    }
    let event: BusEvent;
    try {
      event = decodeHint(msg.data);
    } catch {
      this.#counters.malformed++;
      return;
    }
    if (msg.subject !== this.#subject(event.type)) {
      this.#counters.malformed++;
      return;
    }
    this.#counters.received++;
    this.#events.emit(event);
  }

  /** Follows the client's status until it closes. */
  async #watch(nc: NatsConnection): Promise<void> {
    for await (const status of nc.status()) {
      switch (status.type) {
        case 'disconnect':
        case 'reconnecting':
        case 'staleConnection':
        case 'forceReconnect':
        case 'close':
          this.#connected = false;
          break;
        case 'reconnect':
          this.#attempts = 0;
          this.#nextDelayMs = 0;
          this.#connected = !this.#closed;
          this.#counters.reconnects++;
          void this.#resyncOnceSubscribed(nc);
          break;
        default:
          break;
      }
    }
    await nc.closed();
    // The client gave up on its own (it should not, with maxReconnectAttempts -1): start over.
    if (!this.#closed && this.#nc === nc) {
      this.#nc = undefined;
      this.#connected = false;
      this.#dialInBackground();
    }
  }

  /**
   * The client re-sends its SUB before reporting the reconnect; a PING/PONG round trip proves the
   * server has processed it, so a mailbox re-read started after it misses no hint. If the flush
   * fails the link dropped again, and the next reconnect resyncs.
   */
  async #resyncOnceSubscribed(nc: NatsConnection): Promise<void> {
    try {
      await nc.flush();
    } catch {
      return;
    }
    if (this.#closed || this.#nc !== nc || !this.#connected) return;
    this.#resync.emit();
  }

  #dialInBackground(): void {
    this.#dialling = (async () => {
      for (let attempt = 1; !this.#closed; attempt++) {
        try {
          const nc = await this.#dial();
          if (this.#closed) {
            await nc.close();
            return;
          }
          await this.#attach(nc);
          if (!this.#closed) this.#resync.emit();
          return;
        } catch {
          // BusUnavailableError: try again after the backoff.
        }
        await this.#sleep(backoffMs(attempt));
      }
    })();
  }

  /** A sleep that close() cuts short. */
  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        this.#wake = undefined;
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.#wake = done;
    });
  }

  #report(error: unknown): void {
    try {
      this.#onError(error);
    } catch {
      // A failing error reporter must not take the publisher or the other handlers down.
    }
  }
}

/** Waits for `promise` (ignoring its outcome) or `ms`, whichever comes first. */
async function settleWithin(promise: Promise<unknown>, ms: number): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const elapsed = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, ms);
  });
  try {
    await Promise.race([promise.then(noop, noop), elapsed]);
  } finally {
    clearTimeout(timer);
  }
}

function noop(): void {}
