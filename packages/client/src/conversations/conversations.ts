/**
 * All the conversations of one device: its MLS signature key, its KeyPackages (the private halves
 * stay here until a Welcome uses them), and the routing of incoming bytes to the right group.
 *
 * Sans-I/O like conversation.ts: the caller feeds `receive()` with what the mailbox delivers and
 * hands what comes out to the delivery service (delivery.ts).
 */
import type { Reader } from '@sealpost/core';
import { LIMITS, Writer, decodeAll } from '@sealpost/core';
import {
  type CiphersuiteImpl,
  createGroup,
  decodeMlsMessage,
  emptyPskIndex,
  joinGroup,
  zeroOutUint8Array,
} from 'ts-mls';
import { defaultClientConfig } from 'ts-mls/clientConfig.js';
import { makeKeyPackageRef } from 'ts-mls/keyPackage.js';
import { Conversation, type ConversationContext } from './conversation.ts';
import { ConversationError } from './errors.ts';
import { decodeOne } from './incoming.ts';
import type { ConversationEvent } from './events.ts';
import type { DeviceDirectory, DeviceRef } from './identity.ts';
import { makeKeyPackage, type OwnKeyPackage, type SignatureKeyPair } from './key-packages.ts';
import { CONVERSATION_LIMITS } from './limits.ts';
import { SeenMessages } from './seen-messages.ts';
import { decodeConversationState, encodeConversationState } from './state-codec.ts';

export interface ConversationsOptions {
  readonly self: DeviceRef;
  readonly cs: CiphersuiteImpl;
  readonly directory: DeviceDirectory;
  /** This device's MLS signature key pair; generated when absent (then publish `signaturePublicKey`). */
  readonly signatureKeys?: SignatureKeyPair;
}

export interface Received {
  readonly conversation: Conversation;
  readonly events: ConversationEvent[];
}

function hex(b: Uint8Array): string {
  let s = '';
  for (const x of b) s += x.toString(16).padStart(2, '0');
  return s;
}

export class Conversations {
  readonly #ctx: ConversationContext;
  readonly #keys: SignatureKeyPair;
  readonly #keyPackages = new Map<string, OwnKeyPackage>();
  /** Refs of last-resort KeyPackages: kept after a Welcome used them (RFC 9420 §16.8). */
  readonly #lastResort = new Set<string>();
  readonly #groups = new Map<string, Conversation>();
  readonly #welcomes = new SeenMessages();

  private constructor(ctx: ConversationContext, keys: SignatureKeyPair) {
    this.#ctx = ctx;
    this.#keys = keys;
  }

  static async open(options: ConversationsOptions): Promise<Conversations> {
    const keys = options.signatureKeys ?? (await options.cs.signature.keygen());
    return new Conversations({ self: options.self, cs: options.cs, directory: options.directory }, keys);
  }

  get self(): DeviceRef {
    return this.#ctx.self;
  }

  /** What the directory must list as this device's `credentialKey`. */
  get signaturePublicKey(): Uint8Array {
    return this.#keys.publicKey;
  }

  /** A fresh one-time KeyPackage for the KeyPackage store; its private half stays here. */
  async newKeyPackage(): Promise<Uint8Array> {
    const kp = await makeKeyPackage(this.#ctx.self, this.#keys, this.#ctx.cs);
    this.#keyPackages.set(hex(await makeKeyPackageRef(kp.publicPackage, this.#ctx.cs.hash)), kp);
    return kp.encoded;
  }

  /**
   * A last-resort KeyPackage, handed out by the server when no one-time one is left; its private
   * half is kept after use, so it may join several groups (RFC 9420 §16.8 accepts the reuse).
   */
  async newLastResortKeyPackage(): Promise<Uint8Array> {
    const kp = await makeKeyPackage(this.#ctx.self, this.#keys, this.#ctx.cs);
    const ref = hex(await makeKeyPackageRef(kp.publicPackage, this.#ctx.cs.hash));
    this.#keyPackages.set(ref, kp);
    this.#lastResort.add(ref);
    return kp.encoded;
  }

  /**
   * The private halves of this device's unused KeyPackages (and its last-resort one), to keep
   * encrypted at rest beside the conversations: a device restarted without them cannot use a
   * Welcome for a KeyPackage it uploaded before.
   *
   *   u8 version (1) | u32 count | count x (bool last-resort | opaque KeyPackage message |
   *   opaque init private key | opaque HPKE private key | opaque signature private key)
   *
   * (core `Writer`: opaque = u32 length | bytes.)
   */
  exportKeyPackages(): Uint8Array {
    const w = new Writer().u8(1).u32(this.#keyPackages.size);
    for (const [ref, kp] of this.#keyPackages) {
      w.bool(this.#lastResort.has(ref))
        .opaque(kp.encoded)
        .opaque(kp.privatePackage.initPrivateKey)
        .opaque(kp.privatePackage.hpkePrivateKey)
        .opaque(kp.privatePackage.signaturePrivateKey);
    }
    return w.finish();
  }

  /** Takes back `exportKeyPackages`'s bytes; anything else is CONVERSATION_STATE_INVALID. */
  async importKeyPackages(bytes: Uint8Array): Promise<void> {
    const max = LIMITS.keyPackageMaxBytes;
    let entries: { lastResort: boolean; encoded: Uint8Array; keys: Uint8Array[] }[];
    try {
      entries = decodeAll(
        bytes,
        CONVERSATION_LIMITS.stateBytes,
        (r: Reader) => {
          if (r.u8('version') !== 1) throw new Error('version');
          const n = r.u32('count');
          if (n > LIMITS.keyPackagesPerDevice + 2 * LIMITS.keyPackagesPerUpload) throw new Error('count');
          return Array.from({ length: n }, () => ({
            lastResort: r.bool('last resort'),
            encoded: r.opaque(max, 'key package'),
            keys: [r.opaque(max, 'init key'), r.opaque(max, 'hpke key'), r.opaque(max, 'signature key')],
          }));
        },
        'key packages',
      );
    } catch {
      throw new ConversationError('CONVERSATION_STATE_INVALID', 'key packages do not decode');
    }
    for (const e of entries) {
      let decoded: ReturnType<typeof decodeMlsMessage>;
      try {
        decoded = decodeMlsMessage(e.encoded, 0);
      } catch {
        decoded = undefined;
      }
      const m = decoded?.[0];
      if (m?.wireformat !== 'mls_key_package') {
        throw new ConversationError('CONVERSATION_STATE_INVALID', 'not a KeyPackage');
      }
      const [initPrivateKey, hpkePrivateKey, signaturePrivateKey] = e.keys as [
        Uint8Array,
        Uint8Array,
        Uint8Array,
      ];
      const ref = hex(await makeKeyPackageRef(m.keyPackage, this.#ctx.cs.hash));
      this.#keyPackages.set(ref, {
        publicPackage: m.keyPackage,
        privatePackage: { initPrivateKey, hpkePrivateKey, signaturePrivateKey },
        encoded: e.encoded,
      });
      if (e.lastResort) this.#lastResort.add(ref);
    }
  }

  /** A new group with this device as its only member; `groupId` defaults to 32 random bytes. */
  async create(groupId: Uint8Array = this.#ctx.cs.rng.randomBytes(32)): Promise<Conversation> {
    if (this.#groups.has(hex(groupId))) {
      throw new ConversationError('CONVERSATION_WRONG_GROUP', 'a conversation with this id exists');
    }
    const kp = await makeKeyPackage(this.#ctx.self, this.#keys, this.#ctx.cs);
    const { config, refused } = Conversation.clientConfigFor(this.#ctx.directory, defaultClientConfig);
    const state = await createGroup(groupId, kp.publicPackage, kp.privatePackage, [], this.#ctx.cs, config);
    const c = new Conversation(this.#ctx, state, refused);
    this.#groups.set(hex(groupId), c);
    return c;
  }

  get(groupId: Uint8Array): Conversation | undefined {
    return this.#groups.get(hex(groupId));
  }

  list(): Conversation[] {
    return [...this.#groups.values()];
  }

  /**
   * One message from the mailbox: a Welcome joins a group; anything else goes to its group.
   * Throws a ConversationError when the message is refused (nothing changed then).
   */
  async receive(bytes: Uint8Array): Promise<Received> {
    const m = decodeOne(bytes);
    if (m.wireformat === 'mls_welcome') return this.#join(bytes, m.welcome);
    const groupId =
      m.wireformat === 'mls_private_message'
        ? m.privateMessage.groupId
        : m.wireformat === 'mls_public_message'
          ? m.publicMessage.content.groupId
          : undefined;
    if (groupId === undefined) {
      throw new ConversationError('CONVERSATION_MALFORMED', `${m.wireformat} is not a group message`);
    }
    const conversation = this.get(groupId);
    if (conversation === undefined) {
      throw new ConversationError('CONVERSATION_WRONG_GROUP', 'message for a group this device is not in');
    }
    return { conversation, events: await conversation.receive(bytes) };
  }

  async #join(bytes: Uint8Array, welcome: Parameters<typeof joinGroup>[0]): Promise<Received> {
    const digest = await this.#ctx.cs.hash.digest(bytes);
    if (this.#welcomes.has(digest)) {
      throw new ConversationError('CONVERSATION_WELCOME_NOT_FOR_US', 'Welcome already used');
    }
    const ref = welcome.secrets.map((s) => hex(s.newMember)).find((r) => this.#keyPackages.has(r));
    const kp = ref === undefined ? undefined : this.#keyPackages.get(ref);
    if (ref === undefined || kp === undefined) {
      throw new ConversationError('CONVERSATION_WELCOME_NOT_FOR_US', 'Welcome for none of our KeyPackages');
    }
    const { config, refused } = Conversation.clientConfigFor(this.#ctx.directory, defaultClientConfig);
    let state;
    try {
      // The tree comes in the Welcome's GroupInfo (ratchet_tree extension, RFC 9420 §12.4.3.3);
      // every leaf of it goes through the directory.
      state = await joinGroup(
        welcome,
        kp.publicPackage,
        kp.privatePackage,
        emptyPskIndex,
        this.#ctx.cs,
        undefined,
        undefined,
        config,
      );
    } catch (e) {
      const who = refused[0];
      if (who !== undefined) {
        throw new ConversationError(
          'CONVERSATION_UNKNOWN_DEVICE',
          'the Welcome names a device the directory does not list',
          {
            username: who.username,
            deviceId: who.deviceId,
          },
        );
      }
      throw new ConversationError(
        'CONVERSATION_MESSAGE_INVALID',
        e instanceof Error ? `${e.name}: ${e.message}` : 'refused',
      );
    }
    const existing = this.get(state.groupContext.groupId);
    if (existing?.active) {
      throw new ConversationError('CONVERSATION_WRONG_GROUP', 'Welcome into a group this device is in');
    }
    // One-time KeyPackage (RFC 9420 §16.8): forget it; its init key is no longer needed.
    if (!this.#lastResort.has(ref)) {
      this.#keyPackages.delete(ref);
      zeroOutUint8Array(kp.privatePackage.initPrivateKey);
    }
    this.#welcomes.add(digest);
    const conversation = new Conversation(this.#ctx, state, refused);
    this.#groups.set(hex(state.groupContext.groupId), conversation);
    return { conversation, events: [{ kind: 'joined', members: conversation.members() }] };
  }

  /** The conversation's state as bytes, to encrypt at rest (state-codec.ts). */
  encode(conversation: Conversation): Uint8Array {
    return encodeConversationState(conversation.snapshot());
  }

  /** Reopen a conversation from `encode`'s bytes; it replaces any open one with the same group id. */
  async decode(bytes: Uint8Array): Promise<Conversation> {
    const d = decodeConversationState(bytes);
    const { config, refused } = Conversation.clientConfigFor(this.#ctx.directory, defaultClientConfig);
    const c = new Conversation(this.#ctx, { ...d.group, clientConfig: config }, refused, d.seen);
    await c.restoreFuture(d.future);
    this.#groups.set(hex(d.group.groupContext.groupId), c);
    return c;
  }
}
