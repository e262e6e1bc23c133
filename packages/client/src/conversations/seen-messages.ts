/**
 * Digests of the messages a conversation has processed, so a message delivered twice (a
 * redelivery after a lost ack, or a replay by the server) is dropped before it reaches MLS.
 * Bounded: the oldest digest is forgotten first (`CONVERSATION_LIMITS.seenMessages`). A replay
 * older than that still fails in MLS (its epoch is gone or its key was used), just less politely.
 */
import { CONVERSATION_LIMITS } from './limits.ts';

function hex(b: Uint8Array): string {
  let s = '';
  for (const x of b) s += x.toString(16).padStart(2, '0');
  return s;
}

export class SeenMessages {
  readonly #max: number;
  readonly #digests = new Map<string, Uint8Array>();

  constructor(initial: Iterable<Uint8Array> = [], max: number = CONVERSATION_LIMITS.seenMessages) {
    this.#max = max;
    for (const d of initial) this.add(d);
  }

  has(digest: Uint8Array): boolean {
    return this.#digests.has(hex(digest));
  }

  add(digest: Uint8Array): void {
    const k = hex(digest);
    if (this.#digests.has(k)) return;
    this.#digests.set(k, digest);
    if (this.#digests.size > this.#max) this.#digests.delete(this.#digests.keys().next().value as string);
  }

  /** Oldest first, for serialisation. */
  values(): Uint8Array[] {
    return [...this.#digests.values()];
  }
}
