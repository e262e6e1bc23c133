/**
 * `Connection`'s MLS delivery requests against a real server (docs/protocol.md "MLS delivery"):
 * typed answers, EPOCH_CONFLICT as ConflictError with the current epoch, and the resend rules
 * across a server restart (COMMIT resent and stored once; a KeyPackage upload queued while
 * disconnected goes out on the next connection).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { ConflictError, LIMITS, SealpostError } from '@sealpost/core';
import { SqliteStore } from '../packages/server/src/store/sqlite.ts';
import {
  connect,
  createDevice,
  crypto,
  eventually,
  inbox,
  startInstance,
  text,
  untext,
} from './support/harness.ts';
import { freePort } from './support/nats-process.ts';
import { createServer } from '@sealpost/server';
import { MemoryBus } from '../packages/server/src/bus/memory.ts';

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

test('KeyPackages: upload, count, claim one per device, last resort kept', async () => {
  const store = SqliteStore.open(':memory:');
  await store.migrate();
  const node = await startInstance(store);
  try {
    const alice = await createDevice(node.url, 'alice');
    const bob = await createDevice(node.url, 'bob');
    const a = connect(node.url, alice);
    const b = connect(node.url, bob);
    await Promise.all([a.start(), b.start()]);
    assert.deepEqual(await b.countKeyPackages(), { oneTime: 0, hasLastResort: false });
    const stock = await b.addKeyPackages([text('kp-1'), text('kp-2')], text('kp-last'));
    assert.deepEqual(stock, { oneTime: 2, hasLastResort: true });
    const claims = [];
    for (let i = 0; i < 4; i++) claims.push(await a.claimKeyPackages('bob'));
    assert.deepEqual(
      claims.map((c) => c.map((k) => untext(k.keyPackage))),
      [['kp-1'], ['kp-2'], ['kp-last'], ['kp-last']],
    );
    assert.deepEqual([...claims[0]![0]!.deviceId], [...bob.deviceId]);
    assert.deepEqual(await a.claimKeyPackages('nobody'), []);
    // Over the bound: refused while encoding, before anything is queued or sent.
    assert.throws(
      () => b.addKeyPackages(Array.from({ length: LIMITS.keyPackagesPerUpload + 1 }, () => text('x'))),
      (e: unknown) => e instanceof SealpostError && e.code === 'CODEC_LENGTH_LIMIT',
    );
    await Promise.all([a.close(), b.close()]);
  } finally {
    await node.close();
    await store.close();
  }
});

test('COMMIT: the first for an epoch wins, the other is a ConflictError naming the current epoch', async () => {
  const store = SqliteStore.open(':memory:');
  await store.migrate();
  const node = await startInstance(store);
  try {
    const alice = await createDevice(node.url, 'alice');
    const bob = await createDevice(node.url, 'bob');
    const box = inbox();
    const a = connect(node.url, alice);
    const b = connect(node.url, bob, box.onMessage);
    await Promise.all([a.start(), b.start()]);
    const groupId = crypto.randomBytes(32);
    const messageId = crypto.randomBytes(LIMITS.messageIdBytes);
    const first = { groupId, epoch: 0, recipients: [bob.address], payload: text('commit 0'), messageId };
    assert.deepEqual(await a.commit(first), { epoch: 1, duplicate: false, messageId });
    assert.equal((await a.commit(first)).duplicate, true, 'a resend is recognised');
    const lost = await a.commit({ groupId, epoch: 0, recipients: [bob.address], payload: text('late') }).then(
      () => undefined,
      (e: unknown) => e,
    );
    assert.ok(lost instanceof ConflictError, String(lost));
    assert.equal(lost.code, 'MLS_EPOCH_CONFLICT');
    assert.equal(lost.details['currentEpoch'], 1);
    const [m] = await box.waitFor(1);
    assert.equal(untext(m!.payload), 'commit 0');
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(box.messages.length, 1, 'the loser stored nothing');
    await Promise.all([a.close(), b.close()]);
  } finally {
    await node.close();
    await store.close();
  }
});

test('a commit and an upload made while the server is down go out once it is back', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'sealpost-conv-conn-'));
  const store = SqliteStore.open(join(dir, 'db.sqlite'));
  await store.migrate();
  const port = await freePort();
  let server = await instanceOn(store, port);
  try {
    const alice = await createDevice(server.url, 'alice');
    const a = connect(server.url, alice);
    await a.start();
    await server.close();
    await eventually(() => a.state === 'backoff' || a.state === 'connecting', 5000, 'client to notice');
    const groupId = crypto.randomBytes(32);
    const commit = a.commit({ groupId, epoch: 0, recipients: [], payload: text('solo commit') });
    const upload = a.addKeyPackages([text('kp')]);
    server = await instanceOn(store, port);
    assert.equal((await commit).epoch, 1);
    assert.equal((await upload).oneTime, 1);
    await a.close();
  } finally {
    await server.close();
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
