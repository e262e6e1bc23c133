/**
 * Key-transparency directory routes (docs/protocol.md "Key transparency"). JSON, binary fields
 * base64url. Reads are public (anyone may look a user up, and witnesses follow the feed). Two writes:
 * a signed device list, authorised by the account key signature it carries (checked by
 * `DirectoryService.submit` before anything is queued), and a witness's cosignature of a head, kept
 * only from a witness the operator configured and when it verifies over a head this directory signed
 * (directory/cosignatures.ts).
 */
import {
  LIMITS,
  fromBase64url,
  fromBase64urlExact,
  parseUsername,
  toBase64url,
  ValidationError,
} from '@sealpost/core';
import { encodeOwnerMonitorProof, encodeSearchProof } from '@sealpost/core/kt/response-codec';
import type { FastifyInstance } from 'fastify';
import type { DirectoryService } from '../directory/directory-service.ts';
import type { KtCosignature } from '../store/store.ts';

/** Base64url characters of the largest device list (docs/identity.md). */
const DEVICE_LIST_CHARS = Math.ceil((LIMITS.identityDeviceListMaxBytes * 4) / 3);
const usernameParam = {
  type: 'object',
  required: ['username'],
  properties: { username: { type: 'string', maxLength: 64 } },
} as const;
/** Base64url characters of an Ed25519 public key and signature (RFC 8032). */
const KEY_CHARS = 43;
const SIGNATURE_CHARS = 86;
/** A log entry index or tree size in a query string: a decimal uint53. */
const index = { type: 'string', pattern: '^(0|[1-9][0-9]{0,14})$' } as const;

const cosignatureJson = (c: KtCosignature) => ({
  witnessKey: toBase64url(c.witnessKey),
  timestamp: c.timestamp,
  signature: toBase64url(c.signature),
});

function optionalIndex(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const n = Number(text);
  if (!Number.isSafeInteger(n) || n < 0) throw new ValidationError('VALIDATION_FAILED', 'not an index');
  return n;
}

export function registerKtRoutes(app: FastifyInstance, directory: DirectoryService): void {
  // `atLeast`: the size of the newest head the client accepted (from any instance); an instance
  // behind it replays the store first (DirectoryService `#catchUp`).
  app.get<{ Querystring: { atLeast?: string } }>(
    '/v1/kt/head',
    {
      schema: {
        querystring: { type: 'object', additionalProperties: false, properties: { atLeast: index } },
      },
    },
    async (req) => {
      const h = await directory.witnessedHead(optionalIndex(req.query.atLeast));
      return {
        treeSize: h.treeHead.treeSize,
        timestamp: h.timestamp,
        root: toBase64url(h.root),
        signature: toBase64url(h.treeHead.signature),
        configuration: toBase64url(h.configuration),
        cosignatures: h.cosignatures.map(cosignatureJson),
        cosignedHeads: h.earlier.map((e) => ({
          treeSize: e.treeSize,
          root: toBase64url(e.root),
          fullSubtrees: e.fullSubtrees.map(toBase64url),
          consistency: e.consistency.map(toBase64url),
          cosignatures: e.cosignatures.map(cosignatureJson),
        })),
      };
    },
  );

  app.get<{ Querystring: { from: string; to: string } }>(
    '/v1/kt/consistency',
    {
      schema: {
        querystring: {
          type: 'object',
          additionalProperties: false,
          required: ['from', 'to'],
          properties: { from: index, to: index },
        },
      },
    },
    async (req) => {
      const proof = await directory.consistencyProof(Number(req.query.from), Number(req.query.to));
      return { proof: proof.map(toBase64url) };
    },
  );

  app.post<{ Body: { treeSize: number; witnessKey: string; timestamp: number; signature: string } }>(
    '/v1/kt/cosignatures',
    {
      schema: {
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['treeSize', 'witnessKey', 'timestamp', 'signature'],
          properties: {
            treeSize: { type: 'integer', minimum: 1, maximum: Number.MAX_SAFE_INTEGER },
            witnessKey: { type: 'string', maxLength: KEY_CHARS },
            timestamp: { type: 'integer', minimum: 0, maximum: Number.MAX_SAFE_INTEGER },
            signature: { type: 'string', maxLength: SIGNATURE_CHARS },
          },
        },
      },
    },
    async (req, reply) => {
      await directory.cosignatures.add({
        treeSize: req.body.treeSize,
        witnessKey: fromBase64urlExact(req.body.witnessKey, LIMITS.publicKeyBytes, 'witnessKey'),
        timestamp: req.body.timestamp,
        signature: fromBase64urlExact(req.body.signature, LIMITS.signatureBytes, 'signature'),
      });
      return reply.code(200).send({ treeSize: req.body.treeSize });
    },
  );

  app.get<{ Params: { username: string }; Querystring: { last?: string; atLeast?: string } }>(
    '/v1/kt/search/:username',
    {
      schema: {
        params: usernameParam,
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: { last: index, atLeast: index },
        },
      },
    },
    async (req) => {
      const username = parseUsername(req.params.username);
      const r = await directory.search(
        username,
        optionalIndex(req.query.last),
        optionalIndex(req.query.atLeast),
      );
      return {
        version: r.proof.version,
        proof: toBase64url(encodeSearchProof(r.proof)),
        deviceList: toBase64url(r.deviceList),
        opening: toBase64url(r.opening),
      };
    },
  );

  app.get<{
    Params: { username: string };
    Querystring: { since?: string; last?: string; atLeast?: string };
  }>(
    '/v1/kt/monitor/:username',
    {
      schema: {
        params: usernameParam,
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: { since: index, last: index, atLeast: index },
        },
      },
    },
    async (req) => {
      const username = parseUsername(req.params.username);
      const r = await directory.monitor(username, {
        rightmost: optionalIndex(req.query.since),
        last: optionalIndex(req.query.last),
        atLeast: optionalIndex(req.query.atLeast),
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
