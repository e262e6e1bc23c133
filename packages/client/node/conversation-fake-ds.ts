/**
 * Test doubles for the conversation layer: an in-memory delivery service that orders commits per
 * group as the real one must (DESIGN.md "Conversations": a commit only for the group's current
 * epoch, the first wins, the loser gets CONVERSATION_EPOCH_CONFLICT), an in-memory device
 * directory, and `TestDevice`, one device with its mailbox loop.
 *
 * Mailboxes are plain arrays so a test can play a malicious server: drop, duplicate, reorder or
 * inject bytes before a device drains its mailbox.
 */
import { Buffer } from 'node:buffer';
import type { CiphersuiteImpl } from 'ts-mls';
import type { OutgoingCommit, OutgoingMessage } from '../src/conversations/conversation.ts';
import { Conversations } from '../src/conversations/conversations.ts';
import { type DeliveryService, epochConflict } from '../src/conversations/delivery.ts';
import { type ConversationError, isConversationError } from '../src/conversations/errors.ts';
import type { ConversationEvent } from '../src/conversations/events.ts';
import {
  type DeviceDirectory,
  type DeviceRef,
  type DirectoryDevice,
  deviceKey,
} from '../src/conversations/identity.ts';

function hex(b: Uint8Array): string {
  return Buffer.from(b).toString('hex');
}

export class FakeDirectory implements DeviceDirectory {
  readonly #users = new Map<string, Map<string, DirectoryDevice>>();

  list(username: string, device: DirectoryDevice): void {
    let devices = this.#users.get(username);
    if (devices === undefined) this.#users.set(username, (devices = new Map()));
    devices.set(device.deviceId, device);
  }

  unlist(device: DeviceRef): void {
    this.#users.get(device.username)?.delete(device.deviceId);
  }

  async devicesOf(username: string): Promise<readonly DirectoryDevice[]> {
    return [...(this.#users.get(username)?.values() ?? [])];
  }

  /** Every `addableDevicesOf` question, in order: which user, and which devices (all: undefined). */
  readonly claims: { username: string; deviceIds: readonly string[] | undefined }[] = [];

  /** The fake lists one KeyPackage per device and hands it out without consuming it. */
  async addableDevicesOf(
    username: string,
    deviceIds?: readonly string[],
  ): Promise<readonly DirectoryDevice[]> {
    this.claims.push({ username, deviceIds });
    const devices = await this.devicesOf(username);
    return deviceIds === undefined ? devices : devices.filter((d) => deviceIds.includes(d.deviceId));
  }
}

export class FakeDeliveryService implements DeliveryService {
  readonly #epochs = new Map<string, bigint>();
  readonly mailboxes = new Map<string, Uint8Array[]>();
  /** Every commit accepted, in order, for tests that replay or re-deliver. */
  readonly accepted: OutgoingCommit[] = [];

  mailbox(device: DeviceRef): Uint8Array[] {
    let box = this.mailboxes.get(deviceKey(device));
    if (box === undefined) this.mailboxes.set(deviceKey(device), (box = []));
    return box;
  }

  deliver(to: readonly DeviceRef[], bytes: Uint8Array): void {
    for (const d of to) this.mailbox(d).push(bytes);
  }

  async submitCommit(c: OutgoingCommit): Promise<void> {
    const g = hex(c.groupId);
    const epoch = this.#epochs.get(g) ?? 0n;
    if (c.epoch !== epoch) throw epochConflict(epoch, c.epoch);
    this.#epochs.set(g, epoch + 1n);
    this.accepted.push(c);
    this.deliver(c.recipients, c.commit);
    if (c.welcome !== undefined) this.deliver(c.joiners, c.welcome);
  }

  async sendMessage(m: OutgoingMessage): Promise<void> {
    this.deliver(m.recipients, m.message);
  }
}

/** One device: its Conversations, its directory entry, the events and refusals it saw. */
export class TestDevice {
  readonly ref: DeviceRef;
  readonly conversations: Conversations;
  readonly events: ConversationEvent[] = [];
  readonly refusals: ConversationError[] = [];
  readonly #ds: FakeDeliveryService;
  readonly #directory: FakeDirectory;

  private constructor(
    ref: DeviceRef,
    conversations: Conversations,
    ds: FakeDeliveryService,
    directory: FakeDirectory,
  ) {
    this.ref = ref;
    this.conversations = conversations;
    this.#ds = ds;
    this.#directory = directory;
  }

  /**
   * A device listed in `listIn` (default: the directory it trusts), with one fresh KeyPackage.
   * `trusts` is the directory this device checks others against.
   */
  static async make(
    username: string,
    deviceId: string,
    cs: CiphersuiteImpl,
    ds: FakeDeliveryService,
    trusts: FakeDirectory,
    listIn: FakeDirectory | null = trusts,
  ): Promise<TestDevice> {
    const ref = { username, deviceId };
    const conversations = await Conversations.open({ self: ref, cs, directory: trusts });
    const d = new TestDevice(ref, conversations, ds, listIn ?? trusts);
    if (listIn !== null) await d.publishKeyPackage();
    return d;
  }

  /** (Re)list this device with a fresh one-time KeyPackage. */
  async publishKeyPackage(directory: FakeDirectory = this.#directory): Promise<void> {
    directory.list(this.ref.username, {
      deviceId: this.ref.deviceId,
      credentialKey: this.conversations.signaturePublicKey,
      keyPackage: await this.conversations.newKeyPackage(),
    });
  }

  get mailbox(): Uint8Array[] {
    return this.#ds.mailbox(this.ref);
  }

  /** Process the whole mailbox in order; refusals are recorded, not thrown. Returns the new events. */
  async drain(): Promise<ConversationEvent[]> {
    const out: ConversationEvent[] = [];
    const box = this.mailbox;
    while (box.length > 0) {
      const bytes = box.shift()!;
      try {
        const r = await this.conversations.receive(bytes);
        out.push(...r.events);
        if (r.events.some((e) => e.kind === 'joined')) await this.publishKeyPackage();
      } catch (e) {
        if (!isConversationError(e)) throw e;
        this.refusals.push(e);
      }
    }
    this.events.push(...out);
    return out;
  }
}
