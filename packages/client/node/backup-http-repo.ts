/**
 * `HttpRepository`: a backup repository in the Sealpost server's blob store for this device's
 * account (docs/protocol.md "Backup blobs", docs/backup-format.md "On the Sealpost server").
 *
 *   object                 blob                                   kind (sealpost-blob-kind)
 *   keys/<name>       ->   PUT/GET/DELETE /v1/blobs/<name>         1
 *   packs/<name>      ->   the same, byte for byte                 2
 *   index/<name>      ->                                           3
 *   snapshots/<name>  ->                                           4
 *   list(kind)        ->   GET /v1/blobs?kind=k
 *
 * An object is stored as it is: its name is already the SHA-256 of its bytes, which is what the
 * server checks and addresses by, so no name, path or size of the user's files reaches the server
 * (they are inside encrypted trees). The kind is a number the server keeps so that a listing of one
 * kind needs no download; it tells the server nothing the object sizes and counts do not (key files
 * are 123 bytes, packs at least 1 MiB).
 *
 * Every request is signed by the device over `blobAccessStatement` with a fresh single-use challenge.
 * Challenges come in batches (`POST /v1/challenges {"count": n}`, n doubling from
 * `CHALLENGE_BATCH_FIRST` up to LIMITS.challengesPerRequestMax), so a request costs one round trip,
 * not two; a batch is used for half of LIMITS.challengeTtlMs by this device's clock, then dropped,
 * and dropped at once when the server says a challenge is gone. Requests
 * that fail transiently (no answer, 5xx other than 507, 429, a challenge that expired on the way) are
 * retried with exponential backoff and full jitter; the operations are idempotent (a put of a stored
 * object is `stored: false`), so a retry after a lost answer is harmless. Other failures are the
 * server's typed errors (QUOTA_EXCEEDED 507, AUTH_* 401, ...); a missing object is
 * BACKUP_DATA_CORRUPT naming it, as for a local repository. The server is the adversary: answers are
 * read with a bound (the kind's largest object, or the range asked for), ranges are checked against
 * `Content-Range`, and the engine checks every whole object against its name.
 */
import type { SealpostError } from '@sealpost/core';
import {
  AuthError,
  CodecError,
  LIMITS,
  LimitError,
  RateLimitedError,
  InternalError,
  UnavailableError,
  blobAccessStatement,
  deviceIdOf,
  errorFromWire,
  fromBase64urlExact,
  fromHex,
  parseUsername,
  toBase64url,
  toHex,
  type CryptoProvider,
  type Username,
} from '@sealpost/core';
import { KEY_FILE_BYTES } from '@sealpost/core/backup/key-file';
import { ServerApi, type FetchLike } from '../src/account-api.ts';
import { BackupError } from '../src/backup/errors.ts';
import { readJsonBody } from '../src/json-body.ts';
import {
  objectNameArg,
  type ByteRange,
  type ObjectKind,
  type ObjectName,
  type Repository,
} from '../src/backup/repository.ts';

/** The blob kind of each object kind (docs/backup-format.md "On the Sealpost server"). */
export const BLOB_KINDS: Readonly<Record<ObjectKind, number>> = { keys: 1, packs: 2, index: 3, snapshots: 4 };

/** The largest object of each kind: a bigger answer is refused before it is buffered. */
const KIND_MAX_BYTES: Readonly<Record<ObjectKind, number>> = {
  keys: KEY_FILE_BYTES,
  packs: LIMITS.backupPackMaxBytes,
  index: LIMITS.backupIndexFileMaxBytes,
  snapshots: LIMITS.backupSnapshotMaxBytes,
};

export interface HttpRepositoryOptions {
  /** The Sealpost server, an origin (`https://host[:port]`). */
  readonly serverUrl: string;
  readonly username: string;
  /** The device's Ed25519 seed; copied, and the copy wiped by `close()`. */
  readonly deviceSeed: Uint8Array;
  readonly crypto: CryptoProvider;
  readonly fetch?: FetchLike;
  /** Per request, connection to last byte (a pack is up to 80 MiB). Default 120 s. */
  readonly timeoutMs?: number;
  /** Attempts per operation, the first included. Default 6. */
  readonly attempts?: number;
  /** First backoff; doubled each retry, capped at `backoffMaxMs`, with full jitter. Default 250 ms. */
  readonly backoffMs?: number;
  readonly backoffMaxMs?: number;
  /** Bound on a listing's JSON answer. Default 64 MiB (about 600,000 objects). */
  readonly listMaxBytes?: number;
  /** Injected for tests. */
  readonly sleep?: (ms: number) => Promise<void>;
  readonly now?: () => number;
  readonly random?: () => number;
}

export const HTTP_REPOSITORY_DEFAULTS = {
  timeoutMs: 120_000,
  attempts: 6,
  backoffMs: 250,
  backoffMaxMs: 8_000,
  listMaxBytes: 64 * 1024 * 1024,
} as const;

type Method = 'GET' | 'PUT' | 'DELETE';

interface BlobRequest {
  readonly method: Method;
  /** The blob's name, absent for the listing. */
  readonly name?: ObjectName;
  readonly query?: string;
  readonly headers?: Record<string, string>;
  readonly body?: Uint8Array;
}

/**
 * The first batch of challenges; each next one is twice as large, up to LIMITS.challengesPerRequestMax.
 * A command that sends three requests wastes one row or two on the server, a restore one request in 64.
 */
export const CHALLENGE_BATCH_FIRST = 4;

const NAME = /^[0-9a-f]{64}$/;
const NAME_HEX_CHARS = 64;

export class HttpRepository implements Repository {
  readonly api: ServerApi;
  readonly username: Username;
  readonly #crypto: CryptoProvider;
  readonly #seed: Uint8Array;
  readonly #deviceId: Uint8Array;
  readonly #fetch: FetchLike;
  readonly #timeoutMs: number;
  readonly #attempts: number;
  readonly #backoffMs: number;
  readonly #backoffMaxMs: number;
  readonly #listMaxBytes: number;
  readonly #sleep: (ms: number) => Promise<void>;
  readonly #random: () => number;
  readonly #now: () => number;
  /** Unused challenges of the last batch, spent from the end; usable until `#poolUntilMs`. */
  #pool: Uint8Array[] = [];
  #poolUntilMs = 0;
  #batch = CHALLENGE_BATCH_FIRST;
  /** The batch being fetched: concurrent requests wait for the same one. */
  #refill: Promise<void> | undefined;

  /** Throws ValidationError for a server URL or username that is not one. */
  constructor(options: HttpRepositoryOptions) {
    this.#crypto = options.crypto;
    this.#fetch = options.fetch ?? ((input, init) => fetch(input, init));
    this.#timeoutMs = options.timeoutMs ?? HTTP_REPOSITORY_DEFAULTS.timeoutMs;
    this.api = new ServerApi(options.serverUrl, options.crypto, {
      fetch: this.#fetch,
      timeoutMs: this.#timeoutMs,
    });
    this.username = parseUsername(options.username);
    this.#seed = options.deviceSeed.slice();
    this.#deviceId = deviceIdOf(this.#crypto, this.#crypto.ed25519.publicKey(this.#seed));
    this.#attempts = Math.max(1, options.attempts ?? HTTP_REPOSITORY_DEFAULTS.attempts);
    this.#backoffMs = options.backoffMs ?? HTTP_REPOSITORY_DEFAULTS.backoffMs;
    this.#backoffMaxMs = options.backoffMaxMs ?? HTTP_REPOSITORY_DEFAULTS.backoffMaxMs;
    this.#listMaxBytes = options.listMaxBytes ?? HTTP_REPOSITORY_DEFAULTS.listMaxBytes;
    this.#sleep = options.sleep ?? ((ms) => new Promise((done) => setTimeout(done, ms)));
    this.#random = options.random ?? Math.random;
    this.#now = options.now ?? Date.now;
  }

  /** Wipes the device key copy; the repository is unusable afterwards. */
  close(): void {
    this.#seed.fill(0);
    this.#dropChallenges();
  }

  async put(kind: ObjectKind, name: ObjectName, bytes: Uint8Array): Promise<void> {
    objectNameArg(name);
    if (toHex(this.#crypto.sha256(bytes)) !== name) {
      throw new BackupError('BACKUP_OBJECT_NAME_INVALID', `${kind}/${name}: bytes do not hash to the name`);
    }
    await this.#retrying(async () => {
      const res = await this.#send({
        method: 'PUT',
        name,
        headers: {
          'content-type': 'application/octet-stream',
          'sealpost-blob-kind': String(BLOB_KINDS[kind]),
        },
        body: bytes,
      });
      if (res.status !== 201 && res.status !== 200) throw await failure(res);
      await res.body?.cancel();
    });
  }

  async get(kind: ObjectKind, name: ObjectName, range?: ByteRange): Promise<Uint8Array> {
    objectNameArg(name);
    const object = `${kind}/${name}`;
    const corrupt = (message: string) => new BackupError('BACKUP_DATA_CORRUPT', message, { object });
    if (range !== undefined) {
      const { offset, length } = range;
      if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0) {
        throw corrupt(`${object}: invalid range`);
      }
      if (length === 0) {
        if (!(await this.exists(kind, name))) throw corrupt(`${object} is missing`);
        return new Uint8Array(0);
      }
    }
    return this.#retrying(async () => {
      const res = await this.#send({
        method: 'GET',
        name,
        headers:
          range === undefined ? {} : { range: `bytes=${range.offset}-${range.offset + range.length - 1}` },
      });
      if (res.status === 404) {
        await res.body?.cancel();
        throw corrupt(`${object} is missing`);
      }
      if (res.status === 416) {
        await res.body?.cancel();
        throw corrupt(`${object}: range runs past the end`);
      }
      if (range === undefined) {
        if (res.status !== 200) throw await failure(res);
        return readBytes(res, KIND_MAX_BYTES[kind], object);
      }
      if (res.status === 200) {
        // The server ignored the range (RFC 9110 §14.2 allows it): cut it here.
        const whole = await readBytes(res, KIND_MAX_BYTES[kind], object);
        if (range.offset + range.length > whole.length) throw corrupt(`${object}: range runs past the end`);
        return whole.slice(range.offset, range.offset + range.length);
      }
      if (res.status !== 206) throw await failure(res);
      const m = /^bytes (\d+)-(\d+)\/(\d+)$/.exec(res.headers.get('content-range') ?? '');
      if (m === null || Number(m[1]) !== range.offset) {
        await res.body?.cancel();
        throw new CodecError(
          'CODEC_INVALID_VALUE',
          `${object}: the server's Content-Range is not the range asked`,
        );
      }
      const bytes = await readBytes(res, range.length, object);
      if (bytes.length !== Number(m[2]) - range.offset + 1) {
        throw new CodecError(
          'CODEC_INVALID_VALUE',
          `${object}: the answer's length is not its Content-Range`,
        );
      }
      if (bytes.length < range.length) throw corrupt(`${object}: range runs past the end`);
      return bytes;
    });
  }

  async list(kind: ObjectKind): Promise<{ name: ObjectName; length: number }[]> {
    const want = BLOB_KINDS[kind];
    return this.#retrying(async () => {
      const res = await this.#send({ method: 'GET', query: `?kind=${want}` });
      if (res.status !== 200) throw await failure(res);
      const body = await readJsonBody(res, this.#listMaxBytes);
      const blobs = (body as { blobs?: unknown } | null)?.blobs;
      if (!Array.isArray(blobs))
        throw new CodecError('CODEC_INVALID_VALUE', 'server answer: blobs is not a list');
      return blobs.map((b: unknown) => {
        const { name, size, kind: got } = (b ?? {}) as { name?: unknown; size?: unknown; kind?: unknown };
        if (
          typeof name !== 'string' ||
          !NAME.test(name) ||
          typeof size !== 'number' ||
          !Number.isSafeInteger(size) ||
          size < 1 ||
          got !== want
        ) {
          throw new CodecError('CODEC_INVALID_VALUE', `server answer: a listed ${kind} blob is malformed`);
        }
        return { name: name as ObjectName, length: size };
      });
    });
  }

  async exists(kind: ObjectKind, name: ObjectName): Promise<boolean> {
    objectNameArg(name);
    return this.#retrying(async () => {
      // One byte (every blob has at least one): the cheapest authenticated probe.
      const res = await this.#send({ method: 'GET', name, headers: { range: 'bytes=0-0' } });
      await res.body?.cancel();
      if (res.status === 404) return false;
      if (res.status === 206 || res.status === 200) return true;
      throw await failure(res);
    });
  }

  async delete(kind: ObjectKind, name: ObjectName): Promise<void> {
    objectNameArg(name);
    await this.#retrying(async () => {
      const res = await this.#send({ method: 'DELETE', name });
      if (res.status !== 200) throw await failure(res);
      await res.body?.cancel();
    });
  }

  /** A challenge no request of this repository used yet; fetches a batch when none is left. */
  async #challenge(): Promise<Uint8Array> {
    for (;;) {
      if (this.#now() >= this.#poolUntilMs) this.#dropChallenges();
      const c = this.#pool.pop();
      if (c !== undefined) return c;
      this.#refill ??= this.#fetchChallenges().finally(() => (this.#refill = undefined));
      await this.#refill;
    }
  }

  async #fetchChallenges(): Promise<void> {
    const count = this.#batch;
    const sentAtMs = this.#now();
    let res: Response;
    try {
      res = await this.#fetch(`${this.api.baseUrl}/v1/challenges`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ count }),
        signal: AbortSignal.timeout(this.#timeoutMs),
        redirect: 'error',
      });
    } catch (error) {
      throw new UnavailableError(
        'NOT_READY',
        `server ${this.api.baseUrl} did not answer POST /v1/challenges`,
        {
          cause: error instanceof Error ? error.name : 'unknown',
        },
      );
    }
    if (res.status !== 200) throw await failure(res);
    const body = (await readJsonBody(res, LIMITS.httpBodyMaxBytes)) as Record<string, unknown> | null;
    // A server before batches answers one `challenge` whatever the count: that is one request's worth.
    const texts = Array.isArray(body?.['challenges']) ? body['challenges'] : [body?.['challenge']];
    if (texts.length < 1 || texts.length > count || !texts.every((t) => typeof t === 'string')) {
      throw new CodecError('CODEC_INVALID_VALUE', `server answer: not 1..${count} challenges`);
    }
    const challenges = texts.map((t: string) => {
      try {
        return fromBase64urlExact(t, LIMITS.challengeBytes, 'challenge');
      } catch {
        throw new CodecError(
          'CODEC_INVALID_VALUE',
          'server answer: a challenge is not 32 bytes of base64url',
        );
      }
    });
    this.#dropChallenges();
    this.#pool = challenges;
    // Half the server's lifetime, from before we asked: no clock of the server's is trusted.
    this.#poolUntilMs = sentAtMs + LIMITS.challengeTtlMs / 2;
    this.#batch = Math.min(LIMITS.challengesPerRequestMax, count * 2);
  }

  #dropChallenges(): void {
    for (const c of this.#pool) c.fill(0);
    this.#pool = [];
  }

  /** One signed request, with a challenge of the current batch. */
  async #send(req: BlobRequest): Promise<Response> {
    const challenge = await this.#challenge();
    const nameBytes = req.name === undefined ? new Uint8Array(0) : fromHex(req.name, NAME_HEX_CHARS);
    const statement = blobAccessStatement(
      challenge,
      this.api.audience,
      this.username,
      this.#deviceId,
      req.method,
      nameBytes,
    );
    const signature = this.#crypto.ed25519.sign(this.#seed, statement);
    const path = req.name === undefined ? `/v1/blobs${req.query ?? ''}` : `/v1/blobs/${req.name}`;
    const init: RequestInit = {
      method: req.method,
      headers: {
        ...req.headers,
        'sealpost-username': this.username,
        'sealpost-device': toBase64url(this.#deviceId),
        'sealpost-challenge': toBase64url(challenge),
        'sealpost-signature': toBase64url(signature),
      },
      signal: AbortSignal.timeout(this.#timeoutMs),
      redirect: 'error',
    };
    if (req.body !== undefined) init.body = req.body as Uint8Array<ArrayBuffer>;
    try {
      return await this.#fetch(this.api.baseUrl + path, init);
    } catch (error) {
      throw new UnavailableError(
        'NOT_READY',
        `server ${this.api.baseUrl} did not answer ${req.method} ${path}`,
        {
          cause: error instanceof Error ? error.name : 'unknown',
        },
      );
    }
  }

  /** Runs `op`, again after a transient failure, up to the attempt limit; then its last error. */
  async #retrying<T>(op: () => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await op();
      } catch (error) {
        // A challenge gone (expired on a slow upload, or the server restarted): so are its batch's.
        if (error instanceof AuthError && error.code === 'AUTH_CHALLENGE_UNKNOWN') this.#dropChallenges();
        if (attempt >= this.#attempts || !transient(error)) throw error;
        const cap = Math.min(this.#backoffMaxMs, this.#backoffMs * 2 ** (attempt - 1));
        const wait =
          error instanceof RateLimitedError
            ? Math.min(this.#backoffMaxMs, error.retryAfterSecs * 1000)
            : Math.floor(this.#random() * cap); // full jitter: spread out retries of several devices
        await this.#sleep(wait);
      }
    }
  }
}

/** Worth another attempt: the server did not answer, was busy, or our challenge expired meanwhile. */
function transient(error: unknown): boolean {
  if (error instanceof RateLimitedError || error instanceof UnavailableError) return true;
  return error instanceof AuthError && error.code === 'AUTH_CHALLENGE_UNKNOWN';
}

/**
 * The typed error of a failed answer: the server's own (`{code, message, details}`), else one by
 * status (a proxy's error page: a 5xx is unavailable, so retried).
 */
async function failure(res: Response): Promise<SealpostError> {
  let error: SealpostError | undefined;
  try {
    error = errorFromWire(await readJsonBody(res, LIMITS.httpBodyMaxBytes));
  } catch {
    error = undefined;
  }
  if (error !== undefined && error.code !== 'INTERNAL') return error;
  if (res.status >= 500) {
    return new UnavailableError('NOT_READY', `server answered HTTP ${res.status}`, { status: res.status });
  }
  return error ?? new InternalError(`server answered HTTP ${res.status} without an error body`);
}

/** The answer's bytes, refusing more than `max` (announced or streamed): LimitError BODY_TOO_LARGE. */
async function readBytes(res: Response, max: number, object: string): Promise<Uint8Array> {
  const tooLarge = () =>
    new LimitError('BODY_TOO_LARGE', `${object}: the server's answer exceeds ${max} bytes`, { max, object });
  const announced = res.headers.get('content-length');
  if (announced !== null && /^\d+$/.test(announced) && Number(announced) > max) {
    await res.body?.cancel();
    throw tooLarge();
  }
  const chunks: Uint8Array[] = [];
  let length = 0;
  if (res.body !== null) {
    const reader = res.body.getReader();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      if (length + value.length > max) {
        await reader.cancel();
        throw tooLarge();
      }
      chunks.push(value);
      length += value.length;
    }
  }
  if (chunks.length === 1) return chunks[0]!;
  const out = new Uint8Array(length);
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}
