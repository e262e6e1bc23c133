/**
 * Numbered schema migrations, one SQL text per dialect (DESIGN.md "Storage and scale").
 *
 * Rules: versions are 1, 2, 3, ... with no gap; a published migration is never edited, only followed
 * by a new one; every column a migration creates is listed with its reason in `schema.ts` (the test
 * compares the live schemas to it). Each store applies pending migrations in one transaction that
 * first takes a lock (SQLite: BEGIN IMMEDIATE; PostgreSQL: pg_advisory_xact_lock), so several
 * instances starting together apply each migration exactly once.
 *
 * Layout after the latest migration (both dialects):
 *   accounts  (id) ─┬─< devices (pk, unique (account_id, device_id)) ─┬─< mailbox (device_pk, seq) >─ payloads (id)
 *                   │                                                   └─< sent (sender_device_pk, message_id)
 *                                                                     └─< key_packages (id; device_pk, last_resort)
 *   challenges (challenge)   mls_groups (group_id)   schema_migrations (version)   kt_keys (id = 1)
 *   kt_epochs (epoch) ─< kt_updates (epoch, position; vrf_output unique) ─ kt_values (vrf_output) >─ accounts
 *   kt_cosignatures (tree_size, witness_key)   kt_queue (id; vrf_output unique, unique (account_id, version)) >─ accounts
 *   accounts (id) ─< blobs (account_id, name; kind)
 * `─<` is a foreign key with ON DELETE CASCADE: removing a device removes its mailbox, its
 * idempotency records and its KeyPackages. `mailbox >─ payloads` does not cascade: a payload is
 * shared by the mailbox rows of one send, and a trigger deletes it with the last of them (migration
 * 9). The key-transparency tables' foreign keys do not cascade: the directory's log is append-only
 * (a removed row would change every later root).
 */

export interface Migration {
  readonly version: number;
  readonly description: string;
  readonly sqlite: string;
  readonly postgres: string;
}

/** Created before migrations run (it records them); listed in the allow-list like any table. */
export const MIGRATIONS_TABLE_SQL = {
  sqlite: 'CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY) STRICT',
  postgres: 'CREATE TABLE IF NOT EXISTS schema_migrations (version integer PRIMARY KEY)',
} as const;

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    description: 'accounts, devices and sign-in challenges',
    // STRICT tables make SQLite refuse a value of the wrong type instead of storing it.
    // AUTOINCREMENT: a deleted row's id is never handed out again (a DevicePk must not be reused).
    sqlite: `
      CREATE TABLE accounts (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        username TEXT NOT NULL UNIQUE,
        skeleton TEXT NOT NULL UNIQUE,
        account_key BLOB NOT NULL,
        created_day INTEGER NOT NULL
      ) STRICT;
      CREATE TABLE devices (
        pk INTEGER PRIMARY KEY AUTOINCREMENT,
        account_id INTEGER NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
        device_id BLOB NOT NULL,
        public_key BLOB NOT NULL,
        created_day INTEGER NOT NULL,
        last_seen_day INTEGER NOT NULL,
        next_seq INTEGER NOT NULL DEFAULT 1,
        UNIQUE (account_id, device_id)
      ) STRICT;
      CREATE TABLE challenges (
        challenge BLOB PRIMARY KEY,
        expires_at_ms INTEGER NOT NULL
      ) STRICT;
      CREATE INDEX challenges_expiry ON challenges (expires_at_ms);
    `,
    postgres: `
      CREATE TABLE accounts (
        id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        username text NOT NULL CONSTRAINT accounts_username_unique UNIQUE,
        skeleton text NOT NULL CONSTRAINT accounts_skeleton_unique UNIQUE,
        account_key bytea NOT NULL,
        created_day integer NOT NULL
      );
      CREATE TABLE devices (
        pk bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        account_id bigint NOT NULL CONSTRAINT devices_account_fk REFERENCES accounts (id) ON DELETE CASCADE,
        device_id bytea NOT NULL,
        public_key bytea NOT NULL,
        created_day integer NOT NULL,
        last_seen_day integer NOT NULL,
        next_seq bigint NOT NULL DEFAULT 1,
        CONSTRAINT devices_account_device_unique UNIQUE (account_id, device_id)
      );
      CREATE TABLE challenges (
        challenge bytea PRIMARY KEY,
        expires_at_ms bigint NOT NULL
      );
      CREATE INDEX challenges_expiry ON challenges (expires_at_ms);
    `,
  },
  {
    version: 2,
    description: 'mailboxes and idempotency records',
    // No WITHOUT ROWID for mailbox: its rows carry payloads of up to LIMITS.handshakeMaxBytes,
    // and SQLite advises rowid tables for large rows.
    sqlite: `
      CREATE TABLE mailbox (
        device_pk INTEGER NOT NULL REFERENCES devices (pk) ON DELETE CASCADE,
        seq INTEGER NOT NULL,
        message_id BLOB NOT NULL,
        payload BLOB NOT NULL,
        expires_at_secs INTEGER NOT NULL,
        PRIMARY KEY (device_pk, seq)
      ) STRICT;
      CREATE INDEX mailbox_expiry ON mailbox (expires_at_secs);
      CREATE TABLE sent (
        sender_device_pk INTEGER NOT NULL REFERENCES devices (pk) ON DELETE CASCADE,
        message_id BLOB NOT NULL,
        digest BLOB NOT NULL,
        expires_at_secs INTEGER NOT NULL,
        PRIMARY KEY (sender_device_pk, message_id)
      ) STRICT;
      CREATE INDEX sent_expiry ON sent (expires_at_secs);
    `,
    postgres: `
      CREATE TABLE mailbox (
        device_pk bigint NOT NULL CONSTRAINT mailbox_device_fk REFERENCES devices (pk) ON DELETE CASCADE,
        seq bigint NOT NULL,
        message_id bytea NOT NULL,
        payload bytea NOT NULL,
        expires_at_secs bigint NOT NULL,
        PRIMARY KEY (device_pk, seq)
      );
      -- Ciphertext does not compress: store it out of line without trying.
      ALTER TABLE mailbox ALTER COLUMN payload SET STORAGE EXTERNAL;
      CREATE INDEX mailbox_expiry ON mailbox (expires_at_secs);
      CREATE TABLE sent (
        sender_device_pk bigint NOT NULL CONSTRAINT sent_sender_fk REFERENCES devices (pk) ON DELETE CASCADE,
        message_id bytea NOT NULL,
        digest bytea NOT NULL,
        expires_at_secs bigint NOT NULL,
        PRIMARY KEY (sender_device_pk, message_id)
      );
      CREATE INDEX sent_expiry ON sent (expires_at_secs);
    `,
  },
  {
    version: 3,
    description: 'MLS delivery service: KeyPackages and group epochs',
    // At most one last-resort KeyPackage per device (partial unique index); one-time ones are handed
    // out oldest first (id order), which the (device_pk, last_resort, id) index serves.
    sqlite: `
      CREATE TABLE key_packages (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        device_pk INTEGER NOT NULL REFERENCES devices (pk) ON DELETE CASCADE,
        key_package BLOB NOT NULL,
        last_resort INTEGER NOT NULL CHECK (last_resort IN (0, 1))
      ) STRICT;
      CREATE INDEX key_packages_device ON key_packages (device_pk, last_resort, id);
      CREATE UNIQUE INDEX key_packages_last_resort ON key_packages (device_pk) WHERE last_resort = 1;
      CREATE TABLE mls_groups (
        group_id BLOB PRIMARY KEY,
        epoch INTEGER NOT NULL
      ) STRICT;
    `,
    postgres: `
      CREATE TABLE key_packages (
        id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        device_pk bigint NOT NULL CONSTRAINT key_packages_device_fk REFERENCES devices (pk) ON DELETE CASCADE,
        key_package bytea NOT NULL,
        last_resort integer NOT NULL CONSTRAINT key_packages_last_resort_flag CHECK (last_resort IN (0, 1))
      );
      CREATE INDEX key_packages_device ON key_packages (device_pk, last_resort, id);
      CREATE UNIQUE INDEX key_packages_last_resort ON key_packages (device_pk) WHERE last_resort = 1;
      CREATE TABLE mls_groups (
        group_id bytea PRIMARY KEY,
        epoch bigint NOT NULL
      );
    `,
  },
  {
    version: 4,
    description: 'key-transparency directory: keys, epochs and their updates',
    // kt_updates is the witness feed (VRF outputs and commitments, no label); kt_values holds what
    // opens them (the username's account, version, device list, opening) and is never in the feed.
    sqlite: `
      CREATE TABLE kt_keys (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        signing_seed BLOB NOT NULL,
        vrf_secret BLOB NOT NULL
      ) STRICT;
      CREATE TABLE kt_epochs (
        epoch INTEGER PRIMARY KEY,
        timestamp_ms INTEGER NOT NULL,
        root BLOB NOT NULL,
        signature BLOB NOT NULL
      ) STRICT;
      CREATE TABLE kt_updates (
        epoch INTEGER NOT NULL REFERENCES kt_epochs (epoch),
        position INTEGER NOT NULL,
        vrf_output BLOB NOT NULL UNIQUE,
        commitment BLOB NOT NULL,
        PRIMARY KEY (epoch, position)
      ) STRICT;
      CREATE TABLE kt_values (
        vrf_output BLOB PRIMARY KEY REFERENCES kt_updates (vrf_output),
        account_id INTEGER NOT NULL REFERENCES accounts (id),
        version INTEGER NOT NULL,
        device_list BLOB NOT NULL,
        opening BLOB NOT NULL,
        UNIQUE (account_id, version)
      ) STRICT;
    `,
    postgres: `
      CREATE TABLE kt_keys (
        id integer PRIMARY KEY CONSTRAINT kt_keys_single CHECK (id = 1),
        signing_seed bytea NOT NULL,
        vrf_secret bytea NOT NULL
      );
      CREATE TABLE kt_epochs (
        epoch bigint PRIMARY KEY,
        timestamp_ms bigint NOT NULL,
        root bytea NOT NULL,
        signature bytea NOT NULL
      );
      CREATE TABLE kt_updates (
        epoch bigint NOT NULL CONSTRAINT kt_updates_epoch_fk REFERENCES kt_epochs (epoch),
        position integer NOT NULL,
        vrf_output bytea NOT NULL CONSTRAINT kt_updates_vrf_output_unique UNIQUE,
        commitment bytea NOT NULL,
        PRIMARY KEY (epoch, position)
      );
      CREATE TABLE kt_values (
        vrf_output bytea PRIMARY KEY CONSTRAINT kt_values_update_fk REFERENCES kt_updates (vrf_output),
        account_id bigint NOT NULL CONSTRAINT kt_values_account_fk REFERENCES accounts (id),
        version bigint NOT NULL,
        device_list bytea NOT NULL,
        opening bytea NOT NULL,
        CONSTRAINT kt_values_account_version_unique UNIQUE (account_id, version)
      );
    `,
  },
  {
    version: 5,
    description: 'backup blobs: content-addressed, per account',
    // The name is the SHA-256 of the bytes (checked before insert), so a put is idempotent and the
    // primary key deduplicates within an account only: another account's identical blob is a
    // separate row, so one account cannot learn that another holds some content. `size` is kept
    // so the quota sum and a listing never read the bytes.
    sqlite: `
      CREATE TABLE blobs (
        account_id INTEGER NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
        name BLOB NOT NULL,
        size INTEGER NOT NULL,
        bytes BLOB NOT NULL,
        PRIMARY KEY (account_id, name)
      ) STRICT;
    `,
    postgres: `
      CREATE TABLE blobs (
        account_id bigint NOT NULL CONSTRAINT blobs_account_fk REFERENCES accounts (id) ON DELETE CASCADE,
        name bytea NOT NULL,
        size bigint NOT NULL,
        bytes bytea NOT NULL,
        PRIMARY KEY (account_id, name)
      );
    `,
  },
  {
    version: 6,
    description: 'key-transparency witness cosignatures, per head and witness key',
    // Only for heads the directory signed (checked before insert, with the witness's signature over
    // that head's root); a witness's newer cosignature replaces its older ones, so a row per
    // (witness, newest head it cosigned) remains. No foreign key: the head is named by its size.
    sqlite: `
      CREATE TABLE kt_cosignatures (
        tree_size INTEGER NOT NULL,
        witness_key BLOB NOT NULL,
        timestamp_s INTEGER NOT NULL,
        signature BLOB NOT NULL,
        PRIMARY KEY (tree_size, witness_key)
      ) STRICT;
      CREATE INDEX kt_cosignatures_witness ON kt_cosignatures (witness_key, tree_size);
    `,
    postgres: `
      CREATE TABLE kt_cosignatures (
        tree_size bigint NOT NULL,
        witness_key bytea NOT NULL,
        timestamp_s bigint NOT NULL,
        signature bytea NOT NULL,
        PRIMARY KEY (tree_size, witness_key)
      );
      CREATE INDEX kt_cosignatures_witness ON kt_cosignatures (witness_key, tree_size);
    `,
  },
  {
    version: 7,
    description: 'backup blobs: a kind the client chooses, to list one kind',
    // A backup repository holds four kinds of object (key files, packs, index files, snapshots,
    // docs/backup-format.md) whose names are their hashes: only a stored kind lets a client list one
    // kind without fetching every blob. A small number, not a label; rows from before are kind 0.
    sqlite: `ALTER TABLE blobs ADD COLUMN kind INTEGER NOT NULL DEFAULT 0;`,
    postgres: `ALTER TABLE blobs ADD COLUMN kind integer NOT NULL DEFAULT 0;`,
  },
  {
    version: 8,
    description: 'key-transparency update queue: accepted label versions waiting for their epoch',
    // A row is written before POST /v1/kt/updates answers and deleted by the transaction that stores
    // the epoch publishing it (appendKtEpoch), so a crash between the two loses nothing, and any
    // instance may accept while one publishes (docs/key-transparency.md "Server"). The VRF output and
    // the opening are chosen at acceptance, so a publish after a restart commits the same way.
    // (account_id, version) is unique here as in kt_values; a submit checks both under a lock.
    sqlite: `
      CREATE TABLE kt_queue (
        id INTEGER PRIMARY KEY,
        vrf_output BLOB NOT NULL UNIQUE,
        account_id INTEGER NOT NULL REFERENCES accounts (id),
        version INTEGER NOT NULL,
        device_list BLOB NOT NULL,
        opening BLOB NOT NULL,
        UNIQUE (account_id, version)
      ) STRICT;
    `,
    postgres: `
      CREATE TABLE kt_queue (
        id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        vrf_output bytea NOT NULL CONSTRAINT kt_queue_vrf_output_unique UNIQUE,
        account_id bigint NOT NULL CONSTRAINT kt_queue_account_fk REFERENCES accounts (id),
        version bigint NOT NULL,
        device_list bytea NOT NULL,
        opening bytea NOT NULL,
        CONSTRAINT kt_queue_account_version_unique UNIQUE (account_id, version)
      );
    `,
  },
  {
    version: 9,
    description: 'mailbox payloads stored once per send, referenced by each recipient copy',
    // An MLS commit or group message is the same ciphertext for every member (RFC 9420 §6), so a
    // send to N devices keeps one `payloads` row and N mailbox rows naming it. A trigger deletes a
    // payload together with the last mailbox row naming it, whatever deleted that row (ack, expiry
    // sweep, a removed device's cascade), in the deleting statement's transaction.
    // Rows from before: the copies of one send share message id, expiry and bytes, and become one
    // payload each. Columns keep the order PostgreSQL's ADD/DROP COLUMN leaves (payload_id last),
    // so both dialects list them alike. SQLite cannot add a NOT NULL foreign key column, so it
    // rebuilds the table (nothing references mailbox; the trigger is created after).
    sqlite: `
      CREATE TABLE payloads (
        id INTEGER PRIMARY KEY,
        payload BLOB NOT NULL
      ) STRICT;
      INSERT INTO payloads (id, payload)
        SELECT rowid, payload FROM mailbox WHERE rowid IN
          (SELECT min(rowid) FROM mailbox GROUP BY message_id, expires_at_secs, payload);
      CREATE TABLE mailbox_v9 (
        device_pk INTEGER NOT NULL REFERENCES devices (pk) ON DELETE CASCADE,
        seq INTEGER NOT NULL,
        message_id BLOB NOT NULL,
        expires_at_secs INTEGER NOT NULL,
        payload_id INTEGER NOT NULL REFERENCES payloads (id),
        PRIMARY KEY (device_pk, seq)
      ) STRICT;
      INSERT INTO mailbox_v9 (device_pk, seq, message_id, expires_at_secs, payload_id)
        SELECT device_pk, seq, message_id, expires_at_secs,
               min(rowid) OVER (PARTITION BY message_id, expires_at_secs, payload)
        FROM mailbox;
      DROP TABLE mailbox;
      ALTER TABLE mailbox_v9 RENAME TO mailbox;
      CREATE INDEX mailbox_expiry ON mailbox (expires_at_secs);
      CREATE INDEX mailbox_payload ON mailbox (payload_id);
      -- One writer at a time (BEGIN IMMEDIATE): the check and the delete cannot interleave with another's.
      CREATE TRIGGER mailbox_payload_release AFTER DELETE ON mailbox
        WHEN NOT EXISTS (SELECT 1 FROM mailbox WHERE payload_id = OLD.payload_id)
      BEGIN
        DELETE FROM payloads WHERE id = OLD.payload_id;
      END;
    `,
    // Identity BY DEFAULT: an enqueue draws each payload's id with nextval before inserting it, so
    // one statement can insert the payloads and the mailbox rows naming them.
    // The trigger is per statement (one run per ack batch or sweep batch, and one for all the rows a
    // device removal cascades to). It locks the payloads first, in id order: two transactions
    // deleting a payload's last two rows at once would otherwise each still see the other's row
    // and both keep the payload. With the lock, the second one's check runs after the first
    // committed (READ COMMITTED: a fresh snapshot per statement) and sees both rows gone.
    postgres: `
      CREATE TABLE payloads (
        id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
        payload bytea NOT NULL
      );
      -- Ciphertext does not compress: store it out of line without trying.
      ALTER TABLE payloads ALTER COLUMN payload SET STORAGE EXTERNAL;
      ALTER TABLE mailbox ADD COLUMN payload_id bigint;
      UPDATE mailbox AS m SET payload_id = g.id
        FROM (SELECT device_pk, seq, dense_rank() OVER (ORDER BY message_id, expires_at_secs, payload) AS id
              FROM mailbox) AS g
        WHERE m.device_pk = g.device_pk AND m.seq = g.seq;
      INSERT INTO payloads (id, payload)
        SELECT DISTINCT ON (payload_id) payload_id, payload FROM mailbox ORDER BY payload_id;
      SELECT setval(pg_get_serial_sequence('payloads', 'id'), coalesce(max(id), 0) + 1, false) FROM payloads;
      ALTER TABLE mailbox
        ALTER COLUMN payload_id SET NOT NULL,
        ADD CONSTRAINT mailbox_payload_fk FOREIGN KEY (payload_id) REFERENCES payloads (id),
        DROP COLUMN payload;
      CREATE INDEX mailbox_payload ON mailbox (payload_id);
      CREATE FUNCTION mailbox_payload_release() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        PERFORM 1 FROM payloads WHERE id IN (SELECT payload_id FROM released) ORDER BY id FOR UPDATE;
        DELETE FROM payloads AS p WHERE p.id IN (SELECT payload_id FROM released)
          AND NOT EXISTS (SELECT 1 FROM mailbox AS m WHERE m.payload_id = p.id);
        RETURN NULL;
      END $$;
      CREATE TRIGGER mailbox_payload_release AFTER DELETE ON mailbox
        REFERENCING OLD TABLE AS released FOR EACH STATEMENT EXECUTE FUNCTION mailbox_payload_release();
    `,
  },
];
