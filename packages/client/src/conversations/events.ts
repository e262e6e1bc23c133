/**
 * What a conversation tells its user interface. Every change of the roster is an event; nothing
 * changes the roster silently (DESIGN.md "Conversations").
 */
import type { ConversationError } from './errors.ts';
import type { DeviceRef } from './identity.ts';

/**
 * Why a roster change happened, when this device can tell: `directory` means the verified key
 * directory explains it (a device removed that the user's entry no longer lists, a device added
 * by another user's device that the entry lists: roster reconciliation, reconcile.ts).
 */
export type RosterReason = 'directory';

export type ConversationEvent =
  /** This device joined the group from a Welcome; `members` is the roster it found. */
  | { readonly kind: 'joined'; readonly members: readonly DeviceRef[] }
  /** An application message, with the device that signed it (RFC 9420 §6.3.2 sender data). */
  | { readonly kind: 'message'; readonly from: DeviceRef; readonly plaintext: Uint8Array }
  | {
      readonly kind: 'device-added';
      readonly device: DeviceRef;
      readonly by: DeviceRef;
      /** Set when another user's device added it because the directory lists it (no history comes with it). */
      readonly reason?: RosterReason;
    }
  | {
      readonly kind: 'device-removed';
      readonly device: DeviceRef;
      readonly by: DeviceRef;
      /** Set when the user's verified directory entry no longer lists it. */
      readonly reason?: RosterReason;
    }
  /** The first device of a user joined: the user is now in the conversation. */
  | { readonly kind: 'user-added'; readonly username: string; readonly by: DeviceRef }
  /** The last device of a user left: the user is no longer in the conversation. */
  | {
      readonly kind: 'user-removed';
      readonly username: string;
      readonly by: DeviceRef;
      /** Set when the user's verified directory entry lists no device at all (account deleted). */
      readonly reason?: RosterReason;
    }
  /** The group moved to a new epoch (after any commit, including one that changes nobody). */
  | { readonly kind: 'epoch'; readonly epoch: bigint; readonly by: DeviceRef }
  /** This device was removed; the conversation is read-only from now on. */
  | { readonly kind: 'removed'; readonly by: DeviceRef }
  /**
   * A proposal that arrived on its own (from a member, the server or a non-member). It is neither
   * stored nor committed by this client: Sealpost commits carry their proposals inline, and a
   * stored proposal would also block sending (ts-mls refuses application messages while one is
   * pending). `from` is undefined when it did not come from a member.
   */
  | { readonly kind: 'proposal-ignored'; readonly proposalType: string; readonly from: DeviceRef | undefined }
  /** A message kept for a later epoch failed when its turn came (it was not processed). */
  | { readonly kind: 'refused'; readonly error: ConversationError }
  /** Our own commit lost the race for its epoch and was dropped; the intent must be retried. */
  | { readonly kind: 'commit-superseded'; readonly epoch: bigint }
  /** A message for a future epoch, kept until the commit that leads there arrives. */
  | { readonly kind: 'deferred'; readonly epoch: bigint }
  /** A message seen before, dropped. */
  | { readonly kind: 'duplicate' };
