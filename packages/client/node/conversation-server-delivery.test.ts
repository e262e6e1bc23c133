/**
 * `ServerDelivery` (conversations/server-delivery.ts) over a recording connection: what goes on
 * the wire for a commit, with and without joiners, and after a lost race.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ConflictError, LIMITS, fromBase64urlExact, toBase64url } from '@sealpost/core';
import type { CommitOptions, SendOptions } from '../src/connection.ts';
import type { OutgoingCommit } from '../src/conversations/conversation.ts';
import { isConversationError } from '../src/conversations/errors.ts';
import { ServerDelivery, type DeliveryConnection } from '../src/conversations/server-delivery.ts';
import { mlsCiphersuite } from '../src/mls/provider.ts';
import { nodeMlsCryptoProvider } from './mls-crypto.ts';

const cs = await mlsCiphersuite({ provider: nodeMlsCryptoProvider });

/** Records every request; `commit` answers as `answer` says. */
class RecordingConnection implements DeliveryConnection {
  readonly commits: CommitOptions[] = [];
  readonly sends: SendOptions[] = [];
  readonly answer: 'accept' | 'conflict';
  constructor(answer: 'accept' | 'conflict' = 'accept') {
    this.answer = answer;
  }
  async commit(o: CommitOptions) {
    this.commits.push(o);
    if (this.answer === 'conflict') {
      throw new ConflictError('MLS_EPOCH_CONFLICT', 'taken', { epoch: o.epoch, currentEpoch: o.epoch + 1 });
    }
    return { epoch: o.epoch + 1, duplicate: false, messageId: o.messageId! };
  }
  async send(o: SendOptions) {
    this.sends.push(o);
    return { duplicate: false, messageId: o.messageId! };
  }
}

const device = (username: string, n: number) => ({
  username,
  deviceId: toBase64url(new Uint8Array(LIMITS.deviceIdBytes).fill(n)),
});
const outgoing = (over: Partial<OutgoingCommit> = {}): OutgoingCommit => ({
  groupId: new Uint8Array([1, 2, 3]),
  epoch: 4n,
  commit: new Uint8Array([5, 6, 7]),
  welcome: new Uint8Array([8, 9]),
  recipients: [device('bob', 1)],
  joiners: [device('carol', 2), device('carol', 3)],
  members: [],
  ...over,
});
const idOf = async (b: Uint8Array) => (await cs.hash.digest(b)).slice(0, LIMITS.messageIdBytes);

describe('ServerDelivery', () => {
  test('a commit that adds devices is one COMMIT carrying its Welcome to the joiners; no SEND follows', async () => {
    const conn = new RecordingConnection();
    const c = outgoing();
    await new ServerDelivery(conn, cs).submitCommit(c);
    assert.equal(conn.sends.length, 0);
    assert.equal(conn.commits.length, 1);
    const sent = conn.commits[0]!;
    assert.equal(sent.epoch, 4);
    assert.deepEqual(sent.messageId, await idOf(c.commit));
    assert.deepEqual(sent.welcome, {
      recipients: c.joiners.map((j) => ({
        username: j.username,
        deviceId: fromBase64urlExact(j.deviceId, LIMITS.deviceIdBytes, 'device id'),
      })),
      payload: c.welcome,
      messageId: await idOf(c.welcome!),
    });
  });

  test('a commit that adds nobody carries no Welcome', async () => {
    const conn = new RecordingConnection();
    await new ServerDelivery(conn, cs).submitCommit(outgoing({ welcome: undefined, joiners: [] }));
    assert.equal(conn.commits[0]!.welcome, undefined);
    assert.equal(conn.sends.length, 0);
  });

  test('a commit that lost its epoch is CONVERSATION_EPOCH_CONFLICT, and its Welcome goes nowhere else', async () => {
    const conn = new RecordingConnection('conflict');
    const delivery = new ServerDelivery(conn, cs);
    const c = outgoing();
    await assert.rejects(delivery.submitCommit(c), (e) =>
      isConversationError(e, 'CONVERSATION_EPOCH_CONFLICT'),
    );
    assert.equal(delivery.conflictEpoch(c.groupId), 5n);
    assert.equal(conn.sends.length, 0);
  });
});
