/**
 * The recovery key: a 32-byte secret the user prints once and keeps offline, from which an Ed25519
 * recovery signing key is derived. Its public key is committed in the account's first device list
 * and never changes; it can authorise an account-key rotation when every device is lost
 * (account-key-chain.ts). Format and rationale: docs/identity.md "Recovery code".
 *
 * Recovery code: the secret and a 3-byte checksum, SHA-256("sealpost/v1/recovery-code-checksum" ||
 * secret)[0..3], written in Crockford base32 (no I, L, O, U: nothing to misread) as 14 groups of 4
 * characters joined by `-`. 35 bytes = 280 bits = exactly 56 characters, so no padding bit exists.
 * Parsing is forgiving about what a human changes (case, spaces, dashes, O for 0, I and L for 1)
 * and strict about everything else; a typo is caught by the checksum (missed with probability 2^-24).
 *
 * The code is the one sanctioned string form of a secret (STYLE.md rule 10): it exists to be shown
 * to the user and printed, never logged; callers wipe the secret bytes when done.
 */
import { ValidationError } from '../errors.ts';
import { exactBytesArg } from '../crypto/arguments.ts';
import type { CryptoProvider } from '../crypto/provider.ts';

export const RECOVERY_SECRET_BYTES = 32;
const CHECKSUM_BYTES = 3;
/** 8 * (32 + 3) / 5: the code has exactly 56 characters. */
const CODE_CHARS = 56;
const GROUP_CHARS = 4;

/** Crockford base32 (https://www.crockford.com/base32.html), value = index. */
const ALPHABET = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
/** Crockford's decoding aliases for characters a human may write instead. */
const ALIASES: Readonly<Record<string, string>> = { O: '0', I: '1', L: '1' };

const utf8 = new TextEncoder();
const CHECKSUM_LABEL = utf8.encode('sealpost/v1/recovery-code-checksum');
const SIGNING_KEY_INFO = utf8.encode('sealpost/v1/recovery-signing-key');

/** A fresh recovery secret from the provider's CSPRNG. */
export function generateRecoverySecret(crypto: CryptoProvider): Uint8Array {
  return crypto.randomBytes(RECOVERY_SECRET_BYTES);
}

function checksumOf(crypto: CryptoProvider, secret: Uint8Array): Uint8Array {
  const input = new Uint8Array(CHECKSUM_LABEL.length + secret.length);
  input.set(CHECKSUM_LABEL);
  input.set(secret, CHECKSUM_LABEL.length);
  const sum = crypto.sha256(input).slice(0, CHECKSUM_BYTES);
  input.fill(0);
  return sum;
}

/** The printable code of a secret, e.g. `K3Q0-...` (14 groups of 4). Precondition: 32-byte secret. */
export function recoveryCodeOf(crypto: CryptoProvider, secret: Uint8Array): string {
  exactBytesArg(secret, RECOVERY_SECRET_BYTES, 'recovery secret');
  const data = new Uint8Array(RECOVERY_SECRET_BYTES + CHECKSUM_BYTES);
  data.set(secret);
  data.set(checksumOf(crypto, secret), RECOVERY_SECRET_BYTES);
  let chars = '';
  let acc = 0;
  let bits = 0;
  for (const byte of data) {
    acc = ((acc << 8) | byte) & 0xfff; // never more than 12 live bits
    bits += 8;
    while (bits >= 5) {
      bits -= 5;
      chars += ALPHABET[(acc >> bits) & 0x1f];
    }
  }
  data.fill(0);
  const groups: string[] = [];
  for (let i = 0; i < CODE_CHARS; i += GROUP_CHARS) groups.push(chars.slice(i, i + GROUP_CHARS));
  return groups.join('-');
}

function invalid(message: string): ValidationError {
  return new ValidationError('IDENTITY_RECOVERY_CODE_INVALID', message);
}

/**
 * The secret a recovery code stands for. Throws IDENTITY_RECOVERY_CODE_INVALID for a code of the
 * wrong length, with a character outside the alphabet, or whose checksum does not match. Messages
 * never quote the input (it is a secret).
 */
export function parseRecoveryCode(crypto: CryptoProvider, code: unknown): Uint8Array {
  if (typeof code !== 'string') throw invalid('recovery code must be a string');
  // A bound before any work: 56 characters plus generous separators.
  if (code.length > 4 * CODE_CHARS) throw invalid('recovery code is too long');
  const chars = code.toUpperCase().replace(/[\s-]/g, '');
  if (chars.length !== CODE_CHARS) {
    throw invalid(`recovery code must have ${CODE_CHARS} characters, got ${chars.length}`);
  }
  const data = new Uint8Array(RECOVERY_SECRET_BYTES + CHECKSUM_BYTES);
  let acc = 0;
  let bits = 0;
  let n = 0;
  for (const c of chars) {
    const value = ALPHABET.indexOf(ALIASES[c] ?? c);
    if (value < 0) throw invalid('recovery code contains a character outside Crockford base32');
    acc = ((acc << 5) | value) & 0xfff;
    bits += 5;
    if (bits >= 8) {
      bits -= 8;
      data[n++] = (acc >> bits) & 0xff;
    }
  }
  const secret = data.slice(0, RECOVERY_SECRET_BYTES);
  const ok = crypto.timingSafeEqual(checksumOf(crypto, secret), data.subarray(RECOVERY_SECRET_BYTES));
  data.fill(0);
  if (!ok) {
    secret.fill(0);
    throw invalid('recovery code checksum does not match: a character is mistyped');
  }
  return secret;
}

/** The Ed25519 recovery signing key: seed = HKDF-SHA256(ikm = secret, salt = "", info = label, L = 32). */
export interface RecoverySigningKey {
  /** Secret: wipe when done. */
  readonly seed: Uint8Array;
  readonly publicKey: Uint8Array;
}

export function recoverySigningKey(crypto: CryptoProvider, secret: Uint8Array): RecoverySigningKey {
  exactBytesArg(secret, RECOVERY_SECRET_BYTES, 'recovery secret');
  // RFC 5869 §3.1: the salt is optional; the secret is already uniformly random.
  const seed = crypto.hkdfSha256(secret, new Uint8Array(0), SIGNING_KEY_INFO, 32);
  return { seed, publicKey: crypto.ed25519.publicKey(seed) };
}
