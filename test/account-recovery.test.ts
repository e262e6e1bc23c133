/**
 * Account recovery on the server (docs/identity.md "Recovery", docs/protocol.md "HTTP") on every
 * store: the next device list with a new account key, one new device and a rotation signed by the
 * recovery key replaces the registered account key, unlinks every other device (their account-key
 * and device signatures stop working) and reaches the key directory; a retry of a half-done
 * recovery completes it; a rotation signed by another key, a list off the newest one, a replayed
 * request and a list for another account are refused typed and change nothing.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import {
  SealpostError,
  accountRecoverStatement,
  blobAccessStatement,
  deviceIdOf,
  parseUsername,
  toBase64url,
  type Username,
} from '@sealpost/core';
import { ROTATION_SIGNER, signRotation } from '@sealpost/core/identity/account-key-chain';
import { deviceListHash, signDeviceList, verifyDeviceList } from '@sealpost/core/identity/device-list';
import { generateRecoverySecret, recoverySigningKey } from '@sealpost/core/identity/recovery-key';
import { ServerApi, firstDeviceList, recoveryDeviceList } from '@sealpost/client';
import { BLOB_AUTH_HEADERS } from '../packages/server/src/http/blobs.ts';
import { storeFactories } from '../packages/server/src/store/test-databases.ts';
import {
  challenge,
  connect,
  createDevice,
  crypto,
  eventually,
  post,
  uniqueName,
  type Instance,
  type TestDevice,
} from './support/harness.ts';
import { freshServer } from './support/fresh-server.ts';

/** An account with a published first list (version 0) and a second registered device. */
async function accountWithList(server: Instance) {
  const first = await createDevice(server.url, uniqueName('rec'));
  const username = first.username as Username;
  const recovery = recoverySigningKey(crypto, generateRecoverySecret(crypto));
  const list0 = firstDeviceList(crypto, {
    username,
    accountSeed: first.accountSeed,
    recoveryKey: recovery.publicKey,
    deviceKeys: [crypto.ed25519.publicKey(first.deviceSeed)],
    day: 20_000,
  });
  const api = new ServerApi(server.url, crypto);
  assert.deepEqual(await api.publishDeviceList({ username, deviceList: list0 }), { version: 0 });
  const laptopSeed = crypto.randomBytes(32);
  await api.addDevice({ username, accountSeed: first.accountSeed, deviceSeed: laptopSeed });
  const current = { username, version: 0, list: verifyDeviceList(crypto, list0) };
  return { first, username, recovery, list0, current, laptopSeed, api };
}

function newDeviceSeeds() {
  const accountSeed = crypto.randomBytes(32);
  const deviceSeed = crypto.randomBytes(32);
  return { accountSeed, deviceSeed, deviceKey: crypto.ed25519.publicKey(deviceSeed) };
}

/** What a refused recovery must leave as it was. */
async function snapshot(server: Instance, username: Username) {
  const store = server.server.context.store;
  const account = (await store.getAccount(username))!;
  return {
    accountKey: toBase64url(account.accountKey),
    devices: (await store.listDevices(account.id)).map((d) => toBase64url(d.deviceId)),
    latest: (await store.ktLatest(account.id))?.version,
  };
}

async function recoveryBody(
  server: Instance,
  username: Username,
  list: Uint8Array,
  seeds: ReturnType<typeof newDeviceSeeds>,
) {
  const c = await challenge(server.url);
  const statement = accountRecoverStatement(
    c,
    server.host,
    username,
    deviceListHash(crypto, list),
    seeds.deviceKey,
  );
  return {
    deviceList: toBase64url(list),
    deviceKey: toBase64url(seeds.deviceKey),
    challenge: toBase64url(c),
    accountSignature: toBase64url(crypto.ed25519.sign(seeds.accountSeed, statement)),
    deviceSignature: toBase64url(crypto.ed25519.sign(seeds.deviceSeed, statement)),
  };
}

async function blobListing(server: Instance, device: TestDevice): Promise<number> {
  const c = await challenge(server.url);
  const statement = blobAccessStatement(
    c,
    server.host,
    parseUsername(device.username),
    device.deviceId,
    'GET',
    new Uint8Array(0),
  );
  const res = await fetch(`${server.url}/v1/blobs`, {
    headers: {
      [BLOB_AUTH_HEADERS.username]: device.username,
      [BLOB_AUTH_HEADERS.device]: toBase64url(device.deviceId),
      [BLOB_AUTH_HEADERS.challenge]: toBase64url(c),
      [BLOB_AUTH_HEADERS.signature]: toBase64url(crypto.ed25519.sign(device.deviceSeed, statement)),
    },
  });
  await res.arrayBuffer();
  return res.status;
}

const codeOf = (e: unknown) => (e instanceof SealpostError ? e.code : String(e));

for (const factory of storeFactories) {
  describe(`account recovery (${factory.name})`, () => {
    const fixture = freshServer(factory);

    test('a rotation signed by the recovery key replaces the account key, unlinks the old devices and reaches the directory', async () => {
      const a = await accountWithList(fixture.server);
      const live = connect(fixture.server.url, a.first);
      void live.start().catch(() => undefined);
      await live.ready();
      const seeds = newDeviceSeeds();
      const list = recoveryDeviceList(crypto, a.current, {
        recoverySeed: a.recovery.seed,
        accountSeed: seeds.accountSeed,
        deviceKey: seeds.deviceKey,
        day: 20_001,
      });
      const result = await a.api.recoverAccount({ username: a.username, ...seeds, deviceList: list });
      assert.equal(result.version, 1);
      assert.equal(result.removedDevices, 2);
      assert.deepEqual(result.deviceId, deviceIdOf(crypto, seeds.deviceKey));

      const view = await a.api.getAccount(a.username);
      assert.deepEqual(view.accountKey, crypto.ed25519.publicKey(seeds.accountSeed));
      assert.deepEqual(
        view.devices.map((d) => d.deviceId),
        [result.deviceId],
      );
      // The old device's live session is closed, and none of its credentials work any more.
      await eventually(() => live.state === 'closed', 5000, 'old session closed');
      const oldAdd = a.api.addDevice({
        username: a.username,
        accountSeed: a.first.accountSeed,
        deviceSeed: crypto.randomBytes(32),
      });
      await assert.rejects(oldAdd, (e) => codeOf(e) === 'AUTH_SIGNATURE_INVALID');
      assert.equal(await blobListing(fixture.server, a.first), 401);
      const recovered: TestDevice = {
        username: a.username,
        accountSeed: seeds.accountSeed,
        deviceSeed: seeds.deviceSeed,
        deviceId: result.deviceId,
        address: { username: a.username, deviceId: result.deviceId },
      };
      assert.equal(await blobListing(fixture.server, recovered), 200);

      // The directory publishes the recovery list as version 1.
      await fixture.server.server.context.directory.publishNow();
      const account = (await fixture.server.server.context.store.getAccount(a.username))!;
      const latest = await fixture.server.server.context.store.ktLatest(account.id);
      assert.equal(latest?.version, 1);
      assert.deepEqual(latest?.deviceList, list);

      // Asked again (a client that lost the answer): the same outcome, nothing more removed or queued.
      const again = await a.api.recoverAccount({ username: a.username, ...seeds, deviceList: list });
      assert.deepEqual([again.version, again.removedDevices], [1, 0]);
      assert.equal((await fixture.server.server.context.store.ktLatest(account.id))?.version, 1);
    });

    test('a recovery whose list the directory already took is completed by a retry', async () => {
      const a = await accountWithList(fixture.server);
      const seeds = newDeviceSeeds();
      const list = recoveryDeviceList(crypto, a.current, {
        recoverySeed: a.recovery.seed,
        accountSeed: seeds.accountSeed,
        deviceKey: seeds.deviceKey,
        day: 20_001,
      });
      // The first attempt stopped after the directory queued the list (the store step never ran).
      assert.deepEqual(await a.api.publishDeviceList({ username: a.username, deviceList: list }), {
        version: 1,
      });
      const result = await a.api.recoverAccount({ username: a.username, ...seeds, deviceList: list });
      assert.deepEqual([result.version, result.removedDevices], [1, 2]);
      const after = await snapshot(fixture.server, a.username);
      assert.equal(after.accountKey, toBase64url(crypto.ed25519.publicKey(seeds.accountSeed)));
      assert.deepEqual(after.devices, [toBase64url(result.deviceId)]);
    });

    test('random bytes as the device list are refused typed and change nothing', async () => {
      const a = await accountWithList(fixture.server);
      const seeds = newDeviceSeeds();
      const before = await snapshot(fixture.server, a.username);
      await fc.assert(
        fc.asyncProperty(fc.uint8Array({ maxLength: 400 }), async (bytes) => {
          const r = await post(
            `${fixture.server.url}/v1/accounts/${a.username}/recovery`,
            await recoveryBody(fixture.server, a.username, bytes, seeds),
          );
          assert.equal(r.status, 400, JSON.stringify(r.body));
          assert.match(String(r.body['code']), /^(CODEC_|IDENTITY_|VALIDATION_FAILED)/);
        }),
        { numRuns: 30 },
      );
      assert.deepEqual(await snapshot(fixture.server, a.username), before);
    });

    test('refuses typed, and changes nothing: wrong signer, stale chain, replay, another account, no list', async () => {
      const a = await accountWithList(fixture.server);
      const seeds = newDeviceSeeds();
      const before = await snapshot(fixture.server, a.username);
      const previousHash = deviceListHash(crypto, a.list0);
      const newAccountKey = crypto.ed25519.publicKey(seeds.accountSeed);
      const device = {
        deviceId: deviceIdOf(crypto, seeds.deviceKey),
        signatureKey: seeds.deviceKey,
        mlsCredentialKey: new Uint8Array(0),
        addedAtDay: 20_001,
      };
      const rotationContext = {
        username: a.username,
        previousListHash: previousHash,
        previousAccountKey: a.current.list.accountKey,
        newAccountKey,
      };
      const listWith = (over: {
        signer: 0 | 1;
        signerSeed: Uint8Array;
        version?: number;
        previousHash?: Uint8Array;
      }) =>
        signDeviceList(
          crypto,
          {
            username: a.username,
            version: over.version ?? 1,
            accountKey: newAccountKey,
            recoveryKey: a.recovery.publicKey,
            previousHash: over.previousHash ?? previousHash,
            devices: [device],
            rotation: signRotation(crypto, rotationContext, over.signer, over.signerSeed),
          },
          seeds.accountSeed,
        );
      const refused = async (list: Uint8Array, status: number, code: string, body?: object) => {
        const r = await post(
          `${fixture.server.url}/v1/accounts/${a.username}/recovery`,
          body ?? (await recoveryBody(fixture.server, a.username, list, seeds)),
        );
        assert.deepEqual([r.status, r.body['code']], [status, code], JSON.stringify(r.body));
        await fixture.server.server.context.directory.publishNow();
        assert.deepEqual(await snapshot(fixture.server, a.username), before);
      };

      // Signed by a key that is not the recovery key (labelled as the recovery key).
      await refused(
        listWith({ signer: ROTATION_SIGNER.recoveryKey, signerSeed: crypto.randomBytes(32) }),
        400,
        'IDENTITY_ROTATION_UNAUTHORIZED',
      );
      // Signed by the old account key: a rotation, but not a recovery.
      await refused(
        listWith({ signer: ROTATION_SIGNER.previousAccountKey, signerSeed: a.first.accountSeed }),
        400,
        'IDENTITY_ROTATION_UNAUTHORIZED',
      );
      // A correct recovery list whose request signature is by another key.
      const good = listWith({ signer: ROTATION_SIGNER.recoveryKey, signerSeed: a.recovery.seed });
      const forged = await recoveryBody(fixture.server, a.username, good, {
        ...seeds,
        accountSeed: crypto.randomBytes(32),
      });
      await refused(good, 401, 'AUTH_SIGNATURE_INVALID', forged);

      // Stale chain: the account published version 1 meanwhile; a recovery built on version 0.
      const list1 = signDeviceList(
        crypto,
        {
          ...a.current.list,
          version: 1,
          previousHash,
          rotation: undefined,
        },
        a.first.accountSeed,
      );
      await a.api.publishDeviceList({ username: a.username, deviceList: list1 });
      const afterList1 = await snapshot(fixture.server, a.username);
      Object.assign(before, afterList1);
      await refused(
        listWith({ signer: ROTATION_SIGNER.recoveryKey, signerSeed: a.recovery.seed, version: 2 }),
        400,
        'IDENTITY_CHAIN_BROKEN',
      );
      await refused(good, 400, 'IDENTITY_VERSION_NOT_INCREASING');

      // Replay: a captured request sent again is refused at its spent challenge.
      const current1 = { username: a.username, version: 1, list: verifyDeviceList(crypto, list1) };
      const fresh = recoveryDeviceList(crypto, current1, {
        recoverySeed: a.recovery.seed,
        accountSeed: seeds.accountSeed,
        deviceKey: seeds.deviceKey,
        day: 20_001,
      });
      const captured = await recoveryBody(fixture.server, a.username, fresh, seeds);
      const ok = await post(`${fixture.server.url}/v1/accounts/${a.username}/recovery`, captured);
      assert.equal(ok.status, 200, JSON.stringify(ok.body));
      const recovered = await snapshot(fixture.server, a.username);
      const replay = await post(`${fixture.server.url}/v1/accounts/${a.username}/recovery`, captured);
      assert.deepEqual([replay.status, replay.body['code']], [401, 'AUTH_CHALLENGE_UNKNOWN']);
      assert.deepEqual(await snapshot(fixture.server, a.username), recovered);

      // A recovery list of one account posted for another.
      const b = await accountWithList(fixture.server);
      const beforeB = await snapshot(fixture.server, b.username);
      const r = await post(
        `${fixture.server.url}/v1/accounts/${b.username}/recovery`,
        await recoveryBody(fixture.server, b.username, fresh, seeds),
      );
      assert.deepEqual([r.status, r.body['code']], [400, 'VALIDATION_FAILED']);
      assert.deepEqual(await snapshot(fixture.server, b.username), beforeB);

      // An account that never published a list has no chain to recover on.
      const c = await createDevice(fixture.server.url, uniqueName('nolist'));
      const cUser = c.username as Username;
      const beforeC = await snapshot(fixture.server, cUser);
      const cRecovery = recoverySigningKey(crypto, generateRecoverySecret(crypto));
      const cList0 = verifyDeviceList(
        crypto,
        firstDeviceList(crypto, {
          username: cUser,
          accountSeed: c.accountSeed,
          recoveryKey: cRecovery.publicKey,
          deviceKeys: [crypto.ed25519.publicKey(c.deviceSeed)],
          day: 20_000,
        }),
      );
      const orphan = recoveryDeviceList(
        crypto,
        { username: cUser, version: 0, list: cList0 },
        { recoverySeed: cRecovery.seed, accountSeed: seeds.accountSeed, deviceKey: seeds.deviceKey, day: 1 },
      );
      const rc = await post(
        `${fixture.server.url}/v1/accounts/${cUser}/recovery`,
        await recoveryBody(fixture.server, cUser, orphan, seeds),
      );
      assert.deepEqual([rc.status, rc.body['code']], [400, 'IDENTITY_SIGNATURE_INVALID']);
      assert.deepEqual(await snapshot(fixture.server, cUser), beforeC);
    });
  });
}
