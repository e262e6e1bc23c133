/**
 * What an application message carries, inside MLS (so only members read it):
 *
 *   u8 kind | body
 *     kind 1  text    body = UTF-8 text, 1..`CONVERSATION_LIMITS.textBytes` bytes
 *     kind 2  title   body = UTF-8 title of a group, 1..`CONVERSATION_LIMITS.titleBytes` bytes
 *     kind 3  leave   body empty: the sender's user asks the other members to remove all of its
 *                     devices (MLS lets no member commit its own removal, RFC 9420 §12.2); a
 *                     member of another user turns it into a commit removing exactly that user
 *
 * A group's title travels as a message, never to the server in clear: the member who creates a
 * group or adds someone sends it after the commit, so every joiner learns it from its first
 * message. A conversation without a title is a 1:1 conversation (docs/conversations.md "CLI").
 *
 * `decodeContent` is total: anything else is CONVERSATION_MALFORMED.
 */
import { ConversationError } from './errors.ts';
import { CONVERSATION_LIMITS } from './limits.ts';

export type Content =
  | { readonly kind: 'text'; readonly text: string }
  | { readonly kind: 'title'; readonly title: string }
  | { readonly kind: 'leave' };

const KIND = { text: 1, title: 2, leave: 3 } as const;

const te = new TextEncoder();
const td = new TextDecoder('utf-8', { fatal: true });

function bounds(kind: 'text' | 'title'): number {
  return kind === 'text' ? CONVERSATION_LIMITS.textBytes : CONVERSATION_LIMITS.titleBytes;
}

export function encodeContent(c: Content): Uint8Array {
  if (c.kind === 'leave') return Uint8Array.of(KIND.leave);
  const body = te.encode(c.kind === 'text' ? c.text : c.title);
  const max = bounds(c.kind);
  if (body.byteLength === 0 || body.byteLength > max) {
    throw new ConversationError('CONVERSATION_MALFORMED', `${c.kind} must be 1..${max} bytes of UTF-8`);
  }
  const out = new Uint8Array(1 + body.byteLength);
  out[0] = KIND[c.kind];
  out.set(body, 1);
  return out;
}

export function decodeContent(bytes: Uint8Array): Content {
  if (bytes[0] === KIND.leave) {
    if (bytes.byteLength !== 1)
      throw new ConversationError('CONVERSATION_MALFORMED', 'leave carries no body');
    return { kind: 'leave' };
  }
  const kind = bytes[0] === KIND.text ? 'text' : bytes[0] === KIND.title ? 'title' : undefined;
  if (kind === undefined) {
    throw new ConversationError('CONVERSATION_MALFORMED', 'unknown content kind', {
      kind: bytes[0] ?? -1,
    });
  }
  const body = bytes.subarray(1);
  if (body.byteLength === 0 || body.byteLength > bounds(kind)) {
    throw new ConversationError('CONVERSATION_MALFORMED', `${kind} of ${body.byteLength} bytes`);
  }
  let s: string;
  try {
    s = td.decode(body);
  } catch {
    throw new ConversationError('CONVERSATION_MALFORMED', `${kind} is not UTF-8`);
  }
  return kind === 'text' ? { kind, text: s } : { kind, title: s };
}
