/**
 * Options both stores accept. The protocol limits default to `LIMITS`; tests lower them to reach
 * them quickly. The operational defaults (timeouts, pool size, sweep batch) belong to the store's
 * runtime, not to the protocol, so they live here rather than in core's `limits.ts`.
 */
import { LIMITS } from '@sealpost/core';

export interface StoreOptions {
  /** Messages one mailbox may hold before sends to it fail with MAILBOX_FULL. */
  readonly mailboxMaxMessages?: number;
  /** Devices one account may have before addDevice fails with TOO_MANY_DEVICES. */
  readonly devicesPerAccount?: number;
  /** One-time KeyPackages one device may keep before addKeyPackages fails with TOO_MANY_KEY_PACKAGES. */
  readonly keyPackagesPerDevice?: number;
  /** Bytes of backup blobs one account may hold before putBlob fails (507). */
  readonly blobQuotaBytes?: number;
  /** Largest blob putBlob accepts. */
  readonly blobMaxBytes?: number;
}

export interface StoreLimits {
  readonly mailboxMaxMessages: number;
  readonly devicesPerAccount: number;
  readonly keyPackagesPerDevice: number;
  readonly blobQuotaBytes: number;
  readonly blobMaxBytes: number;
}

/**
 * Backup blob limits. Server-side (not in core's LIMITS) because they are an operator's choice,
 * not a protocol constant; the client learns them from a refusal.
 */
export const BLOB_DEFAULTS = {
  /** Per account: 10 GiB, room for a few snapshots of a well-used device. */
  blobQuotaBytes: 10 * 1024 ** 3,
  /**
   * One blob: the largest backup object, a pack (LIMITS.backupPackMaxBytes, 80 MiB: a lone 64 MiB
   * tree blob padded by Padmé needs more than the tree limit).
   */
  blobMaxBytes: LIMITS.backupPackMaxBytes,
} as const;

export const STORE_DEFAULTS = {
  /** SQLite: how long a write waits for another process's lock before STORE_UNAVAILABLE. */
  sqliteBusyTimeoutMs: 5_000,
  /** PostgreSQL: connections per store instance. */
  postgresPoolSize: 10,
  /** PostgreSQL: how long to wait for a connection before STORE_UNAVAILABLE. */
  postgresConnectTimeoutMs: 5_000,
  /** PostgreSQL: rows one sweep statement deletes, so a large backlog never holds one huge transaction. */
  sweepBatchRows: 10_000,
} as const;

export function storeLimits(opts: StoreOptions = {}): StoreLimits {
  return {
    mailboxMaxMessages: opts.mailboxMaxMessages ?? LIMITS.mailboxMaxMessages,
    devicesPerAccount: opts.devicesPerAccount ?? LIMITS.devicesPerAccount,
    keyPackagesPerDevice: opts.keyPackagesPerDevice ?? LIMITS.keyPackagesPerDevice,
    blobQuotaBytes: opts.blobQuotaBytes ?? BLOB_DEFAULTS.blobQuotaBytes,
    blobMaxBytes: opts.blobMaxBytes ?? BLOB_DEFAULTS.blobMaxBytes,
  };
}
