/**
 * NatsBus against real NATS servers: the shared one on 127.0.0.1:4222 (each test on its own random
 * subject prefix, since other suites use it concurrently) and, for outages, a nats-server child
 * process of our own on a free port. Neither missing is a reason to skip: the tests fail and say why.
 */
import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { createConnection, createServer } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { connect, type Msg } from '@nats-io/transport-node';
import { ConfigError } from '@sealpost/core';
import type { DevicePk } from '../store/store.ts';
import type { BusEvent } from './bus.ts';
import { BusUnavailableError, NatsBus } from './nats.ts';

const SHARED_NATS = '127.0.0.1:4222';
const NATS_SERVER_BIN = '/usr/sbin/nats-server';
const TEST_TIMEOUT_MS = 30_000;

const mail = (n: number): BusEvent => ({ type: 'mail', device: n as DevicePk, seq: 1 });
const hex = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s.replaceAll(' ', ''), 'hex'));
const uniquePrefix = (): string => `sealpost.test.${randomBytes(8).toString('hex')}`;

async function waitFor(condition: () => boolean, ms: number, what: string): Promise<void> {
  const deadline = performance.now() + ms;
  while (!condition()) {
    if (performance.now() > deadline) assert.fail(`timed out after ${ms} ms waiting for: ${what}`);
    await sleep(10);
  }
}

async function sharedBus(prefix: string): Promise<NatsBus> {
  try {
    return await NatsBus.connect({ servers: SHARED_NATS, subjectPrefix: prefix, connectTimeoutMs: 3_000 });
  } catch (error) {
    assert.fail(
      `the shared NATS server at ${SHARED_NATS} is unreachable (${String(error)}); ` +
        `start it with: start-stop-daemon --start --oknodo --background --exec ${NATS_SERVER_BIN} -- -a 127.0.0.1 -p 4222 -js`,
    );
  }
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise((resolve) => server.close(resolve));
  assert.ok(address !== null && typeof address === 'object');
  return address.port;
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

const children = new Set<ChildProcess>();
after(() => {
  for (const child of children) child.kill('SIGKILL');
});

/** Starts our own nats-server (never the shared one) and waits until it accepts connections. */
async function startNatsServer(port: number): Promise<ChildProcess> {
  if (!existsSync(NATS_SERVER_BIN))
    assert.fail(`${NATS_SERVER_BIN} is missing: install the nats-server package`);
  const child = spawn(NATS_SERVER_BIN, ['-a', '127.0.0.1', '-p', String(port)], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  children.add(child);
  let log = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    log = (log + chunk.toString()).slice(-2_000);
  });
  const deadline = performance.now() + 10_000;
  while (!(await accepts(port))) {
    if (child.exitCode !== null || child.signalCode !== null) {
      assert.fail(`nats-server on port ${port} exited (${child.exitCode ?? child.signalCode}): ${log}`);
    }
    if (performance.now() > deadline)
      assert.fail(`nats-server on port ${port} did not start in 10 s: ${log}`);
    await sleep(20);
  }
  return child;
}

async function stopNatsServer(child: ChildProcess): Promise<void> {
  if (child.exitCode === null && child.signalCode === null) {
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGKILL');
    await exited;
  }
  children.delete(child);
}

describe('NatsBus', () => {
  test(
    'should deliver an event published on one instance to the other, and once locally',
    { timeout: TEST_TIMEOUT_MS },
    async () => {
      const prefix = uniquePrefix();
      const a = await sharedBus(prefix);
      const b = await sharedBus(prefix);
      try {
        assert.equal(a.kind, 'nats');
        assert.ok(a.connected && b.connected);
        const seenA: BusEvent[] = [];
        const seenB: BusEvent[] = [];
        a.subscribe((e) => seenA.push(e));
        b.subscribe((e) => seenB.push(e));
        const connected: BusEvent = {
          type: 'connected',
          device: 9 as DevicePk,
          connectionId: 'conn_1',
          connectedAtMs: 1_700_000_000_000,
        };
        a.publish(mail(1));
        a.publish(connected);
        await waitFor(() => seenB.length === 2, 5_000, 'B receives both events');
        assert.deepEqual(seenB, [mail(1), connected]);
        await sleep(100);
        assert.deepEqual(seenA, [mail(1), connected], 'A hears its own events once (locally, not echoed)');
        assert.equal(b.counters.received, 2);
      } finally {
        await a.close();
        await b.close();
      }
    },
  );

  test('should put only the event fields on the wire', { timeout: TEST_TIMEOUT_MS }, async () => {
    const prefix = uniquePrefix();
    const a = await sharedBus(prefix);
    const raw = await connect({ servers: SHARED_NATS });
    try {
      const messages: Msg[] = [];
      raw.subscribe(`${prefix}.>`, {
        callback: (_error, msg) => {
          messages.push(msg);
        },
      });
      await raw.flush();
      a.publish({ ...mail(42), payload: 'canary' } as unknown as BusEvent);
      a.publish({
        type: 'connected',
        device: 7 as DevicePk,
        connectionId: 'c-1',
        connectedAtMs: 1_700_000_000_000,
      });
      await waitFor(() => messages.length === 2, 5_000, 'the raw client receives both hints');
      await sleep(100);
      assert.equal(messages.length, 2);
      const [m, c] = messages;
      assert.ok(m && c);
      assert.equal(m.subject, `${prefix}.mail`);
      assert.deepEqual(Uint8Array.from(m.data), hex('01 000000000000002a 0000000000000001'));
      assert.equal(c.subject, `${prefix}.connected`);
      assert.deepEqual(Uint8Array.from(c.data), hex('02 0000000000000007 03 632d31 0000018bcfe56800'));
      for (const msg of messages) {
        assert.equal(msg.headers, undefined, 'no headers');
        assert.ok(!msg.reply, 'no reply subject');
      }
    } finally {
      await a.close();
      await raw.close();
    }
  });

  test('should drop and count malformed hints without crashing', { timeout: TEST_TIMEOUT_MS }, async () => {
    const prefix = uniquePrefix();
    const b = await sharedBus(prefix);
    const raw = await connect({ servers: SHARED_NATS });
    try {
      const seen: BusEvent[] = [];
      b.subscribe((e) => seen.push(e));
      const validMail = hex('01 0000000000000005 0000000000000001');
      const garbage: [string, Uint8Array][] = [
        ['mail', new TextEncoder().encode('{"type":"mail","device":1}')],
        ['mail', new Uint8Array(0)],
        ['mail', new Uint8Array(2_000)],
        ['mail', hex('01 0000000000000005 0000000000000001 00')],
        ['mail', hex('01 0000000000000005')],
        ['connected', validMail],
        ['other', validMail],
      ];
      for (const [type, data] of garbage) raw.publish(`${prefix}.${type}`, data);
      raw.publish(`${prefix}.mail`, validMail);
      await waitFor(() => seen.length === 1, 5_000, 'the one valid hint after the garbage');
      assert.deepEqual(seen, [mail(5)]);
      assert.equal(b.counters.malformed, garbage.length);
      assert.equal(b.counters.received, 1);
      assert.ok(b.connected);
    } finally {
      await b.close();
      await raw.close();
    }
  });

  test('should refuse a subject prefix that is not NATS tokens with ConfigError', async () => {
    for (const subjectPrefix of ['', 'a..b', 'a.*', 'a.>', 'has space', '.a', 'a.']) {
      await assert.rejects(
        NatsBus.connect({ servers: SHARED_NATS, subjectPrefix }),
        ConfigError,
        subjectPrefix,
      );
    }
  });

  test(
    'should fail the first connect with BusUnavailableError when no server answers',
    { timeout: TEST_TIMEOUT_MS },
    async () => {
      const port = await freePort();
      const started = performance.now();
      await assert.rejects(
        NatsBus.connect({ servers: `nats://user:hunter2@127.0.0.1:${port}`, connectTimeoutMs: 1_000 }),
        (error) => {
          assert.ok(error instanceof BusUnavailableError);
          assert.match(error.message, new RegExp(`127\\.0\\.0\\.1:${port}`));
          assert.doesNotMatch(error.message, /hunter2/);
          return true;
        },
      );
      assert.ok(performance.now() - started < 5_000);
    },
  );

  test(
    'should start disconnected with waitOnFirstConnect, connect when a server appears, and resync',
    { timeout: TEST_TIMEOUT_MS },
    async () => {
      const port = await freePort();
      const prefix = uniquePrefix();
      const started = performance.now();
      const bus = await NatsBus.connect({
        servers: `127.0.0.1:${port}`,
        subjectPrefix: prefix,
        waitOnFirstConnect: true,
      });
      let server: ChildProcess | undefined;
      try {
        assert.ok(performance.now() - started < 1_000, 'connect() returns at once');
        assert.equal(bus.connected, false);
        let resyncs = 0;
        bus.onResync(() => resyncs++);
        bus.publish(mail(1));
        assert.equal(bus.counters.droppedDisconnected, 1);
        server = await startNatsServer(port);
        await waitFor(() => bus.connected && resyncs === 1, 15_000, 'the bus connects and resyncs');
      } finally {
        await bus.close();
        if (server) await stopNatsServer(server);
      }
    },
  );

  test(
    'should close promptly while still waiting for a first server',
    { timeout: TEST_TIMEOUT_MS },
    async () => {
      const port = await freePort();
      const bus = await NatsBus.connect({ servers: `127.0.0.1:${port}`, waitOnFirstConnect: true });
      await sleep(1_500);
      const started = performance.now();
      await bus.close();
      assert.ok(performance.now() - started < 2_000);
      assert.equal(bus.connected, false);
    },
  );

  test(
    'should survive a NATS outage: drop hints without blocking, reconnect, resync',
    { timeout: 60_000 },
    async (t) => {
      const port = await freePort();
      const prefix = uniquePrefix();
      let server = await startNatsServer(port);
      const buses: NatsBus[] = [];
      try {
        const servers = `127.0.0.1:${port}`;
        const a = await NatsBus.connect({ servers, subjectPrefix: prefix, name: 'a' });
        buses.push(a);
        const b = await NatsBus.connect({ servers, subjectPrefix: prefix, name: 'b' });
        buses.push(b);
        const resyncedAt = { a: 0, b: 0 };
        a.onResync(() => (resyncedAt.a ||= performance.now()));
        b.onResync(() => (resyncedAt.b ||= performance.now()));
        const seenB: BusEvent[] = [];
        b.subscribe((e) => seenB.push(e));
        a.publish(mail(1));
        await waitFor(() => seenB.length === 1, 5_000, 'B receives a hint before the outage');

        await stopNatsServer(server);
        await waitFor(() => !a.connected && !b.connected, 5_000, 'both buses report disconnected');

        const publishes = 10_000;
        const before = performance.now();
        for (let i = 0; i < publishes; i++) a.publish(mail(100));
        const publishMs = performance.now() - before;
        assert.ok(publishMs < 1_000, `${publishes} publishes while disconnected took ${publishMs} ms`);
        assert.equal(a.counters.droppedDisconnected, publishes);

        await sleep(1_500); // let the reconnect backoff grow past its first steps
        server = await startNatsServer(port);
        const restartedAt = performance.now();
        await waitFor(
          () => a.connected && b.connected && resyncedAt.a > 0 && resyncedAt.b > 0,
          15_000,
          'both buses reconnect and resync',
        );
        const ms = (at: number): number => Math.round(at - restartedAt);
        t.diagnostic(`resync after restart: a ${ms(resyncedAt.a)} ms, b ${ms(resyncedAt.b)} ms`);
        assert.equal(a.counters.reconnects, 1);
        assert.equal(b.counters.reconnects, 1);

        a.publish(mail(2));
        await waitFor(() => seenB.some((e) => e.device === 2), 5_000, 'B receives a hint after the outage');
        await sleep(100);
        assert.deepEqual(
          seenB,
          [mail(1), mail(2)],
          'hints published during the outage were dropped, not queued',
        );
      } finally {
        for (const bus of buses) await bus.close();
        await stopNatsServer(server);
      }
    },
  );
});
