/**
 * The typed failures of the conversation layer. Each has a stable `code` a caller (and a UI) can
 * match on, and `details` that are public facts only (usernames, device ids, epochs), never key
 * material or plaintext.
 *
 * These codes are not yet in `@sealpost/core`'s `ERRORS` table (that package is owned elsewhere);
 * docs/conversations.md lists them so they can move there unchanged.
 */

export type ConversationErrorCode =
  /** An Add, a commit's UpdatePath leaf, or a Welcome's tree names a device the directory does not list. */
  | 'CONVERSATION_UNKNOWN_DEVICE'
  /** A commit or proposal for an epoch this member has already left. */
  | 'CONVERSATION_STALE_EPOCH'
  /** A commit this client refuses by policy (not from a member, or it commits a non-member's proposal). */
  | 'CONVERSATION_COMMIT_REFUSED'
  /** ts-mls refused the message (bad signature, bad confirmation tag, invalid proposal, ...). */
  | 'CONVERSATION_MESSAGE_INVALID'
  /** Bytes that are not an MLS message, or an MLS message of a kind this layer does not take. */
  | 'CONVERSATION_MALFORMED'
  /** A message for another group. */
  | 'CONVERSATION_WRONG_GROUP'
  /** Too many messages are already waiting for a future epoch. */
  | 'CONVERSATION_BUFFER_FULL'
  /** The delivery service took another commit for this epoch first; catch up and retry. */
  | 'CONVERSATION_EPOCH_CONFLICT'
  /** An operation that needs no commit in flight (or one) found the other. */
  | 'CONVERSATION_COMMIT_PENDING'
  /** The operation names a user or device that is not in (or already in) the group. */
  | 'CONVERSATION_NO_SUCH_MEMBER'
  /** A Welcome for none of this device's KeyPackages. */
  | 'CONVERSATION_WELCOME_NOT_FOR_US'
  /** This device was removed from the group: it can no longer send. */
  | 'CONVERSATION_NOT_A_MEMBER'
  /** Serialised state that does not decode. */
  | 'CONVERSATION_STATE_INVALID';

export class ConversationError extends Error {
  readonly code: ConversationErrorCode;
  readonly details: Readonly<Record<string, string | number>>;
  constructor(code: ConversationErrorCode, message: string, details: Record<string, string | number> = {}) {
    super(message);
    this.name = 'ConversationError';
    this.code = code;
    this.details = details;
  }
}

/** True when `e` is a `ConversationError` with that code (for tests and callers' `catch`). */
export function isConversationError(e: unknown, code?: ConversationErrorCode): e is ConversationError {
  return e instanceof ConversationError && (code === undefined || e.code === code);
}
