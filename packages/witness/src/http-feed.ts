/**
 * The `DirectoryFeed` of a Sealpost server, over its public `/v1/kt` endpoints (docs/protocol.md
 * "Key transparency"), and the way back: posting the witness's cosignature of a head it verified.
 *
 *   treeHead(atLeast)        GET  /v1/kt/head?atLeast=          the newest signed head and its root
 *   updates(from, to)        GET  /v1/kt/updates?after=from-1   entries from `from`, cut at `to`
 *   consistencyProof(n1, n2) GET  /v1/kt/consistency?from=&to=  §3.2 / §11.1 batch proof elements
 *   postCosignature(...)     POST /v1/kt/cosignatures
 *
 * Nothing the server answers is trusted here beyond its shape: every field is checked for type and
 * size (a malformed answer is a CodecError, an oversized one a LimitError, before any allocation
 * past `WITNESS_LIMITS.responseMaxBytes`), and the witness verifies the content (witness.ts). A
 * server that does not answer within `WITNESS_LIMITS.requestTimeoutMs` is UnavailableError NOT_READY.
 */
import { Buffer } from 'node:buffer';
import {
  CodecError,
  LimitError,
  SealpostError,
  UnavailableError,
  errorFromWire,
  fromBase64url,
  toBase64url,
} from '@sealpost/core';
import { decodeConfiguration, type Configuration } from '@sealpost/core/kt/configuration';
import type { PrefixLeaf } from '@sealpost/core/kt/prefix-proof';
import type { Cosignature } from './cosignature.ts';
import type { DirectoryFeed, DirectoryHead, EntryUpdate } from './feed.ts';
import { WITNESS_LIMITS } from './limits.ts';

export type FetchLike = (input: string, init: RequestInit) => Promise<Response>;

export interface HttpFeedOptions {
  /** The server's base URL (`http(s)://host[:port]`), without a path. */
  readonly serverUrl: string;
  readonly fetch?: FetchLike | undefined;
}

/** A served head with what signs it: the configuration and the cosignatures collected for it. */
export interface ServedHead extends DirectoryHead {
  /** The newest entry's timestamp, ms. */
  readonly timestamp: number;
  readonly configuration: Configuration;
  readonly cosignatures: readonly Cosignature[];
}

const HASH_BYTES = 32;
const KEY_BYTES = 32;
const SIGNATURE_BYTES = 64;
/** Base64url characters of `n` bytes, without padding. */
const chars = (n: number): number => Math.ceil((n * 4) / 3);

export class HttpFeed implements DirectoryFeed {
  readonly serverUrl: string;
  readonly #fetch: FetchLike;

  constructor(opts: HttpFeedOptions) {
    const url = new URL(opts.serverUrl);
    if ((url.protocol !== 'http:' && url.protocol !== 'https:') || url.pathname.length > 1 || url.search) {
      throw new CodecError('CODEC_INVALID_VALUE', 'the server URL is http(s)://host[:port] without a path');
    }
    this.serverUrl = url.origin;
    this.#fetch = opts.fetch ?? ((input, init) => fetch(input, init));
  }

  /** The newest head with its configuration and cosignatures (GET /v1/kt/head). */
  async servedHead(atLeast?: number): Promise<ServedHead> {
    const query = atLeast === undefined || atLeast <= 0 ? '' : `?atLeast=${atLeast}`;
    const body = await this.#request('GET', `/v1/kt/head${query}`);
    const cosignatures = arrayField(body, 'cosignatures', WITNESS_LIMITS.cosignaturesMax).map((c) => {
      const o = asObject(c, 'cosignature');
      return {
        witnessKey: bytesField(o, 'witnessKey', KEY_BYTES, true),
        timestamp: integerField(o, 'timestamp'),
        signature: bytesField(o, 'signature', SIGNATURE_BYTES, true),
      };
    });
    return {
      treeSize: integerField(body, 'treeSize'),
      timestamp: integerField(body, 'timestamp'),
      root: bytesField(body, 'root', HASH_BYTES, true),
      signature: bytesField(body, 'signature', SIGNATURE_BYTES, true),
      configuration: decodeConfiguration(
        bytesField(body, 'configuration', WITNESS_LIMITS.configurationMaxBytes),
      ),
      cosignatures,
    };
  }

  async treeHead(atLeast?: number): Promise<DirectoryHead> {
    const { treeSize, root, signature } = await this.servedHead(atLeast);
    return { treeSize, root, signature };
  }

  /** Entries `from` .. `to - 1` as far as one answer goes (the server sends at most 256). */
  async updates(from: number, to: number): Promise<EntryUpdate[]> {
    const body = await this.#request('GET', `/v1/kt/updates?after=${from - 1}`);
    const entries = arrayField(body, 'entries', WITNESS_LIMITS.entriesPerRequest);
    return entries.slice(0, Math.max(0, to - from)).map((e) => {
      const o = asObject(e, 'entry');
      const added: PrefixLeaf[] = arrayField(o, 'added', WITNESS_LIMITS.leavesPerEntry).map((a) => {
        const leaf = asObject(a, 'leaf');
        return {
          vrfOutput: bytesField(leaf, 'vrfOutput', HASH_BYTES, true),
          commitment: bytesField(leaf, 'commitment', HASH_BYTES, true),
        };
      });
      return { index: integerField(o, 'index'), timestamp: integerField(o, 'timestamp'), added };
    });
  }

  async consistencyProof(size1: number, size2: number): Promise<Uint8Array[]> {
    const body = await this.#request('GET', `/v1/kt/consistency?from=${size1}&to=${size2}`);
    return arrayField(body, 'proof', WITNESS_LIMITS.proofMaxElements).map((p) => {
      if (typeof p !== 'string') throw malformed('proof');
      return exactBytes(p, HASH_BYTES, 'proof element');
    });
  }

  /** Hands the server this witness's cosignature of its head of `treeSize`. */
  async postCosignature(treeSize: number, c: Cosignature): Promise<void> {
    await this.#request('POST', '/v1/kt/cosignatures', {
      treeSize,
      witnessKey: toBase64url(c.witnessKey),
      timestamp: c.timestamp,
      signature: toBase64url(c.signature),
    });
  }

  async #request(method: 'GET' | 'POST', path: string, json?: unknown): Promise<Record<string, unknown>> {
    let response: Response;
    try {
      response = await this.#fetch(this.serverUrl + path, {
        method,
        headers:
          json === undefined
            ? { accept: 'application/json' }
            : { accept: 'application/json', 'content-type': 'application/json' },
        ...(json === undefined ? {} : { body: JSON.stringify(json) }),
        signal: AbortSignal.timeout(WITNESS_LIMITS.requestTimeoutMs),
        redirect: 'error',
      });
    } catch (error) {
      throw new UnavailableError('NOT_READY', `server ${this.serverUrl} did not answer ${method} ${path}`, {
        cause: error instanceof Error ? error.name : 'unknown',
      });
    }
    const body = await readJson(response, WITNESS_LIMITS.responseMaxBytes);
    if (response.status < 200 || response.status > 299) {
      const e = errorFromWire(body);
      throw e instanceof SealpostError ? e : new UnavailableError('NOT_READY', `HTTP ${response.status}`);
    }
    return asObject(body, 'server answer');
  }
}

/** Reads a JSON body, counting bytes while streaming (a lying Content-Length cannot make it buffer more). */
async function readJson(response: Response, maxBytes: number): Promise<unknown> {
  const announced = response.headers.get('content-length');
  if (announced !== null && /^\d+$/.test(announced) && Number(announced) > maxBytes) {
    await response.body?.cancel();
    throw tooLarge(maxBytes);
  }
  const chunks: Uint8Array[] = [];
  let length = 0;
  if (response.body !== null) {
    const reader = response.body.getReader();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      length += value.length;
      if (length > maxBytes) {
        await reader.cancel();
        throw tooLarge(maxBytes);
      }
      chunks.push(value);
    }
  }
  try {
    return JSON.parse(Buffer.concat(chunks, length).toString('utf8')) as unknown;
  } catch {
    throw new CodecError('CODEC_INVALID_VALUE', 'server answer is not JSON', { length });
  }
}

function tooLarge(maxBytes: number): LimitError {
  return new LimitError('BODY_TOO_LARGE', `server answer exceeds ${maxBytes} bytes`, { max: maxBytes });
}

const malformed = (what: string): CodecError =>
  new CodecError('CODEC_INVALID_VALUE', `server answer: ${what} is missing or malformed`);

function asObject(value: unknown, what: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw malformed(what);
  return value as Record<string, unknown>;
}

function integerField(body: Record<string, unknown>, name: string): number {
  const v = body[name];
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) throw malformed(name);
  return v;
}

function arrayField(body: Record<string, unknown>, name: string, max: number): unknown[] {
  const v = body[name];
  if (!Array.isArray(v)) throw malformed(name);
  if (v.length > max) {
    throw new CodecError('CODEC_LENGTH_LIMIT', `server answer: ${name} has ${v.length} items, over ${max}`);
  }
  return v;
}

function exactBytes(text: string, length: number, what: string): Uint8Array {
  const bytes = fromBase64url(text, chars(length), `server answer: ${what}`);
  if (bytes.length !== length) throw malformed(what);
  return bytes;
}

/** A base64url field of exactly `bytes` bytes, or (when `exact` is false) at most that many. */
function bytesField(body: Record<string, unknown>, name: string, bytes: number, exact = false): Uint8Array {
  const v = body[name];
  if (typeof v !== 'string') throw malformed(name);
  return exact ? exactBytes(v, bytes, name) : fromBase64url(v, chars(bytes), `server answer: ${name}`);
}
