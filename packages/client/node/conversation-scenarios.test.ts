/**
 * Conversation scenarios on the node MLS provider, through the in-memory delivery service of
 * conversation-fake-ds.ts: 1:1, a group of users with several devices, membership changes,
 * offline catch-up, concurrent commits, duplicates and reordering, state at rest.
 * The malicious-server cases are in conversation-malicious-ds.test.ts.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isConversationError } from '../src/conversations/errors.ts';
import type { TestDevice } from './conversation-fake-ds.ts';
import { change, conv, kinds, say, texts, world } from './conversation-test-world.ts';

const te = new TextEncoder();

describe('conversations: scenarios', () => {
  it('alice and bob talk 1:1', async () => {
    const w = world();
    const alice = await w.device('alice', 'a1');
    const bob = await w.device('bob', 'b1');
    const group = await alice.conversations.create();
    const events = await change(w, alice, group.groupId, (c) => c.addUser('bob'));
    assert.deepEqual(
      events.filter((e) => e.kind === 'user-added').map((e) => e.kind === 'user-added' && e.username),
      ['bob'],
    );
    const joined = await bob.drain();
    assert.equal(joined[0]?.kind, 'joined');
    assert.deepEqual(conv(bob, group.groupId).users(), ['alice', 'bob']);

    await say(w, alice, group.groupId, 'hello bob');
    await say(w, bob, group.groupId, 'hi alice');
    await say(w, bob, group.groupId, 'how are you?');
    assert.deepEqual(texts(await bob.drain()), ['alice/a1: hello bob']);
    assert.deepEqual(texts(await alice.drain()), ['bob/b1: hi alice', 'bob/b1: how are you?']);
    assert.equal(conv(alice, group.groupId).epoch, conv(bob, group.groupId).epoch);
  });

  it('a group of 3 users with 2 devices each: every device reads every other', async () => {
    const w = world();
    const devices: TestDevice[] = [];
    for (const u of ['alice', 'bob', 'carol']) for (const d of ['1', '2']) devices.push(await w.device(u, d));
    const [a1] = devices;
    const group = await a1!.conversations.create();
    await change(w, a1!, group.groupId, (c) => c.addUser('alice')); // a1's other device
    await change(w, a1!, group.groupId, (c) => c.addUser('bob'));
    await change(w, a1!, group.groupId, (c) => c.addUser('carol'));
    for (const d of devices) await d.drain();
    for (const d of devices) assert.equal(conv(d, group.groupId).members().length, 6);

    for (const d of devices) await say(w, d, group.groupId, `from ${d.ref.username}${d.ref.deviceId}`);
    for (const d of devices) {
      const got = texts(await d.drain());
      assert.equal(got.length, 5, `${d.ref.username}/${d.ref.deviceId} got ${got.join(', ')}`);
      assert.ok(!got.some((t) => t.startsWith(`${d.ref.username}/${d.ref.deviceId}:`)));
    }
    // Bob's second device saw the whole roster arrive as events: alice/2 (user alice existed) and carol's two.
    const b2 = devices[3]!;
    const added = b2.events.flatMap((e) =>
      e.kind === 'device-added' ? [`${e.device.username}/${e.device.deviceId}`] : [],
    );
    assert.deepEqual(added, ['carol/1', 'carol/2']);
  });

  it('adds and removes devices and users mid-conversation, each change an event', async () => {
    const w = world();
    const a1 = await w.device('alice', '1');
    const b1 = await w.device('bob', '1');
    const b2 = await w.device('bob', '2');
    const c1 = await w.device('carol', '1');
    const group = await a1.conversations.create();
    const g = group.groupId;
    await change(w, a1, g, (c) => c.addUser('bob'));
    await change(w, a1, g, (c) => c.addUser('carol'));
    for (const d of [b1, b2, c1]) await d.drain();

    // bob's second device is gone (unlisted from his account); bob removes it from the group
    w.directory.unlist(b2.ref);
    const ev = await change(w, b1, g, (c) => c.removeDevice(b2.ref));
    assert.deepEqual(kinds(ev), ['device-removed', 'epoch']);
    const removedEvents = await b2.drain();
    assert.equal(removedEvents.at(-1)?.kind, 'removed');
    await assert.rejects(conv(b2, g).send(te.encode('x')), (e) =>
      isConversationError(e, 'CONVERSATION_NOT_A_MEMBER'),
    );
    const aliceSaw = await a1.drain();
    assert.deepEqual(kinds(aliceSaw), ['device-removed', 'epoch']);

    // bob gets a new device; alice adds it (addUser adds what is missing, and claims a
    // KeyPackage of that device only: bob's device already in keeps its stock)
    const b3 = await w.device('bob', '3');
    w.directory.claims.length = 0;
    const ev2 = await change(w, a1, g, (c) => c.addUser('bob'));
    assert.deepEqual(
      ev2.flatMap((e) => (e.kind === 'device-added' ? [e.device.deviceId] : [])),
      ['3'],
    );
    assert.deepEqual(w.directory.claims, [{ username: 'bob', deviceIds: ['3'] }]);
    await b3.drain();
    await b1.drain();
    await c1.drain();

    // alice removes carol: a user-removed event for the others
    await change(w, a1, g, (c) => c.removeUser('carol'));
    const b1Saw = await b1.drain();
    assert.ok(b1Saw.some((e) => e.kind === 'user-removed' && e.username === 'carol'));
    assert.equal((await c1.drain()).at(-1)?.kind, 'removed');

    await b3.drain();
    await say(w, b3, g, 'new phone');
    assert.deepEqual(texts(await a1.drain()), ['bob/3: new phone']);
    assert.deepEqual(texts(await b1.drain()), ['bob/3: new phone']);
    assert.deepEqual(w.ds.mailbox(c1.ref), [], 'carol no longer receives');
    assert.deepEqual(conv(a1, g).users(), ['alice', 'bob']);
  });

  it('an offline member catches up on commits and messages in order', async () => {
    const w = world();
    const a1 = await w.device('alice', '1');
    const b1 = await w.device('bob', '1');
    await w.device('carol', '1');
    await w.device('dave', '1');
    const g = (await a1.conversations.create()).groupId;
    await change(w, a1, g, (c) => c.addUser('bob'));
    await b1.drain();
    // bob goes offline: three commits and messages in between
    await say(w, a1, g, 'm1');
    await change(w, a1, g, (c) => c.addUser('carol'));
    await say(w, a1, g, 'm2');
    await change(w, a1, g, (c) => c.update());
    await change(w, a1, g, (c) => c.addUser('dave'));
    await say(w, a1, g, 'm3');
    const events = await b1.drain();
    assert.deepEqual(texts(events), ['alice/1: m1', 'alice/1: m2', 'alice/1: m3']);
    assert.equal(conv(b1, g).epoch, conv(a1, g).epoch);
    assert.deepEqual(conv(b1, g).users(), ['alice', 'bob', 'carol', 'dave']);
    assert.equal(b1.refusals.length, 0);
  });

  it('concurrent commits: the first wins, the loser catches up and retries', async () => {
    const w = world();
    const a1 = await w.device('alice', '1');
    const b1 = await w.device('bob', '1');
    await w.device('carol', '1');
    await w.device('dave', '1');
    const g = (await a1.conversations.create()).groupId;
    await change(w, a1, g, (c) => c.addUser('bob'));
    await b1.drain();
    // both make a commit for the same epoch
    const fromBob = await conv(b1, g).addUser('dave');
    await w.ds.submitCommit(await conv(a1, g).addUser('carol'));
    await conv(a1, g).confirmCommit();
    await assert.rejects(w.ds.submitCommit(fromBob), (e) =>
      isConversationError(e, 'CONVERSATION_EPOCH_CONFLICT'),
    );
    conv(b1, g).discardCommit();
    // bob catches up and retries through commitThrough
    await change(w, b1, g, (c) => c.addUser('dave'));
    await a1.drain();
    assert.deepEqual(conv(a1, g).users(), ['alice', 'bob', 'carol', 'dave']);
    assert.equal(conv(a1, g).epoch, conv(b1, g).epoch);
  });

  it('commitThrough handles the race itself, and a superseded pending commit is an event', async () => {
    const w = world();
    const a1 = await w.device('alice', '1');
    const b1 = await w.device('bob', '1');
    await w.device('carol', '1');
    const g = (await a1.conversations.create()).groupId;
    await change(w, a1, g, (c) => c.addUser('bob'));
    await b1.drain();
    await conv(b1, g).update(); // pending, never submitted
    await change(w, a1, g, (c) => c.addUser('carol'));
    const ev = await b1.drain();
    assert.ok(ev.some((e) => e.kind === 'commit-superseded'));
    assert.equal(conv(b1, g).hasPendingCommit, false);
    await say(w, b1, g, 'still here');
    assert.deepEqual(texts(await a1.drain()), ['bob/1: still here']);
  });

  it('drops duplicates and holds messages from a future epoch until their commit', async () => {
    const w = world();
    const a1 = await w.device('alice', '1');
    const b1 = await w.device('bob', '1');
    await w.device('carol', '1');
    const g = (await a1.conversations.create()).groupId;
    await change(w, a1, g, (c) => c.addUser('bob'));
    await b1.drain();
    await say(w, a1, g, 'once');
    b1.mailbox.push(b1.mailbox[0]!); // redelivered
    const ev = await b1.drain();
    assert.deepEqual(kinds(ev), ['message', 'duplicate']);

    await change(w, a1, g, (c) => c.addUser('carol'));
    await say(w, a1, g, 'after carol');
    b1.mailbox.reverse(); // the message of epoch n+1 before the commit that leads there
    const ev2 = await b1.drain();
    assert.deepEqual(kinds(ev2).slice(0, 1), ['deferred']);
    assert.deepEqual(texts(ev2), ['alice/1: after carol']);
    assert.equal(b1.refusals.length, 0);
  });

  it('state survives encode/decode (at rest) and keeps its duplicate filter and buffer', async () => {
    const w = world();
    const a1 = await w.device('alice', '1');
    const b1 = await w.device('bob', '1');
    await w.device('carol', '1');
    const g = (await a1.conversations.create()).groupId;
    await change(w, a1, g, (c) => c.addUser('bob'));
    await b1.drain();
    await say(w, a1, g, 'before restart');
    const seenOnce = b1.mailbox[0]!;
    await b1.drain();
    await change(w, a1, g, (c) => c.addUser('carol'));
    await say(w, a1, g, 'buffered');
    const [commit, buffered] = b1.mailbox.splice(0);
    await b1.conversations.receive(buffered!); // deferred: future epoch

    const bytes = b1.conversations.encode(conv(b1, g));
    const reopened = await b1.conversations.decode(bytes);
    assert.equal(reopened, conv(b1, g));
    assert.deepEqual(kinds(await reopened.receive(seenOnce)), ['duplicate']);
    const ev = await reopened.receive(commit!);
    assert.deepEqual(texts(ev), ['alice/1: buffered']);
    await say(w, b1, g, 'after restart');
    assert.deepEqual(texts(await a1.drain()), ['bob/1: after restart']);
  });
});
