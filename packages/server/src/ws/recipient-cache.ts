/**
 * Address -> device pk, for the send path: resolving every recipient in the store costs a read
 * (on PostgreSQL a pool round trip) per message. Safe to cache because a pk is never reused: a
 * device removed since it was cached makes the enqueue fail with DEVICE_NOT_FOUND, and the sender
 * evicts it. Bounded; the oldest entry goes first.
 */
import { toHex, type Username } from '@sealpost/core';
import type { DevicePk } from '../store/store.ts';

export class RecipientCache {
  readonly #max: number;
  readonly #pks = new Map<string, DevicePk>();

  constructor(max: number) {
    this.#max = max;
  }

  static key(username: Username, deviceId: Uint8Array): string {
    return `${username}/${toHex(deviceId)}`;
  }

  get(key: string): DevicePk | undefined {
    return this.#pks.get(key);
  }

  set(key: string, pk: DevicePk): void {
    if (this.#pks.size >= this.#max && !this.#pks.has(key)) {
      const oldest = this.#pks.keys().next();
      if (oldest.done !== true) this.#pks.delete(oldest.value);
    }
    this.#pks.set(key, pk);
  }

  /** Forgets every address that maps to one of `pks`. */
  evict(pks: ReadonlySet<DevicePk>): void {
    for (const [k, pk] of this.#pks) if (pks.has(pk)) this.#pks.delete(k);
  }

  get size(): number {
    return this.#pks.size;
  }
}
