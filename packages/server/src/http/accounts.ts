/**
 * Account and device routes (docs/protocol.md "HTTP"). Every state change is authorised by a
 * signature over a statement that binds a fresh single-use challenge and the audience (Host).
 * Order in each handler: decode and validate the whole body, consume the challenge, verify every
 * signature, then store. A failure at any step stores nothing.
 */
import {
  AuthError,
  LIMITS,
  NotFoundError,
  accountCreateStatement,
  deviceAddStatement,
  deviceIdOf,
  deviceRemoveStatement,
  fromBase64url,
  fromBase64urlExact,
  parseUsername,
  toBase64url,
  usernameSkeleton,
  ValidationError,
  type Username,
} from '@sealpost/core';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { dayOf, type ServerContext } from '../context.ts';

const b64 = (max: number) => ({ type: 'string', maxLength: Math.ceil((max * 4) / 3) }) as const;
const key = b64(LIMITS.publicKeyBytes);
const sig = b64(LIMITS.signatureBytes);
const challenge = b64(LIMITS.challengeBytes);
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

async function accountOrThrow(ctx: ServerContext, username: Username) {
  const account = await ctx.store.getAccount(username);
  if (account === undefined) throw new NotFoundError('ACCOUNT_NOT_FOUND', `no account named ${username}`);
  return account;
}

export function registerAccountRoutes(app: FastifyInstance, ctx: ServerContext): void {
  app.post('/v1/challenges', async (_req, reply) => {
    const c = ctx.crypto.randomBytes(LIMITS.challengeBytes);
    const expiresAtMs = ctx.now() + LIMITS.challengeTtlMs;
    await ctx.store.putChallenge(c, expiresAtMs);
    return reply.code(200).send({ challenge: toBase64url(c), expiresAtMs });
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
}
