/**
 * Backup blob routes (DESIGN.md "Backups"): an account's devices store, read, list and delete
 * content-addressed blobs, the encrypted objects of their backup repository.
 *
 *   PUT    /v1/blobs/:name   body = the blob (application/octet-stream); 201 stored, 200 already there
 *                            optional header `sealpost-blob-kind: 0..255`, the client's label (default 0)
 *   GET    /v1/blobs/:name   the blob; `Range: bytes=a-b` or `bytes=a-` gives 206 and those bytes
 *   DELETE /v1/blobs/:name   { deleted }
 *   GET    /v1/blobs         { blobs: [{ name, size, kind }] }; `?kind=k` lists only that kind
 *
 * `:name` is the SHA-256 of the blob as 64 lowercase hex digits (the client's ObjectName).
 * Every request is authenticated on its own: the headers name the device and carry a fresh
 * challenge (POST /v1/challenges) and the device's signature over `blobAccessStatement`, which
 * binds the method and the blob name. Order: charge the address, validate the headers and name,
 * consume the challenge, verify, charge the device (all before the body is read), then validate
 * the rest and store.
 *
 * One round trip per request: a client fetches challenges in batches (`{"count": n}`, at most
 * LIMITS.challengesPerRequestMax) and spends one per request. Each is still single-use, expires
 * after LIMITS.challengeTtlMs and is consumed before the signature is checked, so the argument is
 * the one of a single challenge: a signature authorises one method on one blob once, and a
 * captured request replayed finds its challenge gone (401). A bearer session token would save the
 * challenge rows but authorise every request while it lives, so a captured one could delete blobs:
 * it was not taken (docs/protocol.md "Backup blobs").
 *
 * Rates: these routes are not charged to the general per-address bucket (a restore reads many
 * objects one request each) but to their own: per address on arrival (LIMITS.ratePerAddressBlob*),
 * then per signing device (LIMITS.ratePerDeviceBlob*). 429 RATE_LIMITED with Retry-After.
 */
import {
  AuthError,
  InternalError,
  LIMITS,
  NotFoundError,
  RateLimitedError,
  ValidationError,
  blobAccessStatement,
  fromBase64urlExact,
  parseUsername,
} from '@sealpost/core';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { ServerContext } from '../context.ts';
import { BLOB_KIND_MAX } from '../store/contract.ts';
import { BLOB_DEFAULTS } from '../store/options.ts';
import type { BlobRange } from '../store/store.ts';

const BLOB_ROUTES = '/v1/blobs';

/** True for the routes of this file, which charge their own rate buckets instead of the address one. */
export function hasOwnRateLimits(routeUrl: string | undefined): boolean {
  return routeUrl === BLOB_ROUTES || (routeUrl?.startsWith(`${BLOB_ROUTES}/`) ?? false);
}

function charge(limiter: { take(key: string): number }, key: string, who: string): void {
  const wait = limiter.take(key);
  if (wait > 0) throw new RateLimitedError(`too many blob requests from this ${who}`, wait);
}

/** The authentication headers of a blob request. */
export const BLOB_AUTH_HEADERS = {
  username: 'sealpost-username',
  device: 'sealpost-device',
  challenge: 'sealpost-challenge',
  signature: 'sealpost-signature',
} as const;

/**
 * The PUT header naming the blob's kind, a decimal 0..255 the client chooses (a backup repository's
 * key files, packs, index files and snapshots, docs/backup-format.md "On the Sealpost server"). Not
 * signed: a relay that changed it only mislabels the listing, which the client checks anyway.
 */
export const BLOB_KIND_HEADER = 'sealpost-blob-kind';

const NAME = /^[0-9a-f]{64}$/;
const NAME_PARAM = {
  type: 'object',
  required: ['name'],
  properties: { name: { type: 'string', pattern: NAME.source } },
} as const;

function nameOf(hex: string): Uint8Array {
  if (!NAME.test(hex))
    throw new ValidationError('VALIDATION_FAILED', 'a blob name is 64 lowercase hex digits');
  return new Uint8Array(Buffer.from(hex, 'hex'));
}

function kindOf(req: FastifyRequest): number {
  const v = req.headers[BLOB_KIND_HEADER];
  if (v === undefined) return 0;
  if (typeof v !== 'string' || !/^\d{1,3}$/.test(v) || Number(v) > BLOB_KIND_MAX) {
    throw new ValidationError(
      'VALIDATION_FAILED',
      `header ${BLOB_KIND_HEADER} is an integer 0..${BLOB_KIND_MAX}`,
    );
  }
  return Number(v);
}

const KIND_QUERY = {
  type: 'object',
  additionalProperties: false,
  properties: { kind: { type: 'integer', minimum: 0, maximum: BLOB_KIND_MAX } },
} as const;

function header(req: FastifyRequest, name: string): string {
  const v = req.headers[name];
  if (typeof v !== 'string' || v.length === 0 || v.length > 256) {
    throw new AuthError('AUTH_REQUIRED', `header ${name} is missing or malformed`);
  }
  return v;
}

function audienceOf(req: FastifyRequest): string {
  const host = req.headers.host;
  if (typeof host !== 'string' || host.length === 0 || host.length > 255) {
    throw new ValidationError('VALIDATION_FAILED', 'request has no usable Host header');
  }
  return host;
}

/** Authenticates the request's device for `method` on `name`; returns its account id. */
async function authenticate(
  ctx: ServerContext,
  req: FastifyRequest,
  method: 'GET' | 'PUT' | 'DELETE',
  name: Uint8Array,
): Promise<number> {
  const username = parseUsername(header(req, BLOB_AUTH_HEADERS.username));
  const deviceId = fromBase64urlExact(header(req, BLOB_AUTH_HEADERS.device), LIMITS.deviceIdBytes, 'device');
  const challenge = fromBase64urlExact(
    header(req, BLOB_AUTH_HEADERS.challenge),
    LIMITS.challengeBytes,
    'challenge',
  );
  const signature = fromBase64urlExact(
    header(req, BLOB_AUTH_HEADERS.signature),
    LIMITS.signatureBytes,
    'signature',
  );
  const audience = audienceOf(req);
  if (!(await ctx.store.consumeChallenge(challenge, ctx.now()))) {
    throw new AuthError('AUTH_CHALLENGE_UNKNOWN', 'challenge is unknown, expired or already used');
  }
  const device = await ctx.store.getDevice(username, deviceId);
  const statement = blobAccessStatement(challenge, audience, username, deviceId, method, name);
  // An unknown device fails like a bad signature: the answer does not tell which devices exist.
  if (device === undefined || !ctx.crypto.ed25519.verify(device.publicKey, statement, signature)) {
    throw new AuthError('AUTH_SIGNATURE_INVALID', 'device signature does not verify');
  }
  charge(ctx.blobDeviceLimiter, `${device.accountId}:${Buffer.from(deviceId).toString('hex')}`, 'device');
  return device.accountId;
}

/**
 * `Range: bytes=a-b` or `bytes=a-` (RFC 9110 §14.1.2). Anything else (several ranges, a suffix
 * range) is ignored and the whole blob is sent, which §14.2 allows.
 */
function rangeOf(value: string | undefined): BlobRange | undefined {
  if (value === undefined) return undefined;
  const m = /^bytes=(\d{1,15})-(\d{1,15})?$/.exec(value.trim());
  if (m === null) return undefined;
  const first = Number(m[1]);
  const last = m[2] === undefined ? undefined : Number(m[2]);
  if (last !== undefined && last < first) return undefined;
  return { offset: first, length: last === undefined ? BLOB_DEFAULTS.blobMaxBytes : last - first + 1 };
}

/** The account of each request the scope's onRequest hook authenticated. */
const authenticated = new WeakMap<FastifyRequest, number>();

function accountOf(req: FastifyRequest): number {
  const id = authenticated.get(req);
  if (id === undefined) throw new InternalError('blob request reached its handler unauthenticated');
  return id;
}

export function registerBlobRoutes(app: FastifyInstance, ctx: ServerContext): void {
  // Encapsulated: the raw-body parser and the larger body limit apply to these routes only.
  void app.register(async (scope) => {
    scope.addContentTypeParser(
      'application/octet-stream',
      { parseAs: 'buffer', bodyLimit: BLOB_DEFAULTS.blobMaxBytes },
      (_req, body, done) => done(null, body),
    );
    // Both before the body is read, so that only a device of an account makes the server buffer a
    // blob, and a slow upload cannot outlive its challenge. `req.ip` is the address app.ts charges
    // (the first X-Forwarded-For entry only behind a trusted proxy). HEAD is GET without the body.
    scope.addHook('onRequest', async (req) => {
      charge(ctx.blobAddressLimiter, req.ip, 'address');
      const method = req.method === 'HEAD' ? 'GET' : req.method;
      if (method !== 'GET' && method !== 'PUT' && method !== 'DELETE') return;
      const hex = (req.params as { name?: unknown }).name;
      const name = typeof hex === 'string' ? nameOf(hex) : new Uint8Array(0);
      authenticated.set(req, await authenticate(ctx, req, method, name));
    });

    scope.put<{ Params: { name: string }; Body: Buffer }>(
      `${BLOB_ROUTES}/:name`,
      { schema: { params: NAME_PARAM }, bodyLimit: BLOB_DEFAULTS.blobMaxBytes },
      async (req, reply) => {
        const name = nameOf(req.params.name);
        if (!Buffer.isBuffer(req.body)) {
          throw new ValidationError('VALIDATION_FAILED', 'a blob is sent as application/octet-stream');
        }
        const kind = kindOf(req);
        const { stored } = await ctx.store.putBlob(accountOf(req), name, new Uint8Array(req.body), kind);
        return reply.code(stored ? 201 : 200).send({ stored });
      },
    );

    scope.get<{ Params: { name: string } }>(
      `${BLOB_ROUTES}/:name`,
      { schema: { params: NAME_PARAM } },
      async (req, reply: FastifyReply) => {
        const name = nameOf(req.params.name);
        const range = rangeOf(req.headers.range);
        const blob = await ctx.store.getBlob(accountOf(req), name, range);
        if (blob === undefined) throw new NotFoundError('ROUTE_NOT_FOUND', 'no such blob');
        void reply.header('accept-ranges', 'bytes');
        if (range === undefined) {
          return reply.code(200).type('application/octet-stream').send(Buffer.from(blob.bytes));
        }
        if (range.offset >= blob.size) {
          void reply.header('content-range', `bytes */${blob.size}`);
          return reply
            .code(416)
            .send(
              new ValidationError(
                'VALIDATION_FAILED',
                `range starts past the blob's ${blob.size} bytes`,
              ).toJSON(),
            );
        }
        const last = range.offset + blob.bytes.length - 1;
        void reply.header('content-range', `bytes ${range.offset}-${last}/${blob.size}`);
        return reply.code(206).type('application/octet-stream').send(Buffer.from(blob.bytes));
      },
    );

    scope.delete<{ Params: { name: string } }>(
      `${BLOB_ROUTES}/:name`,
      { schema: { params: NAME_PARAM } },
      async (req) => {
        const name = nameOf(req.params.name);
        return { deleted: await ctx.store.deleteBlob(accountOf(req), name) };
      },
    );

    scope.get<{ Querystring: { kind?: number } }>(
      BLOB_ROUTES,
      { schema: { querystring: KIND_QUERY } },
      async (req) => {
        const blobs = await ctx.store.listBlobs(accountOf(req), req.query.kind);
        return {
          blobs: blobs.map((b) => ({
            name: Buffer.from(b.name).toString('hex'),
            size: b.size,
            kind: b.kind,
          })),
        };
      },
    );
  });
}
