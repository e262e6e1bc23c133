/**
 * Key-transparency directory routes (docs/protocol.md "Key transparency"). JSON, binary fields
 * base64url. Reads are public (anyone may look a user up, and witnesses follow the feed); the one
 * write, a signed device list, is authorised by the account key signature it carries (checked by
 * `DirectoryService.submit` before anything is queued).
 */
import { LIMITS, fromBase64url, parseUsername, toBase64url, ValidationError } from '@sealpost/core';
import { encodeOwnerMonitorProof, encodeSearchProof } from '@sealpost/core/kt/response-codec';
import type { FastifyInstance } from 'fastify';
import type { DirectoryService } from '../directory/directory-service.ts';

/** Base64url characters of the largest device list (docs/identity.md). */
const DEVICE_LIST_CHARS = Math.ceil((LIMITS.identityDeviceListMaxBytes * 4) / 3);
const usernameParam = {
  type: 'object',
  required: ['username'],
  properties: { username: { type: 'string', maxLength: 64 } },
} as const;
/** A log entry index or tree size in a query string: a decimal uint53. */
const index = { type: 'string', pattern: '^(0|[1-9][0-9]{0,14})$' } as const;

function optionalIndex(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const n = Number(text);
  if (!Number.isSafeInteger(n) || n < 0) throw new ValidationError('VALIDATION_FAILED', 'not an index');
  return n;
}

export function registerKtRoutes(app: FastifyInstance, directory: DirectoryService): void {
  app.get('/v1/kt/head', async () => {
    const h = await directory.head();
    return {
      treeSize: h.treeHead.treeSize,
      timestamp: h.timestamp,
      root: toBase64url(h.root),
      signature: toBase64url(h.treeHead.signature),
      configuration: toBase64url(h.configuration),
    };
  });

  app.get<{ Params: { username: string }; Querystring: { last?: string } }>(
    '/v1/kt/search/:username',
    {
      schema: {
        params: usernameParam,
        querystring: { type: 'object', additionalProperties: false, properties: { last: index } },
      },
    },
    async (req) => {
      const username = parseUsername(req.params.username);
      const r = await directory.search(username, optionalIndex(req.query.last));
      return {
        version: r.proof.version,
        proof: toBase64url(encodeSearchProof(r.proof)),
        deviceList: toBase64url(r.deviceList),
        opening: toBase64url(r.opening),
      };
    },
  );

  app.get<{ Params: { username: string }; Querystring: { since?: string; last?: string } }>(
    '/v1/kt/monitor/:username',
    {
      schema: {
        params: usernameParam,
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: { since: index, last: index },
        },
      },
    },
    async (req) => {
      const username = parseUsername(req.params.username);
      const r = await directory.monitor(username, {
        rightmost: optionalIndex(req.query.since),
        last: optionalIndex(req.query.last),
      });
      return { proof: toBase64url(encodeOwnerMonitorProof(r.proof)), positions: r.positions };
    },
  );

  app.get<{ Querystring: { after?: string } }>(
    '/v1/kt/updates',
    {
      schema: {
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: { after: { type: 'string', pattern: '^(-1|0|[1-9][0-9]{0,14})$' } },
        },
      },
    },
    async (req) => {
      const after = req.query.after === undefined ? -1 : Number(req.query.after);
      const r = await directory.updates(after);
      return {
        treeSize: r.treeSize,
        entries: r.entries.map((e) => ({
          index: e.index,
          timestamp: e.timestamp,
          added: e.added.map((a) => ({
            vrfOutput: toBase64url(a.vrfOutput),
            commitment: toBase64url(a.commitment),
          })),
        })),
      };
    },
  );

  app.post<{ Body: { deviceList: string } }>(
    '/v1/kt/updates',
    {
      schema: {
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['deviceList'],
          properties: { deviceList: { type: 'string', maxLength: DEVICE_LIST_CHARS } },
        },
      },
    },
    async (req, reply) => {
      const list = fromBase64url(req.body.deviceList, DEVICE_LIST_CHARS, 'deviceList');
      const r = await directory.submit(list);
      return reply.code(202).send({ username: r.username, version: r.version });
    },
  );
}
