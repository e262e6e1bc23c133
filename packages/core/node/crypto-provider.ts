/**
 * `nodeCryptoProvider`: the CryptoProvider on `node:crypto` (OpenSSL), the fast one for Node.
 * This folder is core's Node-only adapter; `packages/core/src` never imports `node:*`.
 *
 * Inside: SHA-2, HMAC and HKDF (RFC 5869 written out on HMAC, because `hkdfSync` refuses an `info`
 * over 1024 bytes and noble does not), Ed25519 and X25519 on KeyObjects built from raw bytes and
 * cached, AES-256-GCM. Arguments are checked by the same functions as the noble provider
 * (../src/crypto/arguments.ts), so both refuse the same inputs with the same typed errors.
 *
 * Ed25519 verification is made as strict as noble's `zip215: false` mode (RFC 8032 §5.1.7): OpenSSL
 * alone accepts a small-order public key, e.g. the identity, for which S = 0 and R = identity verify
 * on every message (checked in crypto-provider.test.ts). One difference remains: OpenSSL checks the
 * cofactorless equation [S]B = R + [k]A and noble the cofactored one [8][S]B = [8]R + [8][k]A (both
 * allowed by RFC 8032 §5.1.7); they disagree only on crafted keys or signatures with a small-order
 * component, never on signatures made by `sign`.
 */
import { Buffer } from 'node:buffer';
import {
  createCipheriv,
  createDecipheriv,
  createHash,
  createHmac,
  createPrivateKey,
  createPublicKey,
  diffieHellman,
  hash,
  type KeyObject,
  randomFillSync,
  sign as nodeSign,
  timingSafeEqual as nodeTimingSafeEqual,
  verify as nodeVerify,
} from 'node:crypto';
import { CryptoVerificationError, ValidationError } from '../src/errors.ts';
import { bytesArg, CRYPTO_SIZES, exactBytesArg, integerArg, isBytes } from '../src/crypto/arguments.ts';
import type { Aead, CryptoProvider, Ed25519, X25519 } from '../src/crypto/provider.ts';

// DER prefixes wrapping a raw 32-byte key (RFC 8410 §7 and §4): PKCS#8 PrivateKeyInfo and
// SubjectPublicKeyInfo with the OIDs 1.3.101.112 (Ed25519) and 1.3.101.110 (X25519).
const ED25519_PKCS8_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');
const ED25519_SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');
const X25519_PKCS8_PREFIX = Buffer.from('302e020100300506032b656e04220420', 'hex');
const X25519_SPKI_PREFIX = Buffer.from('302a300506032b656e032100', 'hex');

/**
 * Cache sizes. Building a KeyObject costs tens of microseconds, a signature about as much, so the
 * keys a process uses again (its own device keys, peers' keys) are kept; the bound keeps a server
 * that verifies many keys from growing.
 */
const SECRET_KEY_CACHE_MAX = 256;
const PUBLIC_KEY_CACHE_MAX = 1024;

/** Least-recently-used map with a fixed bound. */
class BoundedCache<V> {
  readonly #max: number;
  readonly #map = new Map<string, V>();
  constructor(max: number) {
    this.#max = max;
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
    this.#map.set(key, value);
    if (this.#map.size > this.#max) this.#map.delete(this.#map.keys().next().value!);
  }
}

/**
 * Secret keys are cached under HMAC-SHA256(per-process random key, label || secret): the cache key
 * is a string (Map keys must be), but neither the secret nor a plain hash of it ever becomes one, and
 * the value means nothing outside this process.
 */
const CACHE_KEY_SECRET = randomFillSync(new Uint8Array(32));
function secretCacheKey(label: string, secret: Uint8Array): string {
  return createHmac('sha256', CACHE_KEY_SECRET).update(label).update(secret).digest('base64');
}

interface PrivateEntry {
  readonly key: KeyObject;
  readonly publicKey: Uint8Array;
}
const privateKeys = new BoundedCache<PrivateEntry>(SECRET_KEY_CACHE_MAX);
const publicKeys = new BoundedCache<KeyObject>(PUBLIC_KEY_CACHE_MAX);

function privateEntry(kind: 'ed25519' | 'x25519', secret: Uint8Array): PrivateEntry {
  const id = secretCacheKey(kind, secret);
  const hit = privateKeys.get(id);
  if (hit !== undefined) return hit;
  const der = Buffer.concat([kind === 'ed25519' ? ED25519_PKCS8_PREFIX : X25519_PKCS8_PREFIX, secret]);
  try {
    const key = createPrivateKey({ key: der, format: 'der', type: 'pkcs8' });
    const spki = createPublicKey(key).export({ format: 'der', type: 'spki' });
    const entry = { key, publicKey: new Uint8Array(spki.subarray(spki.length - 32)) };
    privateKeys.set(id, entry);
    return entry;
  } finally {
    der.fill(0);
  }
}

/** Precondition: `raw` is 32 bytes (the callers check). Public keys are not secret: hex is fine. */
function publicKeyObject(kind: 'ed25519' | 'x25519', raw: Uint8Array): KeyObject {
  const id = kind + Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength).toString('hex');
  const hit = publicKeys.get(id);
  if (hit !== undefined) return hit;
  const der = Buffer.concat([kind === 'ed25519' ? ED25519_SPKI_PREFIX : X25519_SPKI_PREFIX, raw]);
  const key = createPublicKey({ key: der, format: 'der', type: 'spki' });
  publicKeys.set(id, key);
  return key;
}

/** A plain Uint8Array copy of a Buffer (callers compare with deepStrictEqual, which checks prototypes). */
function plain(buf: Buffer): Uint8Array {
  return new Uint8Array(buf);
}
/** Same, then wipes the Buffer: the copy is the only place the secret stays. */
function plainSecret(buf: Buffer): Uint8Array {
  const out = new Uint8Array(buf);
  buf.fill(0);
  return out;
}

// --- Ed25519 strictness (RFC 8032 §5.1.7, matching noble's zip215: false)

/** L = 2^252 + 27742317777372353535851937790883648493, little-endian (RFC 8032 §5.1). */
const ED25519_L = Buffer.from('edd3f55c1a631258d69cf7a2def9de1400000000000000000000000000000010', 'hex');
/** p = 2^255 - 19, little-endian (RFC 8032 §5.1). */
const ED25519_P = Buffer.from('edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f', 'hex');

/** Compares two 32-byte little-endian numbers: a < b. Public values only (not constant-time). */
function lessThanLE(a: Uint8Array, b: Uint8Array, topMask = 0xff): boolean {
  for (let i = 31; i >= 0; i--) {
    const x = i === 31 ? a[i]! & topMask : a[i]!;
    if (x !== b[i]!) return x < b[i]!;
  }
  return false;
}

/**
 * Encodings of the eight points of order dividing 8 (the identity, (0,-1), the two points of order 4
 * and the four of order 8), plus the two that set the sign bit on x = 0, which RFC 8032 §5.1.3 step 4
 * rejects. Encodings with y >= p are refused separately. Cross-checked against noble's isSmallOrder
 * in crypto-provider.test.ts.
 */
const SMALL_ORDER_ENCODINGS = new Set([
  '0100000000000000000000000000000000000000000000000000000000000000',
  '0100000000000000000000000000000000000000000000000000000000000080',
  'ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
  'ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff',
  '0000000000000000000000000000000000000000000000000000000000000000',
  '0000000000000000000000000000000000000000000000000000000000000080',
  'c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a',
  'c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa',
  '26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05',
  '26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc85',
]);

/** RFC 8032 §5.1.3: the y coordinate (the low 255 bits) must be below p. */
function isCanonicalPointEncoding(point: Uint8Array): boolean {
  return lessThanLE(point, ED25519_P, 0x7f);
}

const ed: Ed25519 = {
  publicKey(seed) {
    const s = exactBytesArg(seed, CRYPTO_SIZES.ed25519Seed, 'Ed25519 seed');
    return privateEntry('ed25519', s).publicKey.slice();
  },
  sign(seed, message) {
    const s = exactBytesArg(seed, CRYPTO_SIZES.ed25519Seed, 'Ed25519 seed');
    const m = bytesArg(message, 'message');
    return plain(nodeSign(null, m, privateEntry('ed25519', s).key));
  },
  verify(publicKey, message, signature) {
    if (
      !isBytes(publicKey) ||
      !isBytes(message) ||
      !isBytes(signature) ||
      publicKey.length !== CRYPTO_SIZES.ed25519PublicKey ||
      signature.length !== CRYPTO_SIZES.ed25519Signature
    ) {
      return false;
    }
    // RFC 8032 §5.1.7 step 1: S must be in [0, L) (no malleability through S + L).
    if (!lessThanLE(signature.subarray(32), ED25519_L)) return false;
    if (!isCanonicalPointEncoding(signature.subarray(0, 32)) || !isCanonicalPointEncoding(publicKey))
      return false;
    if (SMALL_ORDER_ENCODINGS.has(Buffer.from(publicKey).toString('hex'))) return false;
    try {
      return nodeVerify(null, message, publicKeyObject('ed25519', publicKey), signature);
    } catch {
      return false;
    }
  },
};

const x: X25519 = {
  publicKey(privateKey) {
    const k = exactBytesArg(privateKey, CRYPTO_SIZES.x25519Key, 'X25519 private key');
    return privateEntry('x25519', k).publicKey.slice();
  },
  sharedSecret(privateKey, publicKey) {
    const k = exactBytesArg(privateKey, CRYPTO_SIZES.x25519Key, 'X25519 private key');
    const u = exactBytesArg(publicKey, CRYPTO_SIZES.x25519Key, 'X25519 public key');
    let shared: Buffer;
    try {
      // OpenSSL refuses an all-zero result (a small-order u) with an error; nothing else can fail
      // once the lengths are right (every 32-byte string is a valid X25519 public key).
      shared = diffieHellman({
        privateKey: privateEntry('x25519', k).key,
        publicKey: publicKeyObject('x25519', u),
      });
    } catch {
      throw new CryptoVerificationError('CRYPTO_VERIFICATION_FAILED', 'X25519 shared secret is all zero');
    }
    const out = plainSecret(shared);
    // RFC 7748 §6.1: abort on an all-zero shared secret (checked here too, not left to OpenSSL).
    let acc = 0;
    for (const b of out) acc |= b;
    if (acc === 0) {
      throw new CryptoVerificationError('CRYPTO_VERIFICATION_FAILED', 'X25519 shared secret is all zero');
    }
    return out;
  },
};

const aead: Aead = {
  seal(key, nonce, plaintext, aad) {
    const k = exactBytesArg(key, CRYPTO_SIZES.aes256Key, 'AES-256-GCM key');
    const n = exactBytesArg(nonce, CRYPTO_SIZES.gcmNonce, 'AES-GCM nonce');
    const p = bytesArg(plaintext, 'plaintext');
    const a = bytesArg(aad, 'associated data');
    const cipher = createCipheriv('aes-256-gcm', k, n, { authTagLength: CRYPTO_SIZES.gcmTag });
    cipher.setAAD(a);
    const body = cipher.update(p);
    const tail = cipher.final();
    const tag = cipher.getAuthTag();
    const out = new Uint8Array(body.length + tail.length + tag.length);
    out.set(body);
    out.set(tail, body.length);
    out.set(tag, body.length + tail.length);
    return out;
  },
  sealInto(key, nonce, parts, aad, out, at) {
    const k = exactBytesArg(key, CRYPTO_SIZES.aes256Key, 'AES-256-GCM key');
    const n = exactBytesArg(nonce, CRYPTO_SIZES.gcmNonce, 'AES-GCM nonce');
    const a = bytesArg(aad, 'associated data');
    let length = CRYPTO_SIZES.gcmTag;
    for (const part of parts) length += bytesArg(part, 'plaintext').length;
    if (!Number.isInteger(at) || at < 0 || at + length > out.length) {
      throw new ValidationError('VALIDATION_FAILED', 'no room for the sealed bytes', { at, length });
    }
    const cipher = createCipheriv('aes-256-gcm', k, n, { authTagLength: CRYPTO_SIZES.gcmTag });
    cipher.setAAD(a);
    let o = at;
    for (const part of parts) {
      const piece = cipher.update(part);
      out.set(piece, o);
      o += piece.length;
    }
    const tail = cipher.final();
    out.set(tail, o);
    o += tail.length;
    out.set(cipher.getAuthTag(), o);
    return o + CRYPTO_SIZES.gcmTag - at;
  },
  open(key, nonce, ciphertext, aad) {
    const k = exactBytesArg(key, CRYPTO_SIZES.aes256Key, 'AES-256-GCM key');
    const n = exactBytesArg(nonce, CRYPTO_SIZES.gcmNonce, 'AES-GCM nonce');
    const c = bytesArg(ciphertext, 'ciphertext');
    const a = bytesArg(aad, 'associated data');
    if (c.length < CRYPTO_SIZES.gcmTag) {
      throw new CryptoVerificationError(
        'CRYPTO_VERIFICATION_FAILED',
        'AES-GCM ciphertext is shorter than its tag',
        {
          length: c.length,
        },
      );
    }
    const split = c.length - CRYPTO_SIZES.gcmTag;
    const decipher = createDecipheriv('aes-256-gcm', k, n, { authTagLength: CRYPTO_SIZES.gcmTag });
    decipher.setAAD(a);
    decipher.setAuthTag(c.subarray(split));
    // update() returns plaintext before the tag is checked: it is wiped if final() refuses it.
    const body = decipher.update(c.subarray(0, split));
    try {
      const tail = decipher.final();
      const out = new Uint8Array(body.length + tail.length);
      out.set(body);
      out.set(tail, body.length);
      tail.fill(0);
      return out;
    } catch {
      throw new CryptoVerificationError('CRYPTO_VERIFICATION_FAILED', 'AES-GCM tag does not verify');
    } finally {
      body.fill(0);
    }
  },
};

function hmacSha256(key: Uint8Array, ...parts: Uint8Array[]): Uint8Array {
  const h = createHmac('sha256', key);
  for (const p of parts) h.update(p);
  return plainSecret(h.digest());
}

/** Precondition: arguments checked. RFC 5869 §2.2 and §2.3. */
function hkdf(ikm: Uint8Array, salt: Uint8Array, info: Uint8Array, length: number): Uint8Array {
  // PRK = HMAC-Hash(salt, IKM); an empty salt is HashLen zeros, which HMAC pads to the same key.
  const prk = hmacSha256(salt, ikm);
  const okm = new Uint8Array(length);
  let t: Uint8Array = new Uint8Array(0);
  const counter = new Uint8Array(1);
  for (let i = 1, offset = 0; offset < length; i++) {
    // T(N) = HMAC-Hash(PRK, T(N-1) | info | N)
    counter[0] = i;
    const next = hmacSha256(prk, t, info, counter);
    t.fill(0);
    t = next;
    okm.set(t.subarray(0, Math.min(t.length, length - offset)), offset);
    offset += t.length;
  }
  t.fill(0);
  prk.fill(0);
  return okm;
}

/**
 * Small random values (nonces, ids: at most RANDOM_POOL_TAKE_MAX bytes) come from a pool filled
 * RANDOM_POOL_BYTES at a time: each `randomFillSync` call costs ~5-10 µs whatever its length (a
 * backup seals a blob per chunk, each with a fresh 12-byte nonce: ~0.5 s of a worker's CPU over the
 * Debian set's 100,000 blobs). Every byte is handed out once, as a copy, and wiped from the pool
 * as it is.
 */
const RANDOM_POOL_BYTES = 4096;
const RANDOM_POOL_TAKE_MAX = 64;
const randomPool = new Uint8Array(RANDOM_POOL_BYTES);
let randomPoolAt = RANDOM_POOL_BYTES;

function pooledRandom(length: number): Uint8Array {
  if (randomPoolAt + length > RANDOM_POOL_BYTES) {
    randomFillSync(randomPool);
    randomPoolAt = 0;
  }
  const out = randomPool.slice(randomPoolAt, randomPoolAt + length);
  randomPool.fill(0, randomPoolAt, randomPoolAt + length);
  randomPoolAt += length;
  return out;
}

export const nodeCryptoProvider: CryptoProvider = {
  name: 'node',
  randomBytes(length) {
    const n = integerArg(length, 0, CRYPTO_SIZES.randomMaxBytes, 'random length');
    return n <= RANDOM_POOL_TAKE_MAX ? pooledRandom(n) : randomFillSync(new Uint8Array(n));
  },
  sha256(data) {
    // One-shot: no Hash object per call (key transparency hashes ~10 prefix-tree nodes per update).
    return plain(hash('sha256', bytesArg(data, 'data'), 'buffer'));
  },
  sha512(data) {
    return plain(createHash('sha512').update(bytesArg(data, 'data')).digest());
  },
  hmacSha256(key, data) {
    return hmacSha256(bytesArg(key, 'HMAC key'), bytesArg(data, 'data'));
  },
  hkdfSha256(ikm, salt, info, length) {
    return hkdf(
      bytesArg(ikm, 'HKDF input key material'),
      bytesArg(salt, 'HKDF salt'),
      bytesArg(info, 'HKDF info'),
      integerArg(length, 1, CRYPTO_SIZES.hkdfSha256MaxLength, 'HKDF length'),
    );
  },
  ed25519: ed,
  x25519: x,
  aes256gcm: aead,
  timingSafeEqual(a, b) {
    if (!isBytes(a) || !isBytes(b) || a.length !== b.length) return false;
    return nodeTimingSafeEqual(a, b);
  },
};
