/**
 * A send's payload is stored once, whatever the number of recipients, and goes with the last
 * mailbox row naming it (migration 9): by ack, expiry, a removed device, a recovered account. One
 * table of cases, run against every implementation in `storeFactories`, each on a database of its
 * own that the case may inspect; then migration 9 on a database holding rows from before it.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { describe, test } from 'node:test';
import { DatabaseSync } from 'node:sqlite';
import pg from 'pg';
import { LIMITS, SealpostError, parseUsername, usernameSkeleton, type ErrorCode } from '@sealpost/core';
import { MIGRATIONS, MIGRATIONS_TABLE_SQL } from './migrations.ts';
import type { StoreOptions } from './options.ts';
import type { CommitInput, DevicePk, EnqueueInput, Store } from './store.ts';
import { storeFactories, type FreshDatabase } from './test-databases.ts';

const DAY = 20_500;
const NOW = 1_771_200_000; // seconds
const TTL = 3_600;

const bytes = (n: number) => new Uint8Array(randomBytes(n));
const sha256 = (data: Uint8Array) => new Uint8Array(createHash('sha256').update(data).digest());

/** `n` in letters that no username skeleton folds together, so every value gives a distinct account. */
const letters = (n: number) => [...String(n)].map((d) => 'abefhkptxy'[Number(d)]).join('');

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

/** `count` devices, each on an account of its own. */
async function devices(store: Store, count: number): Promise<DevicePk[]> {
  const pks: DevicePk[] = [];
  for (let i = 0; i < count; i++) pks.push((await newAccount(store, `user${letters(i)}`)).device.pk);
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

function commitOf(sender: DevicePk, recipients: DevicePk[], over: Partial<CommitInput> = {}): CommitInput {
  return { ...message(sender, recipients), groupId: bytes(32), epoch: 0, ...over };
}

async function rejectsWith(promise: Promise<unknown>, code: ErrorCode): Promise<void> {
  await assert.rejects(promise, (e) => e instanceof SealpostError && e.code === code);
}

/** What the payloads table holds, read on a connection of its own. */
class Payloads {
  readonly #db: FreshDatabase;
  constructor(db: FreshDatabase) {
    this.#db = db;
  }

  async #number(sql: string): Promise<number> {
    const [row] = await this.#db.inspect(sql);
    return Number(row!['n']);
  }

  /** Stored payload rows. */
  count(): Promise<number> {
    return this.#number('SELECT count(*) AS n FROM payloads');
  }

  /** Stored payload bytes. */
  bytes(): Promise<number> {
    return this.#number('SELECT coalesce(sum(length(payload)), 0) AS n FROM payloads');
  }

  /** Payload rows no mailbox row names. */
  orphans(): Promise<number> {
    return this.#number(
      'SELECT count(*) AS n FROM payloads AS p WHERE NOT EXISTS (SELECT 1 FROM mailbox AS m WHERE m.payload_id = p.id)',
    );
  }

  /** Distinct payloads the mailbox rows of `device` name. */
  namedBy(device: DevicePk): Promise<number> {
    return this.#number(`SELECT count(DISTINCT payload_id) AS n FROM mailbox WHERE device_pk = ${device}`);
  }

  /** Asserts that exactly `count` payloads are stored and none is an orphan. */
  async expect(count: number, what: string): Promise<void> {
    assert.equal(await this.count(), count, what);
    assert.equal(await this.orphans(), 0, `${what}: no orphan`);
  }
}

interface Case {
  readonly name: string;
  readonly options?: StoreOptions;
  run(store: Store, payloads: Payloads, db: FreshDatabase): Promise<void>;
}

const CASES: readonly Case[] = [
  {
    name: 'stores a message sent to three devices once',
    async run(store, payloads) {
      const [alice, bob, carol, dave] = await devices(store, 4);
      const m = message(alice!, [bob!, carol!, dave!], { payload: bytes(10_000) });
      assert.deepEqual((await store.enqueue(m)).seqs, [1, 1, 1]);
      await payloads.expect(1, 'one send');
      assert.equal(await payloads.bytes(), 10_000);
      for (const pk of [bob!, carol!, dave!]) {
        assert.deepEqual(await store.fetchMail(pk, 0, 10, NOW), [
          { seq: 1, messageId: m.messageId, payload: m.payload },
        ]);
      }
    },
  },
  {
    name: 'stores a commit once and its Welcome once',
    async run(store, payloads) {
      const [alice, bob, carol, joiner1, joiner2] = await devices(store, 5);
      const welcome = {
        messageId: bytes(LIMITS.messageIdBytes),
        recipients: [joiner1!, joiner2!],
        payload: bytes(500),
      };
      const c = commitOf(alice!, [bob!, carol!], { payload: bytes(2_000), welcome });
      assert.deepEqual((await store.commit(c)).welcomeSeqs, [1, 1]);
      await payloads.expect(2, 'a commit and its Welcome');
      assert.equal(await payloads.bytes(), 2_500);
      assert.deepEqual((await store.fetchMail(joiner2!, 0, 10, NOW))[0]!.payload, welcome.payload);
      assert.deepEqual((await store.fetchMail(carol!, 0, 10, NOW))[0]!.payload, c.payload);
    },
  },
  {
    name: 'stores no payload for a commit to a group of one',
    async run(store, payloads) {
      const [alice] = await devices(store, 1);
      assert.equal((await store.commit(commitOf(alice!, []))).epoch, 1);
      await payloads.expect(0, 'a commit without recipients');
    },
  },
  {
    name: 'sends in one burst each store their own payload once, in call order',
    async run(store, payloads) {
      const [alice, bob, carol] = await devices(store, 3);
      const sent = Array.from({ length: 20 }, (_, i) =>
        message(alice!, i % 2 ? [bob!, carol!] : [carol!, bob!]),
      );
      const results = await Promise.all(sent.map((m) => store.enqueue(m)));
      assert.deepEqual(
        results.map((r) => r.seqs),
        sent.map((_, i) => [i + 1, i + 1]),
      );
      await payloads.expect(20, 'twenty sends to two devices');
      const mail = await store.fetchMail(carol!, 0, 100, NOW);
      assert.deepEqual(
        mail.map((e) => e.payload),
        sent.map((m) => m.payload),
      );
    },
  },
  {
    name: 'a duplicate or refused send stores no payload',
    options: { mailboxMaxMessages: 1 },
    async run(store, payloads) {
      const [alice, bob, carol, dave] = await devices(store, 4);
      const first = message(alice!, [bob!]);
      await store.enqueue(first);
      assert.equal((await store.enqueue(first)).duplicate, true);
      await rejectsWith(store.enqueue({ ...first, digest: bytes(32) }), 'MESSAGE_ID_REUSED');
      await rejectsWith(store.enqueue(message(alice!, [carol!, bob!])), 'MAILBOX_FULL');
      await rejectsWith(store.enqueue(message(alice!, [carol!, 999_999 as DevicePk])), 'DEVICE_NOT_FOUND');
      const c = commitOf(alice!, [carol!]);
      await store.commit(c);
      await rejectsWith(
        store.commit(commitOf(alice!, [dave!], { groupId: c.groupId })),
        'MLS_EPOCH_CONFLICT',
      );
      const welcomeToFull = {
        messageId: bytes(LIMITS.messageIdBytes),
        recipients: [bob!],
        payload: bytes(8),
      };
      await rejectsWith(
        store.commit(commitOf(alice!, [dave!], { groupId: c.groupId, epoch: 1, welcome: welcomeToFull })),
        'MAILBOX_FULL',
      );
      await payloads.expect(2, 'the first send and the first commit only');
    },
  },
  {
    name: 'deletes the payload when the last recipient acknowledges',
    async run(store, payloads) {
      const [alice, bob, carol, dave] = await devices(store, 4);
      await store.enqueue(message(alice!, [bob!, carol!, dave!]));
      await store.enqueue(message(alice!, [bob!]));
      assert.equal(await store.ack(bob!, [1, 2]), 2);
      await payloads.expect(1, 'the second send went with its only copy; the first is still held');
      assert.equal(await store.ack(carol!, [1]), 1);
      await payloads.expect(1, 'dave still holds it');
      assert.equal(await store.ack(dave!, [1]), 1);
      await payloads.expect(0, 'every copy acknowledged');
      assert.equal(await store.ack(dave!, [1]), 0, 'a second ack deletes nothing');
    },
  },
  {
    name: 'acknowledgements of every copy issued at once leave no payload',
    async run(store, payloads) {
      const recipients = await devices(store, 6);
      const sender = recipients.shift()!;
      for (let i = 0; i < 10; i++) await store.enqueue(message(sender, recipients));
      await Promise.all(
        recipients.flatMap((pk) => [1, 2, 3, 4, 5, 6, 7, 8, 9, 10].map((s) => store.ack(pk, [s]))),
      );
      await payloads.expect(0, 'all acknowledged');
    },
  },
  {
    name: 'expiry removes payloads no mailbox references',
    async run(store, payloads) {
      const [alice, bob, carol] = await devices(store, 3);
      await store.enqueue(message(alice!, [bob!, carol!], { expiresAtSecs: NOW + 10 }));
      await store.enqueue(message(alice!, [bob!, carol!], { expiresAtSecs: NOW + 20 }));
      await store.enqueue(message(alice!, [carol!], { expiresAtSecs: NOW + 10 }));
      await store.ack(bob!, [2]);
      assert.equal(await store.sweepExpired(NOW + 10), 3);
      await payloads.expect(1, 'the send expiring later, still held by carol');
      assert.equal(await store.sweepExpired(NOW + 20), 1);
      await payloads.expect(0, 'all expired');
    },
  },
  {
    name: 'removing a device deletes the payloads only it held, and keeps the shared ones',
    async run(store, payloads) {
      const [alice, carol] = await devices(store, 2);
      const bob = await newAccount(store, 'bob');
      const bobLaptop = await store.addDevice(
        bob.account.id,
        { deviceId: bytes(LIMITS.deviceIdBytes), publicKey: bytes(LIMITS.publicKeyBytes) },
        DAY,
      );
      await store.enqueue(message(alice!, [bobLaptop.pk]));
      const shared = message(alice!, [bobLaptop.pk, carol!]);
      await store.enqueue(shared);
      await store.removeDevice(bob.account.id, bobLaptop.deviceId);
      await payloads.expect(1, 'the shared send, which carol still holds');
      assert.deepEqual((await store.fetchMail(carol!, 0, 10, NOW))[0]!.payload, shared.payload);
    },
  },
  {
    name: 'recovering an account deletes the payloads only its old devices held',
    async run(store, payloads) {
      const [alice, carol] = await devices(store, 2);
      const bob = await newAccount(store, 'bob');
      const laptop = await store.addDevice(
        bob.account.id,
        { deviceId: bytes(LIMITS.deviceIdBytes), publicKey: bytes(LIMITS.publicKeyBytes) },
        DAY,
      );
      await store.enqueue(message(alice!, [bob.device.pk, laptop.pk]));
      await store.enqueue(message(alice!, [laptop.pk, carol!]));
      const fresh = { deviceId: bytes(LIMITS.deviceIdBytes), publicKey: bytes(LIMITS.publicKeyBytes) };
      const { removed } = await store.recoverAccount(
        bob.account.id,
        bytes(LIMITS.publicKeyBytes),
        fresh,
        DAY,
      );
      assert.equal(removed.length, 2);
      await payloads.expect(1, 'the send carol still holds');
      assert.equal(await payloads.namedBy(carol!), 1);
    },
  },
  {
    name: 'two instances acknowledging the last copies of the same payloads at once leave no payload',
    async run(store, payloads, db) {
      const [alice, bob, carol] = await devices(store, 3);
      const other = await db.open();
      await other.migrate();
      for (let round = 0; round < 5; round++) {
        const sent = await Promise.all(
          Array.from({ length: 20 }, () => store.enqueue(message(alice!, [bob!, carol!]))),
        );
        await Promise.all([
          ...sent.map((r) => store.ack(bob!, [r.seqs[0]!])),
          ...sent.map((r) => other.ack(carol!, [r.seqs[1]!])),
        ]);
        await payloads.expect(0, `round ${round}`);
      }
    },
  },
];

for (const factory of storeFactories) {
  describe(`payloads stored once: ${factory.name}`, () => {
    for (const c of CASES) {
      test(`${factory.name}: ${c.name}`, async () => {
        const db = await factory.fresh();
        try {
          const store = await db.open(c.options);
          await store.migrate();
          await c.run(store, new Payloads(db), db);
        } finally {
          await db.cleanup();
        }
      });
    }
  });
}

/** The version that stores a payload once (where `payloads` appears). */
const PAYLOADS_MIGRATION = MIGRATIONS.findIndex((m) => m.postgres.includes('CREATE TABLE payloads')) + 1;

/** Runs `statements` (no parameters) on the database as it stands, outside any store. */
async function execRaw(db: FreshDatabase, kind: Store['kind'], statements: readonly string[]): Promise<void> {
  if (kind === 'sqlite') {
    const raw = new DatabaseSync(db.location, { enableForeignKeyConstraints: true });
    try {
      for (const s of statements) raw.exec(s);
    } finally {
      raw.close();
    }
    return;
  }
  const client = new pg.Client({ connectionString: db.location });
  await client.connect();
  try {
    for (const s of statements) await client.query(s);
  } finally {
    await client.end();
  }
}

const hex = (b: Uint8Array) => `'\\x${Buffer.from(b).toString('hex')}'`;
const sqliteHex = (b: Uint8Array) => `x'${Buffer.from(b).toString('hex')}'`;

for (const factory of storeFactories.filter((f) => f.name !== 'sqlite-thread')) {
  test(`${factory.name}: migration ${PAYLOADS_MIGRATION} makes each send's copies one payload, still delivered, deleted with the last copy`, async () => {
    const db = await factory.fresh();
    try {
      const blob = factory.kind === 'sqlite' ? sqliteHex : hex;
      const before = MIGRATIONS.slice(0, PAYLOADS_MIGRATION - 1);
      const shared = bytes(3_000);
      const alone = bytes(100);
      const [idShared, idAlone, idSame] = [bytes(16), bytes(16), bytes(16)];
      // Devices 1..3; device 2 and 3 hold the shared send, device 3 also one of its own, and
      // device 2 another send with the shared bytes under another id (a separate send).
      await execRaw(db, factory.kind, [
        MIGRATIONS_TABLE_SQL[factory.kind],
        ...before.map((m) => m[factory.kind]),
        ...before.map((m) => `INSERT INTO schema_migrations (version) VALUES (${m.version})`),
        ...[1, 2, 3].flatMap((i) => [
          `INSERT INTO accounts (username, skeleton, account_key, created_day)
           VALUES ('user${letters(i)}', 'user${letters(i)}', ${blob(bytes(32))}, ${DAY})`,
          `INSERT INTO devices (account_id, device_id, public_key, created_day, last_seen_day, next_seq)
           VALUES (${i}, ${blob(bytes(16))}, ${blob(bytes(32))}, ${DAY}, ${DAY}, 3)`,
        ]),
        `INSERT INTO mailbox (device_pk, seq, message_id, payload, expires_at_secs) VALUES
           (2, 1, ${blob(idShared)}, ${blob(shared)}, ${NOW + TTL}),
           (3, 1, ${blob(idShared)}, ${blob(shared)}, ${NOW + TTL}),
           (3, 2, ${blob(idAlone)}, ${blob(alone)}, ${NOW + TTL}),
           (2, 2, ${blob(idSame)}, ${blob(shared)}, ${NOW + TTL})`,
      ]);
      const store = await db.open();
      assert.equal(await store.migrate(), MIGRATIONS.length - before.length);
      const payloads = new Payloads(db);
      await payloads.expect(3, 'one per send');
      const mail = async (pk: number) =>
        (await store.fetchMail(pk as DevicePk, 0, 10, NOW)).map((e) => [
          e.seq,
          hex(e.messageId),
          hex(e.payload),
        ]);
      assert.deepEqual(await mail(2), [
        [1, hex(idShared), hex(shared)],
        [2, hex(idSame), hex(shared)],
      ]);
      assert.deepEqual(await mail(3), [
        [1, hex(idShared), hex(shared)],
        [2, hex(idAlone), hex(alone)],
      ]);
      // New sends get payloads of their own after the migrated ones.
      const m = message(1 as DevicePk, [2 as DevicePk, 3 as DevicePk]);
      assert.deepEqual((await store.enqueue(m)).seqs, [3, 3]);
      await payloads.expect(4, 'and the new send');
      await store.ack(2 as DevicePk, [1, 2, 3]);
      await payloads.expect(3, 'device 3 still holds the shared send, its own and the new one');
      await store.ack(3 as DevicePk, [1, 2, 3]);
      await payloads.expect(0, 'all acknowledged');
    } finally {
      await db.cleanup();
    }
  });
}
