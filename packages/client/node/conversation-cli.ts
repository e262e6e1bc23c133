/**
 * What a Node program (the CLI) needs to hold conversations over the server, in one import: the
 * device session, the node MLS provider and the error test. The package index does not export the
 * conversation layer yet.
 */
export { DeviceSession } from '../src/conversations/device-session.ts';
export type { Conversation } from '../src/conversations/conversation.ts';
export { isConversationError } from '../src/conversations/errors.ts';
export { mlsCiphersuite } from '../src/mls/provider.ts';
export { nodeMlsCryptoProvider } from './mls-crypto.ts';
