/**
 * Roster reconciliation (reconcile.ts) through the in-memory delivery service: the other members
 * keep a group's devices equal to the directory's lists after a user recovered the account (all
 * old devices gone, a new one listed), after an account was deleted, and when a claim offers a
 * device the directory does not list. Races between reconcilers, and with the owner's own add of
 * its new device, end with the device in once.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Conversation } from '../src/conversations/conversation.ts';
import { isConversationError } from '../src/conversations/errors.ts';
import type { ConversationEvent } from '../src/conversations/events.ts';
import type { DeviceDirectory, DirectoryDevice } from '../src/conversations/identity.ts';
import { ReconcileSchedule, rosterDrift } from '../src/conversations/reconcile.ts';
import { CONVERSATION_LIMITS } from '../src/conversations/limits.ts';
import { FakeDirectory, TestDevice } from './conversation-fake-ds.ts';
import { change, conv, cs, say, texts, world, type World } from './conversation-test-world.ts';

/** Roster events as `kind username/device (reason)` lines. */
function roster(events: readonly ConversationEvent[]): string[] {
  return events.flatMap((e) => {
    const why = 'reason' in e && e.reason !== undefined ? ` (${e.reason})` : '';
    if (e.kind === 'device-added' || e.kind === 'device-removed') {
      return [`${e.kind} ${e.device.username}/${e.device.deviceId}${why}`];
    }
    if (e.kind === 'user-added' || e.kind === 'user-removed') return [`${e.kind} ${e.username}${why}`];
    return [];
  });
}

/** The honest directory's lists, but every KeyPackage claim also returns `ghost`'s. */
class GhostClaims extends FakeDirectory {
  readonly #honest: FakeDirectory;
  readonly #ghost: DirectoryDevice;
  constructor(honest: FakeDirectory, ghost: DirectoryDevice) {
    super();
    this.#honest = honest;
    this.#ghost = ghost;
  }
  override devicesOf(username: string): Promise<readonly DirectoryDevice[]> {
    return this.#honest.devicesOf(username);
  }
  override async addableDevicesOf(
    username: string,
    deviceIds?: readonly string[],
  ): Promise<readonly DirectoryDevice[]> {
    this.claims.push({ username, deviceIds });
    return [...(await this.#honest.addableDevicesOf(username, deviceIds)), this.#ghost];
  }
}

/** The honest directory's lists, but every KeyPackage claim answers with `keyPackage` (another device's). */
class SwappedKeyPackages extends FakeDirectory {
  readonly #honest: FakeDirectory;
  readonly #keyPackage: Uint8Array;
  constructor(honest: FakeDirectory, keyPackage: Uint8Array) {
    super();
    this.#honest = honest;
    this.#keyPackage = keyPackage;
  }
  override devicesOf(username: string): Promise<readonly DirectoryDevice[]> {
    return this.#honest.devicesOf(username);
  }
  override async addableDevicesOf(
    username: string,
    deviceIds?: readonly string[],
  ): Promise<readonly DirectoryDevice[]> {
    const honest = await this.#honest.addableDevicesOf(username, deviceIds);
    return honest.map((d) => ({ ...d, keyPackage: this.#keyPackage }));
  }
}

const ids = (c: Conversation) => c.members().map((d) => `${d.username}/${d.deviceId}`);

/** alice, bob and carol; a 1:1 of alice and bob, and a group of the three. */
async function threeUsers(w: World) {
  const a1 = await w.device('alice', 'a1');
  const b1 = await w.device('bob', 'b1');
  const c1 = await w.device('carol', 'c1');
  const oneToOne = (await a1.conversations.create()).groupId;
  await change(w, a1, oneToOne, (c) => c.addUser('bob'));
  await b1.drain(); // uses its KeyPackage; it publishes a fresh one (the fake hands out the newest)
  const group = (await a1.conversations.create()).groupId;
  await change(w, a1, group, (c) => c.addUsers(['bob', 'carol']));
  for (const d of [b1, c1]) await d.drain();
  return { a1, b1, c1, oneToOne, group };
}

/** bob's account is recovered: b1 is no longer listed, b2 (new keys) is. */
async function recoverBob(w: World, b1: TestDevice): Promise<TestDevice> {
  w.directory.unlist(b1.ref);
  return w.device('bob', 'b2');
}

describe('conversations: roster reconciliation', () => {
  it('replaces a recovered user’s old device by the new one in every conversation, each member seeing why', async () => {
    const w = world();
    const { a1, b1, c1, oneToOne, group } = await threeUsers(w);
    const b2 = await recoverBob(w, b1);

    for (const g of [oneToOne, group]) {
      const events = await change(w, a1, g, (c) => c.reconcile());
      assert.deepEqual(roster(events), [
        'device-added bob/b2 (directory)',
        'device-removed bob/b1 (directory)',
      ]);
      // The old device is left out of the commit's recipients: the server unlinked it.
      const sent = w.ds.accepted.at(-1)!;
      assert.ok(!sent.recipients.some((d) => d.deviceId === 'b1'));
      assert.deepEqual(
        sent.joiners.map((d) => d.deviceId),
        ['b2'],
      );
      assert.equal((await b2.drain())[0]?.kind, 'joined');
    }
    assert.deepEqual(ids(conv(a1, oneToOne)), ['alice/a1', 'bob/b2']);
    assert.deepEqual(roster(await c1.drain()), [
      'device-added bob/b2 (directory)',
      'device-removed bob/b1 (directory)',
    ]);
    // bob's new device reads alice's next message and can write to the group; carol gets it.
    await say(w, a1, oneToOne, 'welcome back');
    assert.deepEqual(texts(await b2.drain()), ['alice/a1: welcome back']);
    await say(w, b2, group, 'hello from my new device');
    assert.deepEqual(texts(await c1.drain()), ['bob/b2: hello from my new device']);
    assert.deepEqual(texts(await a1.drain()), ['bob/b2: hello from my new device']);
  });

  it('a second reconciler that lost the race catches up and finds nothing left to do', async () => {
    const w = world();
    const { a1, b1, c1, group } = await threeUsers(w);
    await recoverBob(w, b1);
    const fromAlice = await conv(a1, group).reconcile();
    const fromCarol = await conv(c1, group).reconcile();
    await w.ds.submitCommit(fromAlice);
    await conv(a1, group).confirmCommit();
    await assert.rejects(w.ds.submitCommit(fromCarol), (e) =>
      isConversationError(e, 'CONVERSATION_EPOCH_CONFLICT'),
    );
    conv(c1, group).discardCommit();
    await c1.drain();
    await assert.rejects(conv(c1, group).reconcile(), (e) =>
      isConversationError(e, 'CONVERSATION_NO_SUCH_MEMBER'),
    );
    assert.deepEqual(ids(conv(c1, group)).sort(), ['alice/a1', 'bob/b2', 'carol/c1']);
    assert.equal(conv(c1, group).epoch, conv(a1, group).epoch);
  });

  it('does not break the owner adding its own new device: the owner finds it already in', async () => {
    const w = world();
    const { a1, b1, oneToOne } = await threeUsers(w);
    const b3 = await w.device('bob', 'b3'); // linked by b1, now listed
    // b1 (approving) and alice (reconciling) commit for the same epoch; alice wins.
    const fromBob = await conv(b1, oneToOne).addUsers([], ['bob']);
    await change(w, a1, oneToOne, (c) => c.reconcile());
    await assert.rejects(w.ds.submitCommit(fromBob), (e) =>
      isConversationError(e, 'CONVERSATION_EPOCH_CONFLICT'),
    );
    conv(b1, oneToOne).discardCommit();
    await b1.drain();
    await assert.rejects(
      change(w, b1, oneToOne, (c) => c.addUsers([], ['bob'])),
      (e) => isConversationError(e, 'CONVERSATION_NO_SUCH_MEMBER'),
    );
    assert.deepEqual(ids(conv(b1, oneToOne)), ['alice/a1', 'bob/b1', 'bob/b3']);
    assert.equal((await b3.drain())[0]?.kind, 'joined');
  });

  it('removes a user whose directory entry lists no device any more (account deleted)', async () => {
    const w = world();
    const { a1, b1, c1, group } = await threeUsers(w);
    w.directory.unlist(b1.ref);
    const events = await change(w, a1, group, (c) => c.reconcile());
    assert.deepEqual(roster(events), ['device-removed bob/b1 (directory)', 'user-removed bob (directory)']);
    assert.deepEqual(roster(await c1.drain()), [
      'device-removed bob/b1 (directory)',
      'user-removed bob (directory)',
    ]);
    assert.deepEqual(conv(c1, group).users(), ['alice', 'carol']);
  });

  it('never adds a device the directory does not list, even when the KeyPackage claim offers one', async () => {
    const w = world();
    const { a1, b1, group } = await threeUsers(w);
    // The server registered a ghost device for bob and hands out its KeyPackage with any claim
    // for bob; the directory (the verified list) does not hold it.
    const ghost = await TestDevice.make('bob', 'ghost', cs, w.ds, w.directory, new FakeDirectory());
    const ghostOffer: DirectoryDevice = {
      deviceId: 'ghost',
      credentialKey: ghost.conversations.signaturePublicKey,
      keyPackage: await ghost.conversations.newKeyPackage(),
    };
    const claimsGhosts = new GhostClaims(w.directory, ghostOffer);
    const a2 = await TestDevice.make('alice', 'a2', cs, w.ds, claimsGhosts, w.directory);
    await change(w, a1, group, (c) => c.addUsers([], ['alice']));
    await a2.drain();
    // Nothing to reconcile: the ghost is not even asked for.
    await assert.rejects(conv(a2, group).reconcile(), (e) =>
      isConversationError(e, 'CONVERSATION_NO_SUCH_MEMBER'),
    );
    assert.deepEqual(claimsGhosts.claims, []);
    // bob links b2 (listed); the claim for it comes back with the ghost too: only b2 is added.
    await w.device('bob', 'b2');
    const events = await change(w, a2, group, (c) => c.reconcile());
    assert.deepEqual(roster(events), ['device-added bob/b2 (directory)']);
    assert.deepEqual(claimsGhosts.claims, [{ username: 'bob', deviceIds: ['b2'] }]);
    assert.ok(!ids(conv(a2, group)).includes('bob/ghost'));
    assert.equal(ghost.mailbox.length, 0);
    void b1;
  });

  it('keeps a user’s last old device while the listed new one has no usable KeyPackage, then replaces it', async () => {
    const w = world();
    const { a1, b1, group } = await threeUsers(w);
    const foreign = (await w.directory.addableDevicesOf('carol'))[0]!.keyPackage;
    const swapped = new SwappedKeyPackages(w.directory, foreign);
    const a2 = await TestDevice.make('alice', 'a2', cs, w.ds, swapped, w.directory);
    await change(w, a1, group, (c) => c.addUsers([], ['alice']));
    await a2.drain();
    await recoverBob(w, b1);
    // b2's KeyPackage (as the claim answers it) is carol's: b2 cannot be added, so bob is not
    // dropped from the group either (nobody would add him back).
    await assert.rejects(conv(a2, group).reconcile(), (e) =>
      isConversationError(e, 'CONVERSATION_NO_SUCH_MEMBER'),
    );
    assert.ok(ids(conv(a2, group)).includes('bob/b1'));
    // A member with an honest claim replaces the device in one commit.
    const events = await change(w, a1, group, (c) => c.reconcile());
    assert.deepEqual(roster(events), [
      'device-added bob/b2 (directory)',
      'device-removed bob/b1 (directory)',
    ]);
    assert.deepEqual(roster(await a2.drain()), [
      'device-added bob/b2 (directory)',
      'device-removed bob/b1 (directory)',
    ]);
  });

  it('does nothing when the directory cannot be asked about a user, or when this device is not listed itself', async () => {
    const w = world();
    const { a1, b1, c1, group } = await threeUsers(w);
    await recoverBob(w, b1);
    const down: DeviceDirectory = {
      devicesOf: async (u) => {
        if (u === 'bob') throw new Error('directory unreachable');
        return w.directory.devicesOf(u);
      },
      addableDevicesOf: (u, d) => w.directory.addableDevicesOf(u, d),
    };
    assert.deepEqual(await rosterDrift(conv(a1, group).members(), a1.ref, down), { stale: [], missing: [] });
    // b1, replaced by the recovery, must not remove the others (nor anything).
    assert.deepEqual(await rosterDrift(conv(b1, group).members(), b1.ref, w.directory), {
      stale: [],
      missing: [],
    });
    await assert.rejects(conv(b1, group).reconcile(), (e) =>
      isConversationError(e, 'CONVERSATION_NO_SUCH_MEMBER'),
    );
    void c1;
  });

  it('rate-limits: a conversation is checked once per interval', () => {
    let now = 1_000;
    const s = new ReconcileSchedule(CONVERSATION_LIMITS.reconcileIntervalMs, () => now);
    const g = new Uint8Array([1, 2, 3]);
    assert.equal(s.take(g), true);
    now += CONVERSATION_LIMITS.reconcileIntervalMs - 1;
    assert.equal(s.take(g), false);
    assert.equal(s.take(new Uint8Array([4])), true);
    now += 1;
    assert.equal(s.take(g), true);
  });
});
