/**
 * The bus between server instances carries hints only, never content (DESIGN.md "Delivery"):
 *   - `mail`: "device X has mail up to sequence number S" (its mailbox in the shared store changed);
 *   - `connected`: "device X opened a connection (id, time)" so the older one, on any instance,
 *     is closed with CLOSE.replaced (one live connection per device).
 * A lost hint delays delivery (each connection re-reads its mailbox every LIMITS.mailboxPollMs),
 * it never loses a message. `memory.ts` serves one instance; `nats.ts` several.
 */
import type { DevicePk } from '../store/store.ts';

export type BusEvent =
  /** `seq`: the highest sequence number now in the mailbox, so a session that has it skips the read. */
  | { readonly type: 'mail'; readonly device: DevicePk; readonly seq: number }
  | {
      readonly type: 'connected';
      readonly device: DevicePk;
      readonly connectionId: string;
      readonly connectedAtMs: number;
    };

export interface Bus {
  readonly kind: 'memory' | 'nats';
  /** Fire and forget; never throws, never blocks on the network. */
  publish(event: BusEvent): void;
  /** Every event, including this instance's own. Returns an unsubscribe function. */
  subscribe(handler: (event: BusEvent) => void): () => void;
  /** Called after the bus (re)connects, when hints may have been lost: re-read every mailbox. */
  onResync(handler: () => void): () => void;
  /** False while the bus is disconnected (reported by /readyz as degraded, not failed). */
  readonly connected: boolean;
  close(): Promise<void>;
}
