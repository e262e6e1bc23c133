/**
 * Token buckets keyed by device or address (in memory, per instance: a client spread over
 * instances gets at most instances x rate). Capacity and refill come from LIMITS. The clock is
 * injected. The map is bounded: when it reaches `maxKeys`, full buckets (idle keys) are dropped,
 * then the oldest.
 */
export interface BucketSpec {
  readonly burst: number;
  readonly perSec: number;
}

interface Bucket {
  tokens: number;
  atMs: number;
}

export class RateLimiter {
  readonly #spec: BucketSpec;
  readonly #now: () => number;
  readonly #maxKeys: number;
  readonly #buckets = new Map<string | number, Bucket>();

  constructor(spec: BucketSpec, now: () => number, maxKeys: number) {
    this.#spec = spec;
    this.#now = now;
    this.#maxKeys = maxKeys;
  }

  /**
   * Takes `tokens` (default 1; requires 1 <= tokens <= burst) all or none; returns 0 when allowed,
   * else the seconds to wait (>= 1) until they are there.
   */
  take(key: string | number, tokens = 1): number {
    const now = this.#now();
    let b = this.#buckets.get(key);
    if (b === undefined) {
      if (this.#buckets.size >= this.#maxKeys) this.#evict(now);
      b = { tokens: this.#spec.burst, atMs: now };
      this.#buckets.set(key, b);
    } else {
      b.tokens = Math.min(this.#spec.burst, b.tokens + ((now - b.atMs) / 1000) * this.#spec.perSec);
      b.atMs = now;
    }
    if (b.tokens >= tokens) {
      b.tokens -= tokens;
      return 0;
    }
    return Math.max(1, Math.ceil((tokens - b.tokens) / this.#spec.perSec));
  }

  #evict(now: number): void {
    for (const [k, b] of this.#buckets) {
      const refilled = b.tokens + ((now - b.atMs) / 1000) * this.#spec.perSec;
      if (refilled >= this.#spec.burst) this.#buckets.delete(k);
    }
    while (this.#buckets.size >= this.#maxKeys) {
      const oldest = this.#buckets.keys().next();
      if (oldest.done === true) break;
      this.#buckets.delete(oldest.value);
    }
  }

  get size(): number {
    return this.#buckets.size;
  }
}
