/**
 * Several stateless instances behind a load balancer (DESIGN.md "Storage and scale"): two
 * instances share one PostgreSQL database and a NATS bus. A message sent through instance A reaches
 * a device connected to instance B; with the bus stopped, delivery is delayed (each session re-reads
 * its mailbox every LIMITS.mailboxPollMs) and nothing is lost; one live connection per device holds
 * across instances.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { LIMITS } from '@sealpost/core';
import { NatsBus } from '../packages/server/src/bus/nats.ts';
import { PostgresStore } from '../packages/server/src/store/postgres.ts';
import { createTestPostgres } from '../packages/server/src/store/test-databases.ts';
import {
  connect,
  createDevice,
  eventually,
  inbox,
  startInstance,
  text,
  untext,
  type Instance,
} from './support/harness.ts';
import { NatsProcess } from './support/nats-process.ts';

describe('two instances on one PostgreSQL and NATS', () => {
  let db: { url: string; drop(): Promise<void> };
  let nats: NatsProcess;
  const stores: PostgresStore[] = [];
  const buses: NatsBus[] = [];
  let a: Instance;
  let b: Instance;

  before(async () => {
    db = await createTestPostgres();
    nats = await NatsProcess.start();
    for (let i = 0; i < 2; i++) {
      const store = await PostgresStore.connect(db.url);
      stores.push(store);
      buses.push(await NatsBus.connect({ servers: nats.url, subjectPrefix: `sealpost.test${process.pid}` }));
    }
    // Both instances start together: migrations are applied once.
    await Promise.all(stores.map((s) => s.migrate()));
    a = await startInstance(stores[0]!, buses[0]!);
    b = await startInstance(stores[1]!, buses[1]!);
  });
  after(async () => {
    await Promise.all([a?.close(), b?.close()]);
    await Promise.all(buses.map((x) => x.close()));
    await Promise.all(stores.map((x) => x.close()));
    await nats?.stop();
    await db?.drop();
  });

  test('a message sent through instance A reaches a device connected to instance B', async () => {
    const alice = await createDevice(a.url, `alice${Date.now().toString(36)}`);
    const bob = await createDevice(b.url, `bob${Date.now().toString(36)}`);
    const box = inbox();
    const onA = connect(a.url, alice);
    const onB = connect(b.url, bob, box.onMessage);
    await Promise.all([onA.start(), onB.start()]);
    await onA.send({ recipients: [bob.address], payload: text('across instances') });
    const [m] = await box.waitFor(1, LIMITS.mailboxPollMs - 1000);
    assert.equal(untext(m!.payload), 'across instances');
    await Promise.all([onA.close(), onB.close()]);
  });

  test('with NATS stopped delivery is delayed but nothing is lost', async () => {
    const alice = await createDevice(a.url, `carol${Date.now().toString(36)}`);
    const bob = await createDevice(b.url, `dave${Date.now().toString(36)}`);
    const box = inbox();
    const onA = connect(a.url, alice);
    const onB = connect(b.url, bob, box.onMessage);
    await Promise.all([onA.start(), onB.start()]);
    await nats.stop();
    await eventually(() => !buses[0]!.connected && !buses[1]!.connected, 10_000, 'buses to notice');
    const n = 20;
    for (let i = 0; i < n; i++)
      await onA.send({ recipients: [bob.address], payload: text(`during outage ${i}`) });
    const got = await box.waitFor(n, LIMITS.mailboxPollMs * 3);
    assert.deepEqual(
      got.map((m) => untext(m.payload)),
      Array.from({ length: n }, (_, i) => `during outage ${i}`),
    );
    await nats.start();
    await eventually(() => buses[0]!.connected && buses[1]!.connected, 20_000, 'buses to reconnect');
    await onA.send({ recipients: [bob.address], payload: text('after outage') });
    await box.waitFor(n + 1, LIMITS.mailboxPollMs * 3);
    await Promise.all([onA.close(), onB.close()]);
  });

  test('a newer connection on instance B closes the older one on instance A', async () => {
    const bob = await createDevice(a.url, `erin${Date.now().toString(36)}`);
    const first = connect(a.url, bob);
    await first.start();
    const second = connect(b.url, bob);
    await second.start();
    await eventually(() => first.state === 'closed', 10_000, 'older connection closed');
    assert.equal(second.state, 'ready');
    await second.close();
  });
});
