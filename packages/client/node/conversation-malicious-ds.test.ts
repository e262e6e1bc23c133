/**
 * The server as an adversary (DESIGN.md "Conversations": it orders and relays, it is not trusted).
 * It can inject, drop, reorder and replay what it relays, and serve credentials of its choosing.
 * Each case must end in a refused message or a visible event, never a silent roster change.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createProposal, encodeMlsMessage, type GroupInfo, proposeAddExternal } from 'ts-mls';
import { isConversationError } from '../src/conversations/errors.ts';
import { CONVERSATION_LIMITS } from '../src/conversations/limits.ts';
import { decodeConversationState } from '../src/conversations/state-codec.ts';
import { makeKeyPackage } from '../src/conversations/key-packages.ts';
import { FakeDirectory, TestDevice } from './conversation-fake-ds.ts';
import { change, conv, cs, kinds, say, texts, world } from './conversation-test-world.ts';

const te = new TextEncoder();

/** alice/1 and bob/1 in one group (epoch 1), plus listed devices that are not members yet. */
async function pair() {
  const w = world();
  const a1 = await w.device('alice', '1');
  const b1 = await w.device('bob', '1');
  const g = (await a1.conversations.create()).groupId;
  await change(w, a1, g, (c) => c.addUser('bob'));
  await b1.drain();
  return { w, a1, b1, g };
}

function rosterOf(d: TestDevice, g: Uint8Array): string[] {
  return conv(d, g)
    .members()
    .map((m) => `${m.username}/${m.deviceId}`);
}

describe('conversations: malicious delivery service', () => {
  it('an Add proposal injected from outside the group is an event, and never committed', async () => {
    const { w, a1, b1, g } = await pair();
    const mallory = await makeKeyPackage(
      { username: 'mallory', deviceId: '1' },
      await cs.signature.keygen(),
      cs,
    );
    // The server learned the group context (say, from a leaked GroupInfo) and forges a
    // new_member_proposal Add for mallory.
    const groupContext = conv(a1, g).snapshot().state.groupContext;
    const injected = encodeMlsMessage(
      await proposeAddExternal(
        { groupContext } as GroupInfo,
        mallory.publicPackage,
        mallory.privatePackage,
        cs,
      ),
    );
    w.ds.deliver([a1.ref], injected);
    const ev = await a1.drain();
    assert.deepEqual(ev, [{ kind: 'proposal-ignored', proposalType: 'add', from: undefined }]);
    // alice's next commit does not carry it, and she can still send
    await change(w, a1, g, (c) => c.update());
    await say(w, a1, g, 'still fine');
    assert.deepEqual(texts(await b1.drain()), ['alice/1: still fine']);
    assert.deepEqual(rosterOf(a1, g), ['alice/1', 'bob/1']);
    assert.deepEqual(rosterOf(b1, g), ['alice/1', 'bob/1']);
  });

  it("a member's standalone proposal is shown, not stored, and not committed by anyone else", async () => {
    const { w, a1, b1, g } = await pair();
    // bob's client (buggy or hostile) proposes to remove alice on its own
    const p = await createProposal(
      conv(b1, g).snapshot().state,
      false,
      { proposalType: 'remove', remove: { removed: 0 } },
      cs,
    );
    w.ds.deliver([a1.ref], encodeMlsMessage(p.message));
    const ev = await a1.drain();
    assert.deepEqual(ev, [
      { kind: 'proposal-ignored', proposalType: 'remove', from: { username: 'bob', deviceId: '1' } },
    ]);
    await change(w, a1, g, (c) => c.update());
    assert.deepEqual(rosterOf(a1, g), ['alice/1', 'bob/1']);
    await say(w, a1, g, 'not blocked');
    assert.deepEqual(texts(await b1.drain()), ['alice/1: not blocked']);
  });

  it('a dropped commit leaves the member in its epoch with deferred messages, never a silent change', async () => {
    const { w, a1, b1, g } = await pair();
    await w.device('carol', '1');
    await change(w, a1, g, (c) => c.addUser('carol'));
    const dropped = b1.mailbox.splice(0); // the server drops the commit
    await say(w, a1, g, 'one');
    await say(w, a1, g, 'two');
    const ev = await b1.drain();
    assert.deepEqual(kinds(ev), ['deferred', 'deferred']);
    assert.equal(conv(b1, g).epoch, 1n);
    assert.deepEqual(rosterOf(b1, g), ['alice/1', 'bob/1']);
    // once it arrives (late), everything is applied and visible
    w.ds.deliver([b1.ref], dropped[0]!);
    const late = await b1.drain();
    assert.deepEqual(kinds(late), ['device-added', 'user-added', 'epoch', 'message', 'message']);
    assert.deepEqual(rosterOf(b1, g), ['alice/1', 'bob/1', 'carol/1']);
  });

  it('the future-epoch buffer is bounded', async () => {
    const { w, a1, b1, g } = await pair();
    await change(w, a1, g, (c) => c.update());
    b1.mailbox.splice(0); // dropped
    for (let i = 0; i <= CONVERSATION_LIMITS.futureEpochBuffer; i++) await say(w, a1, g, `m${i}`);
    await b1.drain();
    assert.equal(
      b1.events.filter((e) => e.kind === 'deferred').length,
      CONVERSATION_LIMITS.futureEpochBuffer,
    );
    assert.equal(b1.refusals.length, 1);
    assert.ok(isConversationError(b1.refusals[0], 'CONVERSATION_BUFFER_FULL'));
  });

  it('reordered commits are applied in epoch order', async () => {
    const { w, a1, b1, g } = await pair();
    await w.device('carol', '1');
    await w.device('dave', '1');
    await change(w, a1, g, (c) => c.addUser('carol'));
    await change(w, a1, g, (c) => c.addUser('dave'));
    await say(w, a1, g, 'hi all');
    b1.mailbox.reverse();
    const ev = await b1.drain();
    assert.deepEqual(kinds(ev).slice(0, 2), ['deferred', 'deferred']);
    assert.deepEqual(texts(ev), ['alice/1: hi all']);
    assert.deepEqual(rosterOf(b1, g), ['alice/1', 'bob/1', 'carol/1', 'dave/1']);
    assert.equal(b1.refusals.length, 0);
  });

  it('replays are dropped, before and after a restart; a commit for an old epoch is refused', async () => {
    const { w, a1, b1, g } = await pair();
    await w.device('carol', '1');
    await say(w, a1, g, 'once');
    const msg = b1.mailbox[0]!;
    await b1.drain();
    await change(w, a1, g, (c) => c.addUser('carol'));
    const commit = b1.mailbox[0]!;
    await b1.drain();
    w.ds.deliver([b1.ref], msg);
    w.ds.deliver([b1.ref], commit);
    assert.deepEqual(kinds(await b1.drain()), ['duplicate', 'duplicate']);
    const reopened = await b1.conversations.decode(b1.conversations.encode(conv(b1, g)));
    assert.deepEqual(kinds(await reopened.receive(commit)), ['duplicate']);

    // a commit made for epoch 2 that lost the race, relayed anyway after the winner
    const loser = await conv(b1, g).update();
    conv(b1, g).discardCommit();
    await change(w, a1, g, (c) => c.update());
    w.ds.deliver([a1.ref], loser.commit);
    await a1.drain();
    assert.ok(isConversationError(a1.refusals[0], 'CONVERSATION_STALE_EPOCH'));
    assert.equal(conv(a1, g).epoch, 3n);
  });

  it('a forged "Bob\'s new device" the directory does not list is refused and changes nothing', async () => {
    const { w, a1, b1, g } = await pair();
    // The server's directory lies: it lists a "bob/new" whose key is the server's. A member
    // whose client trusts it (carol's) adds that device; alice and bob check the real directory.
    const lying = new FakeDirectory();
    lying.list('alice', (await w.directory.devicesOf('alice'))[0]!);
    lying.list('bob', (await w.directory.devicesOf('bob'))[0]!);
    await TestDevice.make('bob', 'new', cs, w.ds, lying, lying);
    const carol = await TestDevice.make('carol', '1', cs, w.ds, lying, lying);
    w.directory.list('carol', (await lying.devicesOf('carol'))[0]!);
    // bob's own client, on the real directory, finds no new device of his to add
    await assert.rejects(conv(b1, g).addUser('bob'), (e) =>
      isConversationError(e, 'CONVERSATION_NO_SUCH_MEMBER'),
    );
    await change(w, a1, g, (c) => c.addUser('carol'));
    await carol.drain();
    await b1.drain();
    const before = { epoch: conv(a1, g).epoch, roster: rosterOf(a1, g) };
    await change(w, carol, g, (c) => c.addUser('bob')); // the server accepts it: it cannot tell
    await a1.drain();
    await b1.drain();
    for (const d of [a1, b1]) {
      const refusal = d.refusals.at(-1);
      assert.ok(isConversationError(refusal, 'CONVERSATION_UNKNOWN_DEVICE'), String(refusal));
      assert.deepEqual(refusal.details, { username: 'bob', deviceId: 'new' });
      assert.equal(conv(d, g).epoch, before.epoch);
      assert.deepEqual(rosterOf(d, g), before.roster);
    }
  });

  it('a directory entry whose KeyPackage carries another key is refused before any commit', async () => {
    const { w, a1, g } = await pair();
    const real = await TestDevice.make('bob', '2', cs, w.ds, w.directory);
    const other = await makeKeyPackage({ username: 'bob', deviceId: '2' }, await cs.signature.keygen(), cs);
    w.directory.list('bob', {
      deviceId: '2',
      credentialKey: real.conversations.signaturePublicKey,
      keyPackage: other.encoded,
    });
    await assert.rejects(conv(a1, g).addUser('bob'), (e) =>
      isConversationError(e, 'CONVERSATION_UNKNOWN_DEVICE'),
    );
    assert.equal(conv(a1, g).hasPendingCommit, false);
  });

  it('a Welcome into a group with an unlisted member is refused', async () => {
    const w = world();
    const a1 = await w.device('alice', '1');
    const lying = new FakeDirectory();
    lying.list('alice', (await w.directory.devicesOf('alice'))[0]!);
    const mallory = await TestDevice.make('mallory', '1', cs, w.ds, lying, lying);
    const g = (await mallory.conversations.create()).groupId;
    await change(w, mallory, g, (c) => c.addUser('alice'));
    await a1.drain();
    assert.ok(isConversationError(a1.refusals[0], 'CONVERSATION_UNKNOWN_DEVICE'));
    assert.equal(a1.conversations.get(g), undefined);
  });

  it('garbage, other groups and hostile state bytes are refused typed', async () => {
    const { w, a1, b1, g } = await pair();
    w.ds.deliver([b1.ref], new Uint8Array([0, 1, 0, 2, 9]));
    w.ds.deliver([b1.ref], new Uint8Array(0));
    const other = await a1.conversations.create();
    w.ds.deliver([b1.ref], (await other.send(te.encode('x'))).message);
    await b1.drain();
    assert.deepEqual(
      b1.refusals.map((e) => e.code),
      ['CONVERSATION_MALFORMED', 'CONVERSATION_MALFORMED', 'CONVERSATION_WRONG_GROUP'],
    );
    const good = a1.conversations.encode(conv(a1, g));
    const hostile: Uint8Array[] = [
      new Uint8Array(0),
      new Uint8Array([2]),
      good.subarray(0, good.byteLength - 1),
      good.subarray(0, 40),
      new Uint8Array([...good, 0]),
      (() => {
        const b = good.slice();
        new DataView(b.buffer).setUint32(1, 0xffffffff);
        return b;
      })(),
    ];
    for (const bytes of hostile) {
      assert.throws(
        () => decodeConversationState(bytes),
        (e) => isConversationError(e, 'CONVERSATION_STATE_INVALID'),
      );
    }
  });
});
