/**
 * Client resilience: when its server goes away (drain, crash, deploy), a connection backs off and
 * reconnects by itself, sends made meanwhile are delivered once, and nothing is lost.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SqliteStore } from '../packages/server/src/store/sqlite.ts';
import { nodeCryptoProvider as crypto } from '@sealpost/core/node';
import { createServer } from '@sealpost/server';
import { MemoryBus } from '../packages/server/src/bus/memory.ts';
import { SealpostError, parseUsername } from '@sealpost/core';
import { connect, createDevice, eventually, inbox, text, untext } from './support/harness.ts';
import { freePort } from './support/nats-process.ts';

async function instanceOn(store: SqliteStore, port: number) {
  const server = createServer({
    store,
    bus: new MemoryBus(),
    crypto,
    host: '127.0.0.1',
    port,
    adminPort: -1,
    logLevel: 'silent',
  });
  await server.listen();
  return server;
}

test('a connection reconnects after its server restarts and sends made meanwhile arrive once', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'sealpost-reconnect-'));
  const store = SqliteStore.open(join(dir, 'db.sqlite'));
  await store.migrate();
  const port = await freePort();
  let server = await instanceOn(store, port);
  try {
    const alice = await createDevice(server.url, 'alice');
    const bob = await createDevice(server.url, 'bob');
    const states: string[] = [];
    const box = inbox();
    const a = connect(server.url, alice, () => undefined, { onStateChange: (s) => states.push(s) });
    const b = connect(server.url, bob, box.onMessage);
    await Promise.all([a.start(), b.start()]);

    await server.close();
    await eventually(() => a.state === 'backoff' || a.state === 'connecting', 5000, 'client to notice');
    // Sent while the server is down: queued in the client, sent after the reconnect.
    const pending = a.send({ recipients: [bob.address], payload: text('sent during the restart') });
    server = await instanceOn(store, port);
    const { duplicate } = await pending;
    assert.equal(duplicate, false);
    const [m] = await box.waitFor(1);
    assert.equal(untext(m!.payload), 'sent during the restart');
    assert.ok(states.includes('backoff'), `states: ${states.join(',')}`);
    assert.equal(a.state, 'ready');
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(box.messages.length, 1, 'delivered exactly once');
    await Promise.all([a.close(), b.close()]);
  } finally {
    await server.close();
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('start() rejects with the server’s reason when the connection is closed for good before it is ready', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'sealpost-reconnect-'));
  const store = SqliteStore.open(join(dir, 'db.sqlite'));
  await store.migrate();
  const server = await instanceOn(store, await freePort());
  try {
    const alice = await createDevice(server.url, 'alice');
    // Same account, a device key the server never registered: authentication fails for good.
    const stranger = { ...alice, deviceSeed: crypto.randomBytes(32) };
    const c = connect(server.url, stranger);
    const outcome = await Promise.race([
      c.start().then(
        () => 'ready',
        (e: unknown) => e,
      ),
      new Promise((r) => setTimeout(() => r('still waiting after 5 s'), 5000)),
    ]);
    assert.ok(outcome instanceof SealpostError, `start() settled with: ${String(outcome)}`);
    assert.equal(c.state, 'closed');
    await c.close();
  } finally {
    await server.close();
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('ready() rejects with SHUTTING_DOWN when close() is called before the connection was ever ready', async () => {
  // Nothing listens on this port: the connection backs off and retries until it is closed.
  const port = await freePort();
  const device = {
    username: parseUsername('alice'),
    accountSeed: crypto.randomBytes(32),
    deviceSeed: crypto.randomBytes(32),
    deviceId: new Uint8Array(8),
    address: { username: parseUsername('alice'), deviceId: new Uint8Array(8) },
  };
  const c = connect(`http://127.0.0.1:${port}`, device);
  const started = c.start().then(
    () => 'ready',
    (e: unknown) => e,
  );
  await eventually(() => c.state === 'backoff', 5000, 'first attempt to fail');
  await c.close();
  const outcome = await Promise.race([
    started,
    new Promise((r) => setTimeout(() => r('still waiting after 5 s'), 5000)),
  ]);
  assert.ok(outcome instanceof SealpostError, `start() settled with: ${String(outcome)}`);
  assert.equal(outcome.code, 'SHUTTING_DOWN');
});
