/**
 * The server's one storage interface. Two implementations: `sqlite.ts` (node:sqlite, WAL, the
 * embedded default) and `postgres.ts` (pg, production; several instances share one database).
 * Every method is atomic. Every column the implementations create is listed, with its reason, in
 * `schema.ts` (the allow-list of what the server knows); a test compares the live schemas to it.
 *
 * Times: `day` is days since the Unix epoch (last-seen and creation are kept at day granularity,
 * DESIGN.md threat model 4); `*Secs` and `*Ms` are Unix times.
 */
import type { Username } from '@sealpost/core';
import type { Disclosure } from './disclosure.ts';

declare const devicePkBrand: unique symbol;
/** The store's internal key of a device (never sent to clients). */
export type DevicePk = number & { readonly [devicePkBrand]: true };

export interface AccountRecord {
  readonly id: number;
  readonly username: Username;
  readonly accountKey: Uint8Array;
  readonly createdDay: number;
}

export interface DeviceRecord {
  readonly pk: DevicePk;
  readonly accountId: number;
  readonly deviceId: Uint8Array;
  readonly publicKey: Uint8Array;
  readonly createdDay: number;
  readonly lastSeenDay: number;
}

export interface NewDevice {
  readonly deviceId: Uint8Array;
  readonly publicKey: Uint8Array;
}

export interface EnqueueInput {
  readonly sender: DevicePk;
  /** Client-chosen, LIMITS.messageIdBytes; unique per sender. */
  readonly messageId: Uint8Array;
  /** SHA-256 of (recipients, payload): a resend must match it exactly. */
  readonly digest: Uint8Array;
  /** Distinct devices; already resolved and authorised. */
  readonly recipients: readonly DevicePk[];
  readonly payload: Uint8Array;
  readonly expiresAtSecs: number;
}

export interface EnqueueResult {
  readonly duplicate: boolean;
  readonly seqs: readonly number[];
}

export interface MailEntry {
  readonly seq: number;
  readonly messageId: Uint8Array;
  readonly payload: Uint8Array;
}

/** What one device has stored of its KeyPackages (it replenishes when `oneTime` runs low). */
export interface KeyPackageStock {
  readonly oneTime: number;
  readonly hasLastResort: boolean;
}

export interface ClaimedKeyPackage {
  readonly deviceId: Uint8Array;
  readonly keyPackage: Uint8Array;
}

/**
 * The Welcome a commit carries for the devices it adds (RFC 9420 §12.4.3.1): stored with the
 * commit, in its transaction, so a joiner gets it exactly when the commit is accepted.
 */
export interface CommitWelcomeInput {
  /** LIMITS.messageIdBytes, not the commit's; recorded for the sender as an enqueue's is. */
  readonly messageId: Uint8Array;
  /** At least one, distinct, none a recipient of the commit; already resolved and authorised. */
  readonly recipients: readonly DevicePk[];
  readonly payload: Uint8Array;
}

/** An MLS commit: an enqueue that is stored only if the group is at `epoch` (DESIGN.md "Conversations"). */
export interface CommitInput extends EnqueueInput {
  /** Opaque, 1..LIMITS.mlsGroupIdMaxBytes. A group the server has not seen is at epoch 0. */
  readonly groupId: Uint8Array;
  readonly epoch: number;
  /** Stored only if the commit is (with the commit's digest and expiry); never on a conflict. */
  readonly welcome?: CommitWelcomeInput;
}

export interface CommitResult extends EnqueueResult {
  /** The group's epoch after this commit (`epoch + 1`, also for a duplicate). */
  readonly epoch: number;
  /** `welcomeSeqs[i]` is the sequence number the Welcome got in `welcome.recipients[i]`'s mailbox (empty for a duplicate or no Welcome). */
  readonly welcomeSeqs: readonly number[];
}

/** The key directory's own keys, generated on first start (docs/key-transparency.md "Server"). */
export interface KtKeys {
  /** Ed25519 seed of the tree-head signing key (Configuration.signature_public_key). */
  readonly signingSeed: Uint8Array;
  /** RFC 9381 ECVRF-EDWARDS25519-SHA512-TAI secret key (Configuration.vrf_public_key). */
  readonly vrfSecret: Uint8Array;
}

/** One label version of a published epoch: what the witness feed shows, and what opens it. */
export interface KtLogUpdate {
  /** The account whose username is the label. */
  readonly accountId: number;
  /** The label's version (draft-ietf-keytrans-protocol-04 §10.6), from 0. */
  readonly version: number;
  /** VRF output of (label, version), 32 bytes (§10.7). */
  readonly vrfOutput: Uint8Array;
  /** HMAC commitment to the value (§10.6), 32 bytes. */
  readonly commitment: Uint8Array;
  /** The value: the signed device list (docs/identity.md). */
  readonly deviceList: Uint8Array;
  /** The commitment's opening, 16 bytes. */
  readonly opening: Uint8Array;
}

/** One published log entry (an epoch) with its signed head. */
export interface KtEpoch {
  /** Log entry index, 0, 1, 2, ... without gaps. */
  readonly epoch: number;
  readonly timestampMs: number;
  /** The log tree's root after this entry, and the directory's signature over TreeHeadTBS (§10.2). */
  readonly root: Uint8Array;
  readonly signature: Uint8Array;
  /** In the order the entry added them. */
  readonly updates: readonly KtLogUpdate[];
}

/** A logged update as read back, with the label it belongs to. */
export interface KtLoggedUpdate extends KtLogUpdate {
  readonly username: Username;
}

/**
 * An accepted label version waiting for its epoch (kt_queue): everything the epoch needs but the
 * commitment, which the publisher computes from the opening.
 */
export interface KtQueuedUpdate {
  readonly accountId: number;
  readonly version: number;
  readonly vrfOutput: Uint8Array;
  readonly deviceList: Uint8Array;
  readonly opening: Uint8Array;
}

/** What `queueKtUpdate` did: `taken` when the version is not one past the greatest, `full` at the bound. */
export type KtQueueResult = 'queued' | 'taken' | 'full';

/**
 * The key directory's publisher lock (docs/key-transparency.md "Server"): one holder per database.
 * PostgreSQL: a session-level advisory lock on a connection of its own, released by the database
 * when that connection ends (the holder died or lost it). SQLite: one process, always held.
 */
export interface KtPublisherLock {
  /** Resolves once the lock is no longer held (its connection failed, or `release`). */
  readonly lost: Promise<void>;
  release(): Promise<void>;
}

/** A witness's cosignature over the directory's head of `treeSize` (docs/witness.md). */
export interface KtCosignature {
  readonly treeSize: number;
  /** The witness's Ed25519 public key, 32 bytes. */
  readonly witnessKey: Uint8Array;
  /** When the witness cosigned, seconds since the Unix epoch (its clock). */
  readonly timestamp: number;
  /** Ed25519 over the witness's CosignatureTBS, 64 bytes. */
  readonly signature: Uint8Array;
}

/** One stored backup blob as listed (DESIGN.md "Backups"). */
export interface BlobInfo {
  /** SHA-256 of the bytes, 32 bytes. */
  readonly name: Uint8Array;
  readonly size: number;
  /** The kind given when it was stored (0..255, the client's meaning). */
  readonly kind: number;
}

/** Bytes `offset .. offset + length` of a blob; a range past the end is cut at the end. */
export interface BlobRange {
  readonly offset: number;
  readonly length: number;
}

export interface Store {
  readonly kind: 'sqlite' | 'postgres';
  /**
   * True when writes commit in the order they were called, so a caller may issue the next write
   * before the previous one resolved and still get sequence numbers in call order (SQLite: one
   * connection, FIFO group commit; PostgreSQL: FIFO batches of enqueues, one at a time per instance).
   */
  readonly writesInOrder: boolean;

  /** Applies pending numbered migrations exactly once, even when several instances start together. Returns how many this call applied. */
  migrate(): Promise<number>;
  /** Throws UnavailableError(STORE_UNAVAILABLE) when the store cannot answer. */
  ping(): Promise<void>;
  close(): Promise<void>;

  // --- single-use authentication challenges
  putChallenge(challenge: Uint8Array, expiresAtMs: number): Promise<void>;
  /** Deletes the challenge; true only if it existed and `nowMs < expiresAtMs`. A second call is false. */
  consumeChallenge(challenge: Uint8Array, nowMs: number): Promise<boolean>;

  // --- accounts and devices
  /**
   * Creates the account and its first device atomically.
   * Throws ConflictError USERNAME_TAKEN when the username or its skeleton exists.
   */
  createAccount(input: {
    readonly username: Username;
    readonly skeleton: string;
    readonly accountKey: Uint8Array;
    readonly device: NewDevice;
    readonly day: number;
  }): Promise<{ account: AccountRecord; device: DeviceRecord }>;
  getAccount(username: Username): Promise<AccountRecord | undefined>;
  listDevices(accountId: number): Promise<DeviceRecord[]>;
  getDevice(username: Username, deviceId: Uint8Array): Promise<DeviceRecord | undefined>;
  /** Resolves addresses in order; `undefined` for each unknown one. */
  resolveDevices(
    addresses: readonly { readonly username: Username; readonly deviceId: Uint8Array }[],
  ): Promise<(DevicePk | undefined)[]>;
  /** Throws ConflictError DEVICE_EXISTS, LimitError TOO_MANY_DEVICES (LIMITS.devicesPerAccount). */
  addDevice(accountId: number, device: NewDevice, day: number): Promise<DeviceRecord>;
  /**
   * Removes the device and its whole mailbox. Throws NotFoundError DEVICE_NOT_FOUND,
   * ConflictError LAST_DEVICE (an account keeps at least one device).
   */
  removeDevice(accountId: number, deviceId: Uint8Array): Promise<DevicePk>;
  /**
   * Account recovery (docs/identity.md "Recovery"), in one transaction: the account key becomes
   * `accountKey`, every device but `device` is removed with its mailbox (old devices are unlinked),
   * and `device` is registered unless it already is. A repeated call with the same arguments changes
   * nothing and removes nothing (a retried recovery). Resolves to the device and the removed ones.
   * Throws NotFoundError ACCOUNT_NOT_FOUND.
   */
  recoverAccount(
    accountId: number,
    accountKey: Uint8Array,
    device: NewDevice,
    day: number,
  ): Promise<{ device: DeviceRecord; removed: DevicePk[] }>;
  /** Records that the device was seen today (day granularity only). */
  touchDevice(device: DevicePk, day: number): Promise<void>;

  // --- mailboxes (DESIGN.md "Delivery")
  /**
   * Stores the payload once and one mailbox entry per recipient naming it, each with the next
   * sequence number of that recipient's mailbox, all or nothing. If (sender, messageId) was stored before: same digest -> `{duplicate: true}` and
   * nothing new is stored; another digest -> ConflictError MESSAGE_ID_REUSED.
   * Throws LimitError MAILBOX_FULL (nothing stored) when a recipient holds LIMITS.mailboxMaxMessages.
   * `seqs[i]` is the sequence number given to `recipients[i]` (empty for a duplicate).
   */
  enqueue(input: EnqueueInput): Promise<EnqueueResult>;
  /** Unexpired entries with `seq > afterSeq`, increasing seq, at most `limit`. */
  fetchMail(device: DevicePk, afterSeq: number, limit: number, nowSecs: number): Promise<MailEntry[]>;
  /**
   * Deletes the listed entries of this device's mailbox (others' are untouched), and with the last
   * entry naming a payload, the payload. Returns how many entries. Every deletion of entries (this,
   * `sweepExpired`, `removeDevice`, `recoverAccount`) deletes the payloads no entry names any more,
   * in its transaction.
   */
  ack(device: DevicePk, seqs: readonly number[]): Promise<number>;
  /** Deletes expired mailbox entries (and the payloads no entry names any more) and idempotency records. Returns how many entries. */
  sweepExpired(nowSecs: number): Promise<number>;

  // --- MLS delivery service: KeyPackages and per-group commit order (DESIGN.md "Conversations")
  /**
   * Adds one-time KeyPackages of `device` and, when `lastResort` is given, replaces its last-resort
   * one; all or nothing. Throws LimitError TOO_MANY_KEY_PACKAGES (nothing stored) when the device
   * would hold more than LIMITS.keyPackagesPerDevice one-time ones, NotFoundError DEVICE_NOT_FOUND
   * when the device is gone. Precondition: every package is 1..LIMITS.keyPackageMaxBytes bytes.
   */
  addKeyPackages(
    device: DevicePk,
    oneTime: readonly Uint8Array[],
    lastResort: Uint8Array | undefined,
  ): Promise<KeyPackageStock>;
  countKeyPackages(device: DevicePk): Promise<KeyPackageStock>;
  /**
   * One KeyPackage for each device of the account that has one, in device order: its oldest
   * one-time package, deleted in the same step (never handed out twice, even to concurrent
   * callers), else its last-resort one, which is kept. Empty for an unknown username.
   * With `deviceIds` (distinct, at most LIMITS.devicesPerAccount), only for those of the account's
   * devices; an id the account does not have is skipped.
   */
  claimKeyPackages(username: Username, deviceIds?: readonly Uint8Array[]): Promise<ClaimedKeyPackage[]>;
  /**
   * `enqueue`, and atomically with it: the group must be at `input.epoch`, and moves to epoch + 1.
   * Of several commits for one epoch the first wins; the others throw ConflictError
   * MLS_EPOCH_CONFLICT with `details.currentEpoch` and store nothing. A resend of an accepted commit
   * (same sender, message id and digest) is `{duplicate: true, epoch: input.epoch + 1}` whatever
   * the group's epoch is now. `recipients` may be empty (a group of one).
   * `input.welcome`, if given, is enqueued for its recipients in the same transaction, after the
   * epoch moved: a conflict stores no Welcome, an accepted commit always stores it. A Welcome
   * recipient's full mailbox (MAILBOX_FULL), a removed one (DEVICE_NOT_FOUND) or a Welcome message
   * id used before (MESSAGE_ID_REUSED) refuses the whole commit, which then stores nothing.
   */
  commit(input: CommitInput): Promise<CommitResult>;

  // --- key-transparency directory (docs/key-transparency.md "Server")
  /**
   * The directory's keys: stores `generated` if none are stored yet, and returns the stored ones
   * (so instances starting together agree on one pair).
   */
  ktKeys(generated: KtKeys): Promise<KtKeys>;
  /**
   * Appends one epoch, its head and its updates, and deletes the queued rows (kt_queue) of those
   * updates, all or nothing. Precondition: `epoch.epoch` is the number of epochs stored (one
   * publisher); a taken epoch number fails and stores nothing.
   */
  appendKtEpoch(epoch: KtEpoch): Promise<void>;
  /**
   * Every stored epoch after `after` (default -1: all) in order, with its updates in order (what a
   * restart rebuilds the trees from, and what a follower replays).
   */
  loadKtLog(
    after?: number,
  ): Promise<Array<Omit<KtEpoch, 'updates'> & { readonly updates: readonly KtLoggedUpdate[] }>>;
  /** The account's greatest label version, queued or published, with its device list; undefined if none. */
  ktLatest(accountId: number): Promise<{ version: number; deviceList: Uint8Array } | undefined>;
  /**
   * Queues `update` if its version is one past the account's greatest queued or published version
   * (0 for the first) and fewer than `maxQueued` updates are queued; otherwise stores nothing and
   * answers `taken` or `full`. Checked and written under a lock on the account, so concurrent submits
   * through several instances get distinct, gapless versions.
   */
  queueKtUpdate(update: KtQueuedUpdate, maxQueued: number): Promise<KtQueueResult>;
  /** The oldest `limit` queued updates, in acceptance order, with their usernames. */
  ktQueue(limit: number): Promise<Array<KtQueuedUpdate & { readonly username: Username }>>;
  /** Takes the publisher lock if no one holds it; undefined when another holder has it. */
  ktPublisherLock(): Promise<KtPublisherLock | undefined>;
  /**
   * Keeps a witness's cosignature of a head (the caller checked that the directory signed that head
   * and that the signature verifies over it). A cosignature of the same head replaces the stored one
   * only when newer; the witness's cosignatures of smaller heads are deleted (the newer one states
   * everything they did). Throws LimitError KT_COSIGNATURES_FULL, storing nothing, when the head
   * already holds cosignatures from `maxPerHead` other witness keys.
   */
  putKtCosignature(cosignature: KtCosignature, maxPerHead: number): Promise<void>;
  /** The cosignatures kept for the head of `treeSize`, by witness key. */
  ktCosignatures(treeSize: number): Promise<KtCosignature[]>;
  /**
   * The cosignatures kept for the `heads` greatest tree sizes below `below` that have any, greatest
   * size first, then by witness key (the earlier cosigned heads served with the newest one).
   */
  ktCosignaturesBelow(below: number, heads: number): Promise<KtCosignature[]>;

  // --- backup blobs, per account (DESIGN.md "Backups"); the account is already authenticated
  /**
   * Stores `bytes` as `name` for the account. Checked first, nothing stored on failure: `name` is
   * SHA-256(bytes) (else CryptoVerificationError CRYPTO_VERIFICATION_FAILED) and
   * 1 <= bytes.length <= the store's blobMaxBytes (else LimitError BODY_TOO_LARGE).
   * Idempotent: a blob the account already holds is left alone and `stored` is false.
   * Throws LimitError QUOTA_EXCEEDED (status 507, `details.store` = 'blobs', nothing stored) when the
   * account's blobs would exceed the store's blobQuotaBytes. `kind` (0..255, default 0) is the
   * client's label for listing; a repeated put keeps the first kind.
   */
  putBlob(
    accountId: number,
    name: Uint8Array,
    bytes: Uint8Array,
    kind?: number,
  ): Promise<{ readonly stored: boolean }>;
  /**
   * The blob's size and its bytes, or `range` of them (cut at the end). `undefined` when this
   * account holds no such blob, whoever else does.
   */
  getBlob(
    accountId: number,
    name: Uint8Array,
    range?: BlobRange,
  ): Promise<{ readonly size: number; readonly bytes: Uint8Array } | undefined>;
  /** The account's blobs (only those of `kind` when given), by name. */
  listBlobs(accountId: number, kind?: number): Promise<BlobInfo[]>;
  /** Deletes the account's blob; false when it held none of that name. */
  deleteBlob(accountId: number, name: Uint8Array): Promise<boolean>;

  /**
   * Every row tied to the account, table by table (`disclosure.ts`), from one consistent
   * snapshot: what `sealpost disclose` prints. `undefined` when there is no such account.
   */
  disclose(username: Username): Promise<Disclosure | undefined>;
}
