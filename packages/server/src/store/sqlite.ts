/**
 * SQLite implementation of `Store` (node:sqlite; the embedded default, one server instance).
 *
 * Connection settings and why:
 *   - WAL: readers never block the writer, and the writer never blocks readers;
 *   - busy timeout: another process holding the write lock makes a call wait, not fail;
 *   - foreign keys on: removing a device cascades to its mailbox and idempotency records;
 *   - secure_delete on: acknowledged ciphertext is overwritten, not left in free pages of the file.
 * A send's payload is one `payloads` row that its mailbox rows name; the trigger of migration 9
 * deletes it with the last of them, in the same statement (ack, sweep, or a device's cascade).
 * Every write runs in BEGIN IMMEDIATE, which takes the write lock up front, so a check followed by a
 * write (mailbox full, device limit, idempotency) cannot interleave with another process's.
 * Group commit: writes requested in the same event-loop turn share one transaction (one fsync),
 * each inside its own SAVEPOINT so a failing write rolls back alone; each promise resolves only
 * after the COMMIT is durable (synchronous=FULL), so no caller is told "stored" early.
 * Statements are prepared once and cached by their SQL text.
 *
 * node:sqlite is synchronous: each call blocks the event loop while it runs (and up to the busy
 * timeout while another process holds the lock). Several server instances use PostgreSQL instead.
 */
import { DatabaseSync, type SQLInputValue, type StatementSync } from 'node:sqlite';
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
  epochConflict,
  deviceNotFound,
  lastDevice,
  mailboxFull,
  messageIdReused,
  namedDevices,
  tooManyDevices,
  tooManyKeyPackages,
  unknownDeviceId,
  usernameTaken,
  welcomeEnqueue,
} from './contract.ts';
import { MIGRATIONS, MIGRATIONS_TABLE_SQL } from './migrations.ts';
import { DISCLOSED_TABLES, type DisclosedRow, type Disclosure } from './disclosure.ts';
import { mapSqliteError, retryWhileBusy } from './sqlite-errors.ts';
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

interface AccountRow {
  id: number;
  username: string;
  account_key: Uint8Array;
  created_day: number;
}
interface DeviceRow {
  pk: number;
  account_id: number;
  device_id: Uint8Array;
  public_key: Uint8Array;
  created_day: number;
  last_seen_day: number;
}
interface MailRow {
  seq: number;
  message_id: Uint8Array;
  payload: Uint8Array;
}

interface KtLogRow {
  epoch: number;
  vrf_output: Uint8Array;
  commitment: Uint8Array;
  account_id: number;
  username: string;
  version: number;
  device_list: Uint8Array;
  opening: Uint8Array;
}

/** SQLite extended result code of a foreign key violation. */
const SQLITE_CONSTRAINT_FOREIGNKEY = 787;

/** `#write` flag: the operation is one statement (atomic by itself: no savepoint needed). */
const SINGLE_STATEMENT = true;

/** Writes per group commit: bounds how long one flush holds the event loop. */
const WRITE_BATCH_MAX = 512;

const ACCOUNT_COLUMNS = 'id, username, account_key, created_day';
const DEVICE_COLUMNS = 'pk, account_id, device_id, public_key, created_day, last_seen_day';

export class SqliteStore implements Store {
  readonly kind = 'sqlite' as const;
  readonly writesInOrder = true;
  readonly #db: DatabaseSync;
  readonly #limits: StoreLimits;
  readonly #statements = new Map<string, StatementSync>();
  readonly #pending: Array<{
    fn: () => unknown;
    singleStatement: boolean;
    resolve: (v: unknown) => void;
    reject: (e: unknown) => void;
  }> = [];
  #flushScheduled = false;

  private constructor(db: DatabaseSync, limits: StoreLimits) {
    this.#db = db;
    this.#limits = limits;
  }

  /** Opens (creating if needed) the database file at `path`, or a private one for ':memory:'. Does not migrate. */
  static open(path: string, opts: StoreOptions = {}): SqliteStore {
    let db: DatabaseSync | undefined;
    try {
      db = new DatabaseSync(path, {
        enableForeignKeyConstraints: true,
        timeout: STORE_DEFAULTS.sqliteBusyTimeoutMs,
      });
      const opened = db;
      // ':memory:' answers 'memory' here and stays so; a file switches to (and stays in) WAL.
      retryWhileBusy(() => opened.exec('PRAGMA journal_mode = WAL'), STORE_DEFAULTS.sqliteBusyTimeoutMs);
      db.exec('PRAGMA secure_delete = ON');
    } catch (e) {
      if (db?.isOpen) db.close();
      throw mapSqliteError(e);
    }
    return new SqliteStore(db, storeLimits(opts));
  }

  async migrate(): Promise<number> {
    return this.#write(() => {
      this.#db.exec(MIGRATIONS_TABLE_SQL.sqlite);
      const rows = this.#all<{ version: number }>('SELECT version FROM schema_migrations');
      const applied = new Set(rows.map((r) => r.version));
      let count = 0;
      for (const m of MIGRATIONS) {
        if (applied.has(m.version)) continue;
        this.#db.exec(m.sqlite);
        this.#run('INSERT INTO schema_migrations (version) VALUES (?)', m.version);
        count++;
      }
      return count;
    });
  }

  async ping(): Promise<void> {
    this.#guard(() => this.#get('SELECT 1 AS one'));
  }

  async close(): Promise<void> {
    // Writes already accepted are committed, not dropped.
    while (this.#pending.length > 0 && this.#db.isOpen) this.#flush();
    if (this.#db.isOpen) this.#db.close();
    this.#statements.clear();
  }

  async putChallenge(challenge: Uint8Array, expiresAtMs: number): Promise<void> {
    await this.#write(
      () =>
        this.#run('INSERT INTO challenges (challenge, expires_at_ms) VALUES (?, ?)', challenge, expiresAtMs),
      SINGLE_STATEMENT,
    );
  }

  async consumeChallenge(challenge: Uint8Array, nowMs: number): Promise<boolean> {
    return this.#write(() => {
      const row = this.#get<{ expires_at_ms: number }>(
        'DELETE FROM challenges WHERE challenge = ? RETURNING expires_at_ms',
        challenge,
      );
      return row !== undefined && nowMs < row.expires_at_ms;
    });
  }

  async createAccount(input: {
    readonly username: Username;
    readonly skeleton: string;
    readonly accountKey: Uint8Array;
    readonly device: NewDevice;
    readonly day: number;
  }): Promise<{ account: AccountRecord; device: DeviceRecord }> {
    return this.#write(() => {
      if (
        this.#get('SELECT 1 FROM accounts WHERE username = ? OR skeleton = ?', input.username, input.skeleton)
      ) {
        throw usernameTaken(input.username);
      }
      const row = this.#get<AccountRow>(
        `INSERT INTO accounts (username, skeleton, account_key, created_day) VALUES (?, ?, ?, ?)
         RETURNING ${ACCOUNT_COLUMNS}`,
        input.username,
        input.skeleton,
        input.accountKey,
        input.day,
      )!;
      return { account: toAccount(row), device: this.#insertDevice(row.id, input.device, input.day) };
    });
  }

  async getAccount(username: Username): Promise<AccountRecord | undefined> {
    return this.#guard(() => {
      const row = this.#get<AccountRow>(
        `SELECT ${ACCOUNT_COLUMNS} FROM accounts WHERE username = ?`,
        username,
      );
      return row && toAccount(row);
    });
  }

  async listDevices(accountId: number): Promise<DeviceRecord[]> {
    return this.#guard(() =>
      this.#all<DeviceRow>(
        `SELECT ${DEVICE_COLUMNS} FROM devices WHERE account_id = ? ORDER BY pk`,
        accountId,
      ).map(toDevice),
    );
  }

  async getDevice(username: Username, deviceId: Uint8Array): Promise<DeviceRecord | undefined> {
    return this.#guard(() => {
      const row = this.#get<DeviceRow>(
        `SELECT ${DEVICE_COLUMNS} FROM devices
         WHERE account_id = (SELECT id FROM accounts WHERE username = ?) AND device_id = ?`,
        username,
        deviceId,
      );
      return row && toDevice(row);
    });
  }

  async resolveDevices(
    addresses: readonly { readonly username: Username; readonly deviceId: Uint8Array }[],
  ): Promise<(DevicePk | undefined)[]> {
    const one = (username: Username, deviceId: Uint8Array) =>
      this.#get<{ pk: number }>(
        `SELECT pk FROM devices
         WHERE account_id = (SELECT id FROM accounts WHERE username = ?) AND device_id = ?`,
        username,
        deviceId,
      )?.pk as DevicePk | undefined;
    // The common case, one address, needs no transaction around its one read.
    if (addresses.length === 1)
      return this.#guard(() => [one(addresses[0]!.username, addresses[0]!.deviceId)]);
    // One read transaction: every answer comes from the same snapshot.
    return this.#transaction('DEFERRED', () =>
      addresses.map(({ username, deviceId }) => {
        const row = this.#get<{ pk: number }>(
          `SELECT pk FROM devices
           WHERE account_id = (SELECT id FROM accounts WHERE username = ?) AND device_id = ?`,
          username,
          deviceId,
        );
        return row && (row.pk as DevicePk);
      }),
    );
  }

  async addDevice(accountId: number, device: NewDevice, day: number): Promise<DeviceRecord> {
    return this.#write(() => {
      if (!this.#get('SELECT 1 FROM accounts WHERE id = ?', accountId)) {
        throw accountNotFound(accountId);
      }
      if (
        this.#get('SELECT 1 FROM devices WHERE account_id = ? AND device_id = ?', accountId, device.deviceId)
      ) {
        throw deviceExists();
      }
      const { n } = this.#get<{ n: number }>(
        'SELECT count(*) AS n FROM devices WHERE account_id = ?',
        accountId,
      )!;
      if (n >= this.#limits.devicesPerAccount) throw tooManyDevices(this.#limits.devicesPerAccount);
      return this.#insertDevice(accountId, device, day);
    });
  }

  async removeDevice(accountId: number, deviceId: Uint8Array): Promise<DevicePk> {
    return this.#write(() => {
      const row = this.#get<{ pk: number }>(
        'SELECT pk FROM devices WHERE account_id = ? AND device_id = ?',
        accountId,
        deviceId,
      );
      if (!row) throw unknownDeviceId();
      const { n } = this.#get<{ n: number }>(
        'SELECT count(*) AS n FROM devices WHERE account_id = ?',
        accountId,
      )!;
      if (n <= 1) throw lastDevice();
      // ON DELETE CASCADE removes the device's mailbox and its idempotency records.
      this.#run('DELETE FROM devices WHERE pk = ?', row.pk);
      return row.pk as DevicePk;
    });
  }

  async recoverAccount(
    accountId: number,
    accountKey: Uint8Array,
    device: NewDevice,
    day: number,
  ): Promise<{ device: DeviceRecord; removed: DevicePk[] }> {
    return this.#write(() => {
      if (this.#run('UPDATE accounts SET account_key = ? WHERE id = ?', accountKey, accountId) === 0) {
        throw accountNotFound(accountId);
      }
      // ON DELETE CASCADE removes each old device's mailbox, KeyPackages and idempotency records.
      const removed = this.#all<{ pk: number }>(
        `DELETE FROM devices WHERE account_id = ? AND NOT (device_id = ? AND public_key = ?) RETURNING pk`,
        accountId,
        device.deviceId,
        device.publicKey,
      ).map((r) => r.pk as DevicePk);
      const kept = this.#get<DeviceRow>(
        `SELECT ${DEVICE_COLUMNS} FROM devices WHERE account_id = ?`,
        accountId,
      );
      return { device: kept ? toDevice(kept) : this.#insertDevice(accountId, device, day), removed };
    });
  }

  async touchDevice(device: DevicePk, day: number): Promise<void> {
    // Writes at most once a day per device; never moves backwards.
    await this.#write(
      () =>
        this.#run(
          'UPDATE devices SET last_seen_day = ? WHERE pk = ? AND last_seen_day < ?',
          day,
          device,
          day,
        ),
      SINGLE_STATEMENT,
    );
  }

  async enqueue(input: EnqueueInput): Promise<EnqueueResult> {
    checkRecipients(input.recipients);
    return this.#write(() => this.#enqueueNow(input));
  }

  /** `enqueue`'s body; runs inside a savepoint of `#write`, which undoes it all on a throw. */
  #enqueueNow(input: EnqueueInput): EnqueueResult {
    // The idempotency record first: in the common case (a new message) one statement both
    // claims the id and, through its foreign key, proves the sender still exists.
    let claimed: unknown;
    try {
      claimed = this.#get(
        `INSERT INTO sent (sender_device_pk, message_id, digest, expires_at_secs) VALUES (?, ?, ?, ?)
         ON CONFLICT (sender_device_pk, message_id) DO NOTHING RETURNING 1 AS claimed`,
        input.sender,
        input.messageId,
        input.digest,
        input.expiresAtSecs,
      );
    } catch (e) {
      if ((e as { errcode?: unknown }).errcode === SQLITE_CONSTRAINT_FOREIGNKEY)
        throw deviceNotFound('sender');
      throw e;
    }
    if (claimed === undefined) {
      const prior = this.#get<{ same: number }>(
        'SELECT digest = ? AS same FROM sent WHERE sender_device_pk = ? AND message_id = ?',
        input.digest,
        input.sender,
        input.messageId,
      );
      if (prior?.same) return { duplicate: true, seqs: [] };
      throw messageIdReused();
    }
    // All or nothing: this runs inside its own savepoint, so a full mailbox found at the second
    // recipient undoes what was drawn and written for the first. Acks leave gaps but never add
    // entries, so the span next_seq - min(seq) bounds the count: only a mailbox whose span reaches
    // the limit is counted exactly.
    const seqs: number[] = [];
    // Stored once, named by every copy (migration 9); not at all without recipients.
    let payloadId: number | undefined;
    for (const recipient of input.recipients) {
      const drawn = this.#get<{ seq: number; span: number }>(
        `UPDATE devices SET next_seq = next_seq + 1 WHERE pk = ?1
         RETURNING next_seq - 1 AS seq,
                   next_seq - 1 - coalesce((SELECT min(seq) FROM mailbox WHERE device_pk = ?1), next_seq - 1) AS span`,
        recipient,
      );
      if (!drawn) throw deviceNotFound('recipient');
      if (drawn.span >= this.#limits.mailboxMaxMessages) {
        const { n } = this.#get<{ n: number }>(
          'SELECT count(*) AS n FROM (SELECT 1 FROM mailbox WHERE device_pk = ? LIMIT ?)',
          recipient,
          this.#limits.mailboxMaxMessages,
        )!;
        if (n >= this.#limits.mailboxMaxMessages) throw mailboxFull(this.#limits.mailboxMaxMessages);
      }
      payloadId ??= this.#get<{ id: number }>(
        'INSERT INTO payloads (payload) VALUES (?) RETURNING id',
        input.payload,
      )!.id;
      this.#run(
        'INSERT INTO mailbox (device_pk, seq, message_id, expires_at_secs, payload_id) VALUES (?, ?, ?, ?, ?)',
        recipient,
        drawn.seq,
        input.messageId,
        input.expiresAtSecs,
        payloadId,
      );
      seqs.push(drawn.seq);
    }
    return { duplicate: false, seqs };
  }

  async addKeyPackages(
    device: DevicePk,
    oneTime: readonly Uint8Array[],
    lastResort: Uint8Array | undefined,
  ): Promise<KeyPackageStock> {
    checkKeyPackages(oneTime, lastResort);
    return this.#write(() => {
      if (!this.#get('SELECT 1 FROM devices WHERE pk = ?', device)) throw deviceNotFound('sender');
      const before = this.#stock(device);
      if (before.oneTime + oneTime.length > this.#limits.keyPackagesPerDevice) {
        throw tooManyKeyPackages(this.#limits.keyPackagesPerDevice);
      }
      for (const kp of oneTime) {
        this.#run(
          'INSERT INTO key_packages (device_pk, key_package, last_resort) VALUES (?, ?, 0)',
          device,
          kp,
        );
      }
      if (lastResort !== undefined) {
        this.#run('DELETE FROM key_packages WHERE device_pk = ? AND last_resort = 1', device);
        this.#run(
          'INSERT INTO key_packages (device_pk, key_package, last_resort) VALUES (?, ?, 1)',
          device,
          lastResort,
        );
      }
      return this.#stock(device);
    });
  }

  async countKeyPackages(device: DevicePk): Promise<KeyPackageStock> {
    return this.#guard(() => this.#stock(device));
  }

  async claimKeyPackages(
    username: Username,
    deviceIds?: readonly Uint8Array[],
  ): Promise<ClaimedKeyPackage[]> {
    if (deviceIds !== undefined) checkClaimedDevices(deviceIds);
    // A write: the one writer makes each delete-and-return atomic against every other claim.
    return this.#write(() => {
      const all = this.#all<{ pk: number; device_id: Uint8Array }>(
        `SELECT pk, device_id FROM devices
         WHERE account_id = (SELECT id FROM accounts WHERE username = ?) ORDER BY pk`,
        username,
      );
      const devices = namedDevices(all, (d) => d.device_id, deviceIds);
      const out: ClaimedKeyPackage[] = [];
      for (const d of devices) {
        const row =
          this.#get<{ key_package: Uint8Array }>(
            `DELETE FROM key_packages WHERE id = (
               SELECT id FROM key_packages WHERE device_pk = ? AND last_resort = 0 ORDER BY id LIMIT 1
             ) RETURNING key_package`,
            d.pk,
          ) ??
          this.#get<{ key_package: Uint8Array }>(
            'SELECT key_package FROM key_packages WHERE device_pk = ? AND last_resort = 1',
            d.pk,
          );
        if (row !== undefined) out.push({ deviceId: d.device_id, keyPackage: row.key_package });
      }
      return out;
    });
  }

  async commit(input: CommitInput): Promise<CommitResult> {
    checkCommit(input);
    return this.#write(() => {
      // Copies first: a resend is answered before the epoch is looked at. On a conflict the throw
      // rolls the savepoint back, copies included.
      const stored = this.#enqueueNow(input);
      if (stored.duplicate) return { ...stored, epoch: input.epoch + 1, welcomeSeqs: [] };
      const moved =
        input.epoch === 0
          ? this.#get<{ epoch: number }>(
              `INSERT INTO mls_groups (group_id, epoch) VALUES (?, 1)
               ON CONFLICT (group_id) DO UPDATE SET epoch = epoch + 1 WHERE epoch = 0 RETURNING epoch`,
              input.groupId,
            )
          : this.#get<{ epoch: number }>(
              'UPDATE mls_groups SET epoch = epoch + 1 WHERE group_id = ? AND epoch = ? RETURNING epoch',
              input.groupId,
              input.epoch,
            );
      if (moved === undefined) {
        const current = this.#get<{ epoch: number }>(
          'SELECT epoch FROM mls_groups WHERE group_id = ?',
          input.groupId,
        );
        throw epochConflict(current?.epoch ?? 0);
      }
      // The Welcome only once the epoch is ours, in the same savepoint: a throw here (a joiner's
      // full mailbox) undoes the commit too.
      const welcome =
        input.welcome === undefined ? undefined : this.#enqueueNow(welcomeEnqueue(input, input.welcome));
      if (welcome?.duplicate) throw messageIdReused();
      return { ...stored, epoch: moved.epoch, welcomeSeqs: welcome?.seqs ?? [] };
    });
  }

  async fetchMail(device: DevicePk, afterSeq: number, limit: number, nowSecs: number): Promise<MailEntry[]> {
    if (!(limit > 0)) return []; // SQLite reads a negative LIMIT as "no limit"
    return this.#guard(() =>
      this.#all<MailRow>(
        `SELECT m.seq, m.message_id, p.payload FROM mailbox AS m JOIN payloads AS p ON p.id = m.payload_id
         WHERE m.device_pk = ? AND m.seq > ? AND m.expires_at_secs > ? ORDER BY m.seq LIMIT ?`,
        device,
        afterSeq,
        nowSecs,
        limit,
      ).map((r) => ({ seq: r.seq, messageId: r.message_id, payload: r.payload })),
    );
  }

  async ack(device: DevicePk, seqs: readonly number[]): Promise<number> {
    if (seqs.length === 0) return 0;
    return this.#write(
      () =>
        seqs.length === 1
          ? this.#run('DELETE FROM mailbox WHERE device_pk = ? AND seq = ?', device, seqs[0]!)
          : this.#run(
              'DELETE FROM mailbox WHERE device_pk = ? AND seq IN (SELECT value FROM json_each(?))',
              device,
              JSON.stringify(seqs),
            ),
      SINGLE_STATEMENT,
    );
  }

  async putBlob(
    accountId: number,
    name: Uint8Array,
    bytes: Uint8Array,
    kind = 0,
  ): Promise<{ readonly stored: boolean }> {
    checkBlob(this.#limits, name, bytes);
    checkBlobKind(kind);
    // A write: the one writer makes the quota sum and the insert atomic against other puts.
    return this.#write(() => {
      if (this.#get('SELECT 1 FROM blobs WHERE account_id = ? AND name = ?', accountId, name)) {
        return { stored: false };
      }
      if (!this.#get('SELECT 1 FROM accounts WHERE id = ?', accountId)) throw accountNotFound(accountId);
      const { used } = this.#get<{ used: number }>(
        'SELECT coalesce(sum(size), 0) AS used FROM blobs WHERE account_id = ?',
        accountId,
      )!;
      if (used + bytes.length > this.#limits.blobQuotaBytes)
        throw blobQuotaExceeded(this.#limits.blobQuotaBytes);
      this.#run(
        'INSERT INTO blobs (account_id, name, size, bytes, kind) VALUES (?, ?, ?, ?, ?)',
        accountId,
        name,
        bytes.length,
        bytes,
        kind,
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
    return this.#guard(() => {
      // substr on a BLOB counts bytes, from 1.
      const row = range
        ? this.#get<{ size: number; bytes: Uint8Array }>(
            'SELECT size, substr(bytes, ?, ?) AS bytes FROM blobs WHERE account_id = ? AND name = ?',
            range.offset + 1,
            range.length,
            accountId,
            name,
          )
        : this.#get<{ size: number; bytes: Uint8Array }>(
            'SELECT size, bytes FROM blobs WHERE account_id = ? AND name = ?',
            accountId,
            name,
          );
      // substr of an empty range is '' (TEXT), not a BLOB.
      return (
        row && { size: row.size, bytes: row.bytes instanceof Uint8Array ? row.bytes : new Uint8Array(0) }
      );
    });
  }

  async listBlobs(accountId: number, kind?: number): Promise<BlobInfo[]> {
    if (kind !== undefined) checkBlobKind(kind);
    return this.#guard(() =>
      kind === undefined
        ? this.#all<BlobInfo>(
            'SELECT name, size, kind FROM blobs WHERE account_id = ? ORDER BY name',
            accountId,
          )
        : this.#all<BlobInfo>(
            'SELECT name, size, kind FROM blobs WHERE account_id = ? AND kind = ? ORDER BY name',
            accountId,
            kind,
          ),
    );
  }

  async deleteBlob(accountId: number, name: Uint8Array): Promise<boolean> {
    checkBlobName(name);
    return this.#write(
      () => this.#run('DELETE FROM blobs WHERE account_id = ? AND name = ?', accountId, name) > 0,
      SINGLE_STATEMENT,
    );
  }

  async disclose(username: Username): Promise<Disclosure | undefined> {
    return this.#transaction('DEFERRED', () => {
      const account = this.#get<{ id: number }>('SELECT id FROM accounts WHERE username = ?', username);
      if (account === undefined) return undefined;
      const out: Record<string, DisclosedRow[]> = {};
      for (const { table, where } of DISCLOSED_TABLES) {
        out[table.name] = this.#statement(`SELECT * FROM ${table.name} WHERE ${where}`).all({
          account: account.id,
        }) as DisclosedRow[];
      }
      return out;
    });
  }

  async ktKeys(generated: KtKeys): Promise<KtKeys> {
    return this.#write(() => {
      this.#run(
        'INSERT INTO kt_keys (id, signing_seed, vrf_secret) VALUES (1, ?, ?) ON CONFLICT (id) DO NOTHING',
        generated.signingSeed,
        generated.vrfSecret,
      );
      const row = this.#get<{ signing_seed: Uint8Array; vrf_secret: Uint8Array }>(
        'SELECT signing_seed, vrf_secret FROM kt_keys WHERE id = 1',
      )!;
      return { signingSeed: row.signing_seed, vrfSecret: row.vrf_secret };
    });
  }

  async appendKtEpoch(epoch: KtEpoch): Promise<void> {
    await this.#write(() => {
      this.#run(
        'INSERT INTO kt_epochs (epoch, timestamp_ms, root, signature) VALUES (?, ?, ?, ?)',
        epoch.epoch,
        epoch.timestampMs,
        epoch.root,
        epoch.signature,
      );
      epoch.updates.forEach((u, position) => {
        this.#run(
          'INSERT INTO kt_updates (epoch, position, vrf_output, commitment) VALUES (?, ?, ?, ?)',
          epoch.epoch,
          position,
          u.vrfOutput,
          u.commitment,
        );
        this.#run(
          'INSERT INTO kt_values (vrf_output, account_id, version, device_list, opening) VALUES (?, ?, ?, ?, ?)',
          u.vrfOutput,
          u.accountId,
          u.version,
          u.deviceList,
          u.opening,
        );
        this.#run('DELETE FROM kt_queue WHERE vrf_output = ?', u.vrfOutput);
      });
    });
  }

  async ktLatest(accountId: number): Promise<{ version: number; deviceList: Uint8Array } | undefined> {
    const row = this.#guard(() =>
      this.#get<{ version: number; device_list: Uint8Array }>(
        `SELECT version, device_list FROM kt_queue WHERE account_id = ?
         UNION ALL SELECT version, device_list FROM kt_values WHERE account_id = ?
         ORDER BY version DESC LIMIT 1`,
        accountId,
        accountId,
      ),
    );
    return row === undefined ? undefined : { version: row.version, deviceList: row.device_list };
  }

  async queueKtUpdate(u: KtQueuedUpdate, maxQueued: number): Promise<KtQueueResult> {
    // BEGIN IMMEDIATE (#write) holds the write lock from the check to the insert.
    return this.#write(() => {
      const greatest = this.#get<{ v: number | null }>(
        `SELECT max(version) AS v FROM (SELECT version FROM kt_queue WHERE account_id = ?
         UNION ALL SELECT version FROM kt_values WHERE account_id = ?)`,
        u.accountId,
        u.accountId,
      )!;
      if (u.version !== (greatest.v ?? -1) + 1) return 'taken';
      if (this.#get<{ n: number }>('SELECT count(*) AS n FROM kt_queue')!.n >= maxQueued) return 'full';
      this.#run(
        'INSERT INTO kt_queue (vrf_output, account_id, version, device_list, opening) VALUES (?, ?, ?, ?, ?)',
        u.vrfOutput,
        u.accountId,
        u.version,
        u.deviceList,
        u.opening,
      );
      return 'queued';
    });
  }

  async ktQueue(limit: number): Promise<Array<KtQueuedUpdate & { readonly username: Username }>> {
    return this.#guard(() =>
      this.#all<{
        account_id: number;
        username: string;
        version: number;
        vrf_output: Uint8Array;
        device_list: Uint8Array;
        opening: Uint8Array;
      }>(
        `SELECT q.account_id, a.username, q.version, q.vrf_output, q.device_list, q.opening
         FROM kt_queue AS q JOIN accounts AS a ON a.id = q.account_id ORDER BY q.id LIMIT ?`,
        limit,
      ).map((r) => ({
        accountId: r.account_id,
        username: r.username as Username,
        version: r.version,
        vrfOutput: r.vrf_output,
        deviceList: r.device_list,
        opening: r.opening,
      })),
    );
  }

  /** One process holds the database: the lock is always granted, and lost only when released. */
  async ktPublisherLock(): Promise<KtPublisherLock> {
    let release!: () => void;
    const lost = new Promise<void>((resolve) => (release = resolve));
    return { lost, release: async () => release() };
  }

  async putKtCosignature(c: KtCosignature, maxPerHead: number): Promise<void> {
    await this.#write(() => {
      const stored = this.#get<{ timestamp_s: number }>(
        'SELECT timestamp_s FROM kt_cosignatures WHERE tree_size = ? AND witness_key = ?',
        c.treeSize,
        c.witnessKey,
      );
      if (stored === undefined) {
        const held = this.#get<{ n: number }>(
          'SELECT count(*) AS n FROM kt_cosignatures WHERE tree_size = ?',
          c.treeSize,
        )!;
        if (held.n >= maxPerHead) throw cosignaturesFull(maxPerHead);
        this.#run(
          'INSERT INTO kt_cosignatures (tree_size, witness_key, timestamp_s, signature) VALUES (?, ?, ?, ?)',
          c.treeSize,
          c.witnessKey,
          c.timestamp,
          c.signature,
        );
      } else if (c.timestamp > stored.timestamp_s) {
        this.#run(
          'UPDATE kt_cosignatures SET timestamp_s = ?, signature = ? WHERE tree_size = ? AND witness_key = ?',
          c.timestamp,
          c.signature,
          c.treeSize,
          c.witnessKey,
        );
      }
      this.#run(
        'DELETE FROM kt_cosignatures WHERE witness_key = ? AND tree_size < ?',
        c.witnessKey,
        c.treeSize,
      );
    });
  }

  async ktCosignatures(treeSize: number): Promise<KtCosignature[]> {
    return this.#all<{ witness_key: Uint8Array; timestamp_s: number; signature: Uint8Array }>(
      'SELECT witness_key, timestamp_s, signature FROM kt_cosignatures WHERE tree_size = ? ORDER BY witness_key',
      treeSize,
    ).map((r) => ({ treeSize, witnessKey: r.witness_key, timestamp: r.timestamp_s, signature: r.signature }));
  }

  async ktCosignaturesBelow(below: number, heads: number): Promise<KtCosignature[]> {
    return this.#all<{
      tree_size: number;
      witness_key: Uint8Array;
      timestamp_s: number;
      signature: Uint8Array;
    }>(
      `SELECT tree_size, witness_key, timestamp_s, signature FROM kt_cosignatures WHERE tree_size IN
         (SELECT DISTINCT tree_size FROM kt_cosignatures WHERE tree_size < ? ORDER BY tree_size DESC LIMIT ?)
       ORDER BY tree_size DESC, witness_key`,
      below,
      heads,
    ).map((r) => ({
      treeSize: r.tree_size,
      witnessKey: r.witness_key,
      timestamp: r.timestamp_s,
      signature: r.signature,
    }));
  }

  async loadKtLog(after = -1): ReturnType<Store['loadKtLog']> {
    return this.#transaction('DEFERRED', () => {
      const epochs = this.#all<{
        epoch: number;
        timestamp_ms: number;
        root: Uint8Array;
        signature: Uint8Array;
      }>('SELECT epoch, timestamp_ms, root, signature FROM kt_epochs WHERE epoch > ? ORDER BY epoch', after);
      if (epochs.length === 0) return [];
      const rows = this.#all<KtLogRow>(
        `SELECT u.epoch, u.vrf_output, u.commitment, v.account_id, a.username, v.version, v.device_list, v.opening
         FROM kt_updates AS u JOIN kt_values AS v ON v.vrf_output = u.vrf_output
         JOIN accounts AS a ON a.id = v.account_id
         WHERE u.epoch > ?
         ORDER BY u.epoch, u.position`,
        after,
      );
      const byEpoch = new Map<number, KtLoggedUpdate[]>();
      for (const r of rows) {
        const list = byEpoch.get(r.epoch) ?? [];
        list.push({
          accountId: r.account_id,
          username: r.username as Username,
          version: r.version,
          vrfOutput: r.vrf_output,
          commitment: r.commitment,
          deviceList: r.device_list,
          opening: r.opening,
        });
        byEpoch.set(r.epoch, list);
      }
      return epochs.map((e) => ({
        epoch: e.epoch,
        timestampMs: e.timestamp_ms,
        root: e.root,
        signature: e.signature,
        updates: byEpoch.get(e.epoch) ?? [],
      }));
    });
  }

  async sweepExpired(nowSecs: number): Promise<number> {
    return this.#write(() => {
      const entries = this.#run('DELETE FROM mailbox WHERE expires_at_secs <= ?', nowSecs);
      this.#run('DELETE FROM sent WHERE expires_at_secs <= ?', nowSecs);
      // Unused challenges too: nothing else would ever delete them.
      this.#run('DELETE FROM challenges WHERE expires_at_ms <= ?', nowSecs * 1000);
      return entries;
    });
  }

  // --- internals

  #stock(device: DevicePk): KeyPackageStock {
    const row = this.#get<{ one_time: number; last_resort: number }>(
      `SELECT count(*) FILTER (WHERE last_resort = 0) AS one_time,
              count(*) FILTER (WHERE last_resort = 1) AS last_resort
       FROM key_packages WHERE device_pk = ?`,
      device,
    )!;
    return { oneTime: row.one_time, hasLastResort: row.last_resort > 0 };
  }

  #insertDevice(accountId: number, device: NewDevice, day: number): DeviceRecord {
    const row = this.#get<DeviceRow>(
      `INSERT INTO devices (account_id, device_id, public_key, created_day, last_seen_day) VALUES (?, ?, ?, ?, ?)
       RETURNING ${DEVICE_COLUMNS}`,
      accountId,
      device.deviceId,
      device.publicKey,
      day,
      day,
    )!;
    return toDevice(row);
  }

  #statement(sql: string): StatementSync {
    let s = this.#statements.get(sql);
    if (!s) {
      s = this.#db.prepare(sql);
      this.#statements.set(sql, s);
    }
    return s;
  }

  #get<R>(sql: string, ...params: SQLInputValue[]): R | undefined {
    return this.#statement(sql).get(...params) as R | undefined;
  }

  #all<R>(sql: string, ...params: SQLInputValue[]): R[] {
    return this.#statement(sql).all(...params) as R[];
  }

  /** Returns the number of rows changed. */
  #run(sql: string, ...params: SQLInputValue[]): number {
    return Number(this.#statement(sql).run(...params).changes);
  }

  /** Runs `fn` with errors mapped to the store's typed errors. */
  #guard<T>(fn: () => T): T {
    try {
      return fn();
    } catch (e) {
      throw mapSqliteError(e);
    }
  }

  /** Queues `fn` (synchronous) for the next group commit; resolves after COMMIT. */
  /**
   * Queues `fn` (synchronous) for the next group commit; resolves after COMMIT. `singleStatement`:
   * `fn` runs one statement, which SQLite already makes atomic, so it needs no savepoint.
   */
  #write<T>(fn: () => T, singleStatement = false): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.#pending.push({ fn, singleStatement, resolve: resolve as (v: unknown) => void, reject });
      if (!this.#flushScheduled) {
        this.#flushScheduled = true;
        setImmediate(() => this.#flush());
      }
    });
  }

  #flush(): void {
    this.#flushScheduled = false;
    const batch = this.#pending.splice(0, WRITE_BATCH_MAX);
    if (this.#pending.length > 0) {
      this.#flushScheduled = true;
      setImmediate(() => this.#flush());
    }
    if (batch.length === 0) return;
    const outcomes: Array<{ ok: true; value: unknown } | { ok: false; error: unknown }> = [];
    try {
      this.#guard(() => {
        this.#db.exec('BEGIN IMMEDIATE');
        try {
          for (const op of batch) {
            if (op.singleStatement) {
              try {
                outcomes.push({ ok: true, value: op.fn() });
              } catch (error) {
                outcomes.push({ ok: false, error: mapSqliteError(error) });
              }
              continue;
            }
            this.#statement('SAVEPOINT op').run();
            try {
              const value = op.fn();
              this.#statement('RELEASE op').run();
              outcomes.push({ ok: true, value });
            } catch (error) {
              this.#statement('ROLLBACK TO op').run();
              this.#statement('RELEASE op').run();
              outcomes.push({ ok: false, error: mapSqliteError(error) });
            }
          }
          this.#db.exec('COMMIT');
        } catch (e) {
          if (this.#db.isTransaction) this.#db.exec('ROLLBACK');
          throw e;
        }
      });
    } catch (e) {
      // BEGIN or COMMIT failed: nothing of this batch is stored.
      for (const op of batch) op.reject(e);
      return;
    }
    batch.forEach((op, i) => {
      const o = outcomes[i]!;
      if (o.ok) op.resolve(o.value);
      else op.reject(o.error);
    });
  }

  /** `fn` must be synchronous: nothing else may run on this connection inside the transaction. */
  #transaction<T>(mode: 'IMMEDIATE' | 'DEFERRED', fn: () => T): T {
    return this.#guard(() => {
      this.#db.exec(`BEGIN ${mode}`);
      try {
        const result = fn();
        this.#db.exec('COMMIT');
        return result;
      } catch (e) {
        if (this.#db.isTransaction) this.#db.exec('ROLLBACK');
        throw e;
      }
    });
  }
}

function toAccount(r: AccountRow): AccountRecord {
  return { id: r.id, username: r.username as Username, accountKey: r.account_key, createdDay: r.created_day };
}

function toDevice(r: DeviceRow): DeviceRecord {
  return {
    pk: r.pk as DevicePk,
    accountId: r.account_id,
    deviceId: r.device_id,
    publicKey: r.public_key,
    createdDay: r.created_day,
    lastSeenDay: r.last_seen_day,
  };
}
