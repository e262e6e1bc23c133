/**
 * Growable writer, the inverse of `Reader` (same encodings, RFC 9420 §2.1).
 * Writers refuse values a reader would refuse, so an encoder never produces undecodable bytes.
 */
import { CodecError } from '../errors.ts';

const utf8 = new TextEncoder();
const VARINT_MAX = 0x3fffffff;

export class Writer {
  #buf: Uint8Array;
  #view: DataView;
  #length = 0;

  constructor(initialCapacity = 256) {
    this.#buf = new Uint8Array(initialCapacity);
    this.#view = new DataView(this.#buf.buffer);
  }

  #reserve(n: number): void {
    const need = this.#length + n;
    if (need <= this.#buf.length) return;
    let cap = this.#buf.length * 2;
    while (cap < need) cap *= 2;
    const next = new Uint8Array(cap);
    next.set(this.#buf.subarray(0, this.#length));
    this.#buf = next;
    this.#view = new DataView(next.buffer);
  }

  #int(value: number, max: number, what: string): void {
    if (!Number.isInteger(value) || value < 0 || value > max) {
      throw new CodecError('CODEC_INVALID_VALUE', `${what}: ${value} is out of range`);
    }
  }

  u8(v: number): this {
    this.#int(v, 0xff, 'u8');
    this.#reserve(1);
    this.#view.setUint8(this.#length, v);
    this.#length += 1;
    return this;
  }
  u16(v: number): this {
    this.#int(v, 0xffff, 'u16');
    this.#reserve(2);
    this.#view.setUint16(this.#length, v);
    this.#length += 2;
    return this;
  }
  u32(v: number): this {
    this.#int(v, 0xffffffff, 'u32');
    this.#reserve(4);
    this.#view.setUint32(this.#length, v);
    this.#length += 4;
    return this;
  }
  u53(v: number): this {
    this.#int(v, Number.MAX_SAFE_INTEGER, 'u64');
    this.#reserve(8);
    this.#view.setBigUint64(this.#length, BigInt(v));
    this.#length += 8;
    return this;
  }
  /** RFC 9420 §2.1.2 minimal varint (1, 2 or 4 bytes). */
  varint(v: number): this {
    this.#int(v, VARINT_MAX, 'varint');
    if (v < 0x40) return this.u8(v);
    if (v < 0x4000) return this.u16(v | 0x4000);
    return this.u32((v | 0x80000000) >>> 0);
  }
  fixed(bytes: Uint8Array): this {
    this.#reserve(bytes.length);
    this.#buf.set(bytes, this.#length);
    this.#length += bytes.length;
    return this;
  }
  opaque(bytes: Uint8Array): this {
    return this.varint(bytes.length).fixed(bytes);
  }
  string(s: string): this {
    return this.opaque(utf8.encode(s));
  }
  vector<T>(items: readonly T[], item: (w: Writer, value: T) => void): this {
    this.varint(items.length);
    for (const v of items) item(this, v);
    return this;
  }
  bool(v: boolean): this {
    return this.u8(v ? 1 : 0);
  }
  /**
   * The bytes written so far, as a view (no copy: frames carry whole payloads). Later writes only
   * append, so they never change it; a grown buffer is a new one, leaving the view intact.
   */
  finish(): Uint8Array {
    return this.#buf.subarray(0, this.#length);
  }
}
