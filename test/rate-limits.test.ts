/**
 * Token-bucket rate limits with their default values: per address on HTTP and WebSocket upgrades
 * (429 + Retry-After), per device on sends (RATE_LIMITED with retryAfterSecs; nothing stored).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LIMITS, RateLimitedError, parseUsername } from '@sealpost/core';
import { SqliteStore } from '../packages/server/src/store/sqlite.ts';
import { connect, createDevice, startInstance, text, type Instance } from './support/harness.ts';

let dir: string;
let store: SqliteStore;
let node: Instance;
let clock = 1_800_000_000_000;
before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'sealpost-rates-'));
  store = SqliteStore.open(join(dir, 'db.sqlite'));
  await store.migrate();
  node = await startInstance(store, undefined, { now: () => clock, defaultRates: true });
});
after(async () => {
  await node.close();
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

test('answers 429 RATE_LIMITED with Retry-After once an address spends its burst, and recovers', async () => {
  let limited: Response | undefined;
  for (let i = 0; i < LIMITS.ratePerAddressBurst + 5 && limited === undefined; i++) {
    const res = await fetch(`${node.url}/healthz`);
    if (res.status === 429) limited = res;
  }
  assert.ok(limited, 'no 429 after the burst');
  assert.equal(((await limited.json()) as { code: string }).code, 'RATE_LIMITED');
  assert.ok(Number(limited.headers.get('retry-after')) >= 1);
  clock += 10_000;
  assert.equal((await fetch(`${node.url}/healthz`)).status, 200);
});

test('answers RATE_LIMITED to a device that sends faster than its bucket, storing nothing extra', async () => {
  clock += 60_000;
  const alice = await createDevice(node.url, 'alice');
  const bob = await createDevice(node.url, 'bob');
  const a = connect(node.url, alice);
  await a.start();
  let stored = 0;
  let refused: unknown;
  for (let i = 0; i < LIMITS.ratePerDeviceBurst + 10; i++) {
    try {
      await a.send({ recipients: [bob.address], payload: text(`m${i}`) });
      stored++;
    } catch (e) {
      refused = e;
      break;
    }
  }
  assert.ok(refused instanceof RateLimitedError, `expected RATE_LIMITED, got ${String(refused)}`);
  assert.ok(refused.retryAfterSecs >= 1);
  assert.equal(stored, LIMITS.ratePerDeviceBurst);
  const pk = (await store.resolveDevices([{ username: parseUsername('bob'), deviceId: bob.deviceId }]))[0]!;
  const mail = await store.fetchMail(pk, 0, LIMITS.ratePerDeviceBurst + 10, Math.floor(clock / 1000));
  assert.equal(mail.length, stored);
  await a.close();
});
