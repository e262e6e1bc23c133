/**
 * What a Node program (the CLI) needs to hold conversations over the server, in one import: the
 * device session, the node MLS provider, message contents and the error test. The package index
 * does not export the conversation layer yet.
 */
export { DeviceSession, type SessionEvent } from '../src/conversations/device-session.ts';
export type { Conversation } from '../src/conversations/conversation.ts';
export type { ConversationEvent } from '../src/conversations/events.ts';
export type { DeviceRef } from '../src/conversations/identity.ts';
export { type Content, decodeContent, encodeContent } from '../src/conversations/content.ts';
export { CONVERSATION_LIMITS } from '../src/conversations/limits.ts';
export { isConversationError } from '../src/conversations/errors.ts';
export { mlsCiphersuite } from '../src/mls/provider.ts';
export { nodeMlsCryptoProvider } from './mls-crypto.ts';
export {
  type LinkCode,
  decodeLinkCode,
  encodeLinkCode,
  openLinkBox,
  sealLinkBox,
} from '../src/conversations/link.ts';
export { addressOf } from '../src/conversations/server-delivery.ts';
export { VerifiedDirectory } from '../src/conversations/verified-directory.ts';
export { Conversations } from '../src/conversations/conversations.ts';
export type { ConversationError } from '../src/conversations/errors.ts';
