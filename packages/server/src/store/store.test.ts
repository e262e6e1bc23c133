/**
 * Behaviour of `Store`: one table of cases, run against every implementation in `storeFactories`
 * (each case on a database of its own), then a few cases specific to one implementation.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { describe, test } from 'node:test';
import { Worker } from 'node:worker_threads';
import fc from 'fast-check';
import pg from 'pg';
import { LIMITS, SealpostError, parseUsername, usernameSkeleton, type ErrorCode } from '@sealpost/core';
import { MIGRATIONS } from './migrations.ts';
import type { StoreOptions } from './options.ts';
import { PostgresStore } from './postgres.ts';
import { SqliteStore } from './sqlite.ts';
import type { CommitInput, DevicePk, DeviceRecord, EnqueueInput, Store } from './store.ts';
import { SCHEMA } from './schema.ts';
import { storeFactories, type StoreFactory } from './test-databases.ts';

const DAY = 20_500;
const NOW = 1_771_200_000; // seconds
const TTL = 3_600;

function bytes(n: number): Uint8Array {
  return new Uint8Array(randomBytes(n));
}

function sha256(data: Uint8Array): Uint8Array {
  return new Uint8Array(createHash('sha256').update(data).digest());
}

async function newAccount(store: Store, name: string) {
  const username = parseUsername(name);
  return store.createAccount({
    username,
    skeleton: usernameSkeleton(username),
    accountKey: bytes(LIMITS.publicKeyBytes),
    device: { deviceId: bytes(LIMITS.deviceIdBytes), publicKey: bytes(LIMITS.publicKeyBytes) },
    day: DAY,
  });
}

async function newDevice(store: Store, accountId: number): Promise<DeviceRecord> {
  return store.addDevice(
    accountId,
    { deviceId: bytes(LIMITS.deviceIdBytes), publicKey: bytes(LIMITS.publicKeyBytes) },
    DAY,
  );
}

/** Returns `count` devices, each on an account of its own. */
async function devices(store: Store, count: number): Promise<DevicePk[]> {
  const pks: DevicePk[] = [];
  for (let i = 0; i < count; i++) pks.push((await newAccount(store, `user${i}`)).device.pk);
  return pks;
}

function message(sender: DevicePk, recipients: DevicePk[], over: Partial<EnqueueInput> = {}): EnqueueInput {
  const payload = over.payload ?? bytes(64);
  return {
    sender,
    recipients,
    messageId: bytes(LIMITS.messageIdBytes),
    payload,
    digest: sha256(payload),
    expiresAtSecs: NOW + TTL,
    ...over,
  };
}

async function seqs(store: Store, device: DevicePk, nowSecs = NOW): Promise<number[]> {
  return (await store.fetchMail(device, 0, 10_000, nowSecs)).map((e) => e.seq);
}

/** `n` in letters that no username skeleton folds together, so every value gives a distinct account. */
const lookAlikeFree = (n: number) => [...String(n)].map((d) => 'abefhkptxy'[Number(d)]).join('');

const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

async function rejectsWith(promise: Promise<unknown>, code: ErrorCode): Promise<void> {
  await assert.rejects(promise, (e) => {
    assert.ok(e instanceof SealpostError, `expected a SealpostError ${code}, got ${String(e)}`);
    assert.equal(e.code, code);
    return true;
  });
}

function commitOf(
  sender: DevicePk,
  recipients: DevicePk[],
  groupId: Uint8Array,
  epoch: number,
  over: Partial<CommitInput> = {},
): CommitInput {
  return { ...message(sender, recipients), groupId, epoch, ...over };
}

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

interface Case {
  readonly name: string;
  readonly options?: StoreOptions;
  run(store: Store, factory: StoreFactory): Promise<void>;
}

const CASES: readonly Case[] = [
  // --- key-transparency update queue (docs/key-transparency.md "Server")
  {
    name: 'queueKtUpdate takes only the next version of an account, up to the bound; appendKtEpoch removes what it publishes',
    async run(store) {
      const alice = (await newAccount(store, 'alice')).account;
      const bob = (await newAccount(store, 'bob')).account;
      const update = (accountId: number, version: number) => ({
        accountId,
        version,
        vrfOutput: bytes(32),
        deviceList: bytes(100),
        opening: bytes(16),
      });
      const a0 = update(alice.id, 0);
      assert.equal(await store.queueKtUpdate(update(alice.id, 1), 10), 'taken', 'a gap');
      assert.equal(await store.queueKtUpdate(a0, 10), 'queued');
      assert.equal(await store.queueKtUpdate(update(alice.id, 0), 10), 'taken', 'the same version again');
      const b0 = update(bob.id, 0);
      assert.equal(await store.queueKtUpdate(b0, 2), 'queued');
      assert.equal(await store.queueKtUpdate(update(alice.id, 1), 2), 'full');
      const a1 = update(alice.id, 1);
      assert.equal(await store.queueKtUpdate(a1, 10), 'queued');
      assert.deepEqual(await store.ktLatest(alice.id), { version: 1, deviceList: a1.deviceList });
      const queue = await store.ktQueue(10);
      assert.deepEqual(
        queue.map((u) => [u.username, u.version, hex(u.vrfOutput)]),
        [
          ['alice', 0, hex(a0.vrfOutput)],
          ['bob', 0, hex(b0.vrfOutput)],
          ['alice', 1, hex(a1.vrfOutput)],
        ],
      );
      assert.equal((await store.ktQueue(1)).length, 1);
      // The epoch publishing alice's version 0 removes it; the next version continues after it.
      await store.appendKtEpoch({
        epoch: 0,
        timestampMs: 1,
        root: bytes(32),
        signature: bytes(64),
        updates: [{ ...a0, commitment: bytes(32) }],
      });
      assert.deepEqual(
        (await store.ktQueue(10)).map((u) => [u.username, u.version]),
        [
          ['bob', 0],
          ['alice', 1],
        ],
      );
      assert.equal(await store.queueKtUpdate(update(alice.id, 2), 10), 'queued');
      assert.equal((await store.loadKtLog(0)).length, 0, 'nothing after epoch 0');
      assert.equal((await store.loadKtLog()).length, 1);
      assert.equal(await store.ktLatest((await newAccount(store, 'carol')).account.id), undefined);
    },
  },
  // --- disclosure (sealpost disclose)
  {
    name: "disclose returns the account's rows in every linked table, every listed column, and no one else's",
    async run(store) {
      const alice = await newAccount(store, 'alice');
      const laptop = await newDevice(store, alice.account.id);
      const bob = await newAccount(store, 'bob');
      const toAlice = message(bob.device.pk, [alice.device.pk, laptop.pk]);
      const fromAlice = message(alice.device.pk, [bob.device.pk]);
      await store.enqueue(toAlice);
      await store.enqueue(fromAlice);
      const backup = bytes(32);
      await store.putBlob(alice.account.id, sha256(backup), backup);
      await store.putBlob(bob.account.id, sha256(backup), backup);
      for (const account of [alice.account, bob.account]) {
        const list = { version: 0, vrfOutput: bytes(32), deviceList: bytes(64), opening: bytes(16) };
        await store.queueKtUpdate({ accountId: account.id, ...list }, 10);
      }
      const d = await store.disclose(parseUsername('alice'));
      assert.ok(d);
      assert.deepEqual(Object.keys(d).sort(), [
        'accounts',
        'blobs',
        'devices',
        'key_packages',
        'kt_queue',
        'kt_values',
        'mailbox',
        'payloads',
        'sent',
      ]);
      for (const [table, rows] of Object.entries(d)) {
        const listed = SCHEMA.find((t) => t.name === table)!
          .columns.map((c) => c.name)
          .sort();
        for (const row of rows) assert.deepEqual(Object.keys(row).sort(), listed, `${table} columns`);
      }
      assert.equal(d['accounts']!.length, 1);
      assert.equal(d['accounts']![0]!['username'], 'alice');
      assert.equal(d['devices']!.length, 2);
      // Alice's blob, not bob's identical one.
      assert.equal(d['blobs']!.length, 1);
      // Her queued device list, not bob's.
      assert.equal(d['kt_queue']!.length, 1);
      assert.equal(d['kt_queue']![0]!['account_id'], alice.account.id);
      // Both copies of the message to alice, none of the copy in bob's mailbox.
      // Both copies name the one stored payload of that send (the one to bob is not hers).
      assert.equal(d['mailbox']!.length, 2);
      assert.equal(d['payloads']!.length, 1);
      assert.deepEqual(d['payloads']![0]!['payload'], toAlice.payload);
      for (const row of d['mailbox']!) assert.equal(row['payload_id'], d['payloads']![0]!['id']);
      // Alice's own send is disclosed as her idempotency record (no recipient in it), not bob's.
      assert.equal(d['sent']!.length, 1);
      assert.deepEqual(d['sent']![0]!['message_id'], fromAlice.messageId);
      assert.equal(await store.disclose(parseUsername('nobody')), undefined);
    },
  },
  // --- migrations
  {
    name: 'migrating twice applies nothing the second time',
    async run(_store, factory) {
      const db = await factory.fresh();
      try {
        const store = await db.open();
        assert.equal(await store.migrate(), MIGRATIONS.length);
        assert.equal(await store.migrate(), 0);
        assert.equal(await (await db.open()).migrate(), 0);
      } finally {
        await db.cleanup();
      }
    },
  },
  {
    name: 'four instances migrating one fresh database together apply each migration once',
    async run(_store, factory) {
      const db = await factory.fresh();
      try {
        const stores = await Promise.all(range(1, 4).map(() => db.open()));
        const applied = await Promise.all(stores.map((s) => s.migrate()));
        assert.equal(
          applied.reduce((a, b) => a + b, 0),
          MIGRATIONS.length,
        );
        const rows = await db.inspect('SELECT version FROM schema_migrations ORDER BY version');
        assert.deepEqual(
          rows.map((r) => Number(r['version'])),
          MIGRATIONS.map((m) => m.version),
        );
      } finally {
        await db.cleanup();
      }
    },
  },
  {
    name: 'ping answers while open and fails with STORE_UNAVAILABLE after close',
    async run(store) {
      await store.ping();
      await store.close();
      await rejectsWith(store.ping(), 'STORE_UNAVAILABLE');
      await store.close(); // closing twice is harmless
    },
  },

  // --- challenges
  {
    name: 'a challenge can be consumed once',
    async run(store) {
      const c = bytes(LIMITS.challengeBytes);
      await store.putChallenge(c, 2_000);
      assert.equal(await store.consumeChallenge(c, 1_000), true);
      assert.equal(await store.consumeChallenge(c, 1_000), false);
    },
  },
  {
    name: 'a challenge is refused from its expiry time on, and deleted anyway',
    async run(store) {
      const c = bytes(LIMITS.challengeBytes);
      await store.putChallenge(c, 2_000);
      assert.equal(await store.consumeChallenge(c, 2_000), false);
      assert.equal(await store.consumeChallenge(c, 1_000), false);
    },
  },
  {
    name: 'an unknown challenge is refused',
    async run(store) {
      await store.putChallenge(bytes(LIMITS.challengeBytes), 2_000);
      assert.equal(await store.consumeChallenge(bytes(LIMITS.challengeBytes), 1_000), false);
    },
  },

  // --- accounts
  {
    name: 'a new account and its first device read back as created',
    async run(store) {
      const accountKey = bytes(32);
      const device = { deviceId: bytes(8), publicKey: bytes(32) };
      const alice = parseUsername('Alice');
      const made = await store.createAccount({
        username: alice,
        skeleton: usernameSkeleton(alice),
        accountKey,
        device,
        day: DAY,
      });
      assert.deepEqual(made.account, { id: made.account.id, username: 'alice', accountKey, createdDay: DAY });
      assert.deepEqual(made.device, {
        pk: made.device.pk,
        accountId: made.account.id,
        deviceId: device.deviceId,
        publicKey: device.publicKey,
        createdDay: DAY,
        lastSeenDay: DAY,
      });
      assert.deepEqual(await store.getAccount(alice), made.account);
      assert.deepEqual(await store.listDevices(made.account.id), [made.device]);
      assert.deepEqual(await store.getDevice(alice, device.deviceId), made.device);
      assert.equal(await store.getAccount(parseUsername('bob')), undefined);
      assert.equal(await store.getDevice(alice, bytes(8)), undefined);
      assert.equal(await store.getDevice(parseUsername('bob'), device.deviceId), undefined);
    },
  },
  {
    name: 'a taken username is refused with USERNAME_TAKEN',
    async run(store) {
      const first = await newAccount(store, 'alice');
      await rejectsWith(newAccount(store, 'alice'), 'USERNAME_TAKEN');
      assert.deepEqual(await store.getAccount(first.account.username), first.account);
    },
  },
  {
    name: 'a look-alike of a taken username (same skeleton) is refused with USERNAME_TAKEN',
    async run(store) {
      await newAccount(store, 'alice');
      await rejectsWith(newAccount(store, 'a1ice'), 'USERNAME_TAKEN');
      await rejectsWith(newAccount(store, 'al_ice'), 'USERNAME_TAKEN');
      assert.equal(await store.getAccount(parseUsername('a1ice')), undefined);
    },
  },
  {
    name: 'concurrent creations of one username: exactly one succeeds',
    async run(store) {
      const results = await Promise.allSettled(range(1, 8).map(() => newAccount(store, 'alice')));
      assert.equal(results.filter((r) => r.status === 'fulfilled').length, 1);
      for (const r of results) {
        if (r.status === 'rejected') assert.equal((r.reason as SealpostError).code, 'USERNAME_TAKEN');
      }
    },
  },

  // --- devices
  {
    name: 'added devices are listed in the order they were added',
    async run(store) {
      const { account, device } = await newAccount(store, 'alice');
      const second = await newDevice(store, account.id);
      const third = await newDevice(store, account.id);
      assert.deepEqual(await store.listDevices(account.id), [device, second, third]);
      assert.deepEqual(await store.getDevice(account.username, second.deviceId), second);
      assert.ok(second.pk > device.pk && third.pk > second.pk);
    },
  },
  {
    name: 'adding a device id the account already has fails with DEVICE_EXISTS',
    async run(store) {
      const { account, device } = await newAccount(store, 'alice');
      await rejectsWith(
        store.addDevice(account.id, { deviceId: device.deviceId, publicKey: bytes(32) }, DAY),
        'DEVICE_EXISTS',
      );
      // The same device id under another account is a different device.
      const bob = await newAccount(store, 'bob');
      await store.addDevice(bob.account.id, { deviceId: device.deviceId, publicKey: bytes(32) }, DAY);
    },
  },
  {
    name: 'adding a device beyond the limit fails with TOO_MANY_DEVICES',
    options: { devicesPerAccount: 3 },
    async run(store) {
      const { account } = await newAccount(store, 'alice');
      await newDevice(store, account.id);
      await newDevice(store, account.id);
      await rejectsWith(newDevice(store, account.id), 'TOO_MANY_DEVICES');
      assert.equal((await store.listDevices(account.id)).length, 3);
    },
  },
  {
    name: 'concurrent device additions stop exactly at the limit',
    options: { devicesPerAccount: 3 },
    async run(store) {
      const { account } = await newAccount(store, 'alice');
      const results = await Promise.allSettled(range(1, 6).map(() => newDevice(store, account.id)));
      assert.equal(results.filter((r) => r.status === 'fulfilled').length, 2);
      assert.equal((await store.listDevices(account.id)).length, 3);
    },
  },
  {
    name: 'adding a device to an unknown account fails with ACCOUNT_NOT_FOUND',
    async run(store) {
      await rejectsWith(newDevice(store, 987_654), 'ACCOUNT_NOT_FOUND');
    },
  },
  {
    name: 'a removed device is gone and its key is not reused',
    async run(store) {
      const { account, device } = await newAccount(store, 'alice');
      const second = await newDevice(store, account.id);
      assert.equal(await store.removeDevice(account.id, second.deviceId), second.pk);
      assert.deepEqual(await store.listDevices(account.id), [device]);
      assert.equal(await store.getDevice(account.username, second.deviceId), undefined);
      const third = await newDevice(store, account.id);
      assert.ok(third.pk > second.pk);
    },
  },
  {
    name: 'removing an unknown device fails with DEVICE_NOT_FOUND',
    async run(store) {
      const { account } = await newAccount(store, 'alice');
      const bob = await newAccount(store, 'bob');
      await rejectsWith(store.removeDevice(account.id, bytes(8)), 'DEVICE_NOT_FOUND');
      await rejectsWith(store.removeDevice(account.id, bob.device.deviceId), 'DEVICE_NOT_FOUND');
    },
  },
  {
    name: 'removing the last device fails with LAST_DEVICE',
    async run(store) {
      const { account, device } = await newAccount(store, 'alice');
      await rejectsWith(store.removeDevice(account.id, device.deviceId), 'LAST_DEVICE');
      assert.deepEqual(await store.listDevices(account.id), [device]);
    },
  },
  {
    name: "removing a device deletes its mailbox and no one else's",
    async run(store) {
      const { account, device } = await newAccount(store, 'alice');
      const second = await newDevice(store, account.id);
      const [bob] = await devices(store, 1);
      await store.enqueue(message(bob!, [device.pk, second.pk]));
      await store.removeDevice(account.id, second.deviceId);
      assert.deepEqual(await seqs(store, second.pk), []);
      assert.deepEqual(await seqs(store, device.pk), [1]);
    },
  },
  {
    name: 'touching a device records the day and never moves it backwards',
    async run(store) {
      const { account, device } = await newAccount(store, 'alice');
      await store.touchDevice(device.pk, DAY + 3);
      await store.touchDevice(device.pk, DAY + 1);
      const [after] = await store.listDevices(account.id);
      assert.equal(after!.lastSeenDay, DAY + 3);
      assert.equal(after!.createdDay, DAY);
    },
  },
  {
    name: 'resolveDevices answers in order, undefined for each unknown address',
    async run(store) {
      const alice = await newAccount(store, 'alice');
      const aliceTwo = await newDevice(store, alice.account.id);
      const bob = await newAccount(store, 'bob');
      const resolved = await store.resolveDevices([
        { username: alice.account.username, deviceId: aliceTwo.deviceId },
        { username: bob.account.username, deviceId: alice.device.deviceId },
        { username: parseUsername('zed'), deviceId: bob.device.deviceId },
        { username: alice.account.username, deviceId: alice.device.deviceId },
        { username: bob.account.username, deviceId: bob.device.deviceId },
      ]);
      assert.deepEqual(resolved, [aliceTwo.pk, undefined, undefined, alice.device.pk, bob.device.pk]);
      assert.deepEqual(await store.resolveDevices([]), []);
    },
  },

  // --- enqueue
  {
    name: 'each device gets sequence numbers 1, 2, 3, ... and payloads read back exactly',
    async run(store) {
      const [alice, bob] = await devices(store, 2);
      const payloads = [bytes(LIMITS.messageMaxBytes), new Uint8Array(10), bytes(1)];
      const sent = payloads.map((payload) => message(alice!, [bob!], { payload }));
      for (const m of sent) assert.equal((await store.enqueue(m)).duplicate, false);
      const mail = await store.fetchMail(bob!, 0, 10, NOW);
      assert.deepEqual(
        mail,
        sent.map((m, i) => ({ seq: i + 1, messageId: m.messageId, payload: m.payload })),
      );
      assert.deepEqual(await seqs(store, alice!), []);
    },
  },
  {
    name: "a message to several devices takes each recipient's own next sequence number",
    async run(store) {
      const [alice, bob, carol] = await devices(store, 3);
      await store.enqueue(message(alice!, [bob!]));
      await store.enqueue(message(alice!, [bob!]));
      const third = await store.enqueue(message(alice!, [carol!, bob!]));
      assert.deepEqual(third.seqs, [1, 3], 'seqs[i] belongs to recipients[i]');
      assert.deepEqual((await store.enqueue(message(alice!, [bob!, carol!]))).seqs, [4, 2]);
      assert.deepEqual(await seqs(store, bob!), [1, 2, 3, 4]);
      assert.deepEqual(await seqs(store, carol!), [1, 2]);
    },
  },
  {
    name: 'sequence numbers are never reused after acks',
    async run(store) {
      const [alice, bob] = await devices(store, 2);
      await store.enqueue(message(alice!, [bob!]));
      await store.enqueue(message(alice!, [bob!]));
      assert.equal(await store.ack(bob!, [1, 2]), 2);
      await store.enqueue(message(alice!, [bob!]));
      assert.deepEqual(await seqs(store, bob!), [3]);
    },
  },
  {
    name: 'resending the same message id stores one copy',
    async run(store) {
      const [alice, bob, carol] = await devices(store, 3);
      const m = message(alice!, [bob!, carol!]);
      assert.equal((await store.enqueue(m)).duplicate, false);
      assert.equal((await store.enqueue(m)).duplicate, true);
      // Still a duplicate after the recipients acknowledged it.
      await store.ack(bob!, [1]);
      assert.equal((await store.enqueue(m)).duplicate, true);
      assert.deepEqual(await seqs(store, bob!), []);
      assert.deepEqual(await seqs(store, carol!), [1]);
    },
  },
  {
    name: 'concurrent resends of one message store one copy',
    async run(store) {
      const [alice, bob] = await devices(store, 2);
      const m = message(alice!, [bob!]);
      const results = await Promise.all(range(1, 10).map(() => store.enqueue(m)));
      assert.equal(results.filter((r) => !r.duplicate).length, 1);
      assert.deepEqual(await seqs(store, bob!), [1]);
    },
  },
  {
    name: 'reusing a message id for another message fails with MESSAGE_ID_REUSED and stores nothing',
    async run(store) {
      const [alice, bob, carol] = await devices(store, 3);
      const m = message(alice!, [bob!]);
      await store.enqueue(m);
      const other = bytes(64);
      await rejectsWith(
        store.enqueue({ ...m, recipients: [bob!, carol!], payload: other, digest: sha256(other) }),
        'MESSAGE_ID_REUSED',
      );
      assert.deepEqual(await seqs(store, bob!), [1]);
      assert.deepEqual(await seqs(store, carol!), []);
    },
  },
  {
    name: 'the same message id from another sender is another message',
    async run(store) {
      const [alice, bob, carol] = await devices(store, 3);
      const m = message(alice!, [carol!]);
      await store.enqueue(m);
      assert.equal((await store.enqueue({ ...m, sender: bob! })).duplicate, false);
      assert.deepEqual(await seqs(store, carol!), [1, 2]);
    },
  },
  {
    name: 'a full mailbox fails the whole send with MAILBOX_FULL and stores nothing',
    options: { mailboxMaxMessages: 2 },
    async run(store) {
      const [alice, bob, carol] = await devices(store, 3);
      await store.enqueue(message(alice!, [carol!]));
      await store.enqueue(message(alice!, [carol!]));
      const m = message(alice!, [bob!, carol!]);
      await rejectsWith(store.enqueue(m), 'MAILBOX_FULL');
      assert.deepEqual(await seqs(store, bob!), []);
      assert.deepEqual(await seqs(store, carol!), [1, 2]);
      // No idempotency record was kept: once there is room, the same send is new, not a duplicate.
      await store.ack(carol!, [1]);
      assert.equal((await store.enqueue(m)).duplicate, false);
      assert.deepEqual(await seqs(store, bob!), [1]);
      assert.deepEqual(await seqs(store, carol!), [2, 3]);
    },
  },
  {
    name: 'a mailbox with gaps left by acks is full only when it holds the limit',
    options: { mailboxMaxMessages: 3 },
    async run(store) {
      const [alice, bob] = await devices(store, 2);
      for (let i = 0; i < 3; i++) await store.enqueue(message(alice!, [bob!]));
      await store.ack(bob!, [2]);
      await store.enqueue(message(alice!, [bob!]));
      assert.deepEqual(await seqs(store, bob!), [1, 3, 4]);
      await rejectsWith(store.enqueue(message(alice!, [bob!])), 'MAILBOX_FULL');
    },
  },
  {
    name: 'a send to a removed device fails with DEVICE_NOT_FOUND and stores nothing',
    async run(store) {
      const { account, device } = await newAccount(store, 'alice');
      const second = await newDevice(store, account.id);
      const [bob] = await devices(store, 1);
      await store.removeDevice(account.id, second.deviceId);
      const m = message(bob!, [device.pk, second.pk]);
      await rejectsWith(store.enqueue(m), 'DEVICE_NOT_FOUND');
      assert.deepEqual(await seqs(store, device.pk), []);
      assert.equal((await store.enqueue({ ...m, recipients: [device.pk] })).duplicate, false);
    },
  },
  {
    name: 'a send without recipients or with a repeated recipient fails with VALIDATION_FAILED',
    async run(store) {
      const [alice, bob] = await devices(store, 2);
      await rejectsWith(store.enqueue(message(alice!, [])), 'VALIDATION_FAILED');
      await rejectsWith(store.enqueue(message(alice!, [bob!, bob!])), 'VALIDATION_FAILED');
      assert.deepEqual(await seqs(store, bob!), []);
    },
  },
  {
    name: 'concurrent sends to one device get distinct, gapless sequence numbers',
    async run(store) {
      const [alice, bob, carol] = await devices(store, 3);
      const results = await Promise.all(
        range(1, 60).map((i) => store.enqueue(message(i % 2 ? alice! : carol!, [bob!]))),
      );
      assert.ok(results.every((r) => !r.duplicate));
      assert.deepEqual(await seqs(store, bob!), range(1, 60));
    },
  },
  {
    name: 'concurrent sends to overlapping recipients in opposite orders neither deadlock nor leave gaps',
    async run(store) {
      const [a, b, c, sender] = await devices(store, 4);
      const orders = [
        [a!, b!, c!],
        [c!, b!, a!],
        [b!, a!],
        [c!, a!],
      ];
      await Promise.all(range(0, 39).map((i) => store.enqueue(message(sender!, orders[i % orders.length]!))));
      assert.deepEqual(await seqs(store, a!), range(1, 40));
      assert.deepEqual(await seqs(store, b!), range(1, 30));
      assert.deepEqual(await seqs(store, c!), range(1, 30));
    },
  },
  {
    name: 'sends issued without awaiting, to overlapping recipients, get sequence numbers in call order',
    async run(store) {
      assert.equal(store.writesInOrder, true, 'every store keeps call order');
      const [a, b, c, alice, bob] = await devices(store, 5);
      const orders = [[a!], [b!, a!], [c!, b!], [a!, b!, c!], [c!]];
      // More calls than one group commit takes, so the order must also hold from batch to batch.
      const sent = range(0, 1199).map((i) => message(i % 3 ? alice! : bob!, orders[i % orders.length]!));
      const results = await Promise.all(sent.map((m) => store.enqueue(m)));
      for (const pk of [a!, b!, c!]) {
        const calls = sent.flatMap((m, i) => (m.recipients.includes(pk) ? [i] : []));
        assert.deepEqual(
          calls.map((i) => results[i]!.seqs[sent[i]!.recipients.indexOf(pk)]),
          range(1, calls.length),
        );
        assert.deepEqual(
          (await store.fetchMail(pk, 0, 10_000, NOW)).map((e) => e.messageId),
          calls.map((i) => sent[i]!.messageId),
        );
      }
    },
  },
  {
    name: 'a burst mixing good sends, a duplicate, a reused id, a full mailbox and a removed device answers each and stores only the good ones',
    options: { mailboxMaxMessages: 2 },
    async run(store) {
      const [alice, bob, carol, dave] = await devices(store, 4);
      const { account, device: erinDevice } = await newAccount(store, 'erin');
      const erin = erinDevice.pk;
      const gone = await newDevice(store, account.id);
      await store.removeDevice(account.id, gone.deviceId);
      const first = message(alice!, [bob!]);
      await store.enqueue(first);
      await store.enqueue(message(alice!, [carol!]));
      await store.enqueue(message(alice!, [carol!]));
      const other = bytes(64);
      const burst = [
        message(alice!, [bob!, dave!]), // stored: bob 2, dave 1
        first, // duplicate
        { ...first, payload: other, digest: sha256(other) }, // MESSAGE_ID_REUSED
        message(alice!, [dave!, carol!]), // MAILBOX_FULL at carol, nothing at dave
        message(alice!, [erin, gone.pk]), // DEVICE_NOT_FOUND, nothing at erin
        message(alice!, [dave!]), // stored: dave 2, so dave is full from here on
        message(alice!, [dave!]), // MAILBOX_FULL
        message(bob!, [erin]), // stored: erin 1
      ];
      const results = await Promise.allSettled(burst.map((m) => store.enqueue(m)));
      const answers = results.map((r) =>
        r.status === 'fulfilled' ? r.value : (r.reason as SealpostError).code,
      );
      assert.deepEqual(answers, [
        { duplicate: false, seqs: [2, 1] },
        { duplicate: true, seqs: [] },
        'MESSAGE_ID_REUSED',
        'MAILBOX_FULL',
        'DEVICE_NOT_FOUND',
        { duplicate: false, seqs: [2] },
        'MAILBOX_FULL',
        { duplicate: false, seqs: [1] },
      ]);
      const ids = async (pk: DevicePk) => (await store.fetchMail(pk, 0, 10, NOW)).map((e) => e.messageId);
      assert.deepEqual(await ids(bob!), [first.messageId, burst[0]!.messageId]);
      assert.deepEqual(await ids(dave!), [burst[0]!.messageId, burst[5]!.messageId]);
      assert.deepEqual(await seqs(store, carol!), [1, 2]);
      assert.deepEqual(await ids(erin), [burst[7]!.messageId]);
      // The failed sends kept no idempotency record: with room again they are new sends.
      await store.ack(carol!, [1]);
      await store.ack(dave!, [1]);
      assert.deepEqual(await store.enqueue(burst[3]!), { duplicate: false, seqs: [3, 3] });
      assert.deepEqual(await store.enqueue({ ...burst[4]!, recipients: [erin] }), {
        duplicate: false,
        seqs: [2],
      });
    },
  },
  {
    name: 'one message id twice in a burst stores one copy, then answers duplicate, as if sent one after the other',
    async run(store) {
      const [alice, bob, carol] = await devices(store, 3);
      const m = message(alice!, [bob!, carol!]);
      const other = bytes(64);
      const last = message(alice!, [bob!]);
      const results = await Promise.allSettled([
        store.enqueue(m),
        store.enqueue(m),
        store.enqueue({ ...m, payload: other, digest: sha256(other) }),
        store.enqueue(last),
      ]);
      assert.deepEqual(
        results.map((r) => (r.status === 'fulfilled' ? r.value : (r.reason as SealpostError).code)),
        [
          { duplicate: false, seqs: [1, 1] },
          { duplicate: true, seqs: [] },
          'MESSAGE_ID_REUSED',
          { duplicate: false, seqs: [2] },
        ],
      );
      const mail = async (pk: DevicePk) =>
        (await store.fetchMail(pk, 0, 10, NOW)).map((e) => [e.messageId, e.payload]);
      assert.deepEqual(await mail(bob!), [
        [m.messageId, m.payload],
        [last.messageId, last.payload],
      ]);
      assert.deepEqual(await mail(carol!), [[m.messageId, m.payload]]);
    },
  },

  // --- fetching, acknowledging, expiring
  {
    name: 'fetchMail pages by afterSeq and limit in increasing order',
    async run(store) {
      const [alice, bob] = await devices(store, 2);
      for (let i = 0; i < 7; i++) await store.enqueue(message(alice!, [bob!]));
      await store.ack(bob!, [4]);
      const page = async (after: number, limit: number) =>
        (await store.fetchMail(bob!, after, limit, NOW)).map((e) => e.seq);
      assert.deepEqual(await page(0, 3), [1, 2, 3]);
      assert.deepEqual(await page(3, 3), [5, 6, 7]);
      assert.deepEqual(await page(7, 3), []);
      assert.deepEqual(await page(0, 0), []);
    },
  },
  {
    name: 'fetchMail hides entries from their expiry time on',
    async run(store) {
      const [alice, bob] = await devices(store, 2);
      await store.enqueue(message(alice!, [bob!], { expiresAtSecs: NOW + 10 }));
      await store.enqueue(message(alice!, [bob!], { expiresAtSecs: NOW + 20 }));
      assert.deepEqual(await seqs(store, bob!, NOW + 9), [1, 2]);
      assert.deepEqual(await seqs(store, bob!, NOW + 10), [2]);
      assert.deepEqual(await seqs(store, bob!, NOW + 20), []);
    },
  },
  {
    name: "ack deletes only the listed entries of that device's mailbox",
    async run(store) {
      const [alice, bob, carol] = await devices(store, 3);
      await store.enqueue(message(alice!, [bob!, carol!]));
      await store.enqueue(message(alice!, [bob!, carol!]));
      assert.equal(await store.ack(bob!, [1, 99]), 1);
      assert.equal(await store.ack(bob!, [1]), 0);
      assert.equal(await store.ack(bob!, []), 0);
      assert.deepEqual(await seqs(store, bob!), [2]);
      assert.deepEqual(await seqs(store, carol!), [1, 2]);
    },
  },
  {
    name: 'sweepExpired deletes expired entries, idempotency records and challenges',
    async run(store) {
      const [alice, bob] = await devices(store, 2);
      const early = message(alice!, [bob!], { expiresAtSecs: NOW + 10 });
      await store.enqueue(early);
      await store.enqueue(message(alice!, [bob!], { expiresAtSecs: NOW + 20 }));
      const challenge = bytes(32);
      await store.putChallenge(challenge, (NOW + 10) * 1000);
      assert.equal(await store.sweepExpired(NOW + 9), 0);
      assert.equal(await store.sweepExpired(NOW + 10), 1);
      assert.deepEqual(await seqs(store, bob!), [2]);
      assert.equal(await store.consumeChallenge(challenge, NOW * 1000), false);
      // The idempotency record went with the message: the id is free again.
      const other = bytes(64);
      assert.deepEqual(await store.enqueue({ ...early, payload: other, digest: sha256(other) }), {
        duplicate: false,
        seqs: [3],
      });
    },
  },
  {
    name: 'for any sends and acks, fetchMail returns exactly the unacknowledged entries in order',
    async run(store) {
      const [alice] = await devices(store, 1);
      const op = fc.oneof(
        fc.record({ kind: fc.constant('send' as const), to: fc.subarray([0, 1, 2], { minLength: 1 }) }),
        fc.record({ kind: fc.constant('ack' as const), who: fc.nat(2), seqs: fc.array(fc.nat(12)) }),
      );
      let run = 0;
      await fc.assert(
        fc.asyncProperty(fc.array(op, { maxLength: 12 }), async (ops) => {
          run++;
          const bobs = await Promise.all(
            ['a', 'b', 'e'].map((s) => newAccount(store, `p${lookAlikeFree(run)}x${s}`)),
          );
          const pks = bobs.map((b) => b.device.pk);
          const model: Map<number, Uint8Array>[] = [new Map(), new Map(), new Map()];
          const next = [1, 1, 1];
          for (const o of ops) {
            if (o.kind === 'send') {
              const m = message(
                alice!,
                o.to.map((i) => pks[i]!),
              );
              await store.enqueue(m);
              for (const i of o.to) model[i]!.set(next[i]!++, m.messageId);
            } else {
              const expected = new Set(o.seqs.filter((s) => model[o.who]!.has(s))).size;
              assert.equal(await store.ack(pks[o.who]!, [...new Set(o.seqs)]), expected);
              for (const s of o.seqs) model[o.who]!.delete(s);
            }
          }
          for (let i = 0; i < 3; i++) {
            const mail = await store.fetchMail(pks[i]!, 0, 100, NOW);
            assert.deepEqual(
              mail.map((e) => [e.seq, e.messageId]),
              [...model[i]!.entries()].sort((x, y) => x[0] - y[0]),
            );
          }
        }),
        { numRuns: 15 },
      );
    },
  },

  // --- MLS delivery service: KeyPackages
  {
    name: 'KeyPackages: one-time ones are handed out oldest first, once each; then the last-resort one, kept',
    async run(store) {
      const alice = await newAccount(store, 'alice');
      const kps = [bytes(100), bytes(200), bytes(300)];
      const lastResort = bytes(150);
      assert.deepEqual(await store.addKeyPackages(alice.device.pk, kps, lastResort), {
        oneTime: 3,
        hasLastResort: true,
      });
      const got: Uint8Array[] = [];
      for (let i = 0; i < 5; i++) {
        const claimed = await store.claimKeyPackages(parseUsername('alice'));
        assert.equal(claimed.length, 1);
        assert.deepEqual(claimed[0]!.deviceId, alice.device.deviceId);
        got.push(claimed[0]!.keyPackage);
      }
      assert.deepEqual(got, [...kps, lastResort, lastResort]);
      assert.deepEqual(await store.countKeyPackages(alice.device.pk), { oneTime: 0, hasLastResort: true });
    },
  },
  {
    name: 'KeyPackages: a claim takes one per device of the user, in device order, and skips devices with none',
    async run(store) {
      const alice = await newAccount(store, 'alice');
      const laptop = await newDevice(store, alice.account.id);
      const tablet = await newDevice(store, alice.account.id);
      const bob = await newAccount(store, 'bob');
      await store.addKeyPackages(bob.device.pk, [bytes(50)], undefined);
      await store.addKeyPackages(tablet.pk, [bytes(50)], undefined);
      await store.addKeyPackages(alice.device.pk, [], bytes(60));
      const claimed = await store.claimKeyPackages(parseUsername('alice'));
      assert.deepEqual(
        claimed.map((c) => hex(c.deviceId)),
        [alice.device.deviceId, tablet.deviceId].map(hex),
      );
      assert.equal(laptop.pk > alice.device.pk, true);
      assert.deepEqual(await store.countKeyPackages(bob.device.pk), { oneTime: 1, hasLastResort: false });
      assert.deepEqual(await store.claimKeyPackages(parseUsername('nobody')), []);
    },
  },
  {
    name: "KeyPackages: a claim naming devices takes only theirs; the user's other devices keep their stock",
    async run(store) {
      const alice = await newAccount(store, 'alice');
      const laptop = await newDevice(store, alice.account.id);
      const bob = await newAccount(store, 'bob');
      await store.addKeyPackages(alice.device.pk, [bytes(50), bytes(50)], bytes(60));
      await store.addKeyPackages(laptop.pk, [bytes(51)], bytes(61));
      const claimed = await store.claimKeyPackages(parseUsername('alice'), [laptop.deviceId]);
      assert.deepEqual(
        claimed.map((c) => hex(c.deviceId)),
        [hex(laptop.deviceId)],
      );
      assert.deepEqual(await store.countKeyPackages(alice.device.pk), { oneTime: 2, hasLastResort: true });
      assert.deepEqual(await store.countKeyPackages(laptop.pk), { oneTime: 0, hasLastResort: true });
      // An id of another user's device, or of none, is skipped.
      assert.deepEqual(
        await store.claimKeyPackages(parseUsername('alice'), [bob.device.deviceId, bytes(8)]),
        [],
      );
      await rejectsWith(store.claimKeyPackages(parseUsername('alice'), []), 'VALIDATION_FAILED');
      await rejectsWith(
        store.claimKeyPackages(parseUsername('alice'), [laptop.deviceId, laptop.deviceId]),
        'VALIDATION_FAILED',
      );
      const tooMany = range(0, LIMITS.devicesPerAccount).map(() => bytes(8));
      await rejectsWith(store.claimKeyPackages(parseUsername('alice'), tooMany), 'VALIDATION_FAILED');
      assert.deepEqual(await store.countKeyPackages(alice.device.pk), { oneTime: 2, hasLastResort: true });
    },
  },
  {
    name: 'KeyPackages: a new last-resort one replaces the old; none given keeps it',
    async run(store) {
      const alice = await newAccount(store, 'alice');
      const first = bytes(40);
      const second = bytes(41);
      await store.addKeyPackages(alice.device.pk, [], first);
      await store.addKeyPackages(alice.device.pk, [bytes(10)], undefined);
      await store.addKeyPackages(alice.device.pk, [], second);
      assert.deepEqual(await store.countKeyPackages(alice.device.pk), { oneTime: 1, hasLastResort: true });
      await store.claimKeyPackages(parseUsername('alice'));
      const [claimed] = await store.claimKeyPackages(parseUsername('alice'));
      assert.deepEqual(claimed!.keyPackage, second);
    },
  },
  {
    name: 'KeyPackages: an upload past the per-device limit is refused whole (TOO_MANY_KEY_PACKAGES)',
    options: { keyPackagesPerDevice: 4 },
    async run(store) {
      const alice = await newAccount(store, 'alice');
      await store.addKeyPackages(alice.device.pk, [bytes(10), bytes(10), bytes(10)], undefined);
      await rejectsWith(
        store.addKeyPackages(alice.device.pk, [bytes(10), bytes(10)], bytes(10)),
        'TOO_MANY_KEY_PACKAGES',
      );
      assert.deepEqual(await store.countKeyPackages(alice.device.pk), { oneTime: 3, hasLastResort: false });
      assert.deepEqual(await store.addKeyPackages(alice.device.pk, [bytes(10)], undefined), {
        oneTime: 4,
        hasLastResort: false,
      });
    },
  },
  {
    name: 'KeyPackages: empty or oversized packages are refused (VALIDATION_FAILED) and nothing is stored',
    async run(store) {
      const alice = await newAccount(store, 'alice');
      await rejectsWith(
        store.addKeyPackages(alice.device.pk, [bytes(10), new Uint8Array(0)], undefined),
        'VALIDATION_FAILED',
      );
      await rejectsWith(
        store.addKeyPackages(alice.device.pk, [bytes(10)], bytes(LIMITS.keyPackageMaxBytes + 1)),
        'VALIDATION_FAILED',
      );
      assert.deepEqual(await store.countKeyPackages(alice.device.pk), { oneTime: 0, hasLastResort: false });
    },
  },
  {
    name: 'KeyPackages: concurrent claims take distinct one-time packages, then the last-resort one',
    async run(store) {
      const alice = await newAccount(store, 'alice');
      const kps = range(1, 20).map(() => bytes(64));
      const lastResort = bytes(64);
      await store.addKeyPackages(alice.device.pk, kps, lastResort);
      const claims = await Promise.all(
        range(1, 30).map(() => store.claimKeyPackages(parseUsername('alice'))),
      );
      const got = claims.map((c) => hex(c[0]!.keyPackage));
      const oneTime = got.filter((g) => g !== hex(lastResort));
      assert.equal(new Set(oneTime).size, oneTime.length, 'a one-time KeyPackage was handed out twice');
      assert.deepEqual(new Set(oneTime), new Set(kps.map(hex)));
      assert.equal(got.length - oneTime.length, 10);
      assert.deepEqual(await store.countKeyPackages(alice.device.pk), { oneTime: 0, hasLastResort: true });
    },
  },
  {
    name: "KeyPackages: removing a device removes its KeyPackages, and a removed device's upload is DEVICE_NOT_FOUND",
    async run(store) {
      const alice = await newAccount(store, 'alice');
      const laptop = await newDevice(store, alice.account.id);
      await store.addKeyPackages(laptop.pk, [bytes(10)], bytes(10));
      await store.removeDevice(alice.account.id, laptop.deviceId);
      assert.deepEqual(await store.countKeyPackages(laptop.pk), { oneTime: 0, hasLastResort: false });
      await rejectsWith(store.addKeyPackages(laptop.pk, [bytes(10)], undefined), 'DEVICE_NOT_FOUND');
    },
  },

  // --- MLS delivery service: per-group commit order
  {
    name: 'commits: a new group is at epoch 0; each accepted commit moves it on and reaches its recipients',
    async run(store) {
      const [a, b, c] = await devices(store, 3);
      const group = bytes(32);
      const first = commitOf(a!, [b!], group, 0);
      assert.deepEqual(await store.commit(first), { duplicate: false, seqs: [1], epoch: 1, welcomeSeqs: [] });
      const second = commitOf(b!, [a!, c!], group, 1);
      assert.deepEqual(await store.commit(second), {
        duplicate: false,
        seqs: [1, 1],
        epoch: 2,
        welcomeSeqs: [],
      });
      assert.deepEqual(
        (await store.fetchMail(b!, 0, 10, NOW)).map((e) => e.payload),
        [first.payload],
      );
      // Another group is independent.
      assert.equal((await store.commit(commitOf(c!, [], bytes(32), 0))).epoch, 1);
    },
  },
  {
    name: 'commits: one for another epoch is MLS_EPOCH_CONFLICT with the current epoch, and stores nothing',
    async run(store) {
      const [a, b] = await devices(store, 2);
      const group = bytes(32);
      await rejectsWith(store.commit(commitOf(a!, [b!], group, 3)), 'MLS_EPOCH_CONFLICT');
      await store.commit(commitOf(a!, [b!], group, 0));
      const stale = commitOf(b!, [a!], group, 0);
      await assert.rejects(store.commit(stale), (e) => {
        assert.ok(e instanceof SealpostError);
        assert.equal(e.code, 'MLS_EPOCH_CONFLICT');
        assert.equal(e.details['currentEpoch'], 1);
        return true;
      });
      assert.deepEqual(await seqs(store, a!), []);
      // The loser's message id was not consumed: it may send it again for the right epoch.
      assert.equal((await store.commit({ ...stale, epoch: 1 })).epoch, 2);
    },
  },
  {
    name: 'commits: a resend of an accepted commit is a duplicate, even after the group moved on',
    async run(store) {
      const [a, b] = await devices(store, 2);
      const group = bytes(32);
      const c = commitOf(a!, [b!], group, 0);
      await store.commit(c);
      await store.commit(commitOf(b!, [a!], group, 1));
      assert.deepEqual(await store.commit(c), { duplicate: true, seqs: [], epoch: 1, welcomeSeqs: [] });
      await rejectsWith(store.commit({ ...c, digest: bytes(32) }), 'MESSAGE_ID_REUSED');
      assert.deepEqual(await seqs(store, b!), [1]);
    },
  },
  {
    name: 'commits: concurrent commits for one epoch: exactly one wins, and only its copies are stored',
    async run(store) {
      const pks = await devices(store, 6);
      const group = bytes(32);
      const tries = pks.map((pk) =>
        commitOf(
          pk,
          pks.filter((o) => o !== pk),
          group,
          0,
        ),
      );
      const results = await Promise.allSettled(tries.map((t) => store.commit(t)));
      const won = results.flatMap((r, i) => (r.status === 'fulfilled' ? [i] : []));
      assert.equal(won.length, 1);
      for (const r of results) {
        if (r.status === 'rejected') assert.equal((r.reason as SealpostError).code, 'MLS_EPOCH_CONFLICT');
      }
      const winner = tries[won[0]!]!;
      for (const pk of pks) {
        const mail = await store.fetchMail(pk, 0, 10, NOW);
        assert.deepEqual(
          mail.map((e) => hex(e.payload)),
          pk === winner.sender ? [] : [hex(winner.payload)],
        );
      }
    },
  },
  {
    name: 'commits: a full recipient mailbox refuses the commit and leaves the epoch',
    options: { mailboxMaxMessages: 1 },
    async run(store) {
      const [a, b] = await devices(store, 2);
      await store.enqueue(message(a!, [b!]));
      const group = bytes(32);
      await rejectsWith(store.commit(commitOf(a!, [b!], group, 0)), 'MAILBOX_FULL');
      assert.equal((await store.commit(commitOf(a!, [], group, 0))).epoch, 1);
    },
  },
  {
    name: "commits: a Welcome is stored with its commit, in the joiners' mailboxes; a resend stores it once",
    async run(store) {
      const [a, b, j1, j2] = await devices(store, 4);
      const group = bytes(32);
      const welcome = { messageId: bytes(16), recipients: [j1!, j2!], payload: bytes(300) };
      await store.enqueue(message(a!, [j2!]));
      const c = commitOf(a!, [b!], group, 0, { welcome });
      assert.deepEqual(await store.commit(c), { duplicate: false, seqs: [1], epoch: 1, welcomeSeqs: [1, 2] });
      for (const j of [j1!, j2!]) {
        const mail = await store.fetchMail(j, 0, 10, NOW);
        assert.deepEqual(mail.at(-1), {
          seq: j === j1 ? 1 : 2,
          messageId: welcome.messageId,
          payload: welcome.payload,
        });
      }
      assert.deepEqual(await store.commit(c), { duplicate: true, seqs: [], epoch: 1, welcomeSeqs: [] });
      assert.deepEqual(await seqs(store, j1!), [1]);
      // The Welcome's id is used up like a send's.
      await rejectsWith(
        store.enqueue({ ...message(a!, [b!]), messageId: welcome.messageId }),
        'MESSAGE_ID_REUSED',
      );
    },
  },
  {
    name: "commits: concurrent commits with Welcomes: only the winner's Welcome is stored, the losers' never",
    async run(store) {
      const all = await devices(store, 8);
      const [members, joiners] = [all.slice(0, 4), all.slice(4)];
      const group = bytes(32);
      const tries = members.map((pk, i) =>
        commitOf(
          pk,
          members.filter((o) => o !== pk),
          group,
          0,
          { welcome: { messageId: bytes(16), recipients: [joiners[i]!], payload: bytes(64) } },
        ),
      );
      const results = await Promise.allSettled(tries.map((t) => store.commit(t)));
      const won = results.flatMap((r, i) => (r.status === 'fulfilled' ? [i] : []));
      assert.equal(won.length, 1);
      for (const [i, j] of joiners.entries()) {
        const mail = await store.fetchMail(j, 0, 10, NOW);
        assert.deepEqual(
          mail.map((e) => hex(e.payload)),
          i === won[0] ? [hex(tries[i]!.welcome!.payload)] : [],
        );
      }
      // A loser's Welcome id was not used: its next try, for the next epoch, stores it.
      const loser = tries[(won[0]! + 1) % tries.length]!;
      assert.deepEqual((await store.commit({ ...loser, epoch: 1 })).welcomeSeqs, [1]);
    },
  },
  {
    name: "commits: a joiner's full mailbox, an unknown joiner or a reused Welcome id refuses the whole commit",
    options: { mailboxMaxMessages: 1 },
    async run(store) {
      const [a, b, j, k] = await devices(store, 4);
      await store.enqueue(message(a!, [j!]));
      const group = bytes(32);
      const welcome = (recipients: DevicePk[], messageId = bytes(16)) => ({
        messageId,
        recipients,
        payload: bytes(8),
      });
      await rejectsWith(
        store.commit(commitOf(a!, [b!], group, 0, { welcome: welcome([j!]) })),
        'MAILBOX_FULL',
      );
      await rejectsWith(
        store.commit(commitOf(a!, [b!], group, 0, { welcome: welcome([999_999 as DevicePk]) })),
        'DEVICE_NOT_FOUND',
      );
      const used = message(a!, [k!]);
      await store.enqueue(used);
      await store.ack(k!, [1]);
      await rejectsWith(
        store.commit(commitOf(a!, [b!], group, 0, { welcome: welcome([k!], used.messageId) })),
        'MESSAGE_ID_REUSED',
      );
      assert.deepEqual(await seqs(store, b!), [], 'no copy of a refused commit');
      assert.equal((await store.commit(commitOf(a!, [b!], group, 0))).epoch, 1);
    },
  },
  {
    name: "commits: a Welcome with no joiner, to a member, or with the commit's message id is VALIDATION_FAILED",
    async run(store) {
      const [a, b, j] = await devices(store, 3);
      const group = bytes(32);
      const c = commitOf(a!, [b!], group, 0);
      for (const welcome of [
        { messageId: bytes(16), recipients: [], payload: bytes(8) },
        { messageId: bytes(16), recipients: [b!], payload: bytes(8) },
        { messageId: bytes(16), recipients: [j!, j!], payload: bytes(8) },
        { messageId: c.messageId, recipients: [j!], payload: bytes(8) },
      ]) {
        await rejectsWith(store.commit({ ...c, welcome }), 'VALIDATION_FAILED');
      }
      assert.deepEqual(await seqs(store, j!), []);
      assert.equal((await store.commit(c)).epoch, 1);
    },
  },
  {
    name: 'commits: a bad group id or epoch is VALIDATION_FAILED',
    async run(store) {
      const [a] = await devices(store, 1);
      await rejectsWith(store.commit(commitOf(a!, [], new Uint8Array(0), 0)), 'VALIDATION_FAILED');
      await rejectsWith(
        store.commit(commitOf(a!, [], bytes(LIMITS.mlsGroupIdMaxBytes + 1), 0)),
        'VALIDATION_FAILED',
      );
      await rejectsWith(store.commit(commitOf(a!, [], bytes(32), -1)), 'VALIDATION_FAILED');
    },
  },
];

for (const factory of storeFactories) {
  describe(factory.name, () => {
    for (const c of CASES) {
      test(`${factory.name}: ${c.name}`, async () => {
        const { store, cleanup } = await factory.open(c.options);
        try {
          await c.run(store, factory);
        } finally {
          await cleanup();
        }
      });
    }
  });
}

// Worker threads really run at once, so this exercises the BEGIN IMMEDIATE lock between
// connections (within one thread, node:sqlite calls cannot overlap).
const MIGRATE_IN_WORKER = `
  const { parentPort, workerData } = require('node:worker_threads');
  import(workerData.module).then(async ({ SqliteStore }) => {
    parentPort.postMessage('ready');
    Atomics.wait(new Int32Array(workerData.gate), 0, 0);
    const store = SqliteStore.open(workerData.path);
    try { parentPort.postMessage(await store.migrate()); } finally { await store.close(); }
  });
`;

describe('sqlite only', () => {
  test('sqlite: four worker threads migrating one file apply each migration once', async () => {
    const [sqlite] = storeFactories.filter((f) => f.name === 'sqlite');
    const db = await sqlite!.fresh();
    try {
      const gate = new SharedArrayBuffer(4);
      let ready = 0;
      const applied = await Promise.all(
        range(1, 4).map(
          () =>
            new Promise<number>((resolve, reject) => {
              const worker = new Worker(MIGRATE_IN_WORKER, {
                eval: true,
                workerData: { module: new URL('./sqlite.ts', import.meta.url).href, path: db.location, gate },
              });
              let result: number | undefined;
              worker.on('message', (m: unknown) => {
                if (m !== 'ready') return void (result = m as number);
                if (++ready === 4) {
                  Atomics.store(new Int32Array(gate), 0, 1);
                  Atomics.notify(new Int32Array(gate), 0);
                }
              });
              worker.on('error', reject);
              worker.on('exit', () =>
                result === undefined ? reject(new Error('worker ended early')) : resolve(result),
              );
            }),
        ),
      );
      assert.equal(
        applied.reduce((a, b) => a + b, 0),
        MIGRATIONS.length,
      );
      const rows = await db.inspect('SELECT version FROM schema_migrations ORDER BY version');
      assert.deepEqual(
        rows.map((r) => Number(r['version'])),
        MIGRATIONS.map((m) => m.version),
      );
    } finally {
      await db.cleanup();
    }
  });

  test('sqlite: a file store runs in WAL mode', async () => {
    const [sqlite] = storeFactories.filter((f) => f.name === 'sqlite');
    const db = await sqlite!.fresh();
    try {
      await (await db.open()).migrate();
      const [row] = await db.inspect('PRAGMA journal_mode');
      assert.equal(row?.['journal_mode'], 'wal');
    } finally {
      await db.cleanup();
    }
  });

  test('sqlite: an in-memory store works', async () => {
    const store = SqliteStore.open(':memory:');
    try {
      assert.equal(await store.migrate(), MIGRATIONS.length);
      const [alice, bob] = await devices(store, 2);
      await store.enqueue(message(alice!, [bob!]));
      assert.deepEqual(await seqs(store, bob!), [1]);
    } finally {
      await store.close();
    }
  });

  test('sqlite: a file that cannot be opened fails with STORE_UNAVAILABLE', () => {
    assert.throws(
      () => SqliteStore.open('/nonexistent-directory/store.db'),
      (e) => e instanceof SealpostError && e.code === 'STORE_UNAVAILABLE',
    );
  });
});

describe('postgres only', () => {
  test('postgres: one instance holds the key-directory publisher lock; it passes on when released', async () => {
    const [postgres] = storeFactories.filter((f) => f.name === 'postgres');
    const db = await postgres!.fresh();
    try {
      const [a, b] = [await db.open(), await db.open()];
      const held = await a.ktPublisherLock();
      assert.ok(held !== undefined);
      assert.equal(await b.ktPublisherLock(), undefined);
      assert.equal(await a.ktPublisherLock(), undefined, 'a session lock, not re-entrant across connections');
      await held.release();
      await held.lost;
      const taken = await b.ktPublisherLock();
      assert.ok(taken !== undefined);
      await taken.release();
    } finally {
      await db.cleanup();
    }
  });

  test('postgres: instances queueing versions of one account at once get each version exactly once', async () => {
    const [postgres] = storeFactories.filter((f) => f.name === 'postgres');
    const db = await postgres!.fresh();
    try {
      const instances = await Promise.all(range(1, 3).map(() => db.open()));
      await instances[0]!.migrate();
      const { account } = await newAccount(instances[0]!, 'alice');
      const results = await Promise.all(
        range(0, 29).map((i) =>
          instances[i % 3]!.queueKtUpdate(
            {
              accountId: account.id,
              version: i % 10,
              vrfOutput: bytes(32),
              deviceList: bytes(8),
              opening: bytes(16),
            },
            1000,
          ),
        ),
      );
      const queued = await instances[0]!.ktQueue(100);
      assert.deepEqual(
        queued.map((u) => u.version),
        range(0, queued.length - 1),
        'gapless, each once',
      );
      assert.equal(results.filter((r) => r === 'queued').length, queued.length);
    } finally {
      await db.cleanup();
    }
  });

  test('postgres: a server that does not answer fails with STORE_UNAVAILABLE', async () => {
    await rejectsWith(
      PostgresStore.connect('postgres://postgres@127.0.0.1:1/nothing', { connectTimeoutMs: 2_000 }),
      'STORE_UNAVAILABLE',
    );
  });

  test('postgres: instances sending bursts to shared devices neither deadlock nor break their call order', async () => {
    const [postgres] = storeFactories.filter((f) => f.name === 'postgres');
    const db = await postgres!.fresh();
    try {
      const instances = await Promise.all(range(1, 3).map(() => db.open()));
      await instances[0]!.migrate();
      const [a, b, c, sender] = await devices(instances[0]!, 4);
      const orders = [[a!, b!, c!], [c!, b!, a!], [b!, a!], [c!, a!], [b!]];
      const bursts = instances.map((store) => {
        const sent = range(0, 299).map((i) => message(sender!, orders[i % orders.length]!));
        return { sent, results: Promise.all(sent.map((m) => store.enqueue(m))) };
      });
      for (const burst of bursts) await burst.results;
      for (const pk of [a!, b!, c!]) {
        const all = await seqs(instances[0]!, pk);
        assert.deepEqual(all, range(1, all.length), 'gapless');
        for (const burst of bursts) {
          const results = await burst.results;
          const mine = burst.sent.flatMap((m, i) =>
            m.recipients.includes(pk) ? [results[i]!.seqs[m.recipients.indexOf(pk)]!] : [],
          );
          assert.deepEqual(
            mine,
            [...mine].sort((x, y) => x - y),
            "each instance's calls keep their order",
          );
        }
      }
    } finally {
      await db.cleanup();
    }
  });

  test('postgres: a batch whose connection is lost rejects every call with STORE_UNAVAILABLE and stores nothing', async () => {
    const [postgres] = storeFactories.filter((f) => f.name === 'postgres');
    const db = await postgres!.fresh();
    const blocker = new pg.Client({ connectionString: db.location });
    try {
      const store = await db.open();
      await store.migrate();
      const [alice, bob, carol] = await devices(store, 3);
      await blocker.connect();
      // Hold bob's row so the batch waits on its lock, then end the batch's connection there.
      await blocker.query('BEGIN');
      await blocker.query('SELECT 1 FROM devices WHERE pk = $1 FOR UPDATE', [bob]);
      const burst = [message(alice!, [carol!]), message(alice!, [bob!]), message(carol!, [alice!])];
      const results = Promise.allSettled(burst.map((m) => store.enqueue(m)));
      for (;;) {
        const { rowCount } = await blocker.query(
          `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
           WHERE datname = current_database() AND pid <> pg_backend_pid() AND wait_event_type = 'Lock'`,
        );
        if (rowCount! > 0) break;
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      await blocker.query('ROLLBACK');
      for (const r of await results) {
        assert.equal(r.status, 'rejected');
        assert.equal((r.reason as SealpostError).code, 'STORE_UNAVAILABLE');
      }
      for (const pk of [alice!, bob!, carol!]) assert.deepEqual(await seqs(store, pk), []);
      // The calls kept no idempotency record, and the store goes on with a new connection.
      const again = await Promise.all(burst.map((m) => store.enqueue(m)));
      assert.deepEqual(
        again,
        [1, 1, 1].map((seq) => ({ duplicate: false, seqs: [seq] })),
      );
    } finally {
      await blocker.end();
      await db.cleanup();
    }
  });
});
