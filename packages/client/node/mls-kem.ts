/**
 * The KEMs of HPKE on `node:crypto`, for the MLS provider (mls-hpke.ts, mls-crypto.ts): the KEM
 * interface, key handles, DER wrappers, and DHKEM (RFC 9180 §4.1) over X25519, X448, P-256, P-384
 * and P-521. X-Wing, the hybrid post-quantum KEM, is in mls-xwing.ts on the same pieces.
 *
 * Keys travel as raw bytes in MLS (RFC 9420 §5.1.1, RFC 9180 §7.1.1): public keys are parsed into
 * KeyObjects once and cached (they are public); private keys are parsed on each use and never
 * cached, because MLS deletes tree keys after each epoch for forward secrecy (RFC 9420 §9.2) and a
 * cache would keep them alive.
 */
import { Buffer } from 'node:buffer';
import {
  createPrivateKey,
  createPublicKey,
  diffieHellman,
  generateKeyPairSync,
  type KeyObject,
  randomFillSync,
} from 'node:crypto';
import { CryptoError } from 'ts-mls/mlsError.js';
import { concatBytes } from '@sealpost/core';
import { type HashName, HASH_SIZE, hkdfExpand, hkdfExtract, plain } from './mls-kdf.ts';
import { BoundedCache, PUBLIC_KEY_CACHE_MAX, publicCacheKey } from './mls-key-cache.ts';

export interface KemPublicKey {
  readonly type: 'public';
  readonly kemId: number;
  readonly raw: Uint8Array;
  /** The DH key, or for X-Wing the X25519 half. */
  readonly key: KeyObject;
  /** X-Wing only: the ML-KEM-768 half. */
  readonly pq?: KeyObject;
}

export interface KemPrivateKey {
  readonly type: 'private';
  readonly kemId: number;
  readonly raw: Uint8Array;
  readonly key: KeyObject;
  readonly pq?: KeyObject;
  readonly publicKey: KemPublicKey;
}

export interface KemKeyPair {
  readonly privateKey: KemPrivateKey;
  readonly publicKey: KemPublicKey;
}

/** RFC 9180 §4: the KEM interface HPKE is written against. */
export interface Kem {
  readonly id: number;
  readonly name: string;
  /** Nsecret, Nenc, Npk, Nsk. */
  readonly secretSize: number;
  readonly encSize: number;
  readonly publicKeySize: number;
  readonly privateKeySize: number;
  importPublicKey(raw: Uint8Array): KemPublicKey;
  importPrivateKey(raw: Uint8Array): KemPrivateKey;
  generateKeyPair(): KemKeyPair;
  /** RFC 9180 §7.1.3 (DHKEM) or the X-Wing draft §5.4 (HPKE use). */
  deriveKeyPair(ikm: Uint8Array): KemKeyPair;
  encap(pk: KemPublicKey): { sharedSecret: Uint8Array; enc: Uint8Array };
  decap(enc: Uint8Array, sk: KemPrivateKey): Uint8Array;
}

const te = new TextEncoder();
const HPKE_V1 = te.encode('HPKE-v1');

/** RFC 9180 §4's `concat()`, named as in its pseudo-code. */
export const concat = concatBytes;

export function i2osp(n: number, len: number): Uint8Array {
  const out = new Uint8Array(len);
  for (let i = len - 1; i >= 0; i--, n = Math.floor(n / 256)) out[i] = n & 0xff;
  return out;
}

/** RFC 9180 §4: LabeledExtract and LabeledExpand, bound to one suite_id. */
export interface Labeled {
  extract(salt: Uint8Array, label: string, ikm: Uint8Array): Uint8Array;
  expand(prk: Uint8Array, label: string, info: Uint8Array, length: number): Uint8Array;
}

export function labeled(h: HashName, suiteId: Uint8Array): Labeled {
  return {
    // labeled_ikm = concat("HPKE-v1", suite_id, label, ikm); return Extract(salt, labeled_ikm)
    extract: (salt, label, ikm) => hkdfExtract(h, salt, concat(HPKE_V1, suiteId, te.encode(label), ikm)),
    // labeled_info = concat(I2OSP(L, 2), "HPKE-v1", suite_id, label, info); return Expand(prk, labeled_info, L)
    expand: (prk, label, info, length) =>
      hkdfExpand(h, prk, concat(i2osp(length, 2), HPKE_V1, suiteId, te.encode(label), info), length),
  };
}

const EMPTY = new Uint8Array(0);

export function fail(kem: string, what: string): never {
  throw new CryptoError(`${kem}: ${what}`);
}

/** DER wrappers around raw keys (RFC 8410, RFC 5915 without the optional public key, FIPS 203 seeds). */
interface Der {
  readonly pkcs8: Buffer;
  readonly spki: Buffer;
  /** X25519 and X448: the JWK curve name, for public keys (see `fromDer`). */
  readonly okp?: string;
}
export const DER = {
  X25519: {
    pkcs8: hex('302e020100300506032b656e04220420'),
    spki: hex('302a300506032b656e032100'),
    okp: 'X25519',
  },
  X448: {
    pkcs8: hex('3046020100300506032b656f043a0438'),
    spki: hex('3042300506032b656f033900'),
    okp: 'X448',
  },
  'P-256': {
    pkcs8: hex('3041020100301306072a8648ce3d020106082a8648ce3d030107042730250201010420'),
    spki: hex('3059301306072a8648ce3d020106082a8648ce3d030107034200'),
  },
  'P-384': {
    pkcs8: hex('304e020100301006072a8648ce3d020106052b81040022043730350201010430'),
    spki: hex('3076301006072a8648ce3d020106052b81040022036200'),
  },
  'P-521': {
    pkcs8: hex('3060020100301006072a8648ce3d020106052b81040023044930470201010442'),
    spki: hex('30819b301006072a8648ce3d020106052b8104002303818600'),
  },
  'ML-KEM-768': {
    pkcs8: hex('3054020100300b060960864801650304040204428040'),
    spki: hex('308204b2300b0609608648016503040402038204a100'),
  },
} as const satisfies Record<string, Der>;

function hex(s: string): Buffer {
  return Buffer.from(s, 'hex');
}

/**
 * A KeyObject from raw key bytes. X25519 and X448 public keys go through JWK (RFC 8037 §2: `x` is
 * the raw key in base64url), not DER: OpenSSL's DER decoder costs ~6 µs per X25519 import here and
 * JWK ~2.8 µs, and its encoder ~12 µs per export against ~1.3 µs (`rawPublic`). An HPKE
 * encapsulation exports one public key and a decapsulation imports one.
 */
export function fromDer(der: Der, raw: Uint8Array, kind: 'private' | 'public'): KeyObject {
  if (kind === 'private') {
    return createPrivateKey({ key: Buffer.concat([der.pkcs8, raw]), format: 'der', type: 'pkcs8' });
  }
  if (der.okp !== undefined) {
    const x = Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength).toString('base64url');
    return createPublicKey({ key: { kty: 'OKP', crv: der.okp, x }, format: 'jwk' });
  }
  return createPublicKey({ key: Buffer.concat([der.spki, raw]), format: 'der', type: 'spki' });
}

/** The raw public key: JWK `x` for X25519 and X448, else the last Npk bytes of its SubjectPublicKeyInfo. */
export function rawPublic(key: KeyObject, npk: number): Uint8Array {
  const type = key.asymmetricKeyType;
  if (type === 'x25519' || type === 'x448') {
    const raw = Buffer.from(key.export({ format: 'jwk' }).x!, 'base64url');
    if (raw.byteLength === npk) return plain(raw);
  }
  const spki = key.export({ format: 'der', type: 'spki' });
  return plain(spki.subarray(spki.byteLength - npk));
}

/** A curve for DHKEM: its sizes and the RFC 9180 §7.1.3 rule to turn candidate bytes into a key. */
interface DhCurve {
  readonly name: keyof typeof DER;
  readonly kemId: number;
  readonly hash: HashName;
  /** Ndh = Nsecret here; Npk; Nsk. */
  readonly npk: number;
  readonly nsk: number;
  /** Prime-order curves only: the group order and the mask of the first candidate byte. */
  readonly order?: bigint;
  readonly bitmask?: number;
  readonly keyType: 'x25519' | 'x448' | 'ec';
  readonly namedCurve?: string;
}

// Group orders from SEC 2 v2 §2.4.2, §2.5.1, §2.6.1 (checked against @noble/curves in the tests).
export const CURVES: Record<'X25519' | 'X448' | 'P-256' | 'P-384' | 'P-521', DhCurve> = {
  X25519: { name: 'X25519', kemId: 0x0020, hash: 'sha256', npk: 32, nsk: 32, keyType: 'x25519' },
  X448: { name: 'X448', kemId: 0x0021, hash: 'sha512', npk: 56, nsk: 56, keyType: 'x448' },
  'P-256': {
    name: 'P-256',
    kemId: 0x0010,
    hash: 'sha256',
    npk: 65,
    nsk: 32,
    bitmask: 0xff,
    order: 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n,
    keyType: 'ec',
    namedCurve: 'prime256v1',
  },
  'P-384': {
    name: 'P-384',
    kemId: 0x0011,
    hash: 'sha384',
    npk: 97,
    nsk: 48,
    bitmask: 0xff,
    order:
      0xffffffffffffffffffffffffffffffffffffffffffffffffc7634d81f4372ddf581a0db248b0a77aecec196accc52973n,
    keyType: 'ec',
    namedCurve: 'secp384r1',
  },
  'P-521': {
    name: 'P-521',
    kemId: 0x0012,
    hash: 'sha512',
    npk: 133,
    nsk: 66,
    bitmask: 0x01,
    order:
      0x01fffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffa51868783bf2f966b7fcc0148f709a5d03bb5c9b8899c47aebb6fb71e91386409n,
    keyType: 'ec',
    namedCurve: 'secp521r1',
  },
};

/** Exposed for the tests, which compare the orders with @noble/curves. */
export const DH_CURVE_ORDERS = Object.fromEntries(
  Object.values(CURVES)
    .filter((c) => c.order !== undefined)
    .map((c) => [c.name, c.order!]),
) as Record<'P-256' | 'P-384' | 'P-521', bigint>;

function bytesToBigint(b: Uint8Array): bigint {
  return b.byteLength === 0
    ? 0n
    : BigInt('0x' + Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex'));
}

export const publicKeys = new BoundedCache<KemPublicKey>(PUBLIC_KEY_CACHE_MAX);

export function dhKem(c: DhCurve): Kem {
  const suiteId = concat(te.encode('KEM'), i2osp(c.kemId, 2));
  const lab = labeled(c.hash, suiteId);
  const nsecret = HASH_SIZE[c.hash];
  const der = DER[c.name];

  function importPublicKey(raw: Uint8Array): KemPublicKey {
    if (raw.byteLength !== c.npk) fail(c.name, `public key of ${raw.byteLength} bytes, expected ${c.npk}`);
    // A P-curve point must be uncompressed (RFC 9180 §7.1.1); OpenSSL checks it is on the curve.
    if (c.keyType === 'ec' && raw[0] !== 0x04) fail(c.name, 'public key is not an uncompressed point');
    return publicKeys.getOrSet(publicCacheKey(c.name, raw), () => {
      let key: KeyObject;
      try {
        key = fromDer(der, raw, 'public');
      } catch {
        fail(c.name, 'invalid public key');
      }
      return { type: 'public', kemId: c.kemId, raw: raw.slice(), key };
    });
  }

  function privateFromRaw(raw: Uint8Array): KemPrivateKey {
    let sk = raw;
    // Some encoders drop leading zero bytes of a P-521 scalar (mls-implementations issue 176).
    if (c.keyType === 'ec' && raw.byteLength < c.nsk)
      sk = concat(new Uint8Array(c.nsk - raw.byteLength), raw);
    if (sk.byteLength !== c.nsk) fail(c.name, `private key of ${raw.byteLength} bytes, expected ${c.nsk}`);
    if (c.order !== undefined) {
      const d = bytesToBigint(sk);
      if (d === 0n || d >= c.order) fail(c.name, 'private key is not in [1, n-1]');
    }
    let key: KeyObject;
    try {
      key = fromDer(der, sk, 'private');
    } catch {
      fail(c.name, 'invalid private key');
    }
    const pubRaw = rawPublic(createPublicKey(key), c.npk);
    return {
      type: 'private',
      kemId: c.kemId,
      raw: sk === raw ? raw.slice() : sk,
      key,
      publicKey: importPublicKey(pubRaw),
    };
  }

  function dh(sk: KeyObject, pk: KeyObject): Uint8Array {
    let out: Buffer;
    try {
      out = diffieHellman({ privateKey: sk, publicKey: pk });
    } catch {
      fail(c.name, 'DH failed');
    }
    // RFC 9180 §7.1.4: an all-zero X25519/X448 output means a small-order peer key.
    if (out.every((b) => b === 0)) fail(c.name, 'DH output is zero');
    return plain(out);
  }

  // RFC 9180 §4.1:
  //   eae_prk = LabeledExtract("", "eae_prk", dh)
  //   shared_secret = LabeledExpand(eae_prk, "shared_secret", kem_context, Nsecret)
  function extractAndExpand(dhOut: Uint8Array, kemContext: Uint8Array): Uint8Array {
    const prk = lab.extract(EMPTY, 'eae_prk', dhOut);
    const ss = lab.expand(prk, 'shared_secret', kemContext, nsecret);
    prk.fill(0);
    dhOut.fill(0);
    return ss;
  }

  return {
    id: c.kemId,
    name: c.name,
    secretSize: nsecret,
    encSize: c.npk,
    publicKeySize: c.npk,
    privateKeySize: c.nsk,
    importPublicKey,
    importPrivateKey: privateFromRaw,
    generateKeyPair() {
      const sk = new Uint8Array(c.nsk);
      for (;;) {
        randomFillSync(sk);
        if (c.bitmask !== undefined) sk[0]! &= c.bitmask;
        const d = c.order === undefined ? 1n : bytesToBigint(sk);
        if (d !== 0n && (c.order === undefined || d < c.order)) break;
      }
      const privateKey = privateFromRaw(sk);
      sk.fill(0);
      return { privateKey, publicKey: privateKey.publicKey };
    },
    deriveKeyPair(ikm) {
      const dkpPrk = lab.extract(EMPTY, 'dkp_prk', ikm);
      let sk: Uint8Array;
      if (c.order === undefined) {
        // sk = LabeledExpand(dkp_prk, "sk", "", Nsk)
        sk = lab.expand(dkpPrk, 'sk', EMPTY, c.nsk);
      } else {
        // Rejection sampling: candidate = LabeledExpand(dkp_prk, "candidate", I2OSP(counter, 1), Nsk),
        // first byte masked, until 0 < sk < order; at most 256 candidates.
        for (let counter = 0; ; counter++) {
          if (counter > 255) fail(c.name, 'DeriveKeyPair found no key');
          sk = lab.expand(dkpPrk, 'candidate', i2osp(counter, 1), c.nsk);
          sk[0]! &= c.bitmask!;
          const d = bytesToBigint(sk);
          if (d !== 0n && d < c.order) break;
          sk.fill(0);
        }
      }
      dkpPrk.fill(0);
      const privateKey = privateFromRaw(sk);
      sk.fill(0);
      return { privateKey, publicKey: privateKey.publicKey };
    },
    encap(pkR) {
      // skE, pkE = GenerateKeyPair(); dh = DH(skE, pkR); enc = SerializePublicKey(pkE)
      const eph =
        c.keyType === 'ec'
          ? generateKeyPairSync('ec', { namedCurve: c.namedCurve! })
          : c.keyType === 'x25519'
            ? generateKeyPairSync('x25519')
            : generateKeyPairSync('x448');
      const enc = rawPublic(eph.publicKey, c.npk);
      const sharedSecret = extractAndExpand(dh(eph.privateKey, pkR.key), concat(enc, pkR.raw));
      return { sharedSecret, enc };
    },
    decap(enc, skR) {
      const pkE = importPublicKey(enc);
      return extractAndExpand(dh(skR.key, pkE.key), concat(enc, skR.publicKey.raw));
    },
  };
}
