/**
 * Hashing, HMAC and HKDF (RFC 5869) on `node:crypto` for the MLS provider (mls-crypto.ts).
 *
 * One-shot `hash()` and `createHmac` on raw bytes: MLS derives a fresh key for nearly every call
 * (ratchet secrets, per-message keys), so building a KeyObject first would cost more than it saves.
 * HKDF-Expand is written out on HMAC because `hkdfSync` refuses an `info` over 1024 bytes, and MLS's
 * ExpandWithLabel context (e.g. a GroupContext carrying extensions) can be longer.
 */
import { Buffer } from 'node:buffer';
import { createHmac, hash as nodeHash, timingSafeEqual } from 'node:crypto';

/** The hash functions of the MLS cipher suites (RFC 9420 §17.1), by their OpenSSL names. */
export type HashName = 'sha256' | 'sha384' | 'sha512';

/** Output sizes in bytes (Nh of RFC 5869 and RFC 9180). */
export const HASH_SIZE: Readonly<Record<HashName, number>> = { sha256: 32, sha384: 48, sha512: 64 };

/**
 * A Buffer as a plain Uint8Array over the same memory. `Buffer#slice` returns a view where
 * `Uint8Array#slice` copies; ts-mls is written against the latter, so it never receives a Buffer.
 */
export function plain(b: Buffer): Uint8Array {
  return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
}

export function digest(h: HashName, data: Uint8Array): Uint8Array {
  return plain(nodeHash(h, data, 'buffer'));
}

export function hmac(h: HashName, key: Uint8Array, data: Uint8Array): Uint8Array {
  return plain(createHmac(h, key).update(data).digest());
}

/** Constant-time comparison; unequal lengths are simply unequal. */
export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  return a.byteLength === b.byteLength && timingSafeEqual(a, b);
}

/** RFC 5869 §2.2: PRK = HMAC-Hash(salt, IKM). An empty salt is HMAC's zero-padded key, as the RFC asks. */
export function hkdfExtract(h: HashName, salt: Uint8Array, ikm: Uint8Array): Uint8Array {
  return hmac(h, salt, ikm);
}

const ONE = Uint8Array.of(1);

/**
 * RFC 5869 §2.3. Requires 0 <= length <= 255 * Nh.
 *   T(0) = empty; T(N) = HMAC-Hash(PRK, T(N-1) | info | N); OKM = first L octets of T(1) | T(2) | ...
 */
export function hkdfExpand(h: HashName, prk: Uint8Array, info: Uint8Array, length: number): Uint8Array {
  const nh = HASH_SIZE[h];
  if (!Number.isSafeInteger(length) || length < 0 || length > 255 * nh) {
    throw new RangeError(`HKDF-Expand: length ${length} is outside [0, ${255 * nh}]`);
  }
  // One block (every MLS key, nonce and secret): T(1) alone, without the loop's copies.
  if (length <= nh) {
    const t1 = createHmac(h, prk).update(info).update(ONE).digest();
    if (length === nh) return plain(t1);
    const okm = new Uint8Array(t1.subarray(0, length));
    t1.fill(0);
    return okm;
  }
  const okm = new Uint8Array(length);
  let t: Buffer = Buffer.alloc(0);
  for (let n = 1, off = 0; off < length; n++) {
    const next = createHmac(h, prk).update(t).update(info).update(Uint8Array.of(n)).digest();
    t.fill(0);
    t = next;
    okm.set(t.subarray(0, Math.min(nh, length - off)), off);
    off += nh;
  }
  t.fill(0);
  return okm;
}
