/**
 * Linking a new device to an account (docs/conversations.md "Linking a device"). Sans-I/O: the
 * link code the new device shows, and the sealed boxes an existing device sends it.
 *
 * Link code (shown by the new device, typed or pasted into an existing one), base64url of:
 *
 *   u8 version (1) | 32 device key | 32 challenge | 64 device signature | opaque box key
 *
 * The device signature is the new device's, over `deviceAddStatement(challenge, audience,
 * username, device key)`: the existing device adds its account signature over the same statement
 * and registers the device (POST /v1/accounts/:username/devices). The challenge is the server's,
 * single use, so a code works once and for `LIMITS.challengeTtlMs`. The box key is an HPKE public
 * key (the conversation suite's KEM) whose private half only the new device holds.
 *
 * Link box (a mailbox payload for the new device, told apart from MLS by its magic):
 *
 *   "SPLB" | u8 version (1) | opaque enc | opaque ciphertext
 *   plaintext = u8 kind | opaque body | 8 sender device id | 64 signature
 *   signature = Ed25519 by the sender device over
 *               string("sealpost/v1/link-box") | opaque recipient device key | u8 kind | opaque body
 *
 *   kind 1  account seed   body = 32 bytes: the account key, which the account's devices hold,
 *                          then optionally 32 bytes: the backup recovery public key (X25519,
 *                          docs/backup-format.md "Recovery key files"), so that a linked device's
 *                          backup init writes a recovery key file too. A 32-byte body (a sender
 *                          from before the key was sent) still decodes, without the key.
 *   kind 2  history        body = opaque group id | opaque title (may be empty) | u32 n |
 *                                 n x (opaque username | opaque text), oldest first, at most
 *                                 `CONVERSATION_LIMITS.historyMessages`
 *   kind 3  done           body = empty: the existing device has sent everything
 *
 * HPKE (RFC 9180 base mode, `info` = "sealpost/v1/link-box") gives confidentiality to the new
 * device only; the signature says which device of the account sent it, and the recipient checks
 * that device against the account's device list before believing anything in the box.
 */
import {
  type CryptoProvider,
  LIMITS,
  type Reader,
  Writer,
  decodeAll,
  fromBase64url,
  toBase64url,
} from '@sealpost/core';
import type { CiphersuiteImpl } from 'ts-mls';
import { ConversationError } from './errors.ts';
import { CONVERSATION_LIMITS } from './limits.ts';

const te = new TextEncoder();
const MAGIC = te.encode('SPLB');
const INFO = te.encode('sealpost/v1/link-box');
const LABEL = 'sealpost/v1/link-box';
const SIGNATURE_BYTES = 64;
const SEED_BYTES = 32;
/** X25519 public key (RFC 7748), as `recoveryBoxKey` makes it. */
const RECOVERY_KEY_BYTES = 32;
/** Bound on a link code's box key (an HPKE public key: 32 for X25519, 1216 for X-Wing). */
const BOX_KEY_MAX_BYTES = 2048;
/** Bound on one link box (history of one conversation at most). */
const BOX_MAX_BYTES = LIMITS.messageMaxBytes;

export interface LinkCode {
  readonly deviceKey: Uint8Array;
  readonly challenge: Uint8Array;
  readonly deviceSignature: Uint8Array;
  readonly boxKey: Uint8Array;
}

export type LinkBoxContent =
  | {
      readonly kind: 'account-seed';
      readonly accountSeed: Uint8Array;
      /** The backup recovery public key, when the sender's key store has one. */
      readonly backupRecoveryKey?: Uint8Array | undefined;
    }
  | {
      readonly kind: 'history';
      readonly groupId: Uint8Array;
      readonly title: string;
      readonly messages: readonly { readonly from: string; readonly text: string }[];
    }
  | { readonly kind: 'done' };

const KIND = { 'account-seed': 1, history: 2, done: 3 } as const;

function malformed(what: string): ConversationError {
  return new ConversationError('CONVERSATION_MALFORMED', `link ${what}`);
}

export function encodeLinkCode(c: LinkCode): string {
  return toBase64url(
    new Writer()
      .u8(1)
      .fixed(c.deviceKey)
      .fixed(c.challenge)
      .fixed(c.deviceSignature)
      .opaque(c.boxKey)
      .finish(),
  );
}

/** Total: anything but one well-formed code is CONVERSATION_MALFORMED. */
export function decodeLinkCode(text: string): LinkCode {
  try {
    const bytes = fromBase64url(text.trim(), 4096, 'link code');
    return decodeAll(
      bytes,
      4096,
      (r: Reader) => {
        if (r.u8('version') !== 1) throw malformed('code version');
        return {
          deviceKey: r.fixed(LIMITS.publicKeyBytes, 'device key'),
          challenge: r.fixed(LIMITS.challengeBytes, 'challenge'),
          deviceSignature: r.fixed(SIGNATURE_BYTES, 'device signature'),
          boxKey: r.opaque(BOX_KEY_MAX_BYTES, 'box key'),
        };
      },
      'link code',
    );
  } catch (e) {
    if (e instanceof ConversationError) throw e;
    throw malformed('code does not decode');
  }
}

function encodeBody(c: LinkBoxContent): Uint8Array {
  if (c.kind === 'account-seed') {
    if (
      c.accountSeed.byteLength !== SEED_BYTES ||
      (c.backupRecoveryKey !== undefined && c.backupRecoveryKey.byteLength !== RECOVERY_KEY_BYTES)
    ) {
      throw malformed('account seed');
    }
    const w = new Writer().fixed(c.accountSeed);
    return (c.backupRecoveryKey === undefined ? w : w.fixed(c.backupRecoveryKey)).finish();
  }
  if (c.kind === 'done') return new Uint8Array(0);
  const w = new Writer().opaque(c.groupId).opaque(te.encode(c.title)).u32(c.messages.length);
  for (const m of c.messages) w.opaque(te.encode(m.from)).opaque(te.encode(m.text));
  return w.finish();
}

function decodeBody(kind: number, body: Uint8Array): LinkBoxContent {
  if (kind === KIND['account-seed']) {
    if (body.byteLength === SEED_BYTES) return { kind: 'account-seed', accountSeed: body };
    if (body.byteLength !== SEED_BYTES + RECOVERY_KEY_BYTES) throw malformed('account seed');
    return {
      kind: 'account-seed',
      accountSeed: body.slice(0, SEED_BYTES),
      backupRecoveryKey: body.slice(SEED_BYTES),
    };
  }
  if (kind === KIND.done) {
    if (body.byteLength !== 0) throw malformed('done');
    return { kind: 'done' };
  }
  if (kind !== KIND.history) throw malformed('box kind');
  const td = new TextDecoder('utf-8', { fatal: true });
  return decodeAll(
    body,
    BOX_MAX_BYTES,
    (r: Reader) => {
      const groupId = r.opaque(LIMITS.mlsGroupIdMaxBytes, 'group id');
      const title = td.decode(r.opaque(CONVERSATION_LIMITS.titleBytes, 'title'));
      const n = r.u32('messages');
      if (n > CONVERSATION_LIMITS.historyMessages) throw malformed('history too long');
      const messages = Array.from({ length: n }, () => ({
        from: td.decode(r.opaque(CONVERSATION_LIMITS.credentialFieldBytes, 'from')),
        text: td.decode(r.opaque(CONVERSATION_LIMITS.textBytes, 'text')),
      }));
      return { kind: 'history', groupId, title, messages };
    },
    'history',
  );
}

function signedBytes(recipientKey: Uint8Array, kind: number, body: Uint8Array): Uint8Array {
  return new Writer().string(LABEL).opaque(recipientKey).u8(kind).opaque(body).finish();
}

export function isLinkBox(payload: Uint8Array): boolean {
  return payload.byteLength > MAGIC.byteLength && MAGIC.every((b, i) => payload[i] === b);
}

export interface LinkSender {
  readonly crypto: CryptoProvider;
  readonly cs: CiphersuiteImpl;
  /** The sending device's Ed25519 seed, and its id. */
  readonly deviceSeed: Uint8Array;
  readonly deviceId: Uint8Array;
}

/** Seals `content` for the new device of `code`, signed by the sender device. */
export async function sealLinkBox(
  s: LinkSender,
  code: LinkCode,
  content: LinkBoxContent,
): Promise<Uint8Array> {
  const kind = KIND[content.kind];
  const body = encodeBody(content);
  const signature = s.crypto.ed25519.sign(s.deviceSeed, signedBytes(code.deviceKey, kind, body));
  const plaintext = new Writer().u8(kind).opaque(body).fixed(s.deviceId).fixed(signature).finish();
  try {
    const key = await s.cs.hpke.importPublicKey(code.boxKey);
    const { enc, ct } = await s.cs.hpke.seal(key, plaintext, INFO);
    return new Writer().fixed(MAGIC).u8(1).opaque(enc).opaque(ct).finish();
  } finally {
    plaintext.fill(0);
  }
}

export interface OpenedLinkBox {
  readonly content: LinkBoxContent;
  /** The device that signed it (8-byte id): check it against the account's devices. */
  readonly senderId: Uint8Array;
  /** Verifies the signature with that device's key; false for any other key. */
  verify(senderKey: Uint8Array): boolean;
}

/**
 * Opens a box with the new device's HPKE private key. Throws CONVERSATION_MALFORMED for anything
 * that does not open and decode; the caller then checks `verify` with the sender's listed key.
 */
export async function openLinkBox(
  crypto: CryptoProvider,
  cs: CiphersuiteImpl,
  boxPrivateKey: Uint8Array,
  recipientKey: Uint8Array,
  payload: Uint8Array,
): Promise<OpenedLinkBox> {
  let plaintext: Uint8Array;
  try {
    const { enc, ct } = decodeAll(
      payload,
      BOX_MAX_BYTES,
      (r: Reader) => {
        if (!MAGIC.every((b) => r.u8('magic') === b)) throw malformed('box magic');
        if (r.u8('version') !== 1) throw malformed('box version');
        return { enc: r.opaque(BOX_KEY_MAX_BYTES, 'enc'), ct: r.opaque(BOX_MAX_BYTES, 'ciphertext') };
      },
      'link box',
    );
    const key = await cs.hpke.importPrivateKey(boxPrivateKey);
    plaintext = await cs.hpke.open(key, enc, ct, INFO);
  } catch {
    throw malformed('box does not open');
  }
  try {
    const { kind, body, senderId, signature } = decodeAll(
      plaintext,
      BOX_MAX_BYTES,
      (r: Reader) => ({
        kind: r.u8('kind'),
        body: r.opaque(BOX_MAX_BYTES, 'body').slice(),
        senderId: r.fixed(LIMITS.deviceIdBytes, 'sender').slice(),
        signature: r.fixed(SIGNATURE_BYTES, 'signature').slice(),
      }),
      'link box',
    );
    const content = decodeBody(kind, body);
    return {
      content,
      senderId,
      verify: (senderKey) =>
        crypto.ed25519.verify(senderKey, signedBytes(recipientKey, kind, body), signature),
    };
  } catch (e) {
    if (e instanceof ConversationError) throw e;
    throw malformed('box content does not decode');
  } finally {
    plaintext.fill(0);
  }
}
