/**
 * WebSocket frames between a device and the server (binary messages, one frame per message).
 *
 *   frame = type:u8 body
 * Client -> server                      Server -> client
 *   0x01 AUTH                             0x81 CHALLENGE
 *   0x02 SEND                             0x82 READY
 *   0x03 ACK                              0x83 DELIVER
 *                                         0x84 SENT
 *                                         0x85 ERROR
 *
 * Session: the server sends CHALLENGE on open; the device answers AUTH (signature of
 * `wsAuthStatement`); the server answers READY, then pushes DELIVER frames (at most
 * LIMITS.inFlightPerDevice unacknowledged) and answers each SEND with SENT or ERROR.
 * Decoders are total: any input gives a frame or a CodecError. docs/protocol.md has the details.
 */
import { Reader } from '../codec/reader.ts';
import { Writer } from '../codec/writer.ts';
import { CodecError, type ErrorCode, isErrorCode } from '../errors.ts';
import { LIMITS } from '../limits.ts';

export const FRAME = {
  auth: 0x01,
  send: 0x02,
  ack: 0x03,
  challenge: 0x81,
  ready: 0x82,
  deliver: 0x83,
  sent: 0x84,
  error: 0x85,
} as const;

export interface DeviceAddress {
  readonly username: string;
  readonly deviceId: Uint8Array;
}

export interface AuthFrame {
  readonly type: 'auth';
  readonly username: string;
  readonly deviceId: Uint8Array;
  readonly signature: Uint8Array;
}
export interface SendFrame {
  readonly type: 'send';
  /** Chosen by the client to match SENT/ERROR answers; not stored. */
  readonly requestId: number;
  /** Chosen by the client, random; resending the same id stores nothing new (idempotency). */
  readonly messageId: Uint8Array;
  readonly ttlSecs: number;
  readonly recipients: readonly DeviceAddress[];
  readonly payload: Uint8Array;
}
export interface AckFrame {
  readonly type: 'ack';
  readonly seqs: readonly number[];
}
export interface ChallengeFrame {
  readonly type: 'challenge';
  readonly challenge: Uint8Array;
}
export interface ReadyFrame {
  readonly type: 'ready';
  readonly inFlightMax: number;
  readonly messageMaxBytes: number;
}
export interface DeliverFrame {
  readonly type: 'deliver';
  readonly seq: number;
  readonly messageId: Uint8Array;
  readonly payload: Uint8Array;
}
export interface SentFrame {
  readonly type: 'sent';
  readonly requestId: number;
  /** True when this message id was already stored (a resend). */
  readonly duplicate: boolean;
}
export interface ErrorFrame {
  readonly type: 'error';
  /** 0 for an error about the connection rather than one request. */
  readonly requestId: number;
  readonly code: ErrorCode;
  readonly message: string;
  readonly retryAfterSecs: number;
}

export type ClientFrame = AuthFrame | SendFrame | AckFrame;
export type ServerFrame = ChallengeFrame | ReadyFrame | DeliverFrame | SentFrame | ErrorFrame;

const ERROR_MESSAGE_MAX_BYTES = 1024;
const ERROR_CODE_MAX_BYTES = 64;

function writeAddress(w: Writer, a: DeviceAddress): void {
  w.string(a.username).fixed(a.deviceId);
}
function readAddress(r: Reader): DeviceAddress {
  const username = r.string(LIMITS.usernameMaxLength, 'recipient username');
  const deviceId = r.fixed(LIMITS.deviceIdBytes, 'recipient device id');
  return { username, deviceId };
}

function checkLength(bytes: Uint8Array, n: number, what: string): void {
  if (bytes.length !== n) throw new CodecError('CODEC_INVALID_VALUE', `${what}: must be ${n} bytes`);
}

/** Encoders refuse what the decoders would refuse, so a frame that leaves is always decodable. */
function checkMax(n: number, max: number, what: string): void {
  if (n > max) throw new CodecError('CODEC_LENGTH_LIMIT', `${what}: ${n} exceeds ${max}`, { length: n, max });
}
const utf8 = new TextEncoder();
function checkUsername(username: string, what: string): void {
  checkMax(utf8.encode(username).length, LIMITS.usernameMaxLength, what);
}

export function encodeClientFrame(f: ClientFrame): Uint8Array {
  const w = new Writer(f.type === 'send' ? f.payload.length + 64 : 128);
  switch (f.type) {
    case 'auth':
      checkUsername(f.username, 'username');
      checkLength(f.deviceId, LIMITS.deviceIdBytes, 'device id');
      checkLength(f.signature, LIMITS.signatureBytes, 'signature');
      return w.u8(FRAME.auth).string(f.username).fixed(f.deviceId).fixed(f.signature).finish();
    case 'send':
      checkLength(f.messageId, LIMITS.messageIdBytes, 'message id');
      checkMax(f.recipients.length, LIMITS.recipientsPerSend, 'recipients');
      for (const a of f.recipients) {
        checkUsername(a.username, 'recipient username');
        checkLength(a.deviceId, LIMITS.deviceIdBytes, 'recipient device id');
      }
      checkMax(f.payload.length, LIMITS.messageMaxBytes, 'payload');
      return w
        .u8(FRAME.send)
        .u32(f.requestId)
        .fixed(f.messageId)
        .u32(f.ttlSecs)
        .vector(f.recipients, writeAddress)
        .opaque(f.payload)
        .finish();
    case 'ack':
      checkMax(f.seqs.length, LIMITS.acksPerFrame, 'acks');
      return w
        .u8(FRAME.ack)
        .vector(f.seqs, (w2, s) => w2.u53(s))
        .finish();
  }
}

/** Total decoder for frames a client sends. Precondition: none; any bytes give a frame or a CodecError. */
export function decodeClientFrame(bytes: Uint8Array): ClientFrame {
  const r = new Reader(bytes, LIMITS.wsFrameMaxBytes);
  const type = r.u8('frame type');
  let frame: ClientFrame;
  switch (type) {
    case FRAME.auth:
      frame = {
        type: 'auth',
        username: r.string(LIMITS.usernameMaxLength, 'username'),
        deviceId: r.fixed(LIMITS.deviceIdBytes, 'device id'),
        signature: r.fixed(LIMITS.signatureBytes, 'signature'),
      };
      break;
    case FRAME.send:
      frame = {
        type: 'send',
        requestId: r.u32('request id'),
        messageId: r.fixed(LIMITS.messageIdBytes, 'message id'),
        ttlSecs: r.u32('ttl'),
        recipients: r.vector(LIMITS.recipientsPerSend, readAddress, 'recipients'),
        payload: r.opaqueView(LIMITS.messageMaxBytes, 'payload'),
      };
      break;
    case FRAME.ack:
      frame = { type: 'ack', seqs: r.vector(LIMITS.acksPerFrame, (r2) => r2.u53('seq'), 'acks') };
      break;
    default:
      throw new CodecError('CODEC_INVALID_VALUE', `unknown client frame type 0x${type.toString(16)}`);
  }
  r.end('client frame');
  return frame;
}

export function encodeServerFrame(f: ServerFrame): Uint8Array {
  const w = new Writer(f.type === 'deliver' ? f.payload.length + 48 : 64);
  switch (f.type) {
    case 'challenge':
      checkLength(f.challenge, LIMITS.challengeBytes, 'challenge');
      return w.u8(FRAME.challenge).fixed(f.challenge).finish();
    case 'ready':
      return w.u8(FRAME.ready).u32(f.inFlightMax).u32(f.messageMaxBytes).finish();
    case 'deliver':
      checkLength(f.messageId, LIMITS.messageIdBytes, 'message id');
      checkMax(f.payload.length, LIMITS.messageMaxBytes, 'payload');
      return w.u8(FRAME.deliver).u53(f.seq).fixed(f.messageId).opaque(f.payload).finish();
    case 'sent':
      return w.u8(FRAME.sent).u32(f.requestId).bool(f.duplicate).finish();
    case 'error':
      return w
        .u8(FRAME.error)
        .u32(f.requestId)
        .string(f.code)
        .string(f.message.slice(0, ERROR_MESSAGE_MAX_BYTES / 4))
        .u32(f.retryAfterSecs)
        .finish();
  }
}

/** Total decoder for frames a server sends (the client never trusts the server's framing). */
export function decodeServerFrame(bytes: Uint8Array): ServerFrame {
  const r = new Reader(bytes, LIMITS.wsFrameMaxBytes);
  const type = r.u8('frame type');
  let frame: ServerFrame;
  switch (type) {
    case FRAME.challenge:
      frame = { type: 'challenge', challenge: r.fixed(LIMITS.challengeBytes, 'challenge') };
      break;
    case FRAME.ready:
      frame = { type: 'ready', inFlightMax: r.u32('in-flight max'), messageMaxBytes: r.u32('message max') };
      break;
    case FRAME.deliver:
      frame = {
        type: 'deliver',
        seq: r.u53('seq'),
        messageId: r.fixed(LIMITS.messageIdBytes, 'message id'),
        payload: r.opaqueView(LIMITS.messageMaxBytes, 'payload'),
      };
      break;
    case FRAME.sent:
      frame = { type: 'sent', requestId: r.u32('request id'), duplicate: r.bool('duplicate') };
      break;
    case FRAME.error: {
      const requestId = r.u32('request id');
      const code = r.string(ERROR_CODE_MAX_BYTES, 'error code');
      if (!isErrorCode(code)) throw new CodecError('CODEC_INVALID_VALUE', 'unknown error code');
      frame = {
        type: 'error',
        requestId,
        code,
        message: r.string(ERROR_MESSAGE_MAX_BYTES, 'error message'),
        retryAfterSecs: r.u32('retry after'),
      };
      break;
    }
    default:
      throw new CodecError('CODEC_INVALID_VALUE', `unknown server frame type 0x${type.toString(16)}`);
  }
  r.end('server frame');
  return frame;
}
