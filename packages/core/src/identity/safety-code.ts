/**
 * Safety codes: 60 digits two people compare (in person or over a trusted channel) to check that
 * each sees the other's real account key, not one the directory substituted.
 *
 * Construction (libsignal's NumericFingerprintGenerator, "safety numbers", with our own label):
 *   h_0     = SHA-512(string("sealpost/v1/safety-code") || opaque(accountKey) || string(username))
 *   h_i     = SHA-512(h_{i-1} || accountKey)          for i = 1 .. LIMITS.safetyCodeIterations
 *   half    = for j in 0..5: uint40(h_n[5j .. 5j+5]) mod 100000, as 5 decimal digits   (30 digits)
 *   code    = the two halves sorted (as strings), concatenated: 12 groups of 5 digits
 * `string`/`opaque` are core's length-prefixed encodings (codec/writer.ts), so the input is
 * unambiguous. Sorting makes the code independent of who computes it. The iterations make a search
 * for a key whose half collides with a given one cost 5200 SHA-512 per try (about 2^99.7 hashes for
 * the 2^-99.7 chance of a 30-digit match). docs/identity.md "Safety code".
 */
import { Writer } from '../codec/writer.ts';
import { exactBytesArg } from '../crypto/arguments.ts';
import type { CryptoProvider } from '../crypto/provider.ts';
import { parseUsername } from '../account/username.ts';
import { LIMITS } from '../limits.ts';
import { ValidationError } from '../errors.ts';

export const SAFETY_CODE_LABEL = 'sealpost/v1/safety-code';
const HALF_CHUNKS = 6;
const CHUNK_BYTES = 5;

/** A party to compare: the username and the account public key this device holds for it. */
export interface SafetyCodeParty {
  readonly username: string;
  readonly accountKey: Uint8Array;
}

/** The 30 digits of one party (no separators). */
export function safetyCodeHalf(crypto: CryptoProvider, party: SafetyCodeParty): string {
  if (typeof party !== 'object' || party === null) {
    throw new ValidationError('VALIDATION_FAILED', 'safety code party must be an object');
  }
  const username = parseUsername(party.username);
  const key = exactBytesArg(party.accountKey, LIMITS.publicKeyBytes, 'account key');
  let h = crypto.sha512(new Writer().string(SAFETY_CODE_LABEL).opaque(key).string(username).finish());
  const buf = new Uint8Array(h.length + key.length);
  for (let i = 0; i < LIMITS.safetyCodeIterations; i++) {
    buf.set(h);
    buf.set(key, h.length);
    h = crypto.sha512(buf);
  }
  let digits = '';
  for (let j = 0; j < HALF_CHUNKS; j++) {
    let chunk = 0;
    // 40 bits fit a double exactly.
    for (let k = 0; k < CHUNK_BYTES; k++) chunk = chunk * 256 + (h[j * CHUNK_BYTES + k] ?? 0);
    digits += String(chunk % 100_000).padStart(5, '0');
  }
  return digits;
}

/** The safety code of two parties, `"12345 67890 ..."` (12 groups of 5); the same for either order. */
export function safetyCode(crypto: CryptoProvider, a: SafetyCodeParty, b: SafetyCodeParty): string {
  const halves = [safetyCodeHalf(crypto, a), safetyCodeHalf(crypto, b)].sort();
  return (halves.join('').match(/\d{5}/g) ?? []).join(' ');
}
