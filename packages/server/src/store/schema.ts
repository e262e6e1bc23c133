/**
 * What the server knows: the allow-list of every table and column the stores create, each with the
 * reason delivery needs it (DESIGN.md "What the server knows"; threat model 4: no more metadata than
 * delivery needs).
 *
 * `schema.test.ts` checks that the live columns of both databases equal this list exactly, so a
 * migration cannot add a column without a reason here. `sealpost disclose` and
 * `docs/what-the-server-knows.md` are generated from it.
 *
 * Deliberately absent: IP addresses, user agents, any time finer than a day except expiry times
 * (which delete the row), message sizes beyond the ciphertext itself, and any record linking a sender
 * to a recipient once the message is acknowledged or expired. While a message is undelivered, its
 * message id appears in the sender's `sent` row and in each recipient's `mailbox` row; both are
 * deleted at the message's expiry.
 *
 * SQLite also keeps its own `sqlite_sequence` (table name, largest id handed out): AUTOINCREMENT
 * uses it so a removed device's key is never given to a new device.
 */

/** Logical column types; `COLUMN_TYPES` gives each dialect's spelling as its catalogue reports it. */
export type ColumnType = 'integer' | 'bigint' | 'text' | 'bytes';

export const COLUMN_TYPES: Readonly<
  Record<ColumnType, { readonly sqlite: string; readonly postgres: string }>
> = {
  integer: { sqlite: 'INTEGER', postgres: 'integer' },
  // SQLite integers are 64-bit whatever their declared name.
  bigint: { sqlite: 'INTEGER', postgres: 'bigint' },
  text: { sqlite: 'TEXT', postgres: 'text' },
  bytes: { sqlite: 'BLOB', postgres: 'bytea' },
};

export interface ColumnSpec {
  readonly name: string;
  readonly type: ColumnType;
  /** Why delivery needs this column (one line). */
  readonly reason: string;
}

export interface TableSpec {
  readonly name: string;
  /** What one row is, and why the table exists. */
  readonly reason: string;
  /**
   * How a row is tied to an account, for `sealpost disclose`: 'account' (the account row itself),
   * 'device' (a row of one of its devices), 'mailbox' (named by a mailbox row of one of its
   * devices), or 'none' (held about nobody in particular).
   */
  readonly linkedBy: 'account' | 'device-owner' | 'device' | 'mailbox' | 'sender-device' | 'none';
  /** In declaration order. */
  readonly columns: readonly ColumnSpec[];
}

/** Every table and column either store holds. Order: tables by name, columns as declared. */
export const SCHEMA: readonly TableSpec[] = [
  {
    name: 'accounts',
    linkedBy: 'account',
    reason: 'one row per account: the directory maps a username to the key that signs its device list',
    columns: [
      { name: 'id', type: 'bigint', reason: 'internal key devices refer to; never sent to clients' },
      { name: 'username', type: 'text', reason: 'the address senders resolve (canonical lowercase form)' },
      {
        name: 'skeleton',
        type: 'text',
        reason: 'look-alike class of the username; unique, so `alice` and `a1ice` cannot both exist',
      },
      {
        name: 'account_key',
        type: 'bytes',
        reason: "public key that signs the account's device list; clients check every list against it",
      },
      {
        name: 'created_day',
        type: 'integer',
        reason: 'day (not time) the account was made: shown to its owner and in disclosure',
      },
    ],
  },
  {
    name: 'blobs',
    linkedBy: 'device-owner',
    reason:
      "one row per backup blob an account's devices stored (encrypted by the client: packs, trees, snapshots); deleted by the account",
    columns: [
      {
        name: 'account_id',
        type: 'bigint',
        reason: 'the account whose devices may read, list and delete the blob',
      },
      {
        name: 'name',
        type: 'bytes',
        reason:
          'SHA-256 of the bytes: the address the client asks for; checked on put, so a put is idempotent',
      },
      {
        name: 'size',
        type: 'bigint',
        reason: "length of the bytes: the account's quota and listings without reading them",
      },
      { name: 'bytes', type: 'bytes', reason: 'the ciphertext the client stored, opaque to the server' },
      {
        name: 'kind',
        type: 'integer',
        reason:
          'a number 0..255 the client chose (backup: key file, pack, index or snapshot), so it can list one kind',
      },
    ],
  },
  {
    name: 'challenges',
    linkedBy: 'none',
    reason: 'one row per pending sign-in challenge; not linked to any device (issued before authentication)',
    columns: [
      { name: 'challenge', type: 'bytes', reason: 'random bytes a device signs to authenticate; single use' },
      {
        name: 'expires_at_ms',
        type: 'bigint',
        reason: 'a challenge older than LIMITS.challengeTtlMs is refused and swept',
      },
    ],
  },
  {
    name: 'devices',
    linkedBy: 'device-owner',
    reason: "one row per device of an account: the mailboxes' owners and the keys they authenticate with",
    columns: [
      {
        name: 'pk',
        type: 'bigint',
        reason: 'internal key of the mailbox (DevicePk); never reused, never sent to clients',
      },
      { name: 'account_id', type: 'bigint', reason: 'the account the device belongs to' },
      {
        name: 'device_id',
        type: 'bytes',
        reason: 'the id senders address within the account: (username, device id)',
      },
      {
        name: 'public_key',
        type: 'bytes',
        reason: 'Ed25519 key the device signs challenges with (authentication)',
      },
      {
        name: 'created_day',
        type: 'integer',
        reason: 'day (not time) the device was added: lets the owner spot a device they did not add',
      },
      {
        name: 'last_seen_day',
        type: 'integer',
        reason: 'day (not time) of last connection: lets the owner find and remove stale devices',
      },
      {
        name: 'next_seq',
        type: 'bigint',
        reason: 'next mailbox sequence number; kept here so numbers are never reused after acks',
      },
    ],
  },
  {
    name: 'key_packages',
    linkedBy: 'device',
    reason:
      'one row per MLS KeyPackage a device published so others can add it to groups: one-time ones are deleted when handed out, the last-resort one is kept',
    columns: [
      {
        name: 'id',
        type: 'bigint',
        reason: 'upload order: the oldest one-time KeyPackage is handed out first; never sent to clients',
      },
      { name: 'device_pk', type: 'bigint', reason: 'the device the KeyPackage adds to a group' },
      {
        name: 'key_package',
        type: 'bytes',
        reason:
          'the KeyPackage as the device made it (public keys, credential, signature); what a fetcher receives',
      },
      {
        name: 'last_resort',
        type: 'integer',
        reason: '1 for the one package handed out when no one-time package is left (and then kept), else 0',
      },
    ],
  },
  {
    name: 'kt_cosignatures',
    linkedBy: 'none',
    reason:
      'one row per witness: its newest cosignature of a directory head, served with that head so clients can check a quorum',
    columns: [
      { name: 'tree_size', type: 'bigint', reason: 'the signed head (log size) the witness cosigned' },
      { name: 'witness_key', type: 'bytes', reason: "the witness's public key, which clients trust or not" },
      {
        name: 'timestamp_s',
        type: 'bigint',
        reason:
          'when the witness cosigned (its clock, seconds): clients refuse cosignatures older than their lag',
      },
      {
        name: 'signature',
        type: 'bytes',
        reason: "the witness's Ed25519 signature over the head (docs/witness.md)",
      },
    ],
  },
  {
    name: 'kt_epochs',
    linkedBy: 'none',
    reason:
      'one row per published key-transparency epoch (log entry): its signed tree head, which clients, witnesses and a restart check',
    columns: [
      { name: 'epoch', type: 'bigint', reason: 'the log entry index, 0, 1, 2, ...' },
      { name: 'timestamp_ms', type: 'bigint', reason: 'the entry timestamp the log tree commits to (§10.8)' },
      { name: 'root', type: 'bytes', reason: 'the log tree root after the entry, which witnesses check' },
      { name: 'signature', type: 'bytes', reason: "the directory's signature over the tree head (§10.2)" },
    ],
  },
  {
    name: 'kt_keys',
    linkedBy: 'none',
    reason: "one row: the key directory's own signing and VRF keys, generated on first start",
    columns: [
      { name: 'id', type: 'integer', reason: 'always 1: there is one pair of keys' },
      { name: 'signing_seed', type: 'bytes', reason: 'Ed25519 seed that signs tree heads' },
      { name: 'vrf_secret', type: 'bytes', reason: 'ECVRF secret key that hides usernames in the tree' },
    ],
  },
  {
    name: 'kt_queue',
    linkedBy: 'device-owner',
    reason:
      "one row per accepted version of an account's signed device list not yet published; deleted by the epoch that publishes it",
    columns: [
      {
        name: 'id',
        type: 'bigint',
        reason: 'acceptance order: an epoch adds queued versions in it; never sent to clients',
      },
      {
        name: 'vrf_output',
        type: 'bytes',
        reason:
          'the search key the version will have: VRF output of (username, version), computed at acceptance',
      },
      { name: 'account_id', type: 'bigint', reason: 'the account whose username is the label' },
      { name: 'version', type: 'bigint', reason: 'the label version the list becomes, from 0' },
      {
        name: 'device_list',
        type: 'bytes',
        reason: 'the signed device list (public keys of the devices), published in the next epoch',
      },
      {
        name: 'opening',
        type: 'bytes',
        reason:
          'the commitment opening chosen at acceptance, so a publish after a restart commits the same way',
      },
    ],
  },
  {
    name: 'kt_updates',
    linkedBy: 'none',
    reason:
      'one row per label version added to the directory: what witnesses receive; no username, no device list',
    columns: [
      { name: 'epoch', type: 'bigint', reason: 'the log entry that added the version' },
      { name: 'position', type: 'integer', reason: 'order within the entry (the tree is rebuilt in it)' },
      { name: 'vrf_output', type: 'bytes', reason: 'the search key: VRF output of (username, version)' },
      {
        name: 'commitment',
        type: 'bytes',
        reason: 'HMAC commitment to the device list, the tree leaf value',
      },
    ],
  },
  {
    name: 'kt_values',
    linkedBy: 'device-owner',
    reason:
      "one row per version of an account's signed device list: what the directory serves, and what opens its commitment",
    columns: [
      { name: 'vrf_output', type: 'bytes', reason: 'the kt_updates row this opens' },
      { name: 'account_id', type: 'bigint', reason: 'the account whose username is the label' },
      { name: 'version', type: 'bigint', reason: 'the label version, from 0' },
      {
        name: 'device_list',
        type: 'bytes',
        reason: 'the signed device list (public keys of the devices), served to anyone who looks the user up',
      },
      { name: 'opening', type: 'bytes', reason: 'the commitment opening, served with the device list' },
    ],
  },
  {
    name: 'mailbox',
    linkedBy: 'device',
    reason: 'one row per undelivered message copy; deleted on acknowledgement or expiry',
    columns: [
      { name: 'device_pk', type: 'bigint', reason: 'the recipient device whose mailbox holds the copy' },
      { name: 'seq', type: 'bigint', reason: 'order within the mailbox; the device acknowledges by it' },
      {
        name: 'message_id',
        type: 'bytes',
        reason: 'sender-chosen id; lets the recipient drop a redelivered copy',
      },
      { name: 'expires_at_secs', type: 'bigint', reason: 'time to live: the copy is deleted at this time' },
      {
        name: 'payload_id',
        type: 'bigint',
        reason: 'the ciphertext to deliver (`payloads`), stored once for every recipient of the send',
      },
    ],
  },
  {
    name: 'mls_groups',
    linkedBy: 'none',
    reason:
      'one row per MLS group that had a commit: the delivery service accepts a commit only for the current epoch; no members, no devices',
    columns: [
      { name: 'group_id', type: 'bytes', reason: "the opaque id the group's members chose (random bytes)" },
      {
        name: 'epoch',
        type: 'bigint',
        reason: 'the epoch the next commit must be for; the first commit for it wins and moves it on',
      },
    ],
  },
  {
    name: 'payloads',
    linkedBy: 'mailbox',
    reason:
      'one row per undelivered send: its ciphertext, named by the mailbox row of each recipient (the same bytes for every member of an MLS group); deleted with the last of those rows, so it holds nothing the mailbox rows do not already link',
    columns: [
      { name: 'id', type: 'bigint', reason: 'what the mailbox rows name; never sent to clients' },
      { name: 'payload', type: 'bytes', reason: 'the ciphertext to deliver, opaque to the server' },
    ],
  },
  {
    name: 'schema_migrations',
    linkedBy: 'none',
    reason: 'one row per applied numbered migration, so each is applied exactly once',
    columns: [{ name: 'version', type: 'integer', reason: 'number of an applied migration' }],
  },
  {
    name: 'sent',
    linkedBy: 'sender-device',
    reason:
      'idempotency: one row per accepted send, so a resend is recognised; expires with the message and holds no recipient',
    columns: [
      { name: 'sender_device_pk', type: 'bigint', reason: 'message ids are unique per sending device' },
      { name: 'message_id', type: 'bytes', reason: 'the id a resend repeats' },
      {
        name: 'digest',
        type: 'bytes',
        reason:
          'SHA-256 of the send as framed (ttl, recipients, payload): a resend must match it, another send may not reuse the id',
      },
      {
        name: 'expires_at_secs',
        type: 'bigint',
        reason: "the message's expiry: the record is deleted with the message",
      },
    ],
  },
];
