/**
 * The in-process bus: one server instance, the default (DESIGN.md "Delivery").
 *
 * Nothing is lost between publisher and subscribers, so it never asks for a resync; `onResync`
 * handlers are accepted (the server registers them on every bus) and never called. Events go
 * through the hint codec like on NATS, so a subscriber sees exactly what it would see from another
 * instance, and an event NATS could not carry is refused here too.
 */
import type { Bus, BusEvent } from './bus.ts';
import { normalizeEvent } from './codec.ts';
import { Fanout } from './fanout.ts';

export interface MemoryBusOptions {
  /** Receives an error thrown by a handler, or the CodecError of an event that cannot be carried. */
  readonly onError?: (error: unknown) => void;
}

export interface MemoryBusCounters {
  readonly published: number;
  /** Events refused by the codec (out-of-range number, bad connection id). */
  readonly invalid: number;
  readonly handlerErrors: number;
}

export class MemoryBus implements Bus {
  readonly kind = 'memory';
  readonly #events: Fanout<BusEvent>;
  readonly #resync: Fanout<void>;
  readonly #onError: (error: unknown) => void;
  #closed = false;
  #published = 0;
  #invalid = 0;
  #handlerErrors = 0;

  constructor(options: MemoryBusOptions = {}) {
    this.#onError = options.onError ?? (() => {});
    const onHandlerError = (error: unknown): void => {
      this.#handlerErrors++;
      this.#report(error);
    };
    this.#events = new Fanout(onHandlerError);
    this.#resync = new Fanout(onHandlerError);
  }

  get connected(): boolean {
    return !this.#closed;
  }

  get counters(): MemoryBusCounters {
    return { published: this.#published, invalid: this.#invalid, handlerErrors: this.#handlerErrors };
  }

  publish(event: BusEvent): void {
    if (this.#closed) return;
    let normalized: BusEvent;
    try {
      normalized = normalizeEvent(event);
    } catch (error) {
      this.#invalid++;
      this.#report(error);
      return;
    }
    this.#published++;
    this.#events.emit(normalized);
  }

  subscribe(handler: (event: BusEvent) => void): () => void {
    return this.#events.add(handler);
  }

  onResync(handler: () => void): () => void {
    return this.#resync.add(handler);
  }

  /** Drops every handler; later publishes are ignored. Events already emitted are not delivered. */
  async close(): Promise<void> {
    this.#closed = true;
    this.#events.clear();
    this.#resync.clear();
  }

  #report(error: unknown): void {
    try {
      this.#onError(error);
    } catch {
      // A failing error reporter must not take the publisher or the other handlers down.
    }
  }
}
