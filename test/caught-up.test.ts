/**
 * CAUGHT_UP (docs/protocol.md "WebSocket" 4a): the server says once per connection when it has
 * pushed everything the device's mailbox held, only to a client that offered the subprotocol
 * WS_PROTOCOL_CAUGHT_UP; `Connection.caughtUp()` resolves once that frame arrived and every
 * message delivered before it was handled and acknowledged. Raw sockets speak the protocol by
 * hand, on SQLite and PostgreSQL.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  LIMITS,
  WS_PROTOCOL_CAUGHT_UP,
  decodeServerFrame,
  encodeClientFrame,
  parseUsername,
  wsAuthStatement,
  type ServerFrame,
} from '@sealpost/core';
import type { Store } from '@sealpost/server';
import { storeFactories } from '../packages/server/src/store/test-databases.ts';
import {
  connect,
  createDevice,
  crypto,
  eventually,
  startInstance,
  text,
  uniqueName,
  type Instance,
  type TestDevice,
} from './support/harness.ts';

interface Raw {
  readonly ws: WebSocket;
  readonly frames: ServerFrame[];
  readonly of: (type: ServerFrame['type']) => ServerFrame[];
}

/** An authenticated raw socket of `device`, offering `protocols`; waits for READY. */
async function authenticated(node: Instance, device: TestDevice, protocols: string[]): Promise<Raw> {
  const u = new URL(node.url);
  u.protocol = 'ws:';
  u.pathname = '/v1/ws';
  const ws = new WebSocket(u, protocols);
  ws.binaryType = 'arraybuffer';
  const frames: ServerFrame[] = [];
  ws.addEventListener('message', (ev) =>
    frames.push(decodeServerFrame(new Uint8Array(ev.data as ArrayBuffer))),
  );
  const of = (type: ServerFrame['type']) => frames.filter((f) => f.type === type);
  await eventually(() => frames.length >= 1, 5000, 'challenge');
  const ch = frames[0] as { challenge: Uint8Array };
  const statement = wsAuthStatement(ch.challenge, node.host, parseUsername(device.username), device.deviceId);
  ws.send(
    encodeClientFrame({
      type: 'auth',
      username: device.username,
      deviceId: device.deviceId,
      signature: crypto.ed25519.sign(device.deviceSeed, statement),
    }),
  );
  await eventually(() => of('ready').length === 1, 5000, 'ready');
  return { ws, frames, of };
}

/**
 * A round trip after everything the server wrote so far: frames the pump wrote in the same tick
 * as the last DELIVER seen are in before the answer.
 */
async function barrier(raw: Raw, requestId: number): Promise<void> {
  raw.ws.send(encodeClientFrame({ type: 'key-packages-count', requestId }));
  await eventually(
    () => raw.frames.some((f) => f.type === 'key-package-stock' && f.requestId === requestId),
    5000,
    'barrier',
  );
}

async function closeRaw(raw: Raw): Promise<void> {
  const closed = new Promise((r) => raw.ws.addEventListener('close', r));
  raw.ws.close();
  await closed;
}

for (const factory of storeFactories.filter((f) => f.name !== 'sqlite-thread')) {
  describe(`${factory.name}: CAUGHT_UP`, () => {
    let store: Store;
    let cleanup: () => Promise<void>;
    let node: Instance;
    before(async () => {
      ({ store, cleanup } = await factory.open());
      await store.migrate();
      node = await startInstance(store);
    });
    after(async () => {
      await node.close();
      await cleanup();
    });

    /** A recipient with `n` messages waiting (m0, m1, ...) and no connection. */
    async function waiting(n: number): Promise<TestDevice> {
      const alice = await createDevice(node.url, uniqueName('alice'));
      const bob = await createDevice(node.url, uniqueName('bob'));
      const a = connect(node.url, alice);
      await a.start();
      await Promise.all(
        Array.from({ length: n }, (_, i) => a.send({ recipients: [bob.address], payload: text(`m${i}`) })),
      );
      await a.close();
      return bob;
    }

    test(`${factory.name}: sends CAUGHT_UP at once for an empty mailbox`, async () => {
      const bob = await createDevice(node.url, uniqueName('bob'));
      const raw = await authenticated(node, bob, [WS_PROTOCOL_CAUGHT_UP]);
      await eventually(() => raw.of('caught-up').length === 1, 5000, 'caught-up');
      assert.deepEqual(
        raw.frames.map((f) => f.type),
        ['challenge', 'ready', 'caught-up'],
      );
      assert.deepEqual(raw.of('caught-up')[0], { type: 'caught-up', seq: 0 });
      await closeRaw(raw);
    });

    test(`${factory.name}: sends CAUGHT_UP after the last stored message is pushed`, async () => {
      const bob = await waiting(3);
      const raw = await authenticated(node, bob, [WS_PROTOCOL_CAUGHT_UP]);
      await eventually(() => raw.of('caught-up').length === 1, 5000, 'caught-up');
      const delivered = raw.of('deliver') as Extract<ServerFrame, { type: 'deliver' }>[];
      assert.deepEqual(
        raw.frames.map((f) => f.type),
        ['challenge', 'ready', 'deliver', 'deliver', 'deliver', 'caught-up'],
      );
      assert.deepEqual(raw.of('caught-up')[0], { type: 'caught-up', seq: delivered[2]!.seq });

      // Once per connection: a message stored afterwards is pushed with no second CAUGHT_UP.
      const alice = await createDevice(node.url, uniqueName('alice'));
      const a = connect(node.url, alice);
      await a.start();
      await a.send({ recipients: [bob.address], payload: text('later') });
      await a.close();
      await eventually(() => raw.of('deliver').length === 4, 5000, 'the later message');
      await barrier(raw, 1);
      assert.equal(raw.of('caught-up').length, 1);
      await closeRaw(raw);
    });

    test(`${factory.name}: with more waiting messages than inFlightMax, sends CAUGHT_UP only after the last one is pushed`, async () => {
      const total = LIMITS.inFlightPerDevice + 10;
      const bob = await waiting(total);
      const raw = await authenticated(node, bob, [WS_PROTOCOL_CAUGHT_UP]);
      await eventually(() => raw.of('deliver').length === LIMITS.inFlightPerDevice, 10_000, 'first window');
      await barrier(raw, 1);
      assert.equal(raw.of('caught-up').length, 0, 'not while messages wait for room');
      assert.equal(raw.of('deliver').length, LIMITS.inFlightPerDevice);

      const seqs = (raw.of('deliver') as Extract<ServerFrame, { type: 'deliver' }>[]).map((f) => f.seq);
      raw.ws.send(encodeClientFrame({ type: 'ack', seqs }));
      await eventually(() => raw.of('caught-up').length === 1, 10_000, 'caught-up');
      const types = raw.frames.map((f) => f.type).filter((t) => t === 'deliver' || t === 'caught-up');
      assert.equal(types.length, total + 1);
      assert.equal(types.at(-1), 'caught-up', 'after every DELIVER');
      const delivered = raw.of('deliver') as Extract<ServerFrame, { type: 'deliver' }>[];
      assert.deepEqual(raw.of('caught-up')[0], { type: 'caught-up', seq: delivered.at(-1)!.seq });
      await closeRaw(raw);
    });

    test(`${factory.name}: a client that does not offer the subprotocol is never sent CAUGHT_UP`, async () => {
      const bob = await waiting(2);
      const raw = await authenticated(node, bob, []);
      assert.equal(raw.ws.protocol, '');
      await eventually(() => raw.of('deliver').length === 2, 5000, 'deliveries');
      await barrier(raw, 1);
      assert.equal(raw.of('caught-up').length, 0);
      await closeRaw(raw);
    });

    test(`${factory.name}: a client offering only subprotocols the server does not speak is not answered with one`, async () => {
      // ws alone would answer with the first one offered; the server names only its own, so a
      // WHATWG client (which requires one of its offers back) fails the connection before it opens.
      const u = new URL(node.url);
      u.protocol = 'ws:';
      u.pathname = '/v1/ws';
      const ws = new WebSocket(u, ['chat.example', 'other.example']);
      let opened = false;
      ws.addEventListener('open', () => (opened = true));
      await new Promise((resolve) => ws.addEventListener('close', resolve));
      assert.equal(opened, false);
      assert.equal(ws.protocol, '');
    });

    test(`${factory.name}: caughtUp() resolves once every waiting message was handled and acknowledged`, async () => {
      const bob = await waiting(5);
      const handled: string[] = [];
      let release!: () => void;
      const gate = new Promise<void>((r) => (release = r));
      const b = connect(node.url, bob, async (m) => {
        if (handled.length === 2) await gate; // the third message is slow to handle
        handled.push(new TextDecoder().decode(m.payload));
      });
      await b.start();
      let caughtUp = false;
      const done = b.caughtUp().then(() => (caughtUp = true));
      await eventually(() => handled.length === 2, 5000, 'two handled');
      await b.countKeyPackages(); // a round trip: CAUGHT_UP, if sent, has arrived by now
      assert.equal(caughtUp, false, 'not while a message before CAUGHT_UP is being handled');
      release();
      await done;
      assert.deepEqual(handled, ['m0', 'm1', 'm2', 'm3', 'm4']);
      await b.caughtUp(); // at once on the same connection
      const pk = (
        await store.resolveDevices([{ username: parseUsername(bob.username), deviceId: bob.deviceId }])
      )[0]!;
      await eventually(
        async () => (await store.fetchMail(pk, 0, 10, Math.floor(Date.now() / 1000))).length === 0,
        5000,
        'the acks stored',
      );
      await b.close();
    });
  });
}
