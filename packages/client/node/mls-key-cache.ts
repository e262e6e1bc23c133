/**
 * Bounded caches of parsed keys (KeyObjects and what is derived with them) for the MLS provider.
 *
 * Parsing a key into OpenSSL costs tens of microseconds, as much as the signature it serves; MLS
 * uses the same few keys again and again (a member's own signature key on every message, peers'
 * signature keys on every verification, tree keys on every commit), so they are kept.
 *
 * Map keys must be strings. A public key may become one (base64 of its bytes). A secret never does:
 * it is cached under HMAC-SHA256(per-process random key, label || secret), which reveals nothing of
 * the secret and means nothing outside this process. A WeakMap keyed by the caller's Uint8Array
 * would avoid that HMAC, but ts-mls wipes consumed secrets in place, and a cache keyed by identity
 * would then hand back a key for bytes that are no longer there.
 *
 * In front of each cache sits a one-entry memo (`LastKey`) compared by bytes: a member signs every
 * message with the same key, so the HMAC of the cache key (2 µs, ~1.5% of a message) is skipped.
 */
import { Buffer } from 'node:buffer';
import { createHmac, randomFillSync, timingSafeEqual } from 'node:crypto';

/** Entries per cache: a device's own keys plus its peers' in the groups it is active in. */
export const SECRET_KEY_CACHE_MAX = 256;
export const PUBLIC_KEY_CACHE_MAX = 2048;

/** Least-recently-used map with a fixed bound. */
export class BoundedCache<V> {
  readonly #max: number;
  readonly #map = new Map<string, V>();
  constructor(max: number) {
    this.#max = max;
  }
  get size(): number {
    return this.#map.size;
  }
  get(key: string): V | undefined {
    const v = this.#map.get(key);
    if (v !== undefined) {
      this.#map.delete(key);
      this.#map.set(key, v);
    }
    return v;
  }
  set(key: string, value: V): void {
    this.#map.delete(key);
    this.#map.set(key, value);
    if (this.#map.size > this.#max) this.#map.delete(this.#map.keys().next().value!);
  }
  clear(): void {
    this.#map.clear();
  }
  /** The cached value, or `make()` cached and returned. */
  getOrSet(key: string, make: () => V): V {
    let v = this.get(key);
    if (v === undefined) {
      v = make();
      this.set(key, v);
    }
    return v;
  }
}

/**
 * The value made from the last key bytes seen, found again only for equal bytes (compared in
 * constant time: the bytes may be secret). Its copy of those bytes is wiped when replaced or cleared.
 */
export class LastKey<V> {
  #bytes: Uint8Array = new Uint8Array(0);
  #value: V | undefined;
  /** The memoised value for `bytes`, or `make()` memoised and returned. */
  getOrSet(bytes: Uint8Array, make: () => V): V {
    if (
      this.#value !== undefined &&
      bytes.byteLength === this.#bytes.byteLength &&
      timingSafeEqual(bytes, this.#bytes)
    ) {
      return this.#value;
    }
    const value = make();
    this.#bytes.fill(0);
    this.#bytes = bytes.slice();
    this.#value = value;
    return value;
  }
  clear(): void {
    this.#bytes.fill(0);
    this.#bytes = new Uint8Array(0);
    this.#value = undefined;
  }
}

const CACHE_KEY_SECRET = randomFillSync(new Uint8Array(32));

/** The cache key of a secret: never the secret, nor a plain hash of it. */
export function secretCacheKey(label: string, secret: Uint8Array): string {
  return createHmac('sha256', CACHE_KEY_SECRET).update(label).update(secret).digest('base64');
}

/** The cache key of a public value. */
export function publicCacheKey(label: string, value: Uint8Array): string {
  return label + ':' + Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString('base64');
}
