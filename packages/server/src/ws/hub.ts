/**
 * The live sessions of one instance, by device, and their wiring to the bus:
 *   - a message stored by this instance is handed straight to the recipient's local session, if any
 *     (no read back from the store in the common case);
 *   - a `mail` hint for a local device wakes its session's pump, unless it already has that seq;
 *   - a `connected` event for a device closes any older local session (one live connection per
 *     device across all instances; the newer one wins, ties broken by connection id);
 *   - a resync (bus reconnected, hints may be lost) wakes every session.
 * Each session also re-reads its mailbox every LIMITS.mailboxPollMs, so a lost hint only delays.
 */
import { CLOSE } from '@sealpost/core';
import type { Bus, BusEvent } from '../bus/bus.ts';
import type { DevicePk, MailEntry } from '../store/store.ts';

export interface HubSession {
  readonly device: DevicePk;
  readonly connectionId: string;
  readonly connectedAtMs: number;
  /** Something up to `seq` (if given) is in the mailbox: push what this session has not pushed. */
  wake(seq?: number): void;
  /** A just-stored entry: pushed at once if it is next in order and there is room, else a wake. */
  offer(entry: MailEntry): void;
  close(code: number, reason: string): void;
}

function newer(a: { connectedAtMs: number; connectionId: string }, b: HubSession): boolean {
  return (
    a.connectedAtMs > b.connectedAtMs ||
    (a.connectedAtMs === b.connectedAtMs && a.connectionId > b.connectionId)
  );
}

export class Hub {
  readonly #bus: Bus;
  readonly #sessions = new Map<DevicePk, HubSession>();
  readonly #unsubscribe: Array<() => void> = [];

  constructor(bus: Bus) {
    this.#bus = bus;
    this.#unsubscribe.push(bus.subscribe((e) => this.#onEvent(e)));
    this.#unsubscribe.push(bus.onResync(() => this.wakeAll()));
  }

  get size(): number {
    return this.#sessions.size;
  }

  /** Registers an authenticated session, closing an older local one and telling other instances. */
  register(session: HubSession): void {
    const old = this.#sessions.get(session.device);
    if (old !== undefined && old !== session) old.close(CLOSE.replaced, 'replaced by a newer connection');
    this.#sessions.set(session.device, session);
    this.#bus.publish({
      type: 'connected',
      device: session.device,
      connectionId: session.connectionId,
      connectedAtMs: session.connectedAtMs,
    });
  }

  unregister(session: HubSession): void {
    if (this.#sessions.get(session.device) === session) this.#sessions.delete(session.device);
  }

  /**
   * A message was stored for `device`: offers it to the local session, and tells every instance
   * (a hint with the device and sequence number: content never travels on the bus).
   */
  mailStored(device: DevicePk, entry: MailEntry): void {
    this.#sessions.get(device)?.offer(entry);
    this.#bus.publish({ type: 'mail', device, seq: entry.seq });
  }

  closeDevice(device: DevicePk, code: number, reason: string): void {
    this.#sessions.get(device)?.close(code, reason);
  }

  wakeAll(): void {
    for (const s of this.#sessions.values()) s.wake();
  }

  closeAll(code: number, reason: string): void {
    for (const s of [...this.#sessions.values()]) s.close(code, reason);
  }

  stop(): void {
    for (const u of this.#unsubscribe.splice(0)) u();
  }

  #onEvent(e: BusEvent): void {
    const local = this.#sessions.get(e.device);
    if (local === undefined) return;
    if (e.type === 'mail') {
      local.wake(e.seq);
    } else if (e.connectionId !== local.connectionId && newer(e, local)) {
      local.close(CLOSE.replaced, 'replaced by a newer connection');
    }
  }
}
