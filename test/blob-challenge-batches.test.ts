/**
 * Blob requests at one round trip each (packages/server/src/http/blobs.ts, docs/protocol.md
 * "Backup blobs"): challenges issued in batches, each still single-use, so a captured request
 * cannot be replayed; blob traffic charged to its own buckets (per address, then per device)
 * instead of the general per-address one, under the DEFAULT limits and an injected clock.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { request } from 'node:http';
import { after, before, describe, test } from 'node:test';
import { LIMITS, blobAccessStatement, parseUsername, toBase64url } from '@sealpost/core';
import { BLOB_AUTH_HEADERS } from '../packages/server/src/http/blobs.ts';
import { storeFactories, type OpenedStore } from '../packages/server/src/store/test-databases.ts';
import {
  createDevice,
  crypto,
  post,
  startInstance,
  uniqueName,
  type Instance,
  type TestDevice,
} from './support/harness.ts';

let opened: OpenedStore;
let node: Instance;
let clock = 1_900_000_000_000;
before(async () => {
  opened = await storeFactories[0]!.open();
  node = await startInstance(opened.store, undefined, { now: () => clock, defaultRates: true });
});
after(async () => {
  await node.close();
  await opened.cleanup();
});

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
const sha256 = (b: Uint8Array) => new Uint8Array(createHash('sha256').update(b).digest());

async function batch(count: number): Promise<Uint8Array[]> {
  const res = await post(`${node.url}/v1/challenges`, { count });
  assert.equal(res.status, 200, JSON.stringify(res.body));
  return (res.body['challenges'] as string[]).map((c) => new Uint8Array(Buffer.from(c, 'base64url')));
}

function headers(
  device: TestDevice,
  c: Uint8Array,
  method: 'GET' | 'PUT' | 'DELETE',
  name: Uint8Array,
): Record<string, string> {
  const statement = blobAccessStatement(
    c,
    node.host,
    parseUsername(device.username),
    device.deviceId,
    method,
    name,
  );
  return {
    [BLOB_AUTH_HEADERS.username]: device.username,
    [BLOB_AUTH_HEADERS.device]: toBase64url(device.deviceId),
    [BLOB_AUTH_HEADERS.challenge]: toBase64url(c),
    [BLOB_AUTH_HEADERS.signature]: toBase64url(crypto.ed25519.sign(device.deviceSeed, statement)),
  };
}

async function send(
  device: TestDevice,
  c: Uint8Array,
  method: 'GET' | 'PUT' | 'DELETE',
  blob: Uint8Array,
): Promise<{ status: number; body: Record<string, unknown>; retryAfter: string | null }> {
  const name = sha256(blob);
  const res = await fetch(`${node.url}/v1/blobs/${hex(name)}`, {
    method,
    headers: {
      ...headers(device, c, method, name),
      ...(method === 'PUT' ? { 'content-type': 'application/octet-stream' } : {}),
    },
    ...(method === 'PUT' ? { body: Buffer.from(blob) } : {}),
  });
  const text = await res.text();
  const body = (
    res.headers.get('content-type')?.startsWith('application/json') ? JSON.parse(text) : {}
  ) as Record<string, unknown>;
  return { status: res.status, body, retryAfter: res.headers.get('retry-after') };
}

describe('challenge batches', () => {
  test('issues count distinct challenges in one request, and one without a body as before', async () => {
    const challenges = await batch(LIMITS.challengesPerRequestMax);
    assert.equal(challenges.length, LIMITS.challengesPerRequestMax);
    assert.equal(new Set(challenges.map(hex)).size, challenges.length);
    for (const c of challenges) assert.equal(c.length, LIMITS.challengeBytes);
    const one = await fetch(`${node.url}/v1/challenges`, { method: 'POST' });
    const body = (await one.json()) as Record<string, unknown>;
    assert.equal(one.status, 200);
    assert.equal(typeof body['challenge'], 'string');
    assert.equal(body['expiresAtMs'], clock + LIMITS.challengeTtlMs);
  });

  test('refuses a count of 0, past challengesPerRequestMax, fractional or with other fields', async () => {
    for (const body of [
      { count: 0 },
      { count: LIMITS.challengesPerRequestMax + 1 },
      { count: 1.5 },
      { count: '3' },
      { count: 2, extra: 1 },
      [],
    ]) {
      const res = await post(`${node.url}/v1/challenges`, body);
      assert.equal(res.status, 400, JSON.stringify(body));
      assert.equal(res.body['code'], 'VALIDATION_FAILED');
    }
  });

  test('each challenge of a batch admits one request; a captured request replayed is 401 and changes nothing', async () => {
    const device = await createDevice(node.url, uniqueName('batch'));
    const blob = new Uint8Array(randomBytes(300));
    const [c1, c2, c3, c4] = await batch(4);
    assert.equal((await send(device, c1!, 'PUT', blob)).status, 201);
    assert.equal((await send(device, c2!, 'DELETE', blob)).status, 200);
    assert.equal((await send(device, c3!, 'PUT', blob)).status, 201);
    // The DELETE signed over c2, captured and sent again, finds c2 consumed: the blob stays.
    const replayed = await send(device, c2!, 'DELETE', blob);
    assert.equal(replayed.status, 401);
    assert.equal(replayed.body['code'], 'AUTH_CHALLENGE_UNKNOWN');
    assert.equal((await send(device, c4!, 'GET', blob)).status, 200);
    // A challenge signed for one method does not authorise another.
    const [c5] = await batch(1);
    const name = sha256(blob);
    const res = await fetch(`${node.url}/v1/blobs/${hex(name)}`, {
      method: 'DELETE',
      headers: headers(device, c5!, 'GET', name),
    });
    assert.equal(res.status, 401);
  });

  test('a challenge of a batch expires after challengeTtlMs like a single one', async () => {
    const device = await createDevice(node.url, uniqueName('expiry'));
    const [c] = await batch(2);
    clock += LIMITS.challengeTtlMs;
    const res = await send(device, c!, 'PUT', new Uint8Array(randomBytes(100)));
    assert.equal(res.status, 401);
    assert.equal(res.body['code'], 'AUTH_CHALLENGE_UNKNOWN');
  });

  test('an address pays a token per challenge: batches past its challenge bucket are 429 until it refills', async () => {
    clock += 3_600_000; // every bucket full again
    const batches = LIMITS.rateChallengesPerAddressBurst / LIMITS.challengesPerRequestMax;
    for (let i = 0; i < batches; i++) await batch(LIMITS.challengesPerRequestMax);
    const refused = await post(`${node.url}/v1/challenges`, { count: LIMITS.challengesPerRequestMax });
    assert.equal(refused.status, 429);
    assert.equal(refused.body['code'], 'RATE_LIMITED');
    clock += 1_000;
    assert.equal((await batch(LIMITS.challengesPerRequestMax)).length, LIMITS.challengesPerRequestMax);
  });
});

describe('authentication before the body', () => {
  // Fails by the test's timeout if the server waited for the body it was promised.
  test('a PUT with a bad signature is refused 401 before its body is read', { timeout: 60_000 }, async () => {
    const device = await createDevice(node.url, uniqueName('early'));
    const [c] = await batch(1);
    const name = sha256(new Uint8Array([1]));
    const signed = headers(device, c!, 'PUT', name);
    signed[BLOB_AUTH_HEADERS.signature] = toBase64url(new Uint8Array(64));
    const status = await new Promise<number>((resolve, reject) => {
      const req = request(`${node.url}/v1/blobs/${hex(name)}`, {
        method: 'PUT',
        headers: {
          ...signed,
          'content-type': 'application/octet-stream',
          'content-length': String(1024 * 1024),
        },
      });
      req.on('response', (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
        req.destroy();
      });
      req.on('error', reject);
      req.flushHeaders(); // the headers only: not one byte of the promised MiB follows
    });
    assert.equal(status, 401);
  });
});

describe('blob rate buckets', () => {
  test('signed blob requests past the address burst are served; past the device burst they are 429 with Retry-After, then served again', async () => {
    clock += 3_600_000;
    const device = await createDevice(node.url, uniqueName('rates'));
    const missing = new Uint8Array(randomBytes(64)); // never stored: each GET is an authenticated 404
    assert.ok(LIMITS.ratePerDeviceBlobBurst > LIMITS.ratePerAddressBurst);
    let pool: Uint8Array[] = [];
    const next = async () => {
      if (pool.length === 0) pool = await batch(LIMITS.challengesPerRequestMax);
      return pool.pop()!;
    };
    for (let i = 0; i < LIMITS.ratePerDeviceBlobBurst; i++) {
      const res = await send(device, await next(), 'GET', missing);
      assert.equal(res.status, 404, `request ${i}: ${JSON.stringify(res.body)}`);
    }
    const refused = await send(device, await next(), 'GET', missing);
    assert.equal(refused.status, 429);
    assert.equal(refused.body['code'], 'RATE_LIMITED');
    assert.ok(Number(refused.retryAfter) >= 1);
    // Another device of another account is not held back by this one's bucket.
    const other = await createDevice(node.url, uniqueName('other'));
    assert.equal((await send(other, await next(), 'GET', missing)).status, 404);
    clock += Number(refused.retryAfter) * 1000;
    assert.equal((await send(device, await next(), 'GET', missing)).status, 404);
  });
});
