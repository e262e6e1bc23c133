/**
 * A device's conversations at rest, in one file next to the key store (Node file system):
 *
 *   <home>/conversations.spcs   mode 0600
 *
 *   offset  size  field
 *   0       4     magic "SPCS"
 *   4       1     format version = 1
 *   5       12    nonce (random, fresh for every write)
 *   17      n     AES-256-GCM(key, nonce, plaintext, aad = bytes 0..16) || 16-byte tag
 *
 *   key = HKDF-SHA256(ikm = device seed, salt = "", info = "sealpost/v1/conversation-state", 32)
 *                                                                          (RFC 5869)
 *   plaintext = u8 1 | opaque KeyPackages (Conversations.exportKeyPackages)
 *               | u32 count | count x opaque conversation state (Conversations.encode)
 *               | opaque application data (the caller's, e.g. the CLI's unread messages)
 *
 * Why so: the state holds every group's secrets and this device's signature key, so it gets the
 * key store's protection without a second Argon2 run per save: its key comes from the device seed,
 * which only the passphrase opens (keystore.ts), and it uses the same AEAD. Writes go to a
 * temporary file (flushed) renamed over the old one, so a crash leaves the old or the new state.
 * A wrong key and an altered file cannot be told apart: both are KEYSTORE_PASSPHRASE_WRONG.
 */
import { open, readFile, rename, unlink } from 'node:fs/promises';
import { Buffer } from 'node:buffer';
import { join } from 'node:path';
import type { Reader } from '@sealpost/core';
import {
  CodecError,
  CryptoVerificationError,
  type CryptoProvider,
  SealpostError,
  Writer,
  decodeAll,
} from '@sealpost/core';
import type { Conversations } from '../src/conversations/conversations.ts';
import { CONVERSATION_LIMITS } from '../src/conversations/limits.ts';

export const CONVERSATION_STATE_FILE = 'conversations.spcs';
const MAGIC = new TextEncoder().encode('SPCS');
const VERSION = 1;
const NONCE_BYTES = 12;
const HEADER_BYTES = MAGIC.length + 1 + NONCE_BYTES;
const INFO = new TextEncoder().encode('sealpost/v1/conversation-state');
/** Bound on the whole file (every conversation's state together). */
const FILE_MAX_BYTES = CONVERSATION_LIMITS.stateBytes;

export class ConversationStateFile {
  readonly path: string;
  readonly #crypto: CryptoProvider;
  readonly #key: Uint8Array;
  #writes: Promise<void> = Promise.resolve();

  /** `deviceSeed` is read once (the key is derived); the caller still wipes it. */
  constructor(home: string, crypto: CryptoProvider, deviceSeed: Uint8Array) {
    this.path = join(home, CONVERSATION_STATE_FILE);
    this.#crypto = crypto;
    this.#key = crypto.hkdfSha256(deviceSeed, new Uint8Array(0), INFO, 32);
  }

  /**
   * Loads the saved state into `conversations` and answers the application data saved with it
   * (empty when there is no file yet).
   */
  async restore(conversations: Conversations): Promise<Uint8Array> {
    let bytes: Uint8Array;
    try {
      bytes = new Uint8Array(await readFile(this.path));
    } catch (e) {
      if ((e as { code?: unknown }).code === 'ENOENT') return new Uint8Array(0);
      throw e;
    }
    if (bytes.length < HEADER_BYTES || bytes.length > FILE_MAX_BYTES) {
      throw new CodecError('CODEC_INVALID_VALUE', `${this.path}: not a conversation state file`);
    }
    const header = bytes.subarray(0, HEADER_BYTES);
    if (!MAGIC.every((b, i) => b === header[i]) || header[MAGIC.length] !== VERSION) {
      throw new CodecError('CODEC_INVALID_VALUE', `${this.path}: not a conversation state file`);
    }
    let plaintext: Uint8Array;
    try {
      plaintext = this.#crypto.aes256gcm.open(
        this.#key,
        header.subarray(MAGIC.length + 1),
        bytes.subarray(HEADER_BYTES),
        header,
      );
    } catch (e) {
      if (e instanceof SealpostError && e.kind === 'crypto') {
        throw new CryptoVerificationError(
          'KEYSTORE_PASSPHRASE_WRONG',
          `${this.path} does not open with this device's key`,
        );
      }
      throw e;
    }
    try {
      const { keyPackages, states, appData } = decodeAll(
        plaintext,
        FILE_MAX_BYTES,
        (r: Reader) => {
          if (r.u8('version') !== 1) throw new CodecError('CODEC_INVALID_VALUE', 'state version');
          const keyPackages = r.opaque(FILE_MAX_BYTES, 'key packages');
          const n = r.u32('conversations');
          const states: Uint8Array[] = [];
          for (let i = 0; i < n; i++) states.push(r.opaque(FILE_MAX_BYTES, 'conversation'));
          return { keyPackages, states, appData: r.opaque(FILE_MAX_BYTES, 'application data') };
        },
        'conversation state',
      );
      await conversations.importKeyPackages(keyPackages);
      for (const s of states) await conversations.decode(s);
      return appData;
    } finally {
      plaintext.fill(0);
    }
  }

  /** Saves `conversations` (writes are serialised; each replaces the file atomically). */
  save(conversations: Conversations, appData: Uint8Array = new Uint8Array(0)): Promise<void> {
    const next = this.#writes.then(() => this.#write(conversations, appData));
    this.#writes = next.catch(() => undefined);
    return next;
  }

  /** Wipes the derived key. */
  close(): void {
    this.#key.fill(0);
  }

  async #write(conversations: Conversations, appData: Uint8Array): Promise<void> {
    const w = new Writer().u8(1).opaque(conversations.exportKeyPackages());
    const list = conversations.list();
    w.u32(list.length);
    for (const c of list) w.opaque(conversations.encode(c));
    const plaintext = w.opaque(appData).finish();
    const nonce = this.#crypto.randomBytes(NONCE_BYTES);
    const header = new Uint8Array(HEADER_BYTES);
    header.set(MAGIC);
    header[MAGIC.length] = VERSION;
    header.set(nonce, MAGIC.length + 1);
    let sealed: Uint8Array;
    try {
      sealed = this.#crypto.aes256gcm.seal(this.#key, nonce, plaintext, header);
    } finally {
      plaintext.fill(0);
    }
    const temp = `${this.path}.${Buffer.from(this.#crypto.randomBytes(6)).toString('hex')}.tmp`;
    const file = await open(temp, 'wx', 0o600);
    try {
      await file.writeFile(header);
      await file.writeFile(sealed);
      await file.sync();
    } catch (e) {
      await file.close();
      await unlink(temp).catch(() => undefined);
      throw e;
    }
    await file.close();
    await rename(temp, this.path);
  }
}
