/**
 * Wire form of a bus hint (DESIGN.md "Delivery": hints only, never content).
 *
 * A hint carries exactly the fields of its `BusEvent` and nothing else, in the core codec's
 * encodings (RFC 9420 §2.1 presentation language):
 *
 *   struct {
 *     uint8  tag;                  // 1 = mail, 2 = connected
 *     uint64 device;               // DevicePk, the store's internal key (never a username)
 *     select (tag) {
 *       case mail:      uint64 seq;              // highest sequence number now in the mailbox
 *       case connected: opaque connection_id<1..HINT_CONNECTION_ID_MAX_BYTES>;  // [A-Za-z0-9_-]
 *                       uint64 connected_at_ms;
 *     };
 *   } Hint;
 *
 * The encoding is canonical: a decoder accepts one byte string per event (fixed-width integers,
 * minimal varint length, no trailing bytes), so `encodeHint(decodeHint(b))` equals `b`.
 * The connection id is restricted to an id alphabet so no free text can ride along on the bus.
 */
import { CodecError, Reader, Writer } from '@sealpost/core';
import type { DevicePk } from '../store/store.ts';
import type { BusEvent } from './bus.ts';

/** A UUID (36), a NATS nuid (22) or 32 random bytes in base64url (43) all fit. */
export const HINT_CONNECTION_ID_MAX_BYTES = 64;
/** Largest valid hint: tag + device + length + id + time = 1 + 8 + 1 + 64 + 8 = 82 (mail: 17). */
export const HINT_MAX_BYTES = 1 + 8 + 1 + HINT_CONNECTION_ID_MAX_BYTES + 8;

const TAG = { mail: 1, connected: 2 } as const;
const CONNECTION_ID = /^[A-Za-z0-9_-]+$/;

function checkConnectionId(id: string): void {
  if (id.length === 0 || id.length > HINT_CONNECTION_ID_MAX_BYTES || !CONNECTION_ID.test(id)) {
    throw new CodecError(
      'CODEC_INVALID_VALUE',
      'hint connection id must be 1-64 characters of [A-Za-z0-9_-]',
      {
        length: id.length,
      },
    );
  }
}

/** Throws CodecError CODEC_INVALID_VALUE for an event no decoder would accept (out-of-range numbers, bad id). */
export function encodeHint(event: BusEvent): Uint8Array {
  const w = new Writer(HINT_MAX_BYTES);
  switch (event.type) {
    case 'mail':
      return w.u8(TAG.mail).u53(event.device).u53(event.seq).finish();
    case 'connected':
      checkConnectionId(event.connectionId);
      return w
        .u8(TAG.connected)
        .u53(event.device)
        .string(event.connectionId)
        .u53(event.connectedAtMs)
        .finish();
    default:
      throw new CodecError('CODEC_INVALID_VALUE', 'unknown bus event type');
  }
}

/** Total: returns an event or throws CodecError, for any input (STYLE.md rule 3). */
export function decodeHint(bytes: Uint8Array): BusEvent {
  const r = new Reader(bytes, HINT_MAX_BYTES);
  const tag = r.u8('hint tag');
  let event: BusEvent;
  if (tag === TAG.mail) {
    event = { type: 'mail', device: r.u53('hint device') as DevicePk, seq: r.u53('hint seq') };
  } else if (tag === TAG.connected) {
    const device = r.u53('hint device') as DevicePk;
    const connectionId = r.string(HINT_CONNECTION_ID_MAX_BYTES, 'hint connection id');
    checkConnectionId(connectionId);
    event = { type: 'connected', device, connectionId, connectedAtMs: r.u53('hint connected at') };
  } else {
    throw new CodecError('CODEC_INVALID_VALUE', `hint tag ${tag} is unknown`, { tag });
  }
  r.end('hint');
  return event;
}

/**
 * The event exactly as a subscriber on another instance would see it: validated, with any extra
 * properties a caller attached stripped. Throws CodecError like `encodeHint`.
 */
export function normalizeEvent(event: BusEvent): BusEvent {
  return decodeHint(encodeHint(event));
}
