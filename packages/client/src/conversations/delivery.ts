/**
 * What the conversation layer needs from the delivery service (DESIGN.md "Conversations"): the
 * server orders handshake messages per group, accepting a commit only for the group's current
 * epoch (the first wins), and fans messages out to the member devices' mailboxes. The real one
 * rides on connection.ts; tests use an in-memory fake (node/conversation-fake-ds.ts).
 */
import type { Conversation, OutgoingCommit, OutgoingMessage } from './conversation.ts';
import { ConversationError, isConversationError } from './errors.ts';
import type { ConversationEvent } from './events.ts';

export interface DeliveryService {
  /**
   * Orders `commit` into its group. Resolves when it is accepted, after which it is delivered to
   * `commit.recipients` and its Welcome to `commit.joiners`, both stored in one step with the
   * acceptance (a caller that stops after submitting leaves no joiner without its Welcome).
   * Rejects with CONVERSATION_EPOCH_CONFLICT when the group is no longer at `commit.epoch`; the
   * Welcome of a refused commit is never delivered.
   */
  submitCommit(commit: OutgoingCommit): Promise<void>;
  /** Delivers an application message to `message.recipients`. */
  sendMessage(message: OutgoingMessage): Promise<void>;
}

/**
 * Make a change through the delivery service: create the commit, submit it, confirm it. When
 * another commit won the epoch, drop ours, let `catchUp` process the mailbox (the winner is in
 * it), and make the change again if it still applies, at most `attempts` times.
 */
export async function commitThrough(
  ds: DeliveryService,
  conversation: Conversation,
  make: () => Promise<OutgoingCommit>,
  catchUp: () => Promise<void>,
  attempts = 3,
): Promise<ConversationEvent[]> {
  for (let i = 0; ; i++) {
    const outgoing = await make();
    try {
      await ds.submitCommit(outgoing);
    } catch (e) {
      conversation.discardCommit();
      if (!isConversationError(e, 'CONVERSATION_EPOCH_CONFLICT') || i + 1 >= attempts) throw e;
      await catchUp();
      continue;
    }
    return conversation.confirmCommit();
  }
}

export function epochConflict(groupEpoch: bigint, commitEpoch: bigint): ConversationError {
  return new ConversationError('CONVERSATION_EPOCH_CONFLICT', 'another commit took this epoch', {
    epoch: String(commitEpoch),
    current: String(groupEpoch),
  });
}
