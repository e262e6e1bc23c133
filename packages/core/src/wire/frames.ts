/**
 * WebSocket frames between a device and the server (binary messages, one frame per message).
 *
 *   frame = type:u8 body
 * Client -> server                      Server -> client
 *   0x01 AUTH                             0x81 CHALLENGE
 *   0x02 SEND                             0x82 READY
 *   0x03 ACK                              0x83 DELIVER
 *   0x04 KEY_PACKAGES_ADD                 0x84 SENT
 *   0x05 KEY_PACKAGES_CLAIM               0x85 ERROR
 *   0x06 KEY_PACKAGES_COUNT               0x86 KEY_PACKAGE_STOCK
 *   0x07 COMMIT                           0x87 KEY_PACKAGES
 *                                         0x88 COMMITTED
 *                                         0x89 EPOCH_CONFLICT
 *                                         0x8a CAUGHT_UP
 *
 * Session: the server sends CHALLENGE on open; the device answers AUTH (signature of
 * `wsAuthStatement`); the server answers READY, then pushes DELIVER frames (at most
 * LIMITS.inFlightPerDevice unacknowledged) and answers each SEND with SENT or ERROR.
 * CAUGHT_UP{seq} goes once per connection, only to a client that offered the WebSocket
 * subprotocol WS_PROTOCOL_CAUGHT_UP (a client that does not know the frame never gets it): every
 * message the mailbox held when the server last read it has been pushed, the last with `seq`.
 * MLS delivery service: KEY_PACKAGES_ADD and _COUNT are answered with KEY_PACKAGE_STOCK, _CLAIM
 * with KEY_PACKAGES, COMMIT with COMMITTED or EPOCH_CONFLICT (or ERROR), all by request id.
 * 0x08 and 0x09 are the forms of COMMIT and KEY_PACKAGES_CLAIM with their optional part present
 * (a Welcome; device ids): the type byte says which, so the older forms keep their bytes and a
 * truncated frame never reads as the shorter form.
 * Payload bounds: a SEND's is LIMITS.messageMaxBytes; a COMMIT's commit and Welcome together, and
 * so a DELIVER's, LIMITS.handshakeMaxBytes (large groups' handshakes pass the former).
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
  keyPackagesAdd: 0x04,
  keyPackagesClaim: 0x05,
  keyPackagesCount: 0x06,
  commit: 0x07,
  commitWithWelcome: 0x08,
  keyPackagesClaimDevices: 0x09,
  challenge: 0x81,
  ready: 0x82,
  deliver: 0x83,
  sent: 0x84,
  error: 0x85,
  keyPackageStock: 0x86,
  keyPackages: 0x87,
  committed: 0x88,
  epochConflict: 0x89,
  caughtUp: 0x8a,
} as const;

/**
 * The WebSocket subprotocol a client offers to be sent CAUGHT_UP. Offered, not required: a
 * server that does not select it sends no CAUGHT_UP (docs/protocol.md "WebSocket").
 */
export const WS_PROTOCOL_CAUGHT_UP = 'sealpost.caught-up';

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
/** Stores one-time KeyPackages of the sending device and, if not empty, replaces its last-resort one. */
export interface KeyPackagesAddFrame {
  readonly type: 'key-packages-add';
  readonly requestId: number;
  /** Opaque to the server; each 1..LIMITS.keyPackageMaxBytes, at most LIMITS.keyPackagesPerUpload. */
  readonly keyPackages: readonly Uint8Array[];
  /** Empty: keep the current last-resort KeyPackage. */
  readonly lastResort: Uint8Array;
}
/**
 * Takes one KeyPackage of each device of `username` (one-time if any is left, else last-resort),
 * or, with `deviceIds`, only of those of its devices.
 */
export interface KeyPackagesClaimFrame {
  readonly type: 'key-packages-claim';
  readonly requestId: number;
  readonly username: string;
  /** Absent: every device of the user. Else at most LIMITS.devicesPerAccount ids (0x09). */
  readonly deviceIds?: readonly Uint8Array[];
}
/** Asks how many one-time KeyPackages the sending device has left (to replenish). */
export interface KeyPackagesCountFrame {
  readonly type: 'key-packages-count';
  readonly requestId: number;
}
/**
 * The Welcome (RFC 9420 §12.4.3.1) for the devices a commit adds, carried by the COMMIT itself so
 * that the server stores it in the commit's transaction: delivered if and only if the commit is.
 */
export interface CommitWelcome {
  /** Chosen by the client, distinct from the commit's; used up like a SEND's. */
  readonly messageId: Uint8Array;
  /** The joiners. With the commit's recipients, at most LIMITS.recipientsPerSend. */
  readonly recipients: readonly DeviceAddress[];
  readonly payload: Uint8Array;
}

/**
 * An MLS commit (RFC 9420 §12.4) for `epoch` of the group `groupId`: stored for the recipients only
 * if the group is at that epoch, which it then leaves. The message id and digest work as for SEND;
 * the digest covers the Welcome too.
 */
export interface CommitFrame {
  readonly type: 'commit';
  readonly requestId: number;
  readonly messageId: Uint8Array;
  readonly ttlSecs: number;
  /** 1..LIMITS.mlsGroupIdMaxBytes bytes. */
  readonly groupId: Uint8Array;
  readonly epoch: number;
  /** May be empty (a group of one). */
  readonly recipients: readonly DeviceAddress[];
  /** At most LIMITS.handshakeMaxBytes, not messageMaxBytes: large groups' commits pass that. */
  readonly payload: Uint8Array;
  /** Absent: nobody joins (0x07). Present (0x08): with `payload` at most LIMITS.handshakeMaxBytes. */
  readonly welcome?: CommitWelcome;
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
  /** At most LIMITS.handshakeMaxBytes: a delivered message can be a commit or a Welcome. */
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

/** Answer to KEY_PACKAGES_ADD and KEY_PACKAGES_COUNT: what the device now has stored. */
export interface KeyPackageStockFrame {
  readonly type: 'key-package-stock';
  readonly requestId: number;
  readonly oneTime: number;
  readonly hasLastResort: boolean;
}
export interface ClaimedKeyPackage {
  readonly deviceId: Uint8Array;
  readonly keyPackage: Uint8Array;
}
/** Answer to KEY_PACKAGES_CLAIM: one KeyPackage per device that has any; none for an unknown user. */
export interface KeyPackagesFrame {
  readonly type: 'key-packages';
  readonly requestId: number;
  readonly keyPackages: readonly ClaimedKeyPackage[];
}
/** Answer to an accepted COMMIT (or a resend of one): the group's epoch is now `epoch`. */
export interface CommittedFrame {
  readonly type: 'committed';
  readonly requestId: number;
  readonly epoch: number;
  readonly duplicate: boolean;
}
/** Answer to a COMMIT for an epoch other than the group's: MLS_EPOCH_CONFLICT, with where the group is. */
export interface EpochConflictFrame {
  readonly type: 'epoch-conflict';
  readonly requestId: number;
  readonly currentEpoch: number;
}

/**
 * Sent once per connection, the first time the server reads the mailbox past what it pushed and
 * finds nothing more: every entry stored before that read has been pushed (DELIVER frames before
 * this one), `seq` being the greatest pushed (0: none). Entries stored later follow it as usual.
 */
export interface CaughtUpFrame {
  readonly type: 'caught-up';
  readonly seq: number;
}

export type ClientFrame =
  | AuthFrame
  | SendFrame
  | AckFrame
  | KeyPackagesAddFrame
  | KeyPackagesClaimFrame
  | KeyPackagesCountFrame
  | CommitFrame;
export type ServerFrame =
  | ChallengeFrame
  | ReadyFrame
  | DeliverFrame
  | SentFrame
  | ErrorFrame
  | KeyPackageStockFrame
  | KeyPackagesFrame
  | CommittedFrame
  | EpochConflictFrame
  | CaughtUpFrame;

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

function checkKeyPackage(kp: Uint8Array, what: string): void {
  checkMax(kp.length, LIMITS.keyPackageMaxBytes, what);
}
function checkRecipients(recipients: readonly DeviceAddress[], max: number = LIMITS.recipientsPerSend): void {
  checkMax(recipients.length, max, 'recipients');
  for (const a of recipients) {
    checkUsername(a.username, 'recipient username');
    checkLength(a.deviceId, LIMITS.deviceIdBytes, 'recipient device id');
  }
}

function clientFrameSize(f: ClientFrame): number {
  if (f.type === 'commit' && f.welcome !== undefined) return f.payload.length + f.welcome.payload.length + 96;
  if (f.type === 'send' || f.type === 'commit') return f.payload.length + 64;
  if (f.type === 'key-packages-add') {
    return f.keyPackages.reduce((n, kp) => n + kp.length + 4, f.lastResort.length + 16);
  }
  return 128;
}

export function encodeClientFrame(f: ClientFrame): Uint8Array {
  const w = new Writer(clientFrameSize(f));
  switch (f.type) {
    case 'auth':
      checkUsername(f.username, 'username');
      checkLength(f.deviceId, LIMITS.deviceIdBytes, 'device id');
      checkLength(f.signature, LIMITS.signatureBytes, 'signature');
      return w.u8(FRAME.auth).string(f.username).fixed(f.deviceId).fixed(f.signature).finish();
    case 'send':
      checkLength(f.messageId, LIMITS.messageIdBytes, 'message id');
      checkRecipients(f.recipients);
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
    case 'key-packages-add':
      checkMax(f.keyPackages.length, LIMITS.keyPackagesPerUpload, 'key packages');
      for (const kp of f.keyPackages) checkKeyPackage(kp, 'key package');
      checkKeyPackage(f.lastResort, 'last-resort key package');
      return w
        .u8(FRAME.keyPackagesAdd)
        .u32(f.requestId)
        .vector(f.keyPackages, (w2, kp) => w2.opaque(kp))
        .opaque(f.lastResort)
        .finish();
    case 'key-packages-claim':
      checkUsername(f.username, 'username');
      if (f.deviceIds === undefined) {
        return w.u8(FRAME.keyPackagesClaim).u32(f.requestId).string(f.username).finish();
      }
      checkMax(f.deviceIds.length, LIMITS.devicesPerAccount, 'device ids');
      for (const id of f.deviceIds) checkLength(id, LIMITS.deviceIdBytes, 'device id');
      return w
        .u8(FRAME.keyPackagesClaimDevices)
        .u32(f.requestId)
        .string(f.username)
        .vector(f.deviceIds, (w2, id) => w2.fixed(id))
        .finish();
    case 'key-packages-count':
      return w.u8(FRAME.keyPackagesCount).u32(f.requestId).finish();
    case 'commit': {
      checkLength(f.messageId, LIMITS.messageIdBytes, 'message id');
      checkMax(f.groupId.length, LIMITS.mlsGroupIdMaxBytes, 'group id');
      checkRecipients(f.recipients);
      checkMax(f.payload.length, LIMITS.handshakeMaxBytes, 'payload');
      w.u8(f.welcome === undefined ? FRAME.commit : FRAME.commitWithWelcome)
        .u32(f.requestId)
        .fixed(f.messageId)
        .u32(f.ttlSecs)
        .opaque(f.groupId)
        .u53(f.epoch)
        .vector(f.recipients, writeAddress)
        .opaque(f.payload);
      if (f.welcome === undefined) return w.finish();
      const welcome = f.welcome;
      checkLength(welcome.messageId, LIMITS.messageIdBytes, 'welcome message id');
      checkRecipients(welcome.recipients, LIMITS.recipientsPerSend - f.recipients.length);
      checkMax(
        f.payload.length + welcome.payload.length,
        LIMITS.handshakeMaxBytes,
        'commit with its welcome',
      );
      return w
        .fixed(welcome.messageId)
        .vector(welcome.recipients, writeAddress)
        .opaque(welcome.payload)
        .finish();
    }
  }
}

/** The body of COMMIT (0x07), and of 0x08 before its Welcome. */
function readCommit(r: Reader): Omit<CommitFrame, 'welcome'> {
  return {
    type: 'commit',
    requestId: r.u32('request id'),
    messageId: r.fixed(LIMITS.messageIdBytes, 'message id'),
    ttlSecs: r.u32('ttl'),
    groupId: r.opaque(LIMITS.mlsGroupIdMaxBytes, 'group id'),
    epoch: r.u53('epoch'),
    recipients: r.vector(LIMITS.recipientsPerSend, readAddress, 'recipients'),
    payload: r.opaqueView(LIMITS.handshakeMaxBytes, 'payload'),
  };
}

/** A Welcome after its commit, which leaves room for `recipientsLeft` recipients and `bytesLeft` bytes. */
function readWelcome(r: Reader, recipientsLeft: number, bytesLeft: number): CommitWelcome {
  return {
    messageId: r.fixed(LIMITS.messageIdBytes, 'welcome message id'),
    recipients: r.vector(recipientsLeft, readAddress, 'welcome recipients'),
    payload: r.opaqueView(bytesLeft, 'welcome'),
  };
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
    case FRAME.keyPackagesAdd:
      frame = {
        type: 'key-packages-add',
        requestId: r.u32('request id'),
        keyPackages: r.vector(
          LIMITS.keyPackagesPerUpload,
          (r2) => r2.opaque(LIMITS.keyPackageMaxBytes, 'key package'),
          'key packages',
        ),
        lastResort: r.opaque(LIMITS.keyPackageMaxBytes, 'last-resort key package'),
      };
      break;
    case FRAME.keyPackagesClaim:
      frame = {
        type: 'key-packages-claim',
        requestId: r.u32('request id'),
        username: r.string(LIMITS.usernameMaxLength, 'username'),
      };
      break;
    case FRAME.keyPackagesClaimDevices:
      frame = {
        type: 'key-packages-claim',
        requestId: r.u32('request id'),
        username: r.string(LIMITS.usernameMaxLength, 'username'),
        deviceIds: r.vector(
          LIMITS.devicesPerAccount,
          (r2) => r2.fixed(LIMITS.deviceIdBytes, 'device id'),
          'device ids',
        ),
      };
      break;
    case FRAME.keyPackagesCount:
      frame = { type: 'key-packages-count', requestId: r.u32('request id') };
      break;
    case FRAME.commit:
      frame = readCommit(r);
      break;
    case FRAME.commitWithWelcome: {
      const commit = readCommit(r);
      frame = {
        ...commit,
        welcome: readWelcome(
          r,
          LIMITS.recipientsPerSend - commit.recipients.length,
          LIMITS.handshakeMaxBytes - commit.payload.length,
        ),
      };
      break;
    }
    default:
      throw new CodecError('CODEC_INVALID_VALUE', `unknown client frame type 0x${type.toString(16)}`);
  }
  r.end('client frame');
  return frame;
}

function serverFrameSize(f: ServerFrame): number {
  if (f.type === 'deliver') return f.payload.length + 48;
  if (f.type === 'key-packages') return f.keyPackages.reduce((n, k) => n + k.keyPackage.length + 16, 16);
  return 64;
}

export function encodeServerFrame(f: ServerFrame): Uint8Array {
  const w = new Writer(serverFrameSize(f));
  switch (f.type) {
    case 'challenge':
      checkLength(f.challenge, LIMITS.challengeBytes, 'challenge');
      return w.u8(FRAME.challenge).fixed(f.challenge).finish();
    case 'ready':
      return w.u8(FRAME.ready).u32(f.inFlightMax).u32(f.messageMaxBytes).finish();
    case 'deliver':
      checkLength(f.messageId, LIMITS.messageIdBytes, 'message id');
      checkMax(f.payload.length, LIMITS.handshakeMaxBytes, 'payload');
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
    case 'key-package-stock':
      return w.u8(FRAME.keyPackageStock).u32(f.requestId).u32(f.oneTime).bool(f.hasLastResort).finish();
    case 'key-packages':
      checkMax(f.keyPackages.length, LIMITS.devicesPerAccount, 'key packages');
      for (const k of f.keyPackages) {
        checkLength(k.deviceId, LIMITS.deviceIdBytes, 'device id');
        checkKeyPackage(k.keyPackage, 'key package');
      }
      return w
        .u8(FRAME.keyPackages)
        .u32(f.requestId)
        .vector(f.keyPackages, (w2, k) => w2.fixed(k.deviceId).opaque(k.keyPackage))
        .finish();
    case 'committed':
      return w.u8(FRAME.committed).u32(f.requestId).u53(f.epoch).bool(f.duplicate).finish();
    case 'epoch-conflict':
      return w.u8(FRAME.epochConflict).u32(f.requestId).u53(f.currentEpoch).finish();
    case 'caught-up':
      return w.u8(FRAME.caughtUp).u53(f.seq).finish();
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
        payload: r.opaqueView(LIMITS.handshakeMaxBytes, 'payload'),
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
    case FRAME.keyPackageStock:
      frame = {
        type: 'key-package-stock',
        requestId: r.u32('request id'),
        oneTime: r.u32('one-time count'),
        hasLastResort: r.bool('has last resort'),
      };
      break;
    case FRAME.keyPackages:
      frame = {
        type: 'key-packages',
        requestId: r.u32('request id'),
        keyPackages: r.vector(
          LIMITS.devicesPerAccount,
          (r2) => ({
            deviceId: r2.fixed(LIMITS.deviceIdBytes, 'device id'),
            keyPackage: r2.opaque(LIMITS.keyPackageMaxBytes, 'key package'),
          }),
          'key packages',
        ),
      };
      break;
    case FRAME.committed:
      frame = {
        type: 'committed',
        requestId: r.u32('request id'),
        epoch: r.u53('epoch'),
        duplicate: r.bool('duplicate'),
      };
      break;
    case FRAME.epochConflict:
      frame = { type: 'epoch-conflict', requestId: r.u32('request id'), currentEpoch: r.u53('epoch') };
      break;
    case FRAME.caughtUp:
      frame = { type: 'caught-up', seq: r.u53('seq') };
      break;
    default:
      throw new CodecError('CODEC_INVALID_VALUE', `unknown server frame type 0x${type.toString(16)}`);
  }
  r.end('server frame');
  return frame;
}
