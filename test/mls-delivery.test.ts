/**
 * The server as MLS delivery service (docs/protocol.md "MLS delivery"), end to end over the
 * WebSocket on every store: commit races per group epoch, KeyPackage claims across devices, and
 * bad input refused with typed errors and nothing stored.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
  CLOSE,
  FRAME,
  LIMITS,
  decodeServerFrame,
  deviceIdOf,
  encodeClientFrame,
  parseUsername,
  wsAuthStatement,
  type ClientFrame,
  type ServerFrame,
} from '@sealpost/core';
import type { Store } from '@sealpost/server';
import { storeFactories } from '../packages/server/src/store/test-databases.ts';
import {
  createDevice,
  crypto,
  eventually,
  rawSocket,
  startInstance,
  text,
  type Instance,
  type TestDevice,
} from './support/harness.ts';

let counter = 0;
const uniqueName = (prefix: string) => `${prefix}${Date.now().toString(36)}${(counter++).toString(36)}`;
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

/** An authenticated raw session: requests answered by request id, deliveries collected. */
interface Session {
  request(frame: ClientFrame & { requestId: number }): Promise<ServerFrame>;
  send(bytes: Uint8Array): void;
  deliveries(): Extract<ServerFrame, { type: 'deliver' }>[];
  frames(): ServerFrame[];
  closed: Promise<CloseEvent>;
  close(): void;
}

async function session(node: Instance, device: TestDevice): Promise<Session> {
  const raw = await rawSocket(node.url);
  await eventually(() => raw.frames.length >= 1, 5000, 'challenge');
  const ch = decodeServerFrame(raw.frames[0]!);
  assert.equal(ch.type, 'challenge');
  const statement = wsAuthStatement(ch.challenge, node.host, parseUsername(device.username), device.deviceId);
  raw.ws.send(
    encodeClientFrame({
      type: 'auth',
      username: device.username,
      deviceId: device.deviceId,
      signature: crypto.ed25519.sign(device.deviceSeed, statement),
    }),
  );
  await eventually(() => raw.frames.length >= 2, 5000, 'ready');
  assert.equal(decodeServerFrame(raw.frames[1]!).type, 'ready');
  const frames = () => raw.frames.slice(2).map((f) => decodeServerFrame(f));
  return {
    async request(frame) {
      raw.ws.send(encodeClientFrame(frame));
      let answer: ServerFrame | undefined;
      await eventually(
        () => {
          answer = frames().find((f) => 'requestId' in f && f.requestId === frame.requestId);
          return answer !== undefined;
        },
        5000,
        `answer to ${frame.type}`,
      );
      return answer!;
    },
    send: (bytes) => raw.ws.send(bytes),
    deliveries: () => frames().filter((f) => f.type === 'deliver'),
    frames,
    closed: raw.closed,
    close: () => raw.ws.close(),
  };
}

let requestIds = 1;
const rid = () => requestIds++;

function commitFrame(groupId: Uint8Array, epoch: number, recipients: TestDevice[], payload: Uint8Array) {
  return {
    type: 'commit' as const,
    requestId: rid(),
    messageId: crypto.randomBytes(LIMITS.messageIdBytes),
    ttlSecs: 0,
    groupId,
    epoch,
    recipients: recipients.map((d) => d.address),
    payload,
  };
}

/** A u32 written big-endian. */
const be32 = (n: number) => [(n >>> 24) & 0xff, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff];

for (const factory of storeFactories) {
  describe(`${factory.name}: MLS delivery`, () => {
    let store: Store;
    let cleanup: () => Promise<void>;
    let node: Instance;
    before(async () => {
      ({ store, cleanup } = await factory.open());
      await store.migrate();
      node = await startInstance(store);
    });
    after(async () => {
      await node.close();
      await cleanup();
    });

    /** A second device of `owner`'s account, added through the store. */
    async function sibling(owner: TestDevice): Promise<TestDevice> {
      const account = (await store.getAccount(parseUsername(owner.username)))!;
      const deviceSeed = crypto.randomBytes(32);
      const publicKey = crypto.ed25519.publicKey(deviceSeed);
      const deviceId = deviceIdOf(crypto, publicKey);
      await store.addDevice(account.id, { deviceId, publicKey }, 20_000);
      return { ...owner, deviceSeed, deviceId, address: { username: owner.username, deviceId } };
    }

    async function stockOf(device: TestDevice) {
      const record = (await store.getDevice(parseUsername(device.username), device.deviceId))!;
      return store.countKeyPackages(record.pk);
    }

    test(`${factory.name}: two devices race a commit for one epoch: one wins, both recipients get exactly it`, async () => {
      const devices = await Promise.all(
        ['ann', 'ben', 'cat'].map((n) => createDevice(node.url, uniqueName(n))),
      );
      const [a, b, c] = devices as [TestDevice, TestDevice, TestDevice];
      const sessions = await Promise.all(devices.map((d) => session(node, d)));
      const [sa, sb, sc] = sessions as [Session, Session, Session];
      const group = crypto.randomBytes(32);
      const fromA = commitFrame(group, 0, [b, c], text('commit from a'));
      const fromB = commitFrame(group, 0, [a, c], text('commit from b'));
      const [answerA, answerB] = await Promise.all([sa.request(fromA), sb.request(fromB)]);
      const answers = [answerA, answerB];
      const won = answers.filter((f) => f.type === 'committed');
      const lost = answers.filter((f) => f.type === 'epoch-conflict');
      assert.equal(won.length, 1, JSON.stringify(answers.map((f) => f.type)));
      assert.equal(lost.length, 1);
      assert.deepEqual(won[0], {
        type: 'committed',
        requestId: won[0]!.requestId,
        epoch: 1,
        duplicate: false,
      });
      assert.equal(lost[0]!.type === 'epoch-conflict' && lost[0]!.currentEpoch, 1);

      const aWon = answerA.type === 'committed';
      const winner = aWon ? fromA : fromB;
      const [loserSession, recipients] = aWon ? [sb, [sb, sc]] : [sa, [sa, sc]];
      for (const s of recipients) await eventually(() => s.deliveries().length >= 1, 5000, 'the commit');
      await new Promise((r) => setTimeout(r, 100)); // anything else would have arrived by now
      for (const s of recipients) {
        assert.deepEqual(
          s.deliveries().map((d) => [hex(d.messageId), hex(d.payload)]),
          [[hex(winner.messageId), hex(winner.payload)]],
        );
      }
      assert.deepEqual((aWon ? sa : sb).deliveries(), []);

      // The loser catches up and commits for the next epoch; a resend of the winner is a duplicate.
      const next = commitFrame(group, 1, aWon ? [a, c] : [b, c], text('second'));
      assert.deepEqual(await loserSession.request(next), {
        type: 'committed',
        requestId: next.requestId,
        epoch: 2,
        duplicate: false,
      });
      const resend = { ...winner, requestId: rid() };
      assert.deepEqual(await (aWon ? sa : sb).request(resend), {
        type: 'committed',
        requestId: resend.requestId,
        epoch: 1,
        duplicate: true,
      });
      for (const s of sessions) s.close();
    });

    test(`${factory.name}: KeyPackages are claimed one per device, each one-time one once, then the last-resort one`, async () => {
      const alice = await createDevice(node.url, uniqueName('alice'));
      const laptop = await sibling(alice);
      const bob = await createDevice(node.url, uniqueName('bob'));
      const [sa, sl, sb] = await Promise.all([alice, laptop, bob].map((d) => session(node, d)));
      const phone = [crypto.randomBytes(200), crypto.randomBytes(200)];
      const phoneLast = crypto.randomBytes(200);
      const laptopOne = crypto.randomBytes(300);
      const laptopLast = crypto.randomBytes(300);
      const up = {
        type: 'key-packages-add' as const,
        requestId: rid(),
        keyPackages: phone,
        lastResort: phoneLast,
      };
      assert.deepEqual(await sa!.request(up), {
        type: 'key-package-stock',
        requestId: up.requestId,
        oneTime: 2,
        hasLastResort: true,
      });
      const up2 = { ...up, requestId: rid(), keyPackages: [laptopOne], lastResort: laptopLast };
      assert.equal((await sl!.request(up2)).type, 'key-package-stock');

      const claims = await Promise.all(
        [1, 2, 3].map(async () => {
          const f = await sb!.request({
            type: 'key-packages-claim',
            requestId: rid(),
            username: alice.username,
          });
          assert.equal(f.type, 'key-packages');
          return f.type === 'key-packages' ? f.keyPackages : [];
        }),
      );
      const byDevice = (id: Uint8Array) =>
        claims.map((c) => hex(c.find((k) => hex(k.deviceId) === hex(id))!.keyPackage)).sort();
      assert.deepEqual(byDevice(alice.deviceId), [...phone, phoneLast].map(hex).sort());
      assert.deepEqual(byDevice(laptop.deviceId), [laptopOne, laptopLast, laptopLast].map(hex).sort());

      const countFrame = { type: 'key-packages-count' as const, requestId: rid() };
      assert.deepEqual(await sa!.request(countFrame), {
        type: 'key-package-stock',
        requestId: countFrame.requestId,
        oneTime: 0,
        hasLastResort: true,
      });
      const none = await sb!.request({
        type: 'key-packages-claim',
        requestId: rid(),
        username: uniqueName('nobody'),
      });
      assert.equal(none.type === 'key-packages' && none.keyPackages.length, 0);
      for (const s of [sa, sl, sb]) s!.close();
    });

    test(`${factory.name}: too many KeyPackages is TOO_MANY_KEY_PACKAGES and that upload stores nothing`, async () => {
      const alice = await createDevice(node.url, uniqueName('alice'));
      const s = await session(node, alice);
      const batch = () => Array.from({ length: LIMITS.keyPackagesPerUpload }, () => crypto.randomBytes(32));
      const full = Math.floor(LIMITS.keyPackagesPerDevice / LIMITS.keyPackagesPerUpload);
      for (let i = 0; i < full; i++) {
        const f = await s.request({
          type: 'key-packages-add',
          requestId: rid(),
          keyPackages: batch(),
          lastResort: new Uint8Array(0),
        });
        assert.equal(f.type, 'key-package-stock');
      }
      const over = await s.request({
        type: 'key-packages-add',
        requestId: rid(),
        keyPackages: batch(),
        lastResort: crypto.randomBytes(32),
      });
      assert.equal(over.type === 'error' && over.code, 'TOO_MANY_KEY_PACKAGES');
      assert.deepEqual(await stockOf(alice), {
        oneTime: full * LIMITS.keyPackagesPerUpload,
        hasLastResort: false,
      });
      // The session goes on.
      const count = await s.request({ type: 'key-packages-count', requestId: rid() });
      assert.equal(count.type, 'key-package-stock');
      s.close();
    });

    test(`${factory.name}: an oversized KeyPackage closes the socket with CODEC_LENGTH_LIMIT and stores nothing`, async () => {
      const alice = await createDevice(node.url, uniqueName('alice'));
      const s = await session(node, alice);
      const over = LIMITS.keyPackageMaxBytes + 1;
      const len4 = (n: number) => [0x80 | (n >>> 24), (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff];
      // Written by hand: the encoder refuses it. One KeyPackage in the vector, one byte too long.
      const frame = new Uint8Array([
        FRAME.keyPackagesAdd,
        ...be32(1),
        ...len4(over + 4),
        ...len4(over),
        ...new Uint8Array(over),
        0,
      ]);
      s.send(frame);
      const closed = await s.closed;
      assert.equal(closed.code, CLOSE.protocolError);
      const last = s.frames().at(-1);
      assert.equal(last?.type === 'error' && last.code, 'CODEC_LENGTH_LIMIT');
      assert.deepEqual(await stockOf(alice), { oneTime: 0, hasLastResort: false });
    });

    test(`${factory.name}: an empty or oversized group id is refused with a typed error and moves no epoch`, async () => {
      const alice = await createDevice(node.url, uniqueName('alice'));
      const bob = await createDevice(node.url, uniqueName('bob'));
      const s = await session(node, alice);
      const sb = await session(node, bob);
      const empty = commitFrame(new Uint8Array(0), 0, [bob], text('x'));
      const answer = await s.request(empty);
      assert.equal(answer.type === 'error' && answer.code, 'VALIDATION_FAILED');
      // A bad username in a claim is refused too, and the session goes on.
      const bad = await s.request({ type: 'key-packages-claim', requestId: rid(), username: 'NO SUCH' });
      assert.equal(bad.type === 'error' && bad.code, 'USERNAME_INVALID');

      const group = crypto.randomBytes(32);
      const ahead = await s.request(commitFrame(group, 5, [bob], text('x')));
      assert.deepEqual(ahead.type === 'epoch-conflict' && ahead.currentEpoch, 0);

      // A group id over LIMITS.mlsGroupIdMaxBytes: written by hand, the encoder refuses it.
      const long = LIMITS.mlsGroupIdMaxBytes + 1;
      s.send(
        new Uint8Array([
          FRAME.commit,
          ...be32(rid()),
          ...crypto.randomBytes(LIMITS.messageIdBytes),
          ...be32(0),
          0x40 | (long >>> 8),
          long & 0xff,
          ...new Uint8Array(long),
          0,
          0,
          0,
        ]),
      );
      assert.equal((await s.closed).code, CLOSE.protocolError);
      const last = s.frames().at(-1);
      assert.equal(last?.type === 'error' && last.code, 'CODEC_LENGTH_LIMIT');
      await new Promise((r) => setTimeout(r, 100));
      assert.deepEqual(sb.deliveries(), [], 'nothing reached the recipient');
      sb.close();
    });
  });
}
