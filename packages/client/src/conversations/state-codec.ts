/**
 * A conversation's local state as bytes, for the caller to encrypt at rest (the keystore). The
 * bytes hold the group's secrets (epoch secrets, this device's path and signature keys): they
 * must never be stored or sent unencrypted.
 *
 *   u8  version (1)
 *   u32 length | ts-mls GroupState (its own `encodeGroupState`, tree included)
 *   u32 count  | count x (u8 length | digest)              seen messages, oldest first
 *   u32 count  | count x (u32 length | MLS message bytes)  messages waiting for a future epoch
 *
 * Big-endian; the total is at most `CONVERSATION_LIMITS.stateBytes`. A commit in flight is not
 * kept: after a restart it is lost, and the change is made again (docs/conversations.md).
 */
import { decodeGroupState, encodeGroupState, type GroupState } from 'ts-mls';
import type { ConversationSnapshot } from './conversation.ts';
import { ConversationError } from './errors.ts';
import { CONVERSATION_LIMITS } from './limits.ts';

const VERSION = 1;

export interface DecodedConversationState {
  readonly group: GroupState;
  readonly seen: Uint8Array[];
  readonly future: Uint8Array[];
}

export function encodeConversationState(s: ConversationSnapshot): Uint8Array {
  const group = encodeGroupState(s.state);
  let size = 1 + 4 + group.byteLength + 4 + 4;
  for (const d of s.seen) size += 1 + d.byteLength;
  for (const m of s.future) size += 4 + m.byteLength;
  const out = new Uint8Array(size);
  const view = new DataView(out.buffer);
  let o = 0;
  out[o++] = VERSION;
  view.setUint32(o, group.byteLength);
  out.set(group, (o += 4));
  o += group.byteLength;
  view.setUint32(o, s.seen.length);
  o += 4;
  for (const d of s.seen) {
    out[o++] = d.byteLength;
    out.set(d, o);
    o += d.byteLength;
  }
  view.setUint32(o, s.future.length);
  o += 4;
  for (const m of s.future) {
    view.setUint32(o, m.byteLength);
    out.set(m, (o += 4));
    o += m.byteLength;
  }
  return out;
}

function invalid(what: string): ConversationError {
  return new ConversationError('CONVERSATION_STATE_INVALID', `conversation state: ${what}`);
}

/** Total: every failure is CONVERSATION_STATE_INVALID. */
export function decodeConversationState(bytes: Uint8Array): DecodedConversationState {
  if (bytes.byteLength > CONVERSATION_LIMITS.stateBytes) throw invalid('too large');
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let o = 0;
  const need = (n: number) => {
    if (o + n > bytes.byteLength) throw invalid('truncated');
  };
  need(1);
  if (bytes[o++] !== VERSION) throw invalid('unknown version');
  need(4);
  const glen = view.getUint32(o);
  o += 4;
  need(glen);
  let group: GroupState | undefined;
  try {
    const r = decodeGroupState(bytes.subarray(o, o + glen), 0);
    if (r !== undefined && r[1] === glen) group = r[0];
  } catch {
    group = undefined;
  }
  if (group === undefined) throw invalid('group state does not decode');
  o += glen;
  need(4);
  const nSeen = view.getUint32(o);
  o += 4;
  if (nSeen > CONVERSATION_LIMITS.seenMessages) throw invalid('too many seen digests');
  const seen: Uint8Array[] = [];
  for (let i = 0; i < nSeen; i++) {
    need(1);
    const len = bytes[o++]!;
    need(len);
    seen.push(bytes.slice(o, o + len));
    o += len;
  }
  need(4);
  const nFuture = view.getUint32(o);
  o += 4;
  if (nFuture > CONVERSATION_LIMITS.futureEpochBuffer) throw invalid('too many buffered messages');
  const future: Uint8Array[] = [];
  for (let i = 0; i < nFuture; i++) {
    need(4);
    const len = view.getUint32(o);
    o += 4;
    need(len);
    future.push(bytes.slice(o, o + len));
    o += len;
  }
  if (o !== bytes.byteLength) throw invalid('trailing bytes');
  return { group, seen, future };
}
