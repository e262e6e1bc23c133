/**
 * The padded envelope: how a backup object that is not a blob (a pack header, an index file, a
 * snapshot) is encrypted, so that its length says little about its content (docs/backup-format.md
 * §Envelopes).
 *
 *   envelope  = nonce (12 random bytes) || AES-256-GCM(key, nonce, plaintext, aad) || tag (16)
 *   plaintext = u32 content length n || content (n bytes) || zero bytes (padding)
 *
 * The padding is inside the encryption: the server sees neither where content ends nor that padding
 * exists. A reader requires every padding byte to be zero, so an envelope has one valid plaintext.
 * Each kind of object has its own key and aad label; nonces are random (one encryption per object:
 * the 2^32 bound of NIST SP 800-38D §8.3 is out of reach).
 */
import { CodecError, ValidationError } from '../errors.ts';
import type { CryptoProvider } from '../crypto/provider.ts';
import { bytesArg, CRYPTO_SIZES } from '../crypto/arguments.ts';

/** Nonce, length prefix and tag. */
export const ENVELOPE_OVERHEAD_BYTES = CRYPTO_SIZES.gcmNonce + 4 + CRYPTO_SIZES.gcmTag;

/**
 * Seals `content` into an envelope of exactly `totalLength` bytes.
 * Requires `totalLength >= content.length + ENVELOPE_OVERHEAD_BYTES` and `content.length < 2^32`.
 */
export function sealEnvelope(
  crypto: CryptoProvider,
  key: Uint8Array,
  aad: Uint8Array,
  content: Uint8Array,
  totalLength: number,
): Uint8Array {
  bytesArg(content, 'envelope content');
  const minimum = content.length + ENVELOPE_OVERHEAD_BYTES;
  if (!Number.isInteger(totalLength) || totalLength < minimum || content.length > 0xffffffff) {
    throw new ValidationError('VALIDATION_FAILED', `envelope length ${totalLength} is below ${minimum}`);
  }
  const plaintext = new Uint8Array(totalLength - CRYPTO_SIZES.gcmNonce - CRYPTO_SIZES.gcmTag);
  new DataView(plaintext.buffer).setUint32(0, content.length);
  plaintext.set(content, 4);
  const nonce = crypto.randomBytes(CRYPTO_SIZES.gcmNonce);
  const ciphertext = crypto.aes256gcm.seal(key, nonce, plaintext, aad);
  plaintext.fill(0);
  const out = new Uint8Array(totalLength);
  out.set(nonce);
  out.set(ciphertext, nonce.length);
  return out;
}

/**
 * Opens an envelope of at most `maxLength` bytes and returns its content (a copy).
 * Errors: CodecError (too short, too long, bad length prefix, non-zero padding),
 * CryptoVerificationError (tag: wrong key or aad, or altered bytes).
 */
export function openEnvelope(
  crypto: CryptoProvider,
  key: Uint8Array,
  aad: Uint8Array,
  envelope: Uint8Array,
  maxLength: number,
  what: string,
): Uint8Array {
  if (!(envelope instanceof Uint8Array)) throw new CodecError('CODEC_INVALID_VALUE', `${what} is not bytes`);
  if (envelope.length < ENVELOPE_OVERHEAD_BYTES) {
    throw new CodecError('CODEC_TRUNCATED', `${what}: ${envelope.length} bytes is shorter than an envelope`, {
      length: envelope.length,
    });
  }
  if (envelope.length > maxLength) {
    throw new CodecError('CODEC_LENGTH_LIMIT', `${what}: ${envelope.length} bytes exceeds ${maxLength}`, {
      length: envelope.length,
      max: maxLength,
    });
  }
  const plaintext = crypto.aes256gcm.open(
    key,
    envelope.subarray(0, CRYPTO_SIZES.gcmNonce),
    envelope.subarray(CRYPTO_SIZES.gcmNonce),
    aad,
  );
  try {
    const n = new DataView(plaintext.buffer, plaintext.byteOffset, plaintext.byteLength).getUint32(0);
    if (n > plaintext.length - 4) {
      throw new CodecError('CODEC_INVALID_VALUE', `${what}: content length ${n} exceeds the envelope`);
    }
    let nonZero = 0;
    for (let i = 4 + n; i < plaintext.length; i++) nonZero |= plaintext[i]!;
    if (nonZero !== 0) throw new CodecError('CODEC_INVALID_VALUE', `${what}: padding is not zero`);
    return plaintext.slice(4, 4 + n);
  } finally {
    plaintext.fill(0);
  }
}
