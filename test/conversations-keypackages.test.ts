/**
 * KeyPackage stock against a real server: a device tops its one-time KeyPackages up when it
 * connects, and, while connected, when others have claimed it below the low water mark (claims
 * do not tell the device; it checks its count). A device above the mark uploads nothing.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { ServerApi } from '../packages/client/src/account-api.ts';
import { DeviceSession } from '../packages/client/src/conversations/device-session.ts';
import { mlsCiphersuite } from '../packages/client/src/mls/provider.ts';
import { nodeMlsCryptoProvider } from '../packages/client/node/mls-crypto.ts';
import { SqliteStore } from '../packages/server/src/store/sqlite.ts';
import {
  connect,
  createDevice,
  crypto,
  eventually,
  startInstance,
  type Instance,
} from './support/harness.ts';
import { unverifiedDirectory } from './support/unverified-directory.ts';

const cs = await mlsCiphersuite({ provider: nodeMlsCryptoProvider });
let node: Instance;
let store: SqliteStore;

before(async () => {
  store = SqliteStore.open(':memory:');
  await store.migrate();
  node = await startInstance(store);
});
after(async () => {
  await node.close();
  await store.close();
});

test('a connected device tops its KeyPackages up once claims bring them under the low water mark', async () => {
  const bob = await createDevice(node.url, 'bobkp');
  const alice = await createDevice(node.url, 'alicekp');
  const session = await DeviceSession.open({
    serverUrl: node.url,
    username: bob.username,
    deviceSeed: bob.deviceSeed,
    crypto,
    cs,
    keyPackageStock: 6,
    keyPackageLowWater: 3,
    keyPackageCheckMs: 50,
    connection: { reconnectBaseMs: 20, reconnectMaxMs: 200 },
    directory: unverifiedDirectory(node.url, crypto),
  });
  const claimer = connect(node.url, alice);
  await claimer.start();
  try {
    assert.deepEqual(await session.connection.countKeyPackages(), { oneTime: 6, hasLastResort: true });

    // Two claims leave 4, above the mark: nothing is uploaded.
    for (let i = 0; i < 2; i++) assert.equal((await claimer.claimKeyPackages(bob.username)).length, 1);
    await new Promise((r) => setTimeout(r, 300));
    assert.equal((await session.connection.countKeyPackages()).oneTime, 4);

    // Two more leave 2, under it: the device notices on its own and uploads back to 6.
    for (let i = 0; i < 2; i++) assert.equal((await claimer.claimKeyPackages(bob.username)).length, 1);
    await eventually(
      async () => (await session.connection.countKeyPackages()).oneTime === 6,
      10_000,
      'the stock back at 6',
    );
    // Every KeyPackage claimed after the top-up is one whose private half the device holds.
    const claimed = await claimer.claimKeyPackages(bob.username);
    assert.equal(claimed.length, 1);
  } finally {
    await claimer.close();
    await session.close();
  }
});

test('a device whose one-time KeyPackages ran out is stocked again when it connects', async () => {
  const carol = await createDevice(node.url, 'carolkp');
  const dave = await createDevice(node.url, 'davekp');
  const open = () =>
    DeviceSession.open({
      serverUrl: node.url,
      username: carol.username,
      deviceSeed: carol.deviceSeed,
      crypto,
      cs,
      keyPackageStock: 3,
      keyPackageLowWater: 2,
      directory: unverifiedDirectory(node.url, crypto),
    });
  const first = await open();
  await first.close();
  const claimer = connect(node.url, dave);
  await claimer.start();
  for (let i = 0; i < 3; i++) await claimer.claimKeyPackages(carol.username);
  // The last-resort KeyPackage is handed out now, and kept.
  assert.equal((await claimer.claimKeyPackages(carol.username)).length, 1);
  await claimer.close();
  const again = await open();
  try {
    assert.deepEqual(await again.connection.countKeyPackages(), { oneTime: 3, hasLastResort: true });
  } finally {
    await again.close();
  }
});

test("adding a user's second device leaves their first device's KeyPackage count unchanged", async () => {
  const alice = await createDevice(node.url, 'alicesecond');
  const erin = await createDevice(node.url, 'erinsecond');
  const open = (username: string, deviceSeed: Uint8Array) =>
    DeviceSession.open({
      serverUrl: node.url,
      username,
      deviceSeed,
      crypto,
      cs,
      keyPackageCheckMs: 60_000,
      // Asked afresh each time, so the second device is seen as soon as it is registered.
      directory: unverifiedDirectory(node.url, crypto, { cacheMs: 0 }),
    });
  const a = await open(alice.username, alice.deviceSeed);
  const e1 = await open(erin.username, erin.deviceSeed);
  const sessions = [a, e1];
  try {
    const c = await a.create();
    await a.change(c, (x) => x.addUser(erin.username));
    await e1.waitUntil(() => e1.conversations.get(c.groupId)?.epoch === 1n, 10_000, 'erin joined');
    const firstStock = (await e1.connection.countKeyPackages()).oneTime;

    // erin's second device: registered, stocked, then added by alice.
    const secondSeed = crypto.randomBytes(32);
    await new ServerApi(node.url, crypto).addDevice({
      username: erin.username,
      accountSeed: erin.accountSeed,
      deviceSeed: secondSeed,
    });
    const e2 = await open(erin.username, secondSeed);
    sessions.push(e2);
    const secondStock = (await e2.connection.countKeyPackages()).oneTime;
    await a.change(c, (x) => x.addUser(erin.username));
    await e2.waitUntil(
      () => e2.conversations.get(c.groupId)?.epoch === 2n,
      10_000,
      "erin's second device joined",
    );

    assert.equal((await e1.connection.countKeyPackages()).oneTime, firstStock, "the first device's stock");
    assert.equal(
      (await e2.connection.countKeyPackages()).oneTime,
      secondStock - 1,
      'one of the new device used',
    );
  } finally {
    for (const s of sessions) await s.close();
  }
});
