/**
 * Reading an incoming group message before MLS processes it: total decoding (one MLS message,
 * nothing after it, a PrivateMessage or a PublicMessage), the clear header that routes it (group
 * id, epoch, content type; RFC 9420 §6.3), and the device that sent a PrivateMessage.
 */
import {
  type CiphersuiteImpl,
  type ClientState,
  decodeMlsMessage,
  type MlsPrivateMessage,
  type MlsPublicMessage,
} from 'ts-mls';
// Not in ts-mls's public index: processPrivateMessage returns an application message without
// its sender, so the sender data (RFC 9420 §6.3.2) is decrypted here a second time.
import { decryptSenderData } from 'ts-mls/privateMessage.js';
import { ConversationError } from './errors.ts';
import type { DeviceRef } from './identity.ts';
import { rosterOf } from './roster.ts';

export type Incoming = MlsPrivateMessage | MlsPublicMessage;

/** Shown when a sender cannot be named (it never is for a message MLS accepted). */
export const UNKNOWN_DEVICE: DeviceRef = { username: '?', deviceId: '?' };

/** Total: CONVERSATION_MALFORMED for anything but exactly one group message. */
export function decodeGroupMessage(bytes: Uint8Array): Incoming {
  const m = decodeOne(bytes);
  if (m.wireformat !== 'mls_private_message' && m.wireformat !== 'mls_public_message') {
    throw new ConversationError('CONVERSATION_MALFORMED', `${m.wireformat} is not a group message`);
  }
  return m;
}

/** Total: CONVERSATION_MALFORMED unless `bytes` is exactly one MLS message. */
export function decodeOne(bytes: Uint8Array): NonNullable<ReturnType<typeof decodeMlsMessage>>[0] {
  let decoded: ReturnType<typeof decodeMlsMessage>;
  try {
    decoded = decodeMlsMessage(bytes, 0);
  } catch {
    decoded = undefined;
  }
  if (decoded === undefined || decoded[1] !== bytes.byteLength) {
    throw new ConversationError('CONVERSATION_MALFORMED', 'not one MLS message', { bytes: bytes.byteLength });
  }
  return decoded[0];
}

export function header(m: Incoming): { groupId: Uint8Array; epoch: bigint; contentType: string } {
  return m.wireformat === 'mls_private_message'
    ? m.privateMessage
    : {
        groupId: m.publicMessage.content.groupId,
        epoch: m.publicMessage.content.epoch,
        contentType: m.publicMessage.content.contentType,
      };
}

/** The device that sent a PrivateMessage of `epoch` (current or retained), from that epoch's sender data and tree. */
export async function senderOf(
  s: ClientState,
  m: MlsPrivateMessage,
  epoch: bigint,
  cs: CiphersuiteImpl,
): Promise<DeviceRef> {
  const h = epoch === s.groupContext.epoch ? undefined : s.historicalReceiverData.get(epoch);
  const data =
    epoch === s.groupContext.epoch
      ? { secret: s.keySchedule.senderDataSecret, tree: s.ratchetTree }
      : h === undefined
        ? undefined
        : { secret: h.senderDataSecret, tree: h.ratchetTree };
  if (data === undefined) return UNKNOWN_DEVICE;
  const sender = await decryptSenderData(m.privateMessage, data.secret, cs).catch(() => undefined);
  if (sender === undefined) return UNKNOWN_DEVICE;
  return rosterOf(data.tree).get(sender.leafIndex) ?? UNKNOWN_DEVICE;
}
