/**
 * The crypto provider interface: the only way protocol code reaches cryptography.
 *
 * Core never imports a concrete library (STYLE.md rule 1). Two implementations exist and are shown
 * equal on shared vectors (`test/vectors/crypto-provider.json`):
 *   - `nodeCryptoProvider` in `packages/core/node/crypto-provider.ts` (node:crypto, fast, Node only);
 *   - `nobleCryptoProvider` in `noble-provider.ts` (@noble/*, audited, runs in the browser).
 *
 * Keys and secrets are `Uint8Array`; callers wipe them when done. Functions are synchronous so
 * sans-I/O state machines can call them inline.
 */
export interface CryptoProvider {
  readonly name: string;
  /** Cryptographically secure random bytes. */
  randomBytes(length: number): Uint8Array;
  sha256(data: Uint8Array): Uint8Array;
  sha512(data: Uint8Array): Uint8Array;
  hmacSha256(key: Uint8Array, data: Uint8Array): Uint8Array;
  /** HKDF-SHA256 (RFC 5869) extract-then-expand; `length <= 255 * 32`. */
  hkdfSha256(ikm: Uint8Array, salt: Uint8Array, info: Uint8Array, length: number): Uint8Array;
  readonly ed25519: Ed25519;
  readonly x25519: X25519;
  readonly aes256gcm: Aead;
  /** Constant-time equality; false (not an exception) when lengths differ. */
  timingSafeEqual(a: Uint8Array, b: Uint8Array): boolean;
}

/** Ed25519 (RFC 8032 §5.1), private keys as 32-byte seeds. */
export interface Ed25519 {
  publicKey(seed: Uint8Array): Uint8Array;
  sign(seed: Uint8Array, message: Uint8Array): Uint8Array;
  /**
   * RFC 8032 §5.1.7 verification (canonical S required). Returns false, never throws, for a
   * malformed key or signature of any length.
   */
  verify(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean;
}

/** X25519 (RFC 7748 §5). */
export interface X25519 {
  publicKey(privateKey: Uint8Array): Uint8Array;
  /** Throws CryptoVerificationError for an all-zero shared secret (small-order public key). */
  sharedSecret(privateKey: Uint8Array, publicKey: Uint8Array): Uint8Array;
}

/** AES-256-GCM with 12-byte nonces and 16-byte tags appended to the ciphertext (NIST SP 800-38D). */
export interface Aead {
  seal(key: Uint8Array, nonce: Uint8Array, plaintext: Uint8Array, aad: Uint8Array): Uint8Array;
  /**
   * Optional, for providers that can encrypt in pieces (node:crypto): seals the concatenation of
   * `parts`, as `seal` would, and writes ciphertext and tag into `out` at `at` (the caller makes
   * room: the parts' length plus 16); returns the bytes written. Saves joining the parts and copying
   * the result, per blob of a backup (sealBlobInto).
   */
  sealInto?(
    key: Uint8Array,
    nonce: Uint8Array,
    parts: readonly Uint8Array[],
    aad: Uint8Array,
    out: Uint8Array,
    at: number,
  ): number;
  /** Throws CryptoVerificationError (CRYPTO_VERIFICATION_FAILED) when the tag does not verify. */
  open(key: Uint8Array, nonce: Uint8Array, ciphertext: Uint8Array, aad: Uint8Array): Uint8Array;
}
