/**
 * In-process fan-out of one value to a set of handlers, shared by both buses.
 *
 * Delivery happens in a microtask, never inside `emit`, so a publisher is never re-entered by its
 * own subscribers (a handler that publishes cannot recurse into itself). A handler gets a value if
 * it was subscribed when the value was emitted and is still subscribed at delivery. A throwing
 * handler does not stop the others: its error goes to `onError`.
 */
export class Fanout<T> {
  readonly #subscribers = new Set<{ readonly handler: (value: T) => void }>();
  readonly #onError: (error: unknown) => void;

  constructor(onError: (error: unknown) => void) {
    this.#onError = onError;
  }

  /** Returns an idempotent unsubscribe. Subscribing one function twice delivers to it twice. */
  add(handler: (value: T) => void): () => void {
    const subscriber = { handler };
    this.#subscribers.add(subscriber);
    return () => {
      this.#subscribers.delete(subscriber);
    };
  }

  emit(value: T): void {
    if (this.#subscribers.size === 0) return;
    const targets = [...this.#subscribers];
    queueMicrotask(() => {
      for (const subscriber of targets) {
        if (!this.#subscribers.has(subscriber)) continue;
        try {
          subscriber.handler(value);
        } catch (error) {
          this.#onError(error);
        }
      }
    });
  }

  clear(): void {
    this.#subscribers.clear();
  }
}
