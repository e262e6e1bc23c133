/**
 * `nodeMlsCryptoProvider`: a ts-mls `CryptoProvider` on `node:crypto` (OpenSSL), the fast one for
 * Node. The SDK picks it through ../src/mls/provider.ts; nothing under ../src imports `node:*`.
 *
 * Inside: the hash, HMAC and HKDF of each suite (mls-kdf.ts), HPKE and AEAD (mls-hpke.ts) on the
 * KEMs of mls-kem.ts, signatures (Ed25519, Ed448, ECDSA P-256/P-384/P-521) on KeyObjects cached per
 * key (mls-key-cache.ts), and OpenSSL's random generator. Suites offered: `NODE_MLS_SUITES`, i.e.
 * the seven of RFC 9420 §17.1 plus the two X-Wing ones of ts-mls; the plain ML-KEM and ML-DSA
 * suites are refused with ts-mls's `DependencyError`.
 *
 * Failures are ts-mls's own errors (`CryptoError`), as with its default provider, so protocol code
 * behaves the same whichever provider runs; the conversation layer maps them to Sealpost's.
 *
 * Signature keys are the raw private keys of RFC 9420 §5.1.2 and the official vectors (the Ed25519
 * and Ed448 seeds, the ECDSA scalar). ts-mls's default provider creates Ed25519 keys as PKCS#8
 * instead (48 bytes); those are accepted too, so a group state created under it can be reopened here.
 */
import { Buffer } from 'node:buffer';
import {
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  type KeyObject,
  randomFillSync,
  sign as nodeSign,
  verify as nodeVerify,
} from 'node:crypto';
import type { Ciphersuite, CiphersuiteImpl, CiphersuiteName } from 'ts-mls/crypto/ciphersuite.js';
import type { CryptoProvider } from 'ts-mls/crypto/provider.js';
import type { Signature, SignatureAlgorithm } from 'ts-mls/crypto/signature.js';
import { CryptoError, DependencyError } from 'ts-mls/mlsError.js';
import { KEMS, makeNodeHpke } from './mls-hpke.ts';
import {
  bytesEqual,
  digest,
  type HashName,
  HASH_SIZE,
  hkdfExpand,
  hkdfExtract,
  hmac,
  plain,
} from './mls-kdf.ts';
import {
  BoundedCache,
  LastKey,
  PUBLIC_KEY_CACHE_MAX,
  publicCacheKey,
  SECRET_KEY_CACHE_MAX,
  secretCacheKey,
} from './mls-key-cache.ts';

/** The suites this provider runs, all natively in OpenSSL 3.5. */
export const NODE_MLS_SUITES: readonly CiphersuiteName[] = [
  'MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519',
  'MLS_128_DHKEMP256_AES128GCM_SHA256_P256',
  'MLS_128_DHKEMX25519_CHACHA20POLY1305_SHA256_Ed25519',
  'MLS_256_DHKEMX448_AES256GCM_SHA512_Ed448',
  'MLS_256_DHKEMP521_AES256GCM_SHA512_P521',
  'MLS_256_DHKEMX448_CHACHA20POLY1305_SHA512_Ed448',
  'MLS_256_DHKEMP384_AES256GCM_SHA384_P384',
  'MLS_256_XWING_AES256GCM_SHA512_Ed25519',
  'MLS_256_XWING_CHACHA20POLY1305_SHA512_Ed25519',
];

const HASHES: Record<Ciphersuite['hash'], HashName> = {
  'SHA-256': 'sha256',
  'SHA-384': 'sha384',
  'SHA-512': 'sha512',
};
const KDF_HASHES: Record<Ciphersuite['hpke']['kdf'], HashName> = {
  'HKDF-SHA256': 'sha256',
  'HKDF-SHA384': 'sha384',
  'HKDF-SHA512': 'sha512',
};

/** How each signature scheme's raw keys sit in DER (RFC 8410 §7 and §4; RFC 5915 inside RFC 5208). */
interface SignatureSpec {
  readonly pkcs8: Buffer;
  readonly spki: Buffer;
  /** ECDSA: SubjectPublicKeyInfo of a compressed point (SEC 1 §2.3.3), as @noble/curves encodes by default. */
  readonly spkiCompressed?: Buffer;
  readonly skLen: number;
  readonly pkLen: number;
  /** ECDSA: the hash signed over (RFC 9420 §5.1.2 uses the suite's hash), DER-encoded signatures. */
  readonly ecdsaHash?: HashName;
  readonly generate: () => { privateKey: KeyObject; publicKey: KeyObject };
}
const hex = (s: string) => Buffer.from(s, 'hex');
const SIGNATURES: Partial<Record<SignatureAlgorithm, SignatureSpec>> = {
  Ed25519: {
    pkcs8: hex('302e020100300506032b657004220420'),
    spki: hex('302a300506032b6570032100'),
    skLen: 32,
    pkLen: 32,
    generate: () => generateKeyPairSync('ed25519'),
  },
  Ed448: {
    pkcs8: hex('3047020100300506032b6571043b0439'),
    spki: hex('3043300506032b6571033a00'),
    skLen: 57,
    pkLen: 57,
    generate: () => generateKeyPairSync('ed448'),
  },
  P256: {
    spkiCompressed: hex('3039301306072a8648ce3d020106082a8648ce3d030107032200'),
    pkcs8: hex('3041020100301306072a8648ce3d020106082a8648ce3d030107042730250201010420'),
    spki: hex('3059301306072a8648ce3d020106082a8648ce3d030107034200'),
    skLen: 32,
    pkLen: 65,
    ecdsaHash: 'sha256',
    generate: () => generateKeyPairSync('ec', { namedCurve: 'prime256v1' }),
  },
  P384: {
    spkiCompressed: hex('3046301006072a8648ce3d020106052b81040022033200'),
    pkcs8: hex('304e020100301006072a8648ce3d020106052b81040022043730350201010430'),
    spki: hex('3076301006072a8648ce3d020106052b81040022036200'),
    skLen: 48,
    pkLen: 97,
    ecdsaHash: 'sha384',
    generate: () => generateKeyPairSync('ec', { namedCurve: 'secp384r1' }),
  },
  P521: {
    spkiCompressed: hex('3058301006072a8648ce3d020106052b81040023034400'),
    pkcs8: hex('3060020100301006072a8648ce3d020106052b81040023044930470201010442'),
    spki: hex('30819b301006072a8648ce3d020106052b8104002303818600'),
    skLen: 66,
    pkLen: 133,
    ecdsaHash: 'sha512',
    generate: () => generateKeyPairSync('ec', { namedCurve: 'secp521r1' }),
  },
};

/** Ed25519 PKCS#8 as ts-mls's default provider writes it: the RFC 8410 prefix and the 32-byte seed. */
const ED25519_PKCS8_LEN = 48;

const signingKeys = new BoundedCache<KeyObject>(SECRET_KEY_CACHE_MAX);
const verifyingKeys = new BoundedCache<KeyObject | null>(PUBLIC_KEY_CACHE_MAX);
// One per signature implementation (so per scheme): the last key signed and verified with.
const lastKeys: { clear(): void }[] = [];

/** Forget every cached key (on logout, or when a device's keys are wiped). */
export function clearMlsKeyCaches(): void {
  signingKeys.clear();
  verifyingKeys.clear();
  for (const last of lastKeys) last.clear();
}

function signatureImpl(alg: SignatureAlgorithm, s: SignatureSpec): Signature {
  const lastSigning = new LastKey<KeyObject>();
  const lastVerifying = new LastKey<KeyObject | null>();
  lastKeys.push(lastSigning, lastVerifying);

  function signingKey(signKey: Uint8Array): KeyObject {
    return lastSigning.getOrSet(signKey, () => parseSigningKey(signKey));
  }
  function parseSigningKey(signKey: Uint8Array): KeyObject {
    let raw = signKey;
    if (alg === 'Ed25519' && signKey.byteLength === ED25519_PKCS8_LEN) {
      if (!bytesEqual(signKey.subarray(0, s.pkcs8.byteLength), s.pkcs8))
        throw new CryptoError(`${alg}: bad PKCS#8 key`);
      raw = signKey.subarray(s.pkcs8.byteLength);
    }
    // Some encoders drop leading zero bytes of an ECDSA scalar.
    if (s.ecdsaHash !== undefined && raw.byteLength < s.skLen) {
      raw = Buffer.concat([Buffer.alloc(s.skLen - raw.byteLength), raw]);
    }
    if (raw.byteLength !== s.skLen)
      throw new CryptoError(`${alg}: signing key of ${signKey.byteLength} bytes`);
    return signingKeys.getOrSet(secretCacheKey(alg, raw), () => {
      const der = Buffer.concat([s.pkcs8, raw]);
      try {
        return createPrivateKey({ key: der, format: 'der', type: 'pkcs8' });
      } catch {
        throw new CryptoError(`${alg}: invalid signing key`);
      } finally {
        der.fill(0);
      }
    });
  }
  /**
   * null for a key OpenSSL refuses (wrong length, not on the curve): it verifies nothing. ECDSA keys
   * are uncompressed points in RFC 9420's vectors, but ts-mls's default provider writes compressed
   * ones, and members on either provider must verify each other.
   */
  function verifyingKey(publicKey: Uint8Array): KeyObject | null {
    return lastVerifying.getOrSet(publicKey, () => parseVerifyingKey(publicKey));
  }
  function parseVerifyingKey(publicKey: Uint8Array): KeyObject | null {
    const compressed = s.spkiCompressed !== undefined && publicKey.byteLength === (s.pkLen + 1) / 2;
    if (publicKey.byteLength !== s.pkLen && !compressed) return null;
    const prefix = compressed ? s.spkiCompressed! : s.spki;
    return verifyingKeys.getOrSet(publicCacheKey(alg, publicKey), () => {
      try {
        return createPublicKey({ key: Buffer.concat([prefix, publicKey]), format: 'der', type: 'spki' });
      } catch {
        return null;
      }
    });
  }
  const algorithm = s.ecdsaHash ?? null;
  return {
    async sign(signKey, message) {
      return plain(nodeSign(algorithm, message, signingKey(signKey)));
    },
    async verify(publicKey, message, signature) {
      const key = verifyingKey(publicKey);
      if (key === null) return false;
      try {
        return nodeVerify(algorithm, message, key, signature);
      } catch {
        return false;
      }
    },
    async keygen() {
      const { privateKey, publicKey } = s.generate();
      const spki = publicKey.export({ format: 'der', type: 'spki' });
      const pkcs8 = privateKey.export({ format: 'der', type: 'pkcs8' });
      let signKey: Uint8Array;
      if (s.ecdsaHash === undefined) {
        signKey = new Uint8Array(pkcs8.subarray(pkcs8.byteLength - s.skLen));
      } else {
        const d = Buffer.from(privateKey.export({ format: 'jwk' }).d!, 'base64url');
        signKey = new Uint8Array(s.skLen);
        signKey.set(d, s.skLen - d.byteLength);
        d.fill(0);
      }
      pkcs8.fill(0);
      return { signKey, publicKey: new Uint8Array(spki.subarray(spki.byteLength - s.pkLen)) };
    },
  };
}

const impls = new Map<CiphersuiteName, CiphersuiteImpl>();

function makeImpl(cs: Ciphersuite): CiphersuiteImpl {
  const sig = SIGNATURES[cs.signature];
  if (sig === undefined || KEMS[cs.hpke.kem] === undefined) {
    throw new DependencyError(`${cs.name} is not offered by the node:crypto MLS provider`);
  }
  const h = HASHES[cs.hash];
  const kdfHash = KDF_HASHES[cs.hpke.kdf];
  return {
    name: cs.name,
    hash: {
      async digest(data) {
        return digest(h, data);
      },
      async mac(key, data) {
        return hmac(h, key, data);
      },
      async verifyMac(key, mac, data) {
        const expected = hmac(h, key, data);
        const ok = bytesEqual(expected, mac);
        expected.fill(0);
        return ok;
      },
    },
    kdf: {
      size: HASH_SIZE[kdfHash],
      async extract(salt, ikm) {
        return hkdfExtract(kdfHash, salt, ikm);
      },
      async expand(prk, info, len) {
        return hkdfExpand(kdfHash, prk, info, len);
      },
    },
    signature: signatureImpl(cs.signature, sig),
    hpke: makeNodeHpke(cs.hpke),
    rng: {
      randomBytes: (n) => randomFillSync(new Uint8Array(n)),
    },
  };
}

export const nodeMlsCryptoProvider: CryptoProvider = {
  async getCiphersuiteImpl(cs) {
    let impl = impls.get(cs.name);
    if (impl === undefined) {
      impl = makeImpl(cs);
      impls.set(cs.name, impl);
    }
    return impl;
  },
};
