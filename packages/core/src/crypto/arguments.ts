/**
 * Argument checks shared by the crypto providers (noble and node:crypto), so both refuse the same
 * inputs with the same typed error. A provider calls these before touching any library: a library's
 * own exception (TypeError, RangeError, an OpenSSL error) must never reach protocol code.
 * Messages name the argument and its length, never its content (it may be a secret).
 */
import { ValidationError } from '../errors.ts';

/** Sizes fixed by the algorithms: RFC 8032 §5.1.5/§5.1.6, RFC 7748 §5, NIST SP 800-38D §5.2.1.1. */
export const CRYPTO_SIZES = {
  ed25519Seed: 32,
  ed25519PublicKey: 32,
  ed25519Signature: 64,
  x25519Key: 32,
  aes256Key: 32,
  gcmNonce: 12,
  gcmTag: 16,
  sha256: 32,
  /** RFC 5869 §2.3: L <= 255 * HashLen. */
  hkdfSha256MaxLength: 255 * 32,
  /** WebCrypto getRandomValues quota (W3C WebCrypto §10.1.1), kept in Node too so both agree. */
  randomMaxBytes: 65_536,
} as const;

export function isBytes(value: unknown): value is Uint8Array {
  return value instanceof Uint8Array;
}

/** Any `Uint8Array` (a Buffer is one); other typed arrays, ArrayBuffers and arrays are refused. */
export function bytesArg(value: unknown, what: string): Uint8Array {
  if (!isBytes(value)) throw new ValidationError('VALIDATION_FAILED', `${what} must be a Uint8Array`);
  return value;
}

export function exactBytesArg(value: unknown, length: number, what: string): Uint8Array {
  const bytes = bytesArg(value, what);
  if (bytes.length !== length) {
    throw new ValidationError('VALIDATION_FAILED', `${what} must be ${length} bytes, got ${bytes.length}`, {
      length: bytes.length,
      expected: length,
    });
  }
  return bytes;
}

/** An integer in [min, max]; NaN, fractions, infinities and non-numbers are refused. */
export function integerArg(value: unknown, min: number, max: number, what: string): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new ValidationError('VALIDATION_FAILED', `${what} must be an integer from ${min} to ${max}`);
  }
  return value;
}
