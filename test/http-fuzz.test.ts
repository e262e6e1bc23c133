/**
 * Property: whatever bytes or JSON reach an HTTP route, the answer is a typed 4xx error from the
 * one error table (never a 500, never an untyped body) and nothing is stored.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { isErrorCode } from '@sealpost/core';
import { nodeCryptoProvider as crypto } from '@sealpost/core/node';
import { createServer, type SealpostServer } from '@sealpost/server';
import { MemoryBus } from '../packages/server/src/bus/memory.ts';
import { SqliteStore } from '../packages/server/src/store/sqlite.ts';

let store: SqliteStore;
let server: SealpostServer;
before(async () => {
  store = SqliteStore.open(':memory:');
  await store.migrate();
  const unlimited = { burst: 1e9, perSec: 1e9 };
  server = createServer({
    store,
    bus: new MemoryBus(),
    crypto,
    host: '127.0.0.1',
    port: 0,
    adminPort: -1,
    logLevel: 'silent',
    rates: { device: unlimited, address: unlimited },
  });
  await server.app.ready();
});
after(async () => {
  await server.close();
  await store.close();
});

const routes: Array<{ method: 'POST' | 'DELETE'; url: string }> = [
  { method: 'POST', url: '/v1/accounts' },
  { method: 'POST', url: '/v1/accounts/alice/devices' },
  { method: 'DELETE', url: '/v1/accounts/alice/devices/AAAAAAAAAAA' },
];

/** JSON shaped like the real bodies, with hostile values in every field. */
const hostile = fc.oneof(
  fc.string(),
  fc.base64String(),
  fc.integer(),
  fc.constant(null),
  fc.boolean(),
  fc.array(fc.string(), { maxLength: 3 }),
  fc.string({ unit: 'binary', maxLength: 200 }),
);
const shapedBody = fc.record(
  {
    username: hostile,
    accountKey: hostile,
    deviceKey: hostile,
    challenge: hostile,
    accountSignature: hostile,
    deviceSignature: hostile,
  },
  { requiredKeys: [] },
);

async function assertTyped4xx(res: { statusCode: number; body: string }): Promise<void> {
  assert.ok(res.statusCode >= 400 && res.statusCode < 500, `status ${res.statusCode}: ${res.body}`);
  const body = JSON.parse(res.body) as { code?: unknown };
  assert.ok(isErrorCode(body.code), `untyped error body: ${res.body}`);
}

test('random bytes as a body give a typed 4xx on every route and store nothing', async () => {
  await fc.assert(
    fc.asyncProperty(fc.constantFrom(...routes), fc.uint8Array({ maxLength: 512 }), async (route, bytes) => {
      const res = await server.app.inject({
        method: route.method,
        url: route.url,
        headers: { 'content-type': 'application/json' },
        payload: Buffer.from(bytes),
      });
      await assertTyped4xx(res);
    }),
    { numRuns: 300 },
  );
  assert.equal(await store.getAccount('alice' as never), undefined);
});

test('hostile JSON in every field gives a typed 4xx on every route and stores nothing', async () => {
  await fc.assert(
    fc.asyncProperty(fc.constantFrom(...routes), shapedBody, async (route, body) => {
      const res = await server.app.inject({ method: route.method, url: route.url, payload: body });
      await assertTyped4xx(res);
    }),
    { numRuns: 500 },
  );
  assert.equal(await store.getAccount('alice' as never), undefined);
});

test('hostile path parameters give a typed 4xx', async () => {
  await fc.assert(
    fc.asyncProperty(fc.string({ maxLength: 80 }), async (name) => {
      const res = await server.app.inject({ method: 'GET', url: `/v1/accounts/${encodeURIComponent(name)}` });
      await assertTyped4xx(res);
    }),
    { numRuns: 300 },
  );
});
