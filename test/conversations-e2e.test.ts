/**
 * Conversations end to end: real MLS (ts-mls on the node provider) through a real server on every
 * store. Devices are `DeviceSession`s: KeyPackages uploaded and claimed over the WebSocket,
 * commits ordered by the server's COMMIT / EPOCH_CONFLICT, device lists read from the account
 * endpoint (test-only `UnverifiedServerDirectory`: the key directory is not what these test). Last, a canary: an application message's plaintext is found in
 * no row the store holds for any account, in any encoding.
 */
import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import { after, before, describe, test } from 'node:test';
import { parseUsername } from '@sealpost/core';
import type { Store } from '@sealpost/server';
import { ServerApi } from '../packages/client/src/account-api.ts';
import type { Conversation } from '../packages/client/src/conversations/conversation.ts';
import { DeviceSession } from '../packages/client/src/conversations/device-session.ts';
import { mlsCiphersuite } from '../packages/client/src/mls/provider.ts';
import { nodeMlsCryptoProvider } from '../packages/client/node/mls-crypto.ts';
import { storeFactories } from '../packages/server/src/store/test-databases.ts';
import {
  createDevice,
  crypto,
  startInstance,
  text,
  untext,
  type Instance,
  uniqueName,
} from './support/harness.ts';
import { unverifiedDirectory } from './support/unverified-directory.ts';

const cs = await mlsCiphersuite({ provider: nodeMlsCryptoProvider });

/** Every device of one user: the first from account creation, the others added over HTTP. */
async function user(node: Instance, prefix: string, devices: number) {
  const first = await createDevice(node.url, uniqueName(prefix));
  const seeds = [first.deviceSeed];
  const api = new ServerApi(node.url, crypto);
  for (let i = 1; i < devices; i++) {
    const deviceSeed = crypto.randomBytes(32);
    await api.addDevice({ username: first.username, accountSeed: first.accountSeed, deviceSeed });
    seeds.push(deviceSeed);
  }
  return { username: first.username, seeds };
}

function open(node: Instance, username: string, deviceSeed: Uint8Array): Promise<DeviceSession> {
  return DeviceSession.open({
    serverUrl: node.url,
    username,
    deviceSeed,
    crypto,
    cs,
    connection: { reconnectBaseMs: 20, reconnectMaxMs: 200 },
    directory: unverifiedDirectory(node.url, crypto),
  });
}

function conv(d: DeviceSession, groupId: Uint8Array): Conversation {
  const c = d.conversations.get(groupId);
  assert.ok(c, `${d.self.username}/${d.self.deviceId} is not in the group`);
  return c;
}

/** The texts `d` has read in the group, as "user: text". */
function read(d: DeviceSession, groupId: Uint8Array): string[] {
  return d.events.flatMap(({ conversation, event }) =>
    event.kind === 'message' && Buffer.from(conversation.groupId).equals(groupId)
      ? [`${event.from.username}: ${untext(event.plaintext)}`]
      : [],
  );
}

async function waitRead(d: DeviceSession, groupId: Uint8Array, line: string): Promise<void> {
  await d.waitUntil(() => read(d, groupId).includes(line), 15_000, `"${line}" at ${d.self.username}`);
}

/** Waits until every device is in the group at `epoch`, then checks they agree on the roster. */
async function converged(devices: readonly DeviceSession[], groupId: Uint8Array, epoch: bigint) {
  for (const d of devices) {
    await d.waitUntil(
      () => (d.conversations.get(groupId)?.epoch ?? -1n) >= epoch,
      15_000,
      `epoch ${epoch} at ${d.self.username}/${d.self.deviceId}`,
    );
  }
  const rosters = devices.map((d) =>
    conv(d, groupId)
      .members()
      .map((m) => `${m.username}/${m.deviceId}`)
      .sort()
      .join(','),
  );
  for (const d of devices) assert.equal(conv(d, groupId).epoch, epoch);
  assert.equal(new Set(rosters).size, 1, 'every device sees the same roster');
  for (const d of devices) assert.deepEqual(d.refusals, [], `${d.self.username} refused nothing`);
}

/** Where `canary` occurs in `value`: as is, UTF-8, hex, base64 or base64url, at any alignment. */
function holdsCanary(value: unknown, canary: Uint8Array): boolean {
  const needle = Buffer.from(canary);
  const candidates: Buffer[] = [];
  const addText = (s: string) => {
    candidates.push(Buffer.from(s, 'utf8'), Buffer.from(s, 'latin1'));
    for (let i = 0; i < 4; i++) {
      candidates.push(Buffer.from(s.slice(i), 'base64'), Buffer.from(s.slice(i), 'base64url'));
    }
    for (let i = 0; i < 2; i++) candidates.push(Buffer.from(s.slice(i).replace(/[^0-9a-f]/gi, ''), 'hex'));
  };
  if (value instanceof Uint8Array) {
    candidates.push(Buffer.from(value));
    addText(Buffer.from(value).toString('latin1'));
  } else if (typeof value === 'string') addText(value);
  else if (value !== null && value !== undefined) addText(String(value));
  return candidates.some((c) => c.includes(needle));
}

test('the canary search finds the canary in every encoding it claims to cover', () => {
  const canary = text('canary-d41d8cd98f00');
  const b = Buffer.from(canary);
  for (const v of [
    canary,
    b.toString('utf8'),
    `x${b.toString('hex')}`,
    b.toString('hex').toUpperCase(),
    `ab${b.toString('base64')}`,
    `a${b.toString('base64url')}`,
    Buffer.concat([Buffer.from('prefix'), b]),
  ]) {
    assert.ok(holdsCanary(v, canary), `found in ${String(v)}`);
  }
  assert.equal(holdsCanary('nothing here', canary), false);
});

for (const factory of storeFactories) {
  describe(`${factory.name}: conversations end to end`, () => {
    let store: Store;
    let cleanup: () => Promise<void>;
    let node: Instance;
    const sessions: DeviceSession[] = [];
    const session = async (username: string, seed: Uint8Array) => {
      const s = await open(node, username, seed);
      sessions.push(s);
      return s;
    };
    before(async () => {
      ({ store, cleanup } = await factory.open());
      node = await startInstance(store);
    });
    after(async () => {
      for (const s of sessions) await s.close();
      await node.close();
      await cleanup();
    });

    test('Alice and Bob talk 1:1 through the server', async () => {
      const alice = await user(node, 'alice', 1);
      const bob = await user(node, 'bob', 1);
      const a = await session(alice.username, alice.seeds[0]!);
      const b = await session(bob.username, bob.seeds[0]!);
      const stock = await b.connection.countKeyPackages();
      assert.equal(stock.oneTime, 8);
      assert.equal(stock.hasLastResort, true);

      const c = await a.create();
      await a.change(c, (x) => x.addUser(bob.username));
      await converged([a, b], c.groupId, 1n);
      assert.deepEqual(conv(b, c.groupId).users().sort(), [alice.username, bob.username].sort());

      await a.send(c, text('hello Bob'));
      await waitRead(b, c.groupId, `${alice.username}: hello Bob`);
      await b.send(conv(b, c.groupId), text('hello Alice'));
      await waitRead(a, c.groupId, `${bob.username}: hello Alice`);
      // Bob's used KeyPackage was taken; 7 is above the low water mark, so none is uploaded yet
      // (top-up: conversations-keypackages.test.ts).
      assert.equal((await b.connection.countKeyPackages()).oneTime, 7);
    });

    let group: { devices: DeviceSession[]; groupId: Uint8Array } | undefined;

    test('a group of 3 users with 2 devices each: everyone reads everyone', async () => {
      const users = [await user(node, 'ann', 2), await user(node, 'ben', 2), await user(node, 'cat', 2)];
      const devices: DeviceSession[] = [];
      for (const u of users) for (const seed of u.seeds) devices.push(await session(u.username, seed));
      const owner = devices[0]!;
      const c = await owner.create();
      // The owner's own other device, then the two other users (all of their devices each).
      for (const u of users) await owner.change(c, (x) => x.addUser(u.username));
      await converged(devices, c.groupId, 3n);
      assert.equal(c.members().length, 6);

      for (const [i, d] of devices.entries()) await d.send(conv(d, c.groupId), text(`hi from ${i}`));
      for (const [i, d] of devices.entries()) {
        for (const [j, other] of devices.entries()) {
          if (i !== j) await waitRead(other, c.groupId, `${d.self.username}: hi from ${i}`);
        }
      }
      group = { devices, groupId: c.groupId };
    });

    test('two devices race a commit: one wins, the other catches up and retries, all converge', async () => {
      assert.ok(group, 'needs the group of the previous test');
      const { devices, groupId } = group;
      const [x, y] = [devices[2]!, devices[5]!];
      const before = conv(x, groupId).epoch;
      const conflictsBefore = x.conflicts + y.conflicts;
      await Promise.all([
        x.change(conv(x, groupId), (c) => c.update()),
        y.change(conv(y, groupId), (c) => c.update()),
      ]);
      assert.equal(x.conflicts + y.conflicts - conflictsBefore, 1, 'exactly one lost the race');
      await converged(devices, groupId, before + 2n);
      await x.send(conv(x, groupId), text('after the race'));
      for (const d of devices) {
        if (d !== x) await waitRead(d, groupId, `${x.self.username}: after the race`);
      }
    });

    test('canary: the plaintext of a message is in no row of any account', async () => {
      const alice = await user(node, 'ava', 1);
      const bob = await user(node, 'bo', 2);
      const a = await session(alice.username, alice.seeds[0]!);
      const b1 = await session(bob.username, bob.seeds[0]!);
      const b2 = await session(bob.username, bob.seeds[1]!);
      const c = await a.create();
      await a.change(c, (x) => x.addUser(bob.username));
      await converged([a, b1, b2], c.groupId, 1n);
      // Bob's second device goes offline: the message waits in its mailbox, in the store.
      await b2.close();
      const canary = text(`canary-${Buffer.from(crypto.randomBytes(12)).toString('hex')}`);
      const outgoing = await c.send(canary);
      await a.delivery.sendMessage(outgoing);
      await waitRead(b1, c.groupId, `${alice.username}: ${untext(canary)}`);

      const names = [alice.username, bob.username];
      for (const g of group?.devices ?? []) names.push(g.self.username);
      let rows = 0;
      let ciphertextSeen = false;
      for (const name of new Set(names)) {
        const disclosure = await store.disclose(parseUsername(name));
        assert.ok(disclosure, `${name} exists`);
        for (const [table, list] of Object.entries(disclosure)) {
          for (const row of list) {
            rows++;
            for (const [column, value] of Object.entries(row)) {
              ciphertextSeen ||= holdsCanary(value, outgoing.message);
              assert.equal(
                holdsCanary(value, canary),
                false,
                `canary found in ${table}.${column} of ${name}`,
              );
            }
          }
        }
      }
      // The search looked where the message is: its ciphertext, waiting for Bob's second device.
      assert.ok(ciphertextSeen, `the ciphertext is among the ${rows} rows searched`);
    });
  });
}
