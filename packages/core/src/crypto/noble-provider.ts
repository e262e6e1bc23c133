/**
 * `nobleCryptoProvider`: the CryptoProvider on @noble/* (audited, pure JS, runs in the browser).
 *
 * Inside: SHA-2 and HMAC/HKDF (@noble/hashes), Ed25519 and X25519 (@noble/curves), AES-256-GCM
 * (@noble/ciphers); randomness is `crypto.getRandomValues` through noble's `randomBytes`.
 * Shown equal to `nodeCryptoProvider` (packages/core/node/crypto-provider.ts) on the shared vectors
 * in `test/vectors/crypto-provider.json` and on random inputs.
 *
 * Every argument is checked here first (./arguments.ts) so a bad one is a ValidationError, never a
 * library exception.
 */
import { gcm } from '@noble/ciphers/aes.js';
import { ed25519, x25519 } from '@noble/curves/ed25519.js';
import { hkdf } from '@noble/hashes/hkdf.js';
import { hmac } from '@noble/hashes/hmac.js';
import { sha256, sha512 } from '@noble/hashes/sha2.js';
import { randomBytes } from '@noble/hashes/utils.js';
import { CryptoVerificationError } from '../errors.ts';
import { bytesArg, CRYPTO_SIZES, exactBytesArg, integerArg, isBytes } from './arguments.ts';
import type { Aead, CryptoProvider, Ed25519, X25519 } from './provider.ts';

const ed: Ed25519 = {
  publicKey(seed) {
    return ed25519.getPublicKey(exactBytesArg(seed, CRYPTO_SIZES.ed25519Seed, 'Ed25519 seed'));
  },
  sign(seed, message) {
    const s = exactBytesArg(seed, CRYPTO_SIZES.ed25519Seed, 'Ed25519 seed');
    return ed25519.sign(bytesArg(message, 'message'), s);
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
    try {
      // zip215: false is RFC 8032 §5.1.7 / FIPS 186-5: canonical S (< L) and canonical point
      // encodings (y < p); noble also refuses small-order public keys in this mode.
      return ed25519.verify(signature, message, publicKey, { zip215: false });
    } catch {
      return false;
    }
  },
};

function isAllZero(bytes: Uint8Array): boolean {
  let acc = 0;
  for (const b of bytes) acc |= b;
  return acc === 0;
}

const x: X25519 = {
  publicKey(privateKey) {
    return x25519.getPublicKey(exactBytesArg(privateKey, CRYPTO_SIZES.x25519Key, 'X25519 private key'));
  },
  sharedSecret(privateKey, publicKey) {
    const k = exactBytesArg(privateKey, CRYPTO_SIZES.x25519Key, 'X25519 private key');
    const u = exactBytesArg(publicKey, CRYPTO_SIZES.x25519Key, 'X25519 public key');
    let shared: Uint8Array;
    try {
      // noble refuses the small-order u values before the ladder; lengths were checked above,
      // so that refusal is the only way this throws.
      shared = x25519.getSharedSecret(k, u);
    } catch {
      throw new CryptoVerificationError('CRYPTO_VERIFICATION_FAILED', 'X25519 public key is of small order');
    }
    // RFC 7748 §6.1: "check ... whether the resulting value is all zeros and abort if so".
    if (isAllZero(shared)) {
      throw new CryptoVerificationError('CRYPTO_VERIFICATION_FAILED', 'X25519 shared secret is all zero');
    }
    return shared;
  },
};

const aead: Aead = {
  seal(key, nonce, plaintext, aad) {
    const k = exactBytesArg(key, CRYPTO_SIZES.aes256Key, 'AES-256-GCM key');
    const n = exactBytesArg(nonce, CRYPTO_SIZES.gcmNonce, 'AES-GCM nonce');
    const p = bytesArg(plaintext, 'plaintext');
    const a = bytesArg(aad, 'associated data');
    return gcm(k, n, a).encrypt(p);
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
    try {
      return gcm(k, n, a).decrypt(c);
    } catch {
      throw new CryptoVerificationError('CRYPTO_VERIFICATION_FAILED', 'AES-GCM tag does not verify');
    }
  },
};

export const nobleCryptoProvider: CryptoProvider = {
  name: 'noble',
  randomBytes(length) {
    return randomBytes(integerArg(length, 0, CRYPTO_SIZES.randomMaxBytes, 'random length'));
  },
  sha256(data) {
    return sha256(bytesArg(data, 'data'));
  },
  sha512(data) {
    return sha512(bytesArg(data, 'data'));
  },
  hmacSha256(key, data) {
    return hmac(sha256, bytesArg(key, 'HMAC key'), bytesArg(data, 'data'));
  },
  hkdfSha256(ikm, salt, info, length) {
    return hkdf(
      sha256,
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
    // Accumulate every difference, no early exit: time depends on the length only.
    let diff = 0;
    for (let i = 0; i < a.length; i++) diff |= a[i]! ^ b[i]!;
    return diff === 0;
  },
};
