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
  uniqueName,
} from './support/harness.ts';

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

/** `commitFrame` carrying a Welcome for `joiners` (docs/protocol.md "MLS delivery" 10). */
function commitWithWelcome(
  groupId: Uint8Array,
  epoch: number,
  recipients: TestDevice[],
  joiners: TestDevice[],
  welcome: Uint8Array,
) {
  return {
    ...commitFrame(groupId, epoch, recipients, text('commit')),
    welcome: {
      messageId: crypto.randomBytes(LIMITS.messageIdBytes),
      recipients: joiners.map((d) => d.address),
      payload: welcome,
    },
  };
}

/** `n` random bytes (the crypto provider gives at most 64 KiB a call). */
function randomOf(n: number): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i += 65_536) out.set(crypto.randomBytes(Math.min(65_536, n - i)), i);
  return out;
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

    test(`${factory.name}: two commits carrying Welcomes race: only the winner's joiner gets one, exactly once`, async () => {
      const devices = await Promise.all(
        ['ann', 'ben', 'joy', 'jim'].map((n) => createDevice(node.url, uniqueName(n))),
      );
      const [a, b, j1, j2] = devices as [TestDevice, TestDevice, TestDevice, TestDevice];
      const [sa, sb, s1, s2] = (await Promise.all(devices.map((d) => session(node, d)))) as Session[];
      const group = crypto.randomBytes(32);
      const fromA = commitWithWelcome(group, 0, [b], [j1], text('welcome from a'));
      const fromB = commitWithWelcome(group, 0, [a], [j2], text('welcome from b'));
      const [answerA, answerB] = await Promise.all([sa!.request(fromA), sb!.request(fromB)]);
      assert.deepEqual([answerA.type, answerB.type].sort(), ['committed', 'epoch-conflict']);
      const aWon = answerA.type === 'committed';
      const [winner, winnerJoiner, loserJoiner] = aWon ? [fromA, s1!, s2!] : [fromB, s2!, s1!];
      await eventually(() => winnerJoiner.deliveries().length >= 1, 5000, "the winner's Welcome");
      // A resend of the winner stores nothing new: the joiner still has one copy.
      const resend = { ...winner, requestId: rid() };
      const again = await (aWon ? sa! : sb!).request(resend);
      assert.equal(again.type === 'committed' && again.duplicate, true);
      await new Promise((r) => setTimeout(r, 150)); // anything else would have arrived by now
      assert.deepEqual(
        winnerJoiner.deliveries().map((d) => [hex(d.messageId), hex(d.payload)]),
        [[hex(winner.welcome.messageId), hex(winner.welcome.payload)]],
      );
      assert.deepEqual(loserJoiner.deliveries(), [], "the loser's Welcome is never delivered");
      for (const s of [sa, sb, s1, s2]) s!.close();
    });

    test(`${factory.name}: a committer that disconnects right after COMMITTED: its joiner still gets the Welcome`, async () => {
      const devices = await Promise.all(
        ['ann', 'ben', 'joy'].map((n) => createDevice(node.url, uniqueName(n))),
      );
      const [a, b, joiner] = devices as [TestDevice, TestDevice, TestDevice];
      const sa = await session(node, a);
      const c = commitWithWelcome(crypto.randomBytes(32), 0, [b], [joiner], text('welcome'));
      assert.equal((await sa.request(c)).type, 'committed');
      sa.close(); // nothing after COMMITTED: the old protocol's Welcome SEND would never go out
      await sa.closed;
      // The joiner connects only now, and finds the Welcome in its mailbox.
      const sj = await session(node, joiner);
      await eventually(() => sj.deliveries().length >= 1, 5000, 'the Welcome');
      assert.deepEqual(
        sj.deliveries().map((d) => hex(d.payload)),
        [hex(c.welcome.payload)],
      );
      sj.close();
    });

    test(`${factory.name}: a commit and its ~1 MiB Welcome, both over LIMITS.messageMaxBytes, are accepted and delivered`, async () => {
      // A 1,000-member group's Welcome with the tree is ~300 KB (X25519) to 2.7 MB (X-Wing):
      // docs/BENCHMARKS.md, MLS. Random bytes, so nothing on the way can shrink them.
      const devices = await Promise.all(
        ['ann', 'ben', 'joy'].map((n) => createDevice(node.url, uniqueName(n))),
      );
      const [, b, joiner] = devices as [TestDevice, TestDevice, TestDevice];
      const [sa, sb, sj] = (await Promise.all(devices.map((d) => session(node, d)))) as Session[];
      const welcome = randomOf(1024 * 1024 - 1);
      const c = {
        ...commitWithWelcome(crypto.randomBytes(32), 0, [b], [joiner], welcome),
        payload: randomOf(LIMITS.messageMaxBytes + 1024),
      };
      const answer = await sa!.request(c);
      assert.equal(answer.type === 'committed' && answer.epoch, 1);
      await eventually(() => sj!.deliveries().length >= 1 && sb!.deliveries().length >= 1, 10_000, 'both');
      assert.deepEqual(
        sj!.deliveries().map((d) => [hex(d.messageId), hex(d.payload)]),
        [[hex(c.welcome.messageId), hex(welcome)]],
      );
      assert.deepEqual(
        sb!.deliveries().map((d) => [hex(d.messageId), hex(d.payload)]),
        [[hex(c.messageId), hex(c.payload)]],
      );
      for (const s of [sa, sb, sj]) s!.close();
    });

    test(`${factory.name}: a committer that disconnects right after sending COMMIT: the Welcome is delivered if and only if the commit was`, async () => {
      for (let round = 0; round < 5; round++) {
        const devices = await Promise.all(
          ['ann', 'ben', 'joy'].map((n) => createDevice(node.url, uniqueName(n))),
        );
        const [a, b, joiner] = devices as [TestDevice, TestDevice, TestDevice];
        const sa = await session(node, a);
        const group = crypto.randomBytes(32);
        const c = commitWithWelcome(group, 0, [b], [joiner], text('welcome'));
        sa.send(encodeClientFrame(c));
        sa.close(); // no wait for an answer
        await sa.closed;
        const [sb, sj] = [await session(node, b), await session(node, joiner)];
        // Where is the group? A commit for epoch 0 by b wins only if a's did not.
        const probe = await sb.request(commitFrame(group, 0, [a], text('probe')));
        const aCommitted = probe.type === 'epoch-conflict';
        if (aCommitted) await eventually(() => sj.deliveries().length >= 1, 5000, 'the Welcome');
        else await new Promise((r) => setTimeout(r, 100));
        assert.deepEqual(
          sj.deliveries().map((d) => hex(d.payload)),
          aCommitted ? [hex(c.welcome.payload)] : [],
        );
        sb.close();
        sj.close();
      }
    });

    test(`${factory.name}: a Welcome to a member, to nobody, to an unknown device or with the commit's id is refused typed; nothing moves`, async () => {
      const devices = await Promise.all(
        ['ann', 'ben', 'joy'].map((n) => createDevice(node.url, uniqueName(n))),
      );
      const [, b, joiner] = devices as [TestDevice, TestDevice, TestDevice];
      const [sa, sb, sj] = await Promise.all(devices.map((d) => session(node, d)));
      const group = crypto.randomBytes(32);
      const ghost = { ...joiner, address: { username: joiner.username, deviceId: crypto.randomBytes(8) } };
      const bad: [string, ReturnType<typeof commitWithWelcome>, string][] = [
        ['to a member', commitWithWelcome(group, 0, [b], [b], text('w')), 'VALIDATION_FAILED'],
        ['to nobody', commitWithWelcome(group, 0, [b], [], text('w')), 'VALIDATION_FAILED'],
        [
          'to an unknown device',
          commitWithWelcome(group, 0, [b], [joiner, ghost], text('w')),
          'DEVICE_NOT_FOUND',
        ],
      ];
      const sameId = commitWithWelcome(group, 0, [b], [joiner], text('w'));
      bad.push([
        'with the commit id',
        { ...sameId, welcome: { ...sameId.welcome, messageId: sameId.messageId } },
        'VALIDATION_FAILED',
      ]);
      for (const [what, frame, code] of bad) {
        const answer = await sa!.request(frame);
        assert.equal(answer.type === 'error' && answer.code, code, what);
      }
      const ok = commitWithWelcome(group, 0, [b], [joiner], text('w'));
      assert.equal((await sa!.request(ok)).type === 'committed', true, 'the group is still at epoch 0');
      await eventually(() => sj!.deliveries().length >= 1, 5000, 'the Welcome');
      await new Promise((r) => setTimeout(r, 100));
      assert.deepEqual(
        sj!.deliveries().map((d) => hex(d.payload)),
        [hex(ok.welcome.payload)],
      );
      assert.equal(sb!.deliveries().length, 1);
      for (const s of [sa, sb, sj]) s!.close();
    });

    test(`${factory.name}: a claim naming a device takes only that device's KeyPackage`, async () => {
      const alice = await createDevice(node.url, uniqueName('alice'));
      const laptop = await sibling(alice);
      const bob = await createDevice(node.url, uniqueName('bob'));
      const [sa, sl, sb] = await Promise.all([alice, laptop, bob].map((d) => session(node, d)));
      for (const s of [sa!, sl!]) {
        const up = {
          type: 'key-packages-add' as const,
          requestId: rid(),
          keyPackages: [crypto.randomBytes(64)],
          lastResort: crypto.randomBytes(64),
        };
        assert.equal((await s.request(up)).type, 'key-package-stock');
      }
      const claim = await sb!.request({
        type: 'key-packages-claim',
        requestId: rid(),
        username: alice.username,
        deviceIds: [laptop.deviceId],
      });
      assert.deepEqual(claim.type === 'key-packages' && claim.keyPackages.map((k) => hex(k.deviceId)), [
        hex(laptop.deviceId),
      ]);
      assert.deepEqual(await stockOf(alice), { oneTime: 1, hasLastResort: true });
      assert.deepEqual(await stockOf(laptop), { oneTime: 0, hasLastResort: true });
      const none = await sb!.request({
        type: 'key-packages-claim',
        requestId: rid(),
        username: alice.username,
        deviceIds: [],
      });
      assert.equal(none.type === 'error' && none.code, 'VALIDATION_FAILED');
      for (const s of [sa, sl, sb]) s!.close();
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
