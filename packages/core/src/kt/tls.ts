/**
 * The TLS presentation language (RFC 8446 §3) as key transparency uses it (§2 of
 * draft-ietf-keytrans-protocol-04), on top of the bounded `Reader` and `Writer`.
 *
 * KT's structures use fixed-width length prefixes (`opaque x<0..2^8-1>` has a 1-byte prefix,
 * `<0..2^16-1>` two bytes, `<0..2^32-1>` four), not the QUIC varints of the rest of Sealpost.
 *
 * One reading differs from RFC 8446 §3.4 and is documented in docs/key-transparency.md: the prefix of
 * a vector of *structures* (`HashValue elements<0..2^16-1>`, `PrefixSearchResult results<0..2^8-1>`)
 * counts items, as the draft authors' implementation (Bren2010/katie) does, not bytes. With a byte
 * count `PrefixProof prefix_proofs<0..2^8-1>` could not hold even one realistic proof. For `opaque`
 * the two readings agree, and only `opaque` vectors occur in hashed or signed structures.
 *
 * Every prefix is checked against a caller-supplied named limit before anything is allocated.
 */
import { CodecError } from '../errors.ts';
import type { Reader } from '../codec/reader.ts';
import type { Writer } from '../codec/writer.ts';

/** Width in bytes of a length prefix: `<0..2^8-1>`, `<0..2^16-1>`, `<0..2^32-1>`. */
export type PrefixWidth = 1 | 2 | 4;

const WIDTH_MAX: Record<PrefixWidth, number> = { 1: 0xff, 2: 0xffff, 4: 0xffffffff };

function readPrefix(r: Reader, width: PrefixWidth, what: string): number {
  if (width === 1) return r.u8(`${what} length`);
  if (width === 2) return r.u16(`${what} length`);
  return r.u32(`${what} length`);
}

function writePrefix(w: Writer, width: PrefixWidth, n: number, what: string): void {
  if (n > WIDTH_MAX[width]) {
    throw new CodecError('CODEC_LENGTH_LIMIT', `${what}: ${n} does not fit a ${width}-byte length prefix`, {
      length: n,
      max: WIDTH_MAX[width],
    });
  }
  if (width === 1) w.u8(n);
  else if (width === 2) w.u16(n);
  else w.u32(n);
}

/** `opaque x<0..2^(8*width)-1>`; the length is checked against `max` before the copy. */
export function readOpaque(r: Reader, width: PrefixWidth, max: number, what: string): Uint8Array {
  const n = readPrefix(r, width, what);
  if (n > max) {
    throw new CodecError('CODEC_LENGTH_LIMIT', `${what}: length ${n} exceeds ${max}`, { length: n, max });
  }
  return r.fixed(n, what);
}

export function writeOpaque(w: Writer, width: PrefixWidth, bytes: Uint8Array, what: string): void {
  writePrefix(w, width, bytes.length, what);
  w.fixed(bytes);
}

/** `T items<0..2^(8*width)-1>` read as a count of items (see the module comment), checked first. */
export function readList<T>(
  r: Reader,
  width: 1 | 2,
  maxItems: number,
  item: (r: Reader) => T,
  what: string,
): T[] {
  const count = readPrefix(r, width, what);
  if (count > maxItems) {
    throw new CodecError('CODEC_LENGTH_LIMIT', `${what}: ${count} items exceeds ${maxItems}`, {
      count,
      max: maxItems,
    });
  }
  const out: T[] = [];
  for (let i = 0; i < count; i++) out.push(item(r));
  return out;
}

export function writeList<T>(
  w: Writer,
  width: 1 | 2,
  items: readonly T[],
  item: (w: Writer, value: T) => void,
  what: string,
): void {
  writePrefix(w, width, items.length, what);
  for (const v of items) item(w, v);
}

/** `optional<T>` (RFC 9420 §2.1.1): a presence byte 0 or 1, then the value if present. */
export function readOptional<T>(r: Reader, item: (r: Reader) => T, what: string): T | undefined {
  const present = r.u8(`${what} presence`);
  if (present === 0) return undefined;
  if (present !== 1)
    throw new CodecError('CODEC_INVALID_VALUE', `${what}: presence byte ${present} is not 0 or 1`);
  return item(r);
}

export function writeOptional<T>(w: Writer, value: T | undefined, item: (w: Writer, value: T) => void): void {
  if (value === undefined) {
    w.u8(0);
  } else {
    w.u8(1);
    item(w, value);
  }
}

/** A `uint64` that must fit a JS safe integer (tree sizes, positions, times in ms). */
export function readU64(r: Reader, what: string): number {
  return r.u53(what);
}

/** A fixed-size `opaque x[n]` whose value must have exactly `n` bytes when written. */
export function writeFixed(w: Writer, bytes: Uint8Array, n: number, what: string): void {
  if (bytes.length !== n) {
    throw new CodecError('CODEC_INVALID_VALUE', `${what}: expected ${n} bytes, got ${bytes.length}`);
  }
  w.fixed(bytes);
}
