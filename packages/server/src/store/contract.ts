/**
 * What the two implementations share of the `Store` contract: the typed errors its doc comments
 * promise (built here so both stores say the same thing) and the preconditions they check.
 * Messages name the input that was wrong, never a key or a payload.
 */
import { Buffer } from 'node:buffer';
import { createHash } from 'node:crypto';
import {
  ConflictError,
  CryptoVerificationError,
  LIMITS,
  LimitError,
  NotFoundError,
  ValidationError,
} from '@sealpost/core';
import type { StoreLimits } from './options.ts';
import type { CommitInput, CommitWelcomeInput, DevicePk, EnqueueInput } from './store.ts';

/**
 * Precondition of `Store.enqueue` (and `commit`, where `allowEmpty`: a group of one commits to
 * nobody), checked because a repeated recipient would get two copies.
 */
export function checkRecipients(recipients: readonly DevicePk[], allowEmpty = false): void {
  if (recipients.length === 0 && !allowEmpty) {
    throw new ValidationError('VALIDATION_FAILED', 'a message needs a recipient');
  }
  if (new Set(recipients).size !== recipients.length) {
    throw new ValidationError('VALIDATION_FAILED', 'recipients must be distinct devices');
  }
}

export const usernameTaken = (username: string) =>
  new ConflictError('USERNAME_TAKEN', `username ${username} or a look-alike of it is taken`, { username });
export const accountNotFound = (accountId: number) =>
  new NotFoundError('ACCOUNT_NOT_FOUND', `no account with id ${accountId}`, { accountId });
export const deviceExists = () =>
  new ConflictError('DEVICE_EXISTS', 'the account already has a device with this id');
export const tooManyDevices = (limit: number) =>
  new LimitError('TOO_MANY_DEVICES', `an account may have at most ${limit} devices`, { limit });
export const unknownDeviceId = () =>
  new NotFoundError('DEVICE_NOT_FOUND', 'the account has no device with this id');
export const lastDevice = () => new ConflictError('LAST_DEVICE', 'an account keeps at least one device');
export const messageIdReused = () =>
  new ConflictError('MESSAGE_ID_REUSED', 'this message id was already used for another message');
export const mailboxFull = (limit: number) =>
  new LimitError('MAILBOX_FULL', `a recipient's mailbox holds ${limit} messages`, { limit });
export const deviceNotFound = (role: 'sender' | 'recipient') =>
  new NotFoundError('DEVICE_NOT_FOUND', `the ${role} device does not exist (removed?)`, { role });
export const tooManyKeyPackages = (limit: number) =>
  new LimitError('TOO_MANY_KEY_PACKAGES', `a device may keep at most ${limit} one-time KeyPackages`, {
    limit,
  });
export const cosignaturesFull = (limit: number) =>
  new LimitError('KT_COSIGNATURES_FULL', `a head keeps cosignatures from at most ${limit} witness keys`, {
    limit,
  });
export const epochConflict = (currentEpoch: number) =>
  new ConflictError('MLS_EPOCH_CONFLICT', `the group is at epoch ${currentEpoch}`, { currentEpoch });

/** Preconditions of `Store.addKeyPackages`. */
export function checkKeyPackages(oneTime: readonly Uint8Array[], lastResort: Uint8Array | undefined): void {
  for (const kp of lastResort === undefined ? oneTime : [...oneTime, lastResort]) {
    if (kp.length === 0 || kp.length > LIMITS.keyPackageMaxBytes) {
      throw new ValidationError(
        'VALIDATION_FAILED',
        `a KeyPackage must be 1..${LIMITS.keyPackageMaxBytes} bytes`,
        { length: kp.length },
      );
    }
  }
}

/** Preconditions of `Store.claimKeyPackages`'s device ids: 1..LIMITS.devicesPerAccount, distinct. */
export function checkClaimedDevices(deviceIds: readonly Uint8Array[]): void {
  if (deviceIds.length === 0 || deviceIds.length > LIMITS.devicesPerAccount) {
    throw new ValidationError('VALIDATION_FAILED', `a claim names 1..${LIMITS.devicesPerAccount} devices`);
  }
  if (new Set(deviceIds.map((id) => Buffer.from(id).toString('hex'))).size !== deviceIds.length) {
    throw new ValidationError('VALIDATION_FAILED', 'a claim names each device once');
  }
}

/** The rows of `devices` whose id `deviceIds` names (all of them when it is undefined), in their order. */
export function namedDevices<T>(
  devices: readonly T[],
  idOf: (d: T) => Uint8Array,
  deviceIds: readonly Uint8Array[] | undefined,
): readonly T[] {
  if (deviceIds === undefined) return devices;
  const hex = (id: Uint8Array) => Buffer.from(id.buffer, id.byteOffset, id.byteLength).toString('hex');
  const named = new Set(deviceIds.map(hex));
  return devices.filter((d) => named.has(hex(idOf(d))));
}

/** A commit's Welcome as the enqueue that stores it: the commit's sender, digest and expiry. */
export function welcomeEnqueue(commit: CommitInput, welcome: CommitWelcomeInput): EnqueueInput {
  return {
    sender: commit.sender,
    messageId: welcome.messageId,
    digest: commit.digest,
    recipients: welcome.recipients,
    payload: welcome.payload,
    expiresAtSecs: commit.expiresAtSecs,
  };
}

/** Preconditions of `Store.commit` beyond `enqueue`'s. */
export function checkCommit({ groupId, epoch, recipients, welcome, messageId }: CommitInput): void {
  checkRecipients(recipients, true);
  if (welcome !== undefined) checkWelcome(welcome, recipients, messageId);
  if (groupId.length === 0 || groupId.length > LIMITS.mlsGroupIdMaxBytes) {
    throw new ValidationError(
      'VALIDATION_FAILED',
      `a group id must be 1..${LIMITS.mlsGroupIdMaxBytes} bytes`,
    );
  }
  if (!Number.isSafeInteger(epoch) || epoch < 0) {
    throw new ValidationError('VALIDATION_FAILED', 'an epoch is a non-negative safe integer');
  }
}

/**
 * Preconditions of a commit's Welcome: joiners are not members (no device gets both), its copies
 * and the commit's together stay within LIMITS.recipientsPerSend, and its message id is its own.
 */
function checkWelcome(
  welcome: CommitWelcomeInput,
  recipients: readonly DevicePk[],
  messageId: Uint8Array,
): void {
  checkRecipients(welcome.recipients);
  if (recipients.length + welcome.recipients.length > LIMITS.recipientsPerSend) {
    throw new ValidationError(
      'VALIDATION_FAILED',
      `a commit and its Welcome go to at most ${LIMITS.recipientsPerSend} devices`,
    );
  }
  const members = new Set(recipients);
  if (welcome.recipients.some((pk) => members.has(pk))) {
    throw new ValidationError('VALIDATION_FAILED', 'a Welcome recipient is also a recipient of the commit');
  }
  if (Buffer.compare(messageId, welcome.messageId) === 0) {
    throw new ValidationError('VALIDATION_FAILED', "a Welcome's message id is not its commit's");
  }
}

/** SHA-256 output length: a blob name. */
export const BLOB_NAME_BYTES = 32;

export const blobQuotaExceeded = (limit: number) =>
  new LimitError('QUOTA_EXCEEDED', `an account's backup blobs may total at most ${limit} bytes`, {
    limit,
    store: 'blobs',
  });

/** Precondition of `Store.getBlob`/`deleteBlob`: a name is 32 bytes. */
export function checkBlobName(name: Uint8Array): void {
  if (name.length !== BLOB_NAME_BYTES) {
    throw new ValidationError('VALIDATION_FAILED', `a blob name is ${BLOB_NAME_BYTES} bytes (SHA-256)`, {
      length: name.length,
    });
  }
}

/** Preconditions of `Store.putBlob`: size within the limit, and the name is SHA-256 of the bytes. */
export function checkBlob(limits: StoreLimits, name: Uint8Array, bytes: Uint8Array): void {
  checkBlobName(name);
  if (bytes.length === 0 || bytes.length > limits.blobMaxBytes) {
    throw new LimitError('BODY_TOO_LARGE', `a blob must be 1..${limits.blobMaxBytes} bytes`, {
      length: bytes.length,
    });
  }
  const digest = createHash('sha256').update(bytes).digest();
  if (!digest.equals(name)) {
    throw new CryptoVerificationError(
      'CRYPTO_VERIFICATION_FAILED',
      'the blob name is not the SHA-256 of its bytes',
    );
  }
}

/** A blob's kind is a number the client chooses, 0..BLOB_KIND_MAX (one byte). */
export const BLOB_KIND_MAX = 255;

/** Precondition of `Store.putBlob` and a filtered `listBlobs`: a kind is an integer 0..255. */
export function checkBlobKind(kind: number): void {
  if (!Number.isSafeInteger(kind) || kind < 0 || kind > BLOB_KIND_MAX) {
    throw new ValidationError('VALIDATION_FAILED', `a blob kind is an integer 0..${BLOB_KIND_MAX}`);
  }
}

/** Precondition of a ranged `Store.getBlob`. */
export function checkBlobRange(range: { offset: number; length: number }): void {
  if (
    !Number.isSafeInteger(range.offset) ||
    range.offset < 0 ||
    !Number.isSafeInteger(range.length) ||
    range.length < 0
  ) {
    throw new ValidationError('VALIDATION_FAILED', 'a blob range is a non-negative offset and length');
  }
}
