/**
 * Account and device routes (docs/protocol.md "HTTP"). Every state change is authorised by a
 * signature over a statement that binds a fresh single-use challenge and the audience (Host).
 * Order in each handler: decode and validate the whole body, consume the challenge, verify every
 * signature, then store. A failure at any step stores nothing.
 *
 * Recovery (docs/identity.md "Recovery") replaces the account key when shown the account's next
 * device list with a rotation signed by the recovery key. The chain is checked by the key
 * directory's own submit (the same rule every client applies), which queues the list; the account
 * key and devices are replaced after. A recovery whose second step failed is retried with the same
 * list: it is then the account's newest list, and only the second step runs again.
 */
import {
  AuthError,
  CryptoVerificationError,
  LIMITS,
  NotFoundError,
  RateLimitedError,
  accountCreateStatement,
  accountRecoverStatement,
  deviceAddStatement,
  deviceIdOf,
  deviceRemoveStatement,
  equalPublicBytes,
  fromBase64url,
  fromBase64urlExact,
  parseUsername,
  toBase64url,
  usernameSkeleton,
  ValidationError,
  type Username,
} from '@sealpost/core';
import { ROTATION_SIGNER } from '@sealpost/core/identity/account-key-chain';
import { deviceListHash, verifyDeviceList } from '@sealpost/core/identity/device-list';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { dayOf, type ServerContext } from '../context.ts';

const b64 = (max: number) => ({ type: 'string', maxLength: Math.ceil((max * 4) / 3) }) as const;
const key = b64(LIMITS.publicKeyBytes);
const sig = b64(LIMITS.signatureBytes);
const challenge = b64(LIMITS.challengeBytes);
const deviceList = b64(LIMITS.identityDeviceListMaxBytes);
const usernameParam = {
  type: 'object',
  required: ['username'],
  properties: { username: { type: 'string', maxLength: 64 } },
} as const;

function audienceOf(req: FastifyRequest): string {
  const host = req.headers.host;
  if (typeof host !== 'string' || host.length === 0 || host.length > 255) {
    throw new ValidationError('VALIDATION_FAILED', 'request has no usable Host header');
  }
  return host;
}

async function consumeChallenge(ctx: ServerContext, text: string): Promise<Uint8Array> {
  const c = fromBase64urlExact(text, LIMITS.challengeBytes, 'challenge');
  if (!(await ctx.store.consumeChallenge(c, ctx.now()))) {
    throw new AuthError('AUTH_CHALLENGE_UNKNOWN', 'challenge is unknown, expired or already used');
  }
  return c;
}

function verify(
  ctx: ServerContext,
  publicKey: Uint8Array,
  statement: Uint8Array,
  signature: Uint8Array,
  who: string,
): void {
  if (!ctx.crypto.ed25519.verify(publicKey, statement, signature)) {
    throw new AuthError('AUTH_SIGNATURE_INVALID', `${who} signature does not verify`);
  }
}

/** `{"count": n}` with 1 <= n <= LIMITS.challengesPerRequestMax, or undefined for no body or `{}`. */
function challengeCountOf(body: unknown): number | undefined {
  if (body === undefined || body === null) return undefined;
  if (typeof body !== 'object' || Array.isArray(body)) {
    throw new ValidationError('VALIDATION_FAILED', 'a challenge request body is {"count": n} or nothing');
  }
  const keys = Object.keys(body);
  if (keys.length === 0) return undefined;
  const count = (body as { count?: unknown }).count;
  if (
    keys.length !== 1 ||
    typeof count !== 'number' ||
    !Number.isSafeInteger(count) ||
    count < 1 ||
    count > LIMITS.challengesPerRequestMax
  ) {
    throw new ValidationError(
      'VALIDATION_FAILED',
      `count is an integer 1..${LIMITS.challengesPerRequestMax}`,
      { max: LIMITS.challengesPerRequestMax },
    );
  }
  return count;
}

async function accountOrThrow(ctx: ServerContext, username: Username) {
  const account = await ctx.store.getAccount(username);
  if (account === undefined) throw new NotFoundError('ACCOUNT_NOT_FOUND', `no account named ${username}`);
  return account;
}

export function registerAccountRoutes(app: FastifyInstance, ctx: ServerContext): void {
  // No body: one challenge, `{challenge, expiresAtMs}`. `{"count": n}`: n of them (a blob client's
  // batch, http/blobs.ts), `{challenges, expiresAtMs}`. Each is a row of its own, single-use; the
  // address pays one token of `challengeLimiter` per challenge, on top of the request's own.
  app.post('/v1/challenges', async (req, reply) => {
    const count = challengeCountOf(req.body);
    const wait = ctx.challengeLimiter.take(req.ip, count ?? 1);
    if (wait > 0) throw new RateLimitedError('too many challenges for this address', wait);
    const expiresAtMs = ctx.now() + LIMITS.challengeTtlMs;
    const issued = Array.from({ length: count ?? 1 }, () => ctx.crypto.randomBytes(LIMITS.challengeBytes));
    await Promise.all(issued.map((c) => ctx.store.putChallenge(c, expiresAtMs)));
    const texts = issued.map((c) => toBase64url(c));
    return reply
      .code(200)
      .send(count === undefined ? { challenge: texts[0], expiresAtMs } : { challenges: texts, expiresAtMs });
  });

  app.post<{
    Body: {
      username: string;
      accountKey: string;
      deviceKey: string;
      challenge: string;
      accountSignature: string;
      deviceSignature: string;
    };
  }>(
    '/v1/accounts',
    {
      schema: {
        body: {
          type: 'object',
          additionalProperties: false,
          required: [
            'username',
            'accountKey',
            'deviceKey',
            'challenge',
            'accountSignature',
            'deviceSignature',
          ],
          properties: {
            username: { type: 'string', maxLength: 64 },
            accountKey: key,
            deviceKey: key,
            challenge,
            accountSignature: sig,
            deviceSignature: sig,
          },
        },
      },
    },
    async (req, reply) => {
      const b = req.body;
      const username = parseUsername(b.username);
      const accountKey = fromBase64urlExact(b.accountKey, LIMITS.publicKeyBytes, 'accountKey');
      const deviceKey = fromBase64urlExact(b.deviceKey, LIMITS.publicKeyBytes, 'deviceKey');
      const accountSignature = fromBase64urlExact(
        b.accountSignature,
        LIMITS.signatureBytes,
        'accountSignature',
      );
      const deviceSignature = fromBase64urlExact(b.deviceSignature, LIMITS.signatureBytes, 'deviceSignature');
      const audience = audienceOf(req);
      const c = await consumeChallenge(ctx, b.challenge);
      const statement = accountCreateStatement(c, audience, username, accountKey, deviceKey);
      verify(ctx, accountKey, statement, accountSignature, 'account');
      verify(ctx, deviceKey, statement, deviceSignature, 'device');
      const deviceId = deviceIdOf(ctx.crypto, deviceKey);
      await ctx.store.createAccount({
        username,
        skeleton: usernameSkeleton(username),
        accountKey,
        device: { deviceId, publicKey: deviceKey },
        day: dayOf(ctx.now()),
      });
      return reply.code(201).send({ username, deviceId: toBase64url(deviceId) });
    },
  );

  app.get<{ Params: { username: string } }>(
    '/v1/accounts/:username',
    { schema: { params: usernameParam } },
    async (req) => {
      const account = await accountOrThrow(ctx, parseUsername(req.params.username));
      const devices = await ctx.store.listDevices(account.id);
      return {
        username: account.username,
        accountKey: toBase64url(account.accountKey),
        devices: devices.map((d) => ({
          deviceId: toBase64url(d.deviceId),
          publicKey: toBase64url(d.publicKey),
          createdDay: d.createdDay,
        })),
      };
    },
  );

  app.post<{
    Params: { username: string };
    Body: { deviceKey: string; challenge: string; accountSignature: string; deviceSignature: string };
  }>(
    '/v1/accounts/:username/devices',
    {
      schema: {
        params: usernameParam,
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['deviceKey', 'challenge', 'accountSignature', 'deviceSignature'],
          properties: { deviceKey: key, challenge, accountSignature: sig, deviceSignature: sig },
        },
      },
    },
    async (req, reply) => {
      const username = parseUsername(req.params.username);
      const b = req.body;
      const deviceKey = fromBase64urlExact(b.deviceKey, LIMITS.publicKeyBytes, 'deviceKey');
      const accountSignature = fromBase64urlExact(
        b.accountSignature,
        LIMITS.signatureBytes,
        'accountSignature',
      );
      const deviceSignature = fromBase64urlExact(b.deviceSignature, LIMITS.signatureBytes, 'deviceSignature');
      const audience = audienceOf(req);
      const account = await accountOrThrow(ctx, username);
      const c = await consumeChallenge(ctx, b.challenge);
      const statement = deviceAddStatement(c, audience, username, deviceKey);
      verify(ctx, account.accountKey, statement, accountSignature, 'account');
      verify(ctx, deviceKey, statement, deviceSignature, 'device');
      const deviceId = deviceIdOf(ctx.crypto, deviceKey);
      await ctx.store.addDevice(account.id, { deviceId, publicKey: deviceKey }, dayOf(ctx.now()));
      return reply.code(201).send({ deviceId: toBase64url(deviceId) });
    },
  );

  app.delete<{
    Params: { username: string; deviceId: string };
    Body: { challenge: string; accountSignature: string };
  }>(
    '/v1/accounts/:username/devices/:deviceId',
    {
      schema: {
        params: {
          type: 'object',
          required: ['username', 'deviceId'],
          properties: { username: { type: 'string', maxLength: 64 }, deviceId: b64(LIMITS.deviceIdBytes) },
        },
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['challenge', 'accountSignature'],
          properties: { challenge, accountSignature: sig },
        },
      },
    },
    async (req) => {
      const username = parseUsername(req.params.username);
      const deviceId = fromBase64url(req.params.deviceId, 16, 'deviceId');
      if (deviceId.length !== LIMITS.deviceIdBytes) {
        throw new ValidationError('VALIDATION_FAILED', `deviceId must be ${LIMITS.deviceIdBytes} bytes`);
      }
      const accountSignature = fromBase64urlExact(
        req.body.accountSignature,
        LIMITS.signatureBytes,
        'accountSignature',
      );
      const audience = audienceOf(req);
      const account = await accountOrThrow(ctx, username);
      const c = await consumeChallenge(ctx, req.body.challenge);
      verify(
        ctx,
        account.accountKey,
        deviceRemoveStatement(c, audience, username, deviceId),
        accountSignature,
        'account',
      );
      const removed = await ctx.store.removeDevice(account.id, deviceId);
      ctx.onDeviceRemoved?.(removed);
      return { removed: true };
    },
  );

  app.post<{
    Params: { username: string };
    Body: {
      deviceList: string;
      deviceKey: string;
      challenge: string;
      accountSignature: string;
      deviceSignature: string;
    };
  }>(
    '/v1/accounts/:username/recovery',
    {
      schema: {
        params: usernameParam,
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['deviceList', 'deviceKey', 'challenge', 'accountSignature', 'deviceSignature'],
          properties: { deviceList, deviceKey: key, challenge, accountSignature: sig, deviceSignature: sig },
        },
      },
    },
    async (req) => {
      const username = parseUsername(req.params.username);
      // Per account, before any work, whoever asks (docs/protocol.md "Account recovery").
      const wait = ctx.recoveryLimiter.take(username);
      if (wait > 0) throw new RateLimitedError('too many recovery attempts for this account', wait);
      const b = req.body;
      const encoded = fromBase64url(b.deviceList, LIMITS.identityDeviceListMaxBytes, 'deviceList');
      const deviceKey = fromBase64urlExact(b.deviceKey, LIMITS.publicKeyBytes, 'deviceKey');
      const accountSignature = fromBase64urlExact(
        b.accountSignature,
        LIMITS.signatureBytes,
        'accountSignature',
      );
      const deviceSignature = fromBase64urlExact(b.deviceSignature, LIMITS.signatureBytes, 'deviceSignature');
      const audience = audienceOf(req);
      // The list on its own: codec, its account key's signature, devices.
      const list = verifyDeviceList(ctx.crypto, encoded);
      if (list.username !== username) {
        throw new ValidationError('VALIDATION_FAILED', 'the device list is for another username');
      }
      if (list.rotation?.signer !== ROTATION_SIGNER.recoveryKey) {
        throw new CryptoVerificationError(
          'IDENTITY_ROTATION_UNAUTHORIZED',
          'a recovery list carries an account-key rotation signed by the recovery key',
        );
      }
      // Signal-like: the recovered account starts again with the one device that recovered it.
      if (list.devices.length !== 1 || !equalPublicBytes(list.devices[0]!.signatureKey, deviceKey)) {
        throw new ValidationError('VALIDATION_FAILED', 'a recovery list holds exactly the new device');
      }
      const account = await accountOrThrow(ctx, username);
      const c = await consumeChallenge(ctx, b.challenge);
      const statement = accountRecoverStatement(
        c,
        audience,
        username,
        deviceListHash(ctx.crypto, encoded),
        deviceKey,
      );
      verify(ctx, list.accountKey, statement, accountSignature, 'account');
      verify(ctx, deviceKey, statement, deviceSignature, 'device');
      // Already the newest list: a retry after the directory took it. Else the directory checks the
      // chain (rotation by the recovery key of the newest list) and queues it, or refuses typed.
      const latest = await ctx.store.ktLatest(account.id);
      const version =
        latest !== undefined && equalPublicBytes(latest.deviceList, encoded)
          ? latest.version
          : (await ctx.directory.submit(encoded)).version;
      const deviceId = deviceIdOf(ctx.crypto, deviceKey);
      const { removed } = await ctx.store.recoverAccount(
        account.id,
        list.accountKey,
        { deviceId, publicKey: deviceKey },
        dayOf(ctx.now()),
      );
      for (const pk of removed) ctx.onDeviceRemoved?.(pk);
      return { deviceId: toBase64url(deviceId), version, removedDevices: removed.length };
    },
  );
}
