/**
 * The world of the conversation tests: one fake delivery service, one honest directory, devices
 * on the node MLS provider, and small helpers to make changes and send text.
 */
import assert from 'node:assert/strict';
import type { Conversation, OutgoingCommit } from '../src/conversations/conversation.ts';
import { commitThrough } from '../src/conversations/delivery.ts';
import type { ConversationEvent } from '../src/conversations/events.ts';
import { mlsCiphersuite } from '../src/mls/provider.ts';
import { FakeDeliveryService, FakeDirectory, TestDevice } from './conversation-fake-ds.ts';
import { nodeMlsCryptoProvider } from './mls-crypto.ts';

const cs = await mlsCiphersuite({ provider: nodeMlsCryptoProvider });
const te = new TextEncoder();
const td = new TextDecoder();

export interface World {
  readonly ds: FakeDeliveryService;
  readonly directory: FakeDirectory;
  device(username: string, deviceId: string): Promise<TestDevice>;
}

export function world(): World {
  const ds = new FakeDeliveryService();
  const directory = new FakeDirectory();
  return { ds, directory, device: (u, d) => TestDevice.make(u, d, cs, ds, directory) };
}

export function conv(d: TestDevice, groupId: Uint8Array): Conversation {
  const c = d.conversations.get(groupId);
  assert.ok(c, `${d.ref.username}/${d.ref.deviceId} is not in the group`);
  return c;
}

/** `d` makes a change through the DS (retrying after a lost race). */
export async function change(
  w: World,
  d: TestDevice,
  groupId: Uint8Array,
  op: (c: Conversation) => Promise<OutgoingCommit>,
): Promise<ConversationEvent[]> {
  const c = conv(d, groupId);
  return commitThrough(
    w.ds,
    c,
    () => op(c),
    async () => void (await d.drain()),
  );
}

export async function say(w: World, d: TestDevice, groupId: Uint8Array, text: string): Promise<void> {
  await w.ds.sendMessage(await conv(d, groupId).send(te.encode(text)));
}

export function texts(events: readonly ConversationEvent[]): string[] {
  return events.flatMap((e) =>
    e.kind === 'message' ? [`${e.from.username}/${e.from.deviceId}: ${td.decode(e.plaintext)}`] : [],
  );
}

export function kinds(events: readonly ConversationEvent[]): string[] {
  return events.map((e) => e.kind);
}

export { cs };
