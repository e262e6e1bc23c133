/**
 * Text encodings of bytes for JSON bodies and display: base64url (RFC 4648 §5, no padding) and hex.
 * Decoders are strict: any character outside the alphabet, padding, or a non-canonical final
 * character is a CodecError (two encodings of one value would defeat byte-equality checks).
 */
import { CodecError } from '../errors.ts';

const B64URL = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
const B64URL_INDEX = new Int16Array(128).fill(-1);
for (let i = 0; i < B64URL.length; i++) B64URL_INDEX[B64URL.charCodeAt(i)] = i;

export function toBase64url(bytes: Uint8Array): string {
  let out = '';
  let i = 0;
  for (; i + 2 < bytes.length; i += 3) {
    const n = (bytes[i]! << 16) | (bytes[i + 1]! << 8) | bytes[i + 2]!;
    out += B64URL[n >> 18]! + B64URL[(n >> 12) & 63]! + B64URL[(n >> 6) & 63]! + B64URL[n & 63]!;
  }
  const rest = bytes.length - i;
  if (rest === 1) {
    const n = bytes[i]! << 16;
    out += B64URL[n >> 18]! + B64URL[(n >> 12) & 63]!;
  } else if (rest === 2) {
    const n = (bytes[i]! << 16) | (bytes[i + 1]! << 8);
    out += B64URL[n >> 18]! + B64URL[(n >> 12) & 63]! + B64URL[(n >> 6) & 63]!;
  }
  return out;
}

/** Precondition: `text.length <= maxChars` (checked before any allocation). */
export function fromBase64url(text: string, maxChars: number, what = 'base64url'): Uint8Array {
  if (typeof text !== 'string') throw new CodecError('CODEC_INVALID_VALUE', `${what}: not a string`);
  if (text.length > maxChars) {
    throw new CodecError('CODEC_LENGTH_LIMIT', `${what}: ${text.length} characters exceeds ${maxChars}`);
  }
  if (text.length % 4 === 1) throw new CodecError('CODEC_INVALID_VALUE', `${what}: impossible length`);
  const out = new Uint8Array(Math.floor((text.length * 3) / 4));
  let acc = 0;
  let bits = 0;
  let o = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    const v = c < 128 ? B64URL_INDEX[c]! : -1;
    if (v < 0) throw new CodecError('CODEC_INVALID_VALUE', `${what}: invalid character at ${i}`);
    acc = (acc << 6) | v;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[o++] = (acc >> bits) & 0xff;
    }
  }
  if ((acc & ((1 << bits) - 1)) !== 0) {
    throw new CodecError('CODEC_INVALID_VALUE', `${what}: non-canonical final character`);
  }
  return out;
}

/** Decodes base64url and requires exactly `length` bytes. */
export function fromBase64urlExact(text: string, length: number, what: string): Uint8Array {
  const bytes = fromBase64url(text, Math.ceil((length * 4) / 3), what);
  if (bytes.length !== length) {
    throw new CodecError('CODEC_INVALID_VALUE', `${what}: expected ${length} bytes, got ${bytes.length}`);
  }
  return bytes;
}

const HEX_DIGIT_CODES = Uint16Array.from('0123456789abcdef', (c) => c.charCodeAt(0));
/** Bytes turned into code units at a time: String.fromCharCode takes them as arguments. */
const HEX_SLICE_BYTES = 2048;
/** The code units of one slice, reused by every call (nothing else runs during one). */
const HEX_UNITS = new Uint16Array(2 * HEX_SLICE_BYTES);

/**
 * Lowercase hex, as one flat string: appending digit pairs to a string made a rope of ~32 string
 * objects per 32-byte id (~1 KiB), and engines keep many ids as hex (a check's set of the trees it
 * has seen held 300,000 string objects).
 */
export function toHex(bytes: Uint8Array): string {
  const units = HEX_UNITS;
  const parts: string[] = [];
  for (let at = 0; at < bytes.length; at += HEX_SLICE_BYTES) {
    const end = Math.min(bytes.length, at + HEX_SLICE_BYTES);
    for (let i = at; i < end; i++) {
      const b = bytes[i]!;
      units[2 * (i - at)] = HEX_DIGIT_CODES[b >>> 4]!;
      units[2 * (i - at) + 1] = HEX_DIGIT_CODES[b & 15]!;
    }
    parts.push(String.fromCharCode.apply(null, units.subarray(0, 2 * (end - at)) as unknown as number[]));
    units.fill(0, 0, 2 * (end - at)); // the shared buffer keeps no copy of what was converted
  }
  return parts.length === 1 ? parts[0]! : parts.join('');
}

export function fromHex(text: string, maxChars: number, what = 'hex'): Uint8Array {
  if (typeof text !== 'string') throw new CodecError('CODEC_INVALID_VALUE', `${what}: not a string`);
  if (text.length > maxChars) {
    throw new CodecError('CODEC_LENGTH_LIMIT', `${what}: ${text.length} characters exceeds ${maxChars}`);
  }
  if (text.length % 2 !== 0 || !/^[0-9a-f]*$/.test(text)) {
    throw new CodecError('CODEC_INVALID_VALUE', `${what}: not lowercase hex of even length`);
  }
  const out = new Uint8Array(text.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(text.slice(2 * i, 2 * i + 2), 16);
  return out;
}

export function concatBytes(...parts: Uint8Array[]): Uint8Array {
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** Plain (not constant-time) equality, for public values only. Secrets use provider.timingSafeEqual. */
export function equalPublicBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
