/**
 * PostgreSQL implementation of `Store` (pg; production, where several server instances share one
 * database).
 *
 * Concurrency, since other instances write the same rows:
 *   - migrations run in one transaction holding `pg_advisory_xact_lock(MIGRATION_LOCK)`;
 *   - a transaction that checks then writes per account (addDevice, removeDevice) first locks the
 *     account row, so the device limit and "keep one device" hold under concurrent calls;
 *   - enqueues are group-committed in call order (`postgres-enqueue.ts`): one batch at a time per
 *     instance, each locking its senders' and recipients' device rows in increasing pk order, so
 *     batches of instances sharing devices cannot deadlock; sequence numbers are drawn from
 *     `devices.next_seq` under that lock, so they are gapless per device and never reused;
 *   - a commit (MLS) writes its copies, and its Welcome's, as an enqueue does, then moves the
 *     group's epoch with one conditional UPDATE in the same transaction, so of concurrent commits
 *     for one epoch one wins, and only the winner's Welcome is stored;
 *   - KeyPackages are claimed with DELETE ... FOR UPDATE SKIP LOCKED, so concurrent claimers take
 *     distinct one-time packages;
 *   - sweeps delete in batches with SKIP LOCKED, so instances sweeping together share the work and
 *     never wait on each other's or an ack's mailbox rows;
 *   - a send's payload is one `payloads` row its mailbox rows name; the statement trigger of
 *     migration 9 deletes it with the last of them (ack, sweep, a device's cascade), locking the
 *     payload rows in id order first, so two transactions deleting its last rows at once cannot
 *     both keep it (a sweep batch may wait for a concurrent ack's commit there, briefly);
 *   - a key-transparency update is queued under the account's row lock (versions stay gapless and
 *     distinct across instances); one instance publishes epochs, the holder of the session-level
 *     advisory lock KT_PUBLISHER_LOCK on a connection of its own (`ktPublisherLock`).
 * Statements are named, so each connection prepares each one once. `bigint` columns are read as
 * numbers (all stay below 2^53). Connection failures become UnavailableError STORE_UNAVAILABLE.
 */
import pg from 'pg';
import type { PoolClient, QueryResultRow } from 'pg';
import type { Username } from '@sealpost/core';
import {
  accountNotFound,
  blobQuotaExceeded,
  checkBlob,
  checkBlobKind,
  checkBlobName,
  checkBlobRange,
  checkClaimedDevices,
  checkCommit,
  checkKeyPackages,
  checkRecipients,
  cosignaturesFull,
  deviceExists,
  deviceNotFound,
  epochConflict,
  lastDevice,
  messageIdReused,
  namedDevices,
  tooManyDevices,
  tooManyKeyPackages,
  unknownDeviceId,
  usernameTaken,
  welcomeEnqueue,
} from './contract.ts';
import { MIGRATIONS, MIGRATIONS_TABLE_SQL } from './migrations.ts';
import { DISCLOSED_TABLES, type DisclosedRow, type DisclosedValue, type Disclosure } from './disclosure.ts';
import { EnqueueBatcher, writeEnqueues } from './postgres-enqueue.ts';
import { mapPgError } from './postgres-errors.ts';
import { STORE_DEFAULTS, storeLimits, type StoreLimits, type StoreOptions } from './options.ts';
import type {
  AccountRecord,
  BlobInfo,
  BlobRange,
  ClaimedKeyPackage,
  CommitInput,
  CommitResult,
  DevicePk,
  DeviceRecord,
  EnqueueInput,
  EnqueueResult,
  KeyPackageStock,
  KtCosignature,
  KtEpoch,
  KtKeys,
  KtLoggedUpdate,
  KtPublisherLock,
  KtQueuedUpdate,
  KtQueueResult,
  MailEntry,
  NewDevice,
  Store,
} from './store.ts';

export interface PostgresOptions extends StoreOptions {
  /** Connections this instance may open. */
  readonly poolSize?: number;
  readonly connectTimeoutMs?: number;
}

/** Advisory lock key for migrations: 'SEALPOST' in ASCII, read as a big-endian int8. */
const MIGRATION_LOCK = '6000273874561749844';
/** Advisory lock key of `putKtCosignature` (any constant distinct from MIGRATION_LOCK). */
const COSIGNATURE_LOCK = '6000273874561749845';
/** Session-level advisory lock key of the key directory's publisher (`ktPublisherLock`). */
const KT_PUBLISHER_LOCK = '6000273874561749846';

const INT8_OID = 20;
/** Per-pool type parsers (the global `pg.types` is left alone): int8 as number. */
const TYPES = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
    oid === INT8_OID
      ? (value: string) => Number(value)
      : pg.types.getTypeParser(oid, format ?? 'text')) as typeof pg.types.getTypeParser,
};

interface AccountRow {
  id: number;
  username: string;
  account_key: Buffer;
  created_day: number;
}
interface DeviceRow {
  pk: number;
  account_id: number;
  device_id: Buffer;
  public_key: Buffer;
  created_day: number;
  last_seen_day: number;
}
interface MailRow {
  seq: number;
  message_id: Buffer;
  payload: Buffer;
}

const ACCOUNT_COLUMNS = 'id, username, account_key, created_day';
const DEVICE_COLUMNS = 'pk, account_id, device_id, public_key, created_day, last_seen_day';

type Queryable = pg.Pool | PoolClient;

export class PostgresStore implements Store {
  readonly kind = 'postgres' as const;
  /**
   * True: enqueues commit in call order (one group-committed batch at a time, `postgres-enqueue.ts`),
   * so a connection may issue its next send before the previous one resolved. The order holds per
   * instance; calls made to different instances have none.
   */
  readonly writesInOrder = true;
  readonly #pool: pg.Pool;
  readonly #limits: StoreLimits;
  /** SQL text -> statement name (pg prepares a named statement once per connection). */
  readonly #names = new Map<string, string>();
  readonly #enqueues: EnqueueBatcher;
  /** Where the publisher lock's own connection goes. */
  readonly #connection: { readonly url: string; readonly connectTimeoutMs: number };
  #closed = false;

  private constructor(
    pool: pg.Pool,
    limits: StoreLimits,
    connection: { readonly url: string; readonly connectTimeoutMs: number },
  ) {
    this.#pool = pool;
    this.#connection = connection;
    this.#limits = limits;
    this.#enqueues = new EnqueueBatcher(async () => {
      const checkout = await this.#checkout();
      return {
        transaction: (fn) => checkout.transaction((c) => fn((text, values) => this.#query(c, text, values))),
        release: () => checkout.release(),
      };
    }, limits.mailboxMaxMessages);
  }

  /** Opens a pool on `url` and checks that the database answers. Does not migrate. */
  static async connect(url: string, opts: PostgresOptions = {}): Promise<PostgresStore> {
    const connectTimeoutMs = opts.connectTimeoutMs ?? STORE_DEFAULTS.postgresConnectTimeoutMs;
    const pool = new pg.Pool({
      connectionString: url,
      max: opts.poolSize ?? STORE_DEFAULTS.postgresPoolSize,
      connectionTimeoutMillis: connectTimeoutMs,
      types: TYPES,
    });
    // An idle connection that dies is dropped by the pool; the next query reports STORE_UNAVAILABLE.
    // Without a listener the 'error' event would crash the process.
    pool.on('error', () => {});
    const store = new PostgresStore(pool, storeLimits(opts), { url, connectTimeoutMs });
    try {
      await store.ping();
    } catch (e) {
      await store.close();
      throw e;
    }
    return store;
  }

  async migrate(): Promise<number> {
    return this.#transaction(async (c) => {
      await c.query(`SELECT pg_advisory_xact_lock(${MIGRATION_LOCK})`);
      await c.query(MIGRATIONS_TABLE_SQL.postgres);
      const { rows } = await c.query<{ version: number }>('SELECT version FROM schema_migrations');
      const applied = new Set(rows.map((r) => r.version));
      let count = 0;
      for (const m of MIGRATIONS) {
        if (applied.has(m.version)) continue;
        await c.query(m.postgres);
        await c.query('INSERT INTO schema_migrations (version) VALUES ($1)', [m.version]);
        count++;
      }
      return count;
    });
  }

  async ping(): Promise<void> {
    await this.#query(this.#pool, 'SELECT 1');
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    // Enqueues already accepted are committed, not dropped.
    await this.#enqueues.settled();
    await this.#pool.end();
  }

  async putChallenge(challenge: Uint8Array, expiresAtMs: number): Promise<void> {
    await this.#query(this.#pool, 'INSERT INTO challenges (challenge, expires_at_ms) VALUES ($1, $2)', [
      challenge,
      expiresAtMs,
    ]);
  }

  async consumeChallenge(challenge: Uint8Array, nowMs: number): Promise<boolean> {
    const rows = await this.#query<{ expires_at_ms: number }>(
      this.#pool,
      'DELETE FROM challenges WHERE challenge = $1 RETURNING expires_at_ms',
      [challenge],
    );
    return rows[0] !== undefined && nowMs < rows[0].expires_at_ms;
  }

  async createAccount(input: {
    readonly username: Username;
    readonly skeleton: string;
    readonly accountKey: Uint8Array;
    readonly device: NewDevice;
    readonly day: number;
  }): Promise<{ account: AccountRecord; device: DeviceRecord }> {
    return this.#transaction(async (c) => {
      // DO NOTHING on either unique constraint (username, skeleton); a concurrent insert of the same
      // name waits for the first to commit, then inserts nothing.
      const [row] = await this.#query<AccountRow>(
        c,
        `INSERT INTO accounts (username, skeleton, account_key, created_day) VALUES ($1, $2, $3, $4)
         ON CONFLICT DO NOTHING RETURNING ${ACCOUNT_COLUMNS}`,
        [input.username, input.skeleton, input.accountKey, input.day],
      );
      if (!row) throw usernameTaken(input.username);
      return {
        account: toAccount(row),
        device: await this.#insertDevice(c, row.id, input.device, input.day),
      };
    });
  }

  async getAccount(username: Username): Promise<AccountRecord | undefined> {
    const [row] = await this.#query<AccountRow>(
      this.#pool,
      `SELECT ${ACCOUNT_COLUMNS} FROM accounts WHERE username = $1`,
      [username],
    );
    return row && toAccount(row);
  }

  async listDevices(accountId: number): Promise<DeviceRecord[]> {
    const rows = await this.#query<DeviceRow>(
      this.#pool,
      `SELECT ${DEVICE_COLUMNS} FROM devices WHERE account_id = $1 ORDER BY pk`,
      [accountId],
    );
    return rows.map(toDevice);
  }

  async getDevice(username: Username, deviceId: Uint8Array): Promise<DeviceRecord | undefined> {
    const [row] = await this.#query<DeviceRow>(
      this.#pool,
      `SELECT ${DEVICE_COLUMNS} FROM devices
       WHERE account_id = (SELECT id FROM accounts WHERE username = $1) AND device_id = $2`,
      [username, deviceId],
    );
    return row && toDevice(row);
  }

  async resolveDevices(
    addresses: readonly { readonly username: Username; readonly deviceId: Uint8Array }[],
  ): Promise<(DevicePk | undefined)[]> {
    const result: (DevicePk | undefined)[] = addresses.map(() => undefined);
    if (addresses.length === 0) return result;
    const rows = await this.#query<{ ord: number; pk: number }>(
      this.#pool,
      `SELECT a.ord, d.pk
       FROM unnest($1::text[], $2::bytea[]) WITH ORDINALITY AS a (username, device_id, ord)
       JOIN accounts ac ON ac.username = a.username
       JOIN devices d ON d.account_id = ac.id AND d.device_id = a.device_id`,
      [addresses.map((a) => a.username), addresses.map((a) => a.deviceId)],
    );
    for (const r of rows) result[r.ord - 1] = r.pk as DevicePk;
    return result;
  }

  async addDevice(accountId: number, device: NewDevice, day: number): Promise<DeviceRecord> {
    return this.#transaction(async (c) => {
      await this.#lockAccount(c, accountId);
      const exists = await this.#query(c, 'SELECT 1 FROM devices WHERE account_id = $1 AND device_id = $2', [
        accountId,
        device.deviceId,
      ]);
      if (exists.length > 0) throw deviceExists();
      if ((await this.#countDevices(c, accountId)) >= this.#limits.devicesPerAccount) {
        throw tooManyDevices(this.#limits.devicesPerAccount);
      }
      return this.#insertDevice(c, accountId, device, day);
    });
  }

  async removeDevice(accountId: number, deviceId: Uint8Array): Promise<DevicePk> {
    return this.#transaction(async (c) => {
      await this.#lockAccount(c, accountId);
      const [row] = await this.#query<{ pk: number }>(
        c,
        'SELECT pk FROM devices WHERE account_id = $1 AND device_id = $2',
        [accountId, deviceId],
      );
      if (!row) throw unknownDeviceId();
      if ((await this.#countDevices(c, accountId)) <= 1) {
        throw lastDevice();
      }
      // ON DELETE CASCADE removes the device's mailbox and its idempotency records.
      await this.#query(c, 'DELETE FROM devices WHERE pk = $1', [row.pk]);
      return row.pk as DevicePk;
    });
  }

  async recoverAccount(
    accountId: number,
    accountKey: Uint8Array,
    device: NewDevice,
    day: number,
  ): Promise<{ device: DeviceRecord; removed: DevicePk[] }> {
    return this.#transaction(async (c) => {
      await this.#lockAccount(c, accountId);
      await this.#query(c, 'UPDATE accounts SET account_key = $1 WHERE id = $2', [accountKey, accountId]);
      // ON DELETE CASCADE removes each old device's mailbox, KeyPackages and idempotency records.
      const removed = await this.#query<{ pk: number }>(
        c,
        'DELETE FROM devices WHERE account_id = $1 AND NOT (device_id = $2 AND public_key = $3) RETURNING pk',
        [accountId, device.deviceId, device.publicKey],
      );
      const [kept] = await this.#query<DeviceRow>(
        c,
        `SELECT ${DEVICE_COLUMNS} FROM devices WHERE account_id = $1`,
        [accountId],
      );
      return {
        device: kept ? toDevice(kept) : await this.#insertDevice(c, accountId, device, day),
        removed: removed.map((r) => r.pk as DevicePk),
      };
    });
  }

  async touchDevice(device: DevicePk, day: number): Promise<void> {
    // Writes at most once a day per device; never moves backwards.
    await this.#query(
      this.#pool,
      'UPDATE devices SET last_seen_day = $1 WHERE pk = $2 AND last_seen_day < $1',
      [day, device],
    );
  }

  async enqueue(input: EnqueueInput): Promise<EnqueueResult> {
    checkRecipients(input.recipients);
    return this.#enqueues.submit(input);
  }

  async addKeyPackages(
    device: DevicePk,
    oneTime: readonly Uint8Array[],
    lastResort: Uint8Array | undefined,
  ): Promise<KeyPackageStock> {
    checkKeyPackages(oneTime, lastResort);
    return this.#transaction(async (c) => {
      // The device row's lock serialises uploads of one device, so the count and the limit hold.
      const locked = await this.#query(c, 'SELECT 1 FROM devices WHERE pk = $1 FOR NO KEY UPDATE', [device]);
      if (locked.length === 0) throw deviceNotFound('sender');
      const before = await this.#stock(c, device);
      if (before.oneTime + oneTime.length > this.#limits.keyPackagesPerDevice) {
        throw tooManyKeyPackages(this.#limits.keyPackagesPerDevice);
      }
      if (oneTime.length > 0) {
        await this.#query(
          c,
          `INSERT INTO key_packages (device_pk, key_package, last_resort)
           SELECT $1, kp, 0 FROM unnest($2::bytea[]) WITH ORDINALITY AS u (kp, ord) ORDER BY ord`,
          [device, oneTime],
        );
      }
      if (lastResort !== undefined) {
        await this.#query(c, 'DELETE FROM key_packages WHERE device_pk = $1 AND last_resort = 1', [device]);
        await this.#query(
          c,
          'INSERT INTO key_packages (device_pk, key_package, last_resort) VALUES ($1, $2, 1)',
          [device, lastResort],
        );
      }
      return this.#stock(c, device);
    });
  }

  async countKeyPackages(device: DevicePk): Promise<KeyPackageStock> {
    return this.#stock(this.#pool, device);
  }

  async claimKeyPackages(
    username: Username,
    deviceIds?: readonly Uint8Array[],
  ): Promise<ClaimedKeyPackage[]> {
    if (deviceIds !== undefined) checkClaimedDevices(deviceIds);
    return this.#transaction(async (c) => {
      const all = await this.#query<{ pk: number; device_id: Buffer }>(
        c,
        `SELECT pk, device_id FROM devices
         WHERE account_id = (SELECT id FROM accounts WHERE username = $1) ORDER BY pk`,
        [username],
      );
      const devices = namedDevices(all, (d) => d.device_id, deviceIds);
      const out: ClaimedKeyPackage[] = [];
      for (const d of devices) {
        // SKIP LOCKED: a concurrent claimer holding the oldest package makes this one take the next,
        // never the same; the DELETE only succeeds for the row this statement locked.
        const [oneTime] = await this.#query<{ key_package: Buffer }>(
          c,
          `DELETE FROM key_packages WHERE id = (
             SELECT id FROM key_packages WHERE device_pk = $1 AND last_resort = 0
             ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED
           ) RETURNING key_package`,
          [d.pk],
        );
        const row =
          oneTime ??
          (
            await this.#query<{ key_package: Buffer }>(
              c,
              'SELECT key_package FROM key_packages WHERE device_pk = $1 AND last_resort = 1',
              [d.pk],
            )
          )[0];
        if (row !== undefined) out.push({ deviceId: bytes(d.device_id), keyPackage: bytes(row.key_package) });
      }
      return out;
    });
  }

  async commit(input: CommitInput): Promise<CommitResult> {
    checkCommit(input);
    return this.#transaction(async (c) => {
      // Copies first, the Welcome's with the commit's, as sends (locks: every device row of both in
      // pk order, then the group row; nothing takes them the other way round). A resend is answered
      // before the epoch is looked at; on a conflict the throw rolls every copy back.
      const inputs = input.welcome === undefined ? [input] : [input, welcomeEnqueue(input, input.welcome)];
      const written = await writeEnqueues(
        (text, values) => this.#query(c, text, values),
        inputs,
        this.#limits.mailboxMaxMessages,
      );
      const stored = written[0]!;
      if ('error' in stored) throw stored.error;
      const welcome = written[1];
      if (welcome !== undefined && 'error' in welcome) throw welcome.error;
      if (stored.duplicate) return { ...stored, epoch: input.epoch + 1, welcomeSeqs: [] };
      // Under READ COMMITTED a commit that waited for the row re-checks `epoch` on the new version:
      // of concurrent commits for one epoch exactly one moves it.
      const [moved] =
        input.epoch === 0
          ? await this.#query<{ epoch: number }>(
              c,
              `INSERT INTO mls_groups (group_id, epoch) VALUES ($1, 1)
               ON CONFLICT (group_id) DO UPDATE SET epoch = mls_groups.epoch + 1 WHERE mls_groups.epoch = 0
               RETURNING epoch`,
              [input.groupId],
            )
          : await this.#query<{ epoch: number }>(
              c,
              'UPDATE mls_groups SET epoch = epoch + 1 WHERE group_id = $1 AND epoch = $2 RETURNING epoch',
              [input.groupId, input.epoch],
            );
      if (moved === undefined) {
        const [current] = await this.#query<{ epoch: number }>(
          c,
          'SELECT epoch FROM mls_groups WHERE group_id = $1',
          [input.groupId],
        );
        throw epochConflict(current?.epoch ?? 0);
      }
      // A new commit whose Welcome's id was used before: refused whole (the throw undoes it).
      if (welcome?.duplicate) throw messageIdReused();
      return { ...stored, epoch: moved.epoch, welcomeSeqs: welcome?.seqs ?? [] };
    });
  }

  async fetchMail(device: DevicePk, afterSeq: number, limit: number, nowSecs: number): Promise<MailEntry[]> {
    if (!(limit > 0)) return [];
    const rows = await this.#query<MailRow>(
      this.#pool,
      `SELECT m.seq, m.message_id, p.payload FROM mailbox AS m JOIN payloads AS p ON p.id = m.payload_id
       WHERE m.device_pk = $1 AND m.seq > $2 AND m.expires_at_secs > $3 ORDER BY m.seq LIMIT $4`,
      [device, afterSeq, nowSecs, limit],
    );
    return rows.map((r) => ({ seq: r.seq, messageId: bytes(r.message_id), payload: bytes(r.payload) }));
  }

  /**
   * Acks made in one turn of the event loop share one DELETE (one round trip, one commit): under
   * load, one statement per ack would queue on the pool behind every other.
   */
  async ack(device: DevicePk, seqs: readonly number[]): Promise<number> {
    if (seqs.length === 0) return 0;
    return new Promise<number>((resolve, reject) => {
      if (this.#acks.length === 0) setImmediate(() => void this.#flushAcks());
      this.#acks.push({ device, seqs, resolve, reject });
    });
  }

  #acks: Array<{
    device: DevicePk;
    seqs: readonly number[];
    resolve: (n: number) => void;
    reject: (e: unknown) => void;
  }> = [];

  async #flushAcks(): Promise<void> {
    const batch = this.#acks;
    this.#acks = [];
    const devices: number[] = [];
    const seqs: number[] = [];
    for (const a of batch) {
      for (const s of a.seqs) {
        devices.push(a.device);
        seqs.push(s);
      }
    }
    try {
      const rows = await this.#query<{ device_pk: number }>(
        this.#pool,
        `DELETE FROM mailbox AS m USING unnest($1::bigint[], $2::bigint[]) AS a(device_pk, seq)
         WHERE m.device_pk = a.device_pk AND m.seq = a.seq
         RETURNING m.device_pk`,
        [devices, seqs],
      );
      const deleted = new Map<number, number>();
      for (const r of rows) deleted.set(Number(r.device_pk), (deleted.get(Number(r.device_pk)) ?? 0) + 1);
      // Two acks of one device in one batch share its count: the first takes it all, which only
      // matters for metrics.
      for (const a of batch) {
        const n = deleted.get(a.device) ?? 0;
        deleted.set(a.device, 0);
        a.resolve(n);
      }
    } catch (e) {
      for (const a of batch) a.reject(e);
    }
  }

  async ktKeys(generated: KtKeys): Promise<KtKeys> {
    await this.#query(
      this.#pool,
      'INSERT INTO kt_keys (id, signing_seed, vrf_secret) VALUES (1, $1, $2) ON CONFLICT (id) DO NOTHING',
      [generated.signingSeed, generated.vrfSecret],
    );
    const [row] = await this.#query<{ signing_seed: Buffer; vrf_secret: Buffer }>(
      this.#pool,
      'SELECT signing_seed, vrf_secret FROM kt_keys WHERE id = 1',
    );
    return { signingSeed: bytes(row!.signing_seed), vrfSecret: bytes(row!.vrf_secret) };
  }

  async appendKtEpoch(epoch: KtEpoch): Promise<void> {
    await this.#transaction(async (c) => {
      await this.#query(
        c,
        'INSERT INTO kt_epochs (epoch, timestamp_ms, root, signature) VALUES ($1, $2, $3, $4)',
        [epoch.epoch, epoch.timestampMs, epoch.root, epoch.signature],
      );
      if (epoch.updates.length === 0) return;
      const u = epoch.updates;
      await this.#query(
        c,
        `INSERT INTO kt_updates (epoch, position, vrf_output, commitment)
         SELECT $1, p - 1, v, c FROM unnest($2::bytea[], $3::bytea[]) WITH ORDINALITY AS t(v, c, p)`,
        [epoch.epoch, u.map((x) => x.vrfOutput), u.map((x) => x.commitment)],
      );
      await this.#query(
        c,
        `INSERT INTO kt_values (vrf_output, account_id, version, device_list, opening)
         SELECT * FROM unnest($1::bytea[], $2::bigint[], $3::bigint[], $4::bytea[], $5::bytea[])`,
        [
          u.map((x) => x.vrfOutput),
          u.map((x) => x.accountId),
          u.map((x) => x.version),
          u.map((x) => x.deviceList),
          u.map((x) => x.opening),
        ],
      );
      await this.#query(c, 'DELETE FROM kt_queue WHERE vrf_output = ANY ($1::bytea[])', [
        u.map((x) => x.vrfOutput),
      ]);
    });
  }

  async ktLatest(accountId: number): Promise<{ version: number; deviceList: Uint8Array } | undefined> {
    const [row] = await this.#query<{ version: number; device_list: Buffer }>(
      this.#pool,
      `SELECT version, device_list FROM kt_queue WHERE account_id = $1
       UNION ALL SELECT version, device_list FROM kt_values WHERE account_id = $1
       ORDER BY version DESC LIMIT 1`,
      [accountId],
    );
    return row === undefined ? undefined : { version: row.version, deviceList: bytes(row.device_list) };
  }

  async queueKtUpdate(u: KtQueuedUpdate, maxQueued: number): Promise<KtQueueResult> {
    return this.#transaction(async (c) => {
      // Submits for one account wait here, so each sees the version the one before it queued. The
      // statement below reads a fresh snapshot (READ COMMITTED), in which an epoch that moved a
      // version from kt_queue to kt_values shows it in exactly one of them (one transaction).
      await this.#lockAccount(c, u.accountId);
      const [greatest] = await this.#query<{ v: number | null }>(
        c,
        `SELECT max(version) AS v FROM (SELECT version FROM kt_queue WHERE account_id = $1
         UNION ALL SELECT version FROM kt_values WHERE account_id = $1) AS t`,
        [u.accountId],
      );
      if (u.version !== (greatest!.v ?? -1) + 1) return 'taken';
      const [queued] = await this.#query<{ n: number }>(c, 'SELECT count(*) AS n FROM kt_queue');
      if (queued!.n >= maxQueued) return 'full';
      await this.#query(
        c,
        'INSERT INTO kt_queue (vrf_output, account_id, version, device_list, opening) VALUES ($1, $2, $3, $4, $5)',
        [u.vrfOutput, u.accountId, u.version, u.deviceList, u.opening],
      );
      return 'queued';
    });
  }

  async ktQueue(limit: number): Promise<Array<KtQueuedUpdate & { readonly username: Username }>> {
    const rows = await this.#query<{
      account_id: number;
      username: string;
      version: number;
      vrf_output: Buffer;
      device_list: Buffer;
      opening: Buffer;
    }>(
      this.#pool,
      `SELECT q.account_id, a.username, q.version, q.vrf_output, q.device_list, q.opening
       FROM kt_queue AS q JOIN accounts AS a ON a.id = q.account_id ORDER BY q.id LIMIT $1`,
      [limit],
    );
    return rows.map((r) => ({
      accountId: r.account_id,
      username: r.username as Username,
      version: r.version,
      vrfOutput: bytes(r.vrf_output),
      deviceList: bytes(r.device_list),
      opening: bytes(r.opening),
    }));
  }

  /**
   * pg_try_advisory_lock on a connection of its own, not the pool's: a session-level lock lives as
   * long as its connection, so the database releases it when the holder dies or its link does
   * (TCP keepalive notices a link that died silently). `lost` resolves when that connection ends.
   */
  async ktPublisherLock(): Promise<KtPublisherLock | undefined> {
    const client = new pg.Client({
      connectionString: this.#connection.url,
      connectionTimeoutMillis: this.#connection.connectTimeoutMs,
      keepAlive: true,
    });
    let ended!: () => void;
    const lost = new Promise<void>((resolve) => (ended = resolve));
    client.on('error', () => ended());
    client.on('end', () => ended());
    const end = async () => {
      await client.end().catch(() => undefined);
      ended();
    };
    try {
      await client.connect();
      const { rows } = await client.query<{ held: boolean }>(
        `SELECT pg_try_advisory_lock(${KT_PUBLISHER_LOCK}) AS held`,
      );
      if (rows[0]?.held === true) return { lost, release: end };
    } catch (e) {
      await end();
      throw mapPgError(e);
    }
    await end();
    return undefined;
  }

  async putKtCosignature(c: KtCosignature, maxPerHead: number): Promise<void> {
    await this.#transaction(async (q) => {
      // Serialises puts across instances, so the per-head count holds.
      await this.#query(q, `SELECT pg_advisory_xact_lock(${COSIGNATURE_LOCK})`);
      const [stored] = await this.#query<{ timestamp_s: number }>(
        q,
        'SELECT timestamp_s FROM kt_cosignatures WHERE tree_size = $1 AND witness_key = $2',
        [c.treeSize, c.witnessKey],
      );
      if (stored === undefined) {
        const [held] = await this.#query<{ n: number }>(
          q,
          'SELECT count(*)::integer AS n FROM kt_cosignatures WHERE tree_size = $1',
          [c.treeSize],
        );
        if (held!.n >= maxPerHead) throw cosignaturesFull(maxPerHead);
        await this.#query(
          q,
          'INSERT INTO kt_cosignatures (tree_size, witness_key, timestamp_s, signature) VALUES ($1, $2, $3, $4)',
          [c.treeSize, c.witnessKey, c.timestamp, c.signature],
        );
      } else if (c.timestamp > stored.timestamp_s) {
        await this.#query(
          q,
          'UPDATE kt_cosignatures SET timestamp_s = $1, signature = $2 WHERE tree_size = $3 AND witness_key = $4',
          [c.timestamp, c.signature, c.treeSize, c.witnessKey],
        );
      }
      await this.#query(q, 'DELETE FROM kt_cosignatures WHERE witness_key = $1 AND tree_size < $2', [
        c.witnessKey,
        c.treeSize,
      ]);
    });
  }

  async ktCosignatures(treeSize: number): Promise<KtCosignature[]> {
    const rows = await this.#query<{ witness_key: Buffer; timestamp_s: number; signature: Buffer }>(
      this.#pool,
      'SELECT witness_key, timestamp_s, signature FROM kt_cosignatures WHERE tree_size = $1 ORDER BY witness_key',
      [treeSize],
    );
    return rows.map((r) => ({
      treeSize,
      witnessKey: bytes(r.witness_key),
      timestamp: r.timestamp_s,
      signature: bytes(r.signature),
    }));
  }

  async ktCosignaturesBelow(below: number, heads: number): Promise<KtCosignature[]> {
    const rows = await this.#query<{
      tree_size: number;
      witness_key: Buffer;
      timestamp_s: number;
      signature: Buffer;
    }>(
      this.#pool,
      `SELECT tree_size, witness_key, timestamp_s, signature FROM kt_cosignatures WHERE tree_size IN
         (SELECT DISTINCT tree_size FROM kt_cosignatures WHERE tree_size < $1 ORDER BY tree_size DESC LIMIT $2)
       ORDER BY tree_size DESC, witness_key`,
      [below, heads],
    );
    return rows.map((r) => ({
      treeSize: r.tree_size,
      witnessKey: bytes(r.witness_key),
      timestamp: r.timestamp_s,
      signature: bytes(r.signature),
    }));
  }

  async loadKtLog(after = -1): ReturnType<Store['loadKtLog']> {
    return this.#transaction(async (c) => {
      await this.#query(c, 'SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY');
      const epochs = await this.#query<{
        epoch: number;
        timestamp_ms: number;
        root: Buffer;
        signature: Buffer;
      }>(c, 'SELECT epoch, timestamp_ms, root, signature FROM kt_epochs WHERE epoch > $1 ORDER BY epoch', [
        after,
      ]);
      if (epochs.length === 0) return [];
      const rows = await this.#query<{
        epoch: number;
        vrf_output: Buffer;
        commitment: Buffer;
        account_id: number;
        username: string;
        version: number;
        device_list: Buffer;
        opening: Buffer;
      }>(
        c,
        `SELECT u.epoch, u.vrf_output, u.commitment, v.account_id, a.username, v.version, v.device_list, v.opening
         FROM kt_updates AS u JOIN kt_values AS v ON v.vrf_output = u.vrf_output
         JOIN accounts AS a ON a.id = v.account_id
         WHERE u.epoch > $1
         ORDER BY u.epoch, u.position`,
        [after],
      );
      const byEpoch = new Map<number, KtLoggedUpdate[]>();
      for (const r of rows) {
        const list = byEpoch.get(r.epoch) ?? [];
        list.push({
          accountId: r.account_id,
          username: r.username as Username,
          version: r.version,
          vrfOutput: bytes(r.vrf_output),
          commitment: bytes(r.commitment),
          deviceList: bytes(r.device_list),
          opening: bytes(r.opening),
        });
        byEpoch.set(r.epoch, list);
      }
      return epochs.map((e) => ({
        epoch: e.epoch,
        timestampMs: e.timestamp_ms,
        root: bytes(e.root),
        signature: bytes(e.signature),
        updates: byEpoch.get(e.epoch) ?? [],
      }));
    });
  }

  async putBlob(
    accountId: number,
    name: Uint8Array,
    bytes: Uint8Array,
    kind = 0,
  ): Promise<{ readonly stored: boolean }> {
    checkBlob(this.#limits, name, bytes);
    checkBlobKind(kind);
    return this.#transaction(async (c) => {
      // The account row's lock serialises this account's puts across instances, so the quota holds.
      await this.#lockAccount(c, accountId);
      const present = await this.#query(c, 'SELECT 1 FROM blobs WHERE account_id = $1 AND name = $2', [
        accountId,
        name,
      ]);
      if (present.length > 0) return { stored: false };
      const [row] = await this.#query<{ used: string }>(
        c,
        'SELECT coalesce(sum(size), 0)::text AS used FROM blobs WHERE account_id = $1',
        [accountId],
      );
      if (Number(row!.used) + bytes.length > this.#limits.blobQuotaBytes) {
        throw blobQuotaExceeded(this.#limits.blobQuotaBytes);
      }
      await this.#query(
        c,
        'INSERT INTO blobs (account_id, name, size, bytes, kind) VALUES ($1, $2, $3, $4, $5)',
        [accountId, name, bytes.length, bytes, kind],
      );
      return { stored: true };
    });
  }

  async getBlob(
    accountId: number,
    name: Uint8Array,
    range?: BlobRange,
  ): Promise<{ readonly size: number; readonly bytes: Uint8Array } | undefined> {
    checkBlobName(name);
    if (range !== undefined) checkBlobRange(range);
    // substring on bytea counts bytes, from 1.
    const [row] = range
      ? await this.#query<{ size: string; bytes: Buffer }>(
          this.#pool,
          'SELECT size, substring(bytes FROM $3::int FOR $4::int) AS bytes FROM blobs WHERE account_id = $1 AND name = $2',
          [accountId, name, range.offset + 1, range.length],
        )
      : await this.#query<{ size: string; bytes: Buffer }>(
          this.#pool,
          'SELECT size, bytes FROM blobs WHERE account_id = $1 AND name = $2',
          [accountId, name],
        );
    return row && { size: Number(row.size), bytes: bytes(row.bytes) };
  }

  async listBlobs(accountId: number, kind?: number): Promise<BlobInfo[]> {
    if (kind !== undefined) checkBlobKind(kind);
    const rows = await this.#query<{ name: Buffer; size: string; kind: number }>(
      this.#pool,
      kind === undefined
        ? 'SELECT name, size, kind FROM blobs WHERE account_id = $1 ORDER BY name'
        : 'SELECT name, size, kind FROM blobs WHERE account_id = $1 AND kind = $2 ORDER BY name',
      kind === undefined ? [accountId] : [accountId, kind],
    );
    return rows.map((r) => ({ name: bytes(r.name), size: Number(r.size), kind: r.kind }));
  }

  async deleteBlob(accountId: number, name: Uint8Array): Promise<boolean> {
    checkBlobName(name);
    const rows = await this.#query(
      this.#pool,
      'DELETE FROM blobs WHERE account_id = $1 AND name = $2 RETURNING 1',
      [accountId, name],
    );
    return rows.length > 0;
  }

  async disclose(username: Username): Promise<Disclosure | undefined> {
    return this.#transaction(async (c) => {
      // One snapshot for every table: REPEATABLE READ, read only.
      await this.#query(c, 'SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY');
      const [account] = await this.#query<{ id: number }>(c, 'SELECT id FROM accounts WHERE username = $1', [
        username,
      ]);
      if (account === undefined) return undefined;
      const out: Record<string, DisclosedRow[]> = {};
      for (const { table, where } of DISCLOSED_TABLES) {
        const rows = await this.#query<Record<string, DisclosedValue>>(
          c,
          `SELECT * FROM ${table.name} WHERE ${where.replaceAll(':account', '$1')}`,
          [account.id],
        );
        out[table.name] = rows.map((r) =>
          Object.fromEntries(
            Object.entries(r).map(([k, v]) => [k, v instanceof Buffer ? new Uint8Array(v) : v]),
          ),
        );
      }
      return out;
    });
  }

  async sweepExpired(nowSecs: number): Promise<number> {
    const entries = await this.#sweep('mailbox', 'expires_at_secs', nowSecs);
    await this.#sweep('sent', 'expires_at_secs', nowSecs);
    // Unused challenges too: nothing else would ever delete them.
    await this.#sweep('challenges', 'expires_at_ms', nowSecs * 1000);
    return entries;
  }

  // --- internals

  /** Deletes rows with `column <= bound` in batches, skipping rows another transaction holds. */
  async #sweep(table: 'mailbox' | 'sent' | 'challenges', column: string, bound: number): Promise<number> {
    const batch = STORE_DEFAULTS.sweepBatchRows;
    let total = 0;
    for (;;) {
      // ctid is stable here: rows of these tables are never updated, only inserted and deleted.
      const rows = await this.#query(
        this.#pool,
        `DELETE FROM ${table} WHERE ctid = ANY (ARRAY (
           SELECT ctid FROM ${table} WHERE ${column} <= $1 LIMIT $2 FOR UPDATE SKIP LOCKED
         )) RETURNING 1`,
        [bound, batch],
      );
      total += rows.length;
      if (rows.length < batch) return total;
    }
  }

  async #stock(on: Queryable, device: DevicePk): Promise<KeyPackageStock> {
    const [row] = await this.#query<{ one_time: number; last_resort: number }>(
      on,
      `SELECT count(*) FILTER (WHERE last_resort = 0) AS one_time,
              count(*) FILTER (WHERE last_resort = 1) AS last_resort
       FROM key_packages WHERE device_pk = $1`,
      [device],
    );
    return { oneTime: row!.one_time, hasLastResort: row!.last_resort > 0 };
  }

  async #lockAccount(c: PoolClient, accountId: number): Promise<void> {
    const rows = await this.#query(c, 'SELECT 1 FROM accounts WHERE id = $1 FOR NO KEY UPDATE', [accountId]);
    if (rows.length === 0) throw accountNotFound(accountId);
  }

  async #countDevices(c: PoolClient, accountId: number): Promise<number> {
    const [row] = await this.#query<{ n: number }>(
      c,
      'SELECT count(*) AS n FROM devices WHERE account_id = $1',
      [accountId],
    );
    return row!.n;
  }

  async #insertDevice(
    c: PoolClient,
    accountId: number,
    device: NewDevice,
    day: number,
  ): Promise<DeviceRecord> {
    const [row] = await this.#query<DeviceRow>(
      c,
      `INSERT INTO devices (account_id, device_id, public_key, created_day, last_seen_day) VALUES ($1, $2, $3, $4, $4)
       RETURNING ${DEVICE_COLUMNS}`,
      [accountId, device.deviceId, device.publicKey, day],
    );
    return toDevice(row!);
  }

  /** One named (so prepared once per connection) statement; errors mapped. */
  async #query<R extends QueryResultRow = QueryResultRow>(
    on: Queryable,
    text: string,
    values: unknown[] = [],
  ): Promise<R[]> {
    let name = this.#names.get(text);
    if (name === undefined) {
      name = `sealpost_${this.#names.size}`;
      this.#names.set(text, name);
    }
    try {
      return (await on.query<R>({ name, text, values })).rows;
    } catch (e) {
      throw mapPgError(e);
    }
  }

  async #transaction<T>(fn: (c: PoolClient) => Promise<T>): Promise<T> {
    const checkout = await this.#checkout();
    try {
      return await checkout.transaction(fn);
    } finally {
      checkout.release();
    }
  }

  /** A pooled connection on which the caller runs transactions one after another, then releases once. */
  async #checkout(): Promise<Checkout> {
    let c: PoolClient;
    try {
      c = await this.#pool.connect();
    } catch (e) {
      throw mapPgError(e);
    }
    let broken: Error | undefined;
    // A checked-out client that loses its connection emits 'error' (the pool listens only to idle
    // ones); unheard, that would crash the process. The failing query rejects all the same.
    const onError = (e: Error) => void (broken ??= e);
    c.on('error', onError);
    return {
      async transaction<T>(fn: (c: PoolClient) => Promise<T>): Promise<T> {
        if (broken) throw mapPgError(broken);
        try {
          await c.query('BEGIN');
          const result = await fn(c);
          await c.query('COMMIT');
          return result;
        } catch (e) {
          try {
            await c.query('ROLLBACK');
          } catch (rollbackError) {
            broken ??= rollbackError instanceof Error ? rollbackError : new Error('ROLLBACK failed');
          }
          throw mapPgError(e);
        }
      },
      release() {
        c.removeListener('error', onError);
        c.release(broken); // an argument destroys the connection instead of returning it to the pool
      },
    };
  }
}

interface Checkout {
  /** Rejects with a typed error; rolled back unless the connection was lost. */
  transaction<T>(fn: (c: PoolClient) => Promise<T>): Promise<T>;
  release(): void;
}

function bytes(b: Buffer): Uint8Array {
  // A copy: pg may slice small values from a shared pool buffer.
  return new Uint8Array(b);
}

function toAccount(r: AccountRow): AccountRecord {
  return {
    id: r.id,
    username: r.username as Username,
    accountKey: bytes(r.account_key),
    createdDay: r.created_day,
  };
}

function toDevice(r: DeviceRow): DeviceRecord {
  return {
    pk: r.pk as DevicePk,
    accountId: r.account_id,
    deviceId: bytes(r.device_id),
    publicKey: bytes(r.public_key),
    createdDay: r.created_day,
    lastSeenDay: r.last_seen_day,
  };
}
