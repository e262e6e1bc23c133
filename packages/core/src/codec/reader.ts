/**
 * Bounded reader for Sealpost's binary encodings (TLS presentation language as used by
 * RFC 9420 §2.1: big-endian integers, QUIC-style variable-length prefixes, RFC 9000 §16).
 *
 * Every read checks the remaining input first, and every length prefix is checked against a
 * caller-supplied maximum before anything is allocated. Failure is always a `CodecError`; a
 * decoder built from these calls is total (STYLE.md rule 3).
 */
import { CodecError } from '../errors.ts';
import { LIMITS } from '../limits.ts';

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

export class Reader {
  readonly #bytes: Uint8Array;
  readonly #view: DataView;
  #offset = 0;

  /** Precondition: `bytes.length <= maxInput`, else CODEC_LENGTH_LIMIT. */
  constructor(bytes: Uint8Array, maxInput: number) {
    if (!(bytes instanceof Uint8Array)) throw new CodecError('CODEC_INVALID_VALUE', 'input is not bytes');
    if (bytes.length > maxInput) {
      throw new CodecError('CODEC_LENGTH_LIMIT', `input of ${bytes.length} bytes exceeds ${maxInput}`, {
        length: bytes.length,
        max: maxInput,
      });
    }
    this.#bytes = bytes;
    this.#view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  get offset(): number {
    return this.#offset;
  }
  get remaining(): number {
    return this.#bytes.length - this.#offset;
  }

  #need(n: number, what: string): void {
    if (n > this.remaining) {
      throw new CodecError('CODEC_TRUNCATED', `${what}: needs ${n} bytes, ${this.remaining} left`, {
        offset: this.#offset,
      });
    }
  }

  u8(what = 'u8'): number {
    this.#need(1, what);
    return this.#view.getUint8(this.#offset++);
  }
  u16(what = 'u16'): number {
    this.#need(2, what);
    const v = this.#view.getUint16(this.#offset);
    this.#offset += 2;
    return v;
  }
  u32(what = 'u32'): number {
    this.#need(4, what);
    const v = this.#view.getUint32(this.#offset);
    this.#offset += 4;
    return v;
  }
  /** A u64 that must fit a JS safe integer (sequence numbers, sizes, times in ms). */
  u53(what = 'u64'): number {
    this.#need(8, what);
    const v = this.#view.getBigUint64(this.#offset);
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) {
      throw new CodecError('CODEC_INVALID_VALUE', `${what}: ${v} exceeds 2^53-1`, { offset: this.#offset });
    }
    this.#offset += 8;
    return Number(v);
  }

  /**
   * Variable-length integer, RFC 9420 §2.1.2 (RFC 9000 §16 without the 8-byte form):
   * the two high bits of the first byte give the length 1, 2 or 4; the minimum encoding is required.
   */
  varint(what = 'varint'): number {
    this.#need(1, what);
    const first = this.#view.getUint8(this.#offset);
    const prefix = first >> 6;
    if (prefix === 0) {
      this.#offset += 1;
      return first & 0x3f;
    }
    if (prefix === 1) {
      this.#need(2, what);
      const v = this.#view.getUint16(this.#offset) & 0x3fff;
      if (v < 0x40) throw new CodecError('CODEC_INVALID_VALUE', `${what}: non-minimal varint`);
      this.#offset += 2;
      return v;
    }
    if (prefix === 2) {
      this.#need(4, what);
      const v = this.#view.getUint32(this.#offset) & 0x3fffffff;
      if (v < 0x4000) throw new CodecError('CODEC_INVALID_VALUE', `${what}: non-minimal varint`);
      this.#offset += 4;
      return v;
    }
    throw new CodecError('CODEC_INVALID_VALUE', `${what}: 8-byte varint prefix is not allowed`);
  }

  /** Exactly `n` bytes, returned as a copy (callers may keep it after the input is reused). */
  fixed(n: number, what = 'bytes'): Uint8Array {
    this.#need(n, what);
    const out = this.#bytes.slice(this.#offset, this.#offset + n);
    this.#offset += n;
    return out;
  }

  /** `opaque<V>`: varint length then bytes; the length is checked against `max` before the copy. */
  opaque(max: number, what = 'opaque'): Uint8Array {
    const n = this.varint(`${what} length`);
    if (n > max || n > LIMITS.codecFieldMaxBytes) {
      throw new CodecError('CODEC_LENGTH_LIMIT', `${what}: length ${n} exceeds ${max}`, { length: n, max });
    }
    return this.fixed(n, what);
  }

  /**
   * Like `opaque`, but returns a view into the input instead of a copy: for large payloads that
   * are passed on, not kept. Valid as long as the caller does not reuse the input buffer.
   */
  opaqueView(max: number, what = 'opaque'): Uint8Array {
    const n = this.varint(`${what} length`);
    if (n > max || n > LIMITS.codecFieldMaxBytes) {
      throw new CodecError('CODEC_LENGTH_LIMIT', `${what}: length ${n} exceeds ${max}`, { length: n, max });
    }
    this.#need(n, what);
    const out = this.#bytes.subarray(this.#offset, this.#offset + n);
    this.#offset += n;
    return out;
  }

  /** UTF-8 string in an `opaque` (max in bytes); invalid UTF-8 is CODEC_INVALID_VALUE. */
  string(maxBytes: number, what = 'string'): string {
    const raw = this.opaque(maxBytes, what);
    try {
      return utf8.decode(raw);
    } catch {
      throw new CodecError('CODEC_INVALID_VALUE', `${what}: not valid UTF-8`);
    }
  }

  /** A varint count then `count` items, count checked against `maxItems` first. */
  vector<T>(maxItems: number, item: (r: Reader) => T, what = 'vector'): T[] {
    const count = this.varint(`${what} count`);
    if (count > maxItems || count > LIMITS.codecVectorMaxItems) {
      throw new CodecError('CODEC_LENGTH_LIMIT', `${what}: ${count} items exceeds ${maxItems}`, {
        count,
        max: maxItems,
      });
    }
    const out: T[] = [];
    for (let i = 0; i < count; i++) out.push(item(this));
    return out;
  }

  bool(what = 'bool'): boolean {
    const v = this.u8(what);
    if (v > 1) throw new CodecError('CODEC_INVALID_VALUE', `${what}: ${v} is not 0 or 1`);
    return v === 1;
  }

  /** Asserts the whole input was consumed (no trailing garbage). */
  end(what = 'input'): void {
    if (this.remaining !== 0) {
      throw new CodecError('CODEC_TRAILING_BYTES', `${what}: ${this.remaining} trailing bytes`, {
        trailing: this.remaining,
      });
    }
  }
}

/** Runs `decode` over the whole of `bytes` and requires it to consume every byte. */
export function decodeAll<T>(bytes: Uint8Array, maxInput: number, decode: (r: Reader) => T, what: string): T {
  const r = new Reader(bytes, maxInput);
  const value = decode(r);
  r.end(what);
  return value;
}
