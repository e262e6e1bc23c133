/** What every handler of one server instance shares. Built once by `app.ts`. */
import type { CryptoProvider } from '@sealpost/core';
import type { FastifyBaseLogger } from 'fastify';
import type { Bus } from './bus/bus.ts';
import type { DirectoryService } from './directory/directory-service.ts';
import type { Metrics } from './metrics.ts';
import type { RateLimiter } from './rate-limit.ts';
import type { RecipientCache } from './ws/recipient-cache.ts';
import type { DevicePk, Store } from './store/store.ts';

export interface ServerContext {
  readonly store: Store;
  readonly bus: Bus;
  readonly crypto: CryptoProvider;
  readonly metrics: Metrics;
  readonly log: FastifyBaseLogger;
  /** Unix time in milliseconds (injected so tests can move time). */
  readonly now: () => number;
  readonly addressLimiter: RateLimiter;
  readonly deviceLimiter: RateLimiter;
  /** Blob requests: per address before authentication, then per device (http/blobs.ts). */
  readonly blobAddressLimiter: RateLimiter;
  readonly blobDeviceLimiter: RateLimiter;
  /** Challenges issued per address, one token each, a batch as many (http/accounts.ts). */
  readonly challengeLimiter: RateLimiter;
  /** Recovery attempts per username (http/accounts.ts). */
  readonly recoveryLimiter: RateLimiter;
  /** Address -> device pk for the send path (ws/recipient-cache.ts). */
  readonly recipients: RecipientCache;
  /** The key-transparency directory (docs/key-transparency.md "Server"). */
  readonly directory: DirectoryService;
  /** True once shutdown started: no new connections or sessions. */
  draining: boolean;
  /** Called after a device was removed from its account (closes its live session). */
  onDeviceRemoved?: (device: DevicePk) => void;
}

export const MS_PER_DAY = 86_400_000;
export const dayOf = (ms: number): number => Math.floor(ms / MS_PER_DAY);
