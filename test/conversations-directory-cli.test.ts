/**
 * Conversations against the verified key directory, through `sealpost` as a user runs it (child
 * processes, each with its own home) and a real server:
 *   - a ghost device, registered on the server's account endpoint but in no device list the
 *     account signed, is not added by a CLI member, and a commit that adds it (made by a client
 *     that trusts the account endpoint) is refused by the CLI member, visibly;
 *   - a device list version inserted into the log behind the owner's back is reported by the
 *     owner's next `sealpost read` (ALERT, non-zero exit), and only reminded after that.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { type Username } from '@sealpost/core';
import { ServerApi, openKeystore } from '@sealpost/client';
import { ConversationStateFile } from '@sealpost/client/node/conversation-store';
import { DeviceSession, mlsCiphersuite, nodeMlsCryptoProvider } from '@sealpost/client/node/conversation-cli';
import { FIRST_LIST_PREVIOUS_HASH, signDeviceList } from '@sealpost/core/identity/device-list';
import { crypto } from './support/harness.ts';
import { unverifiedDirectory } from './support/unverified-directory.ts';
import { deviceOf } from './support/device-lists.ts';
import { PASSPHRASE, sealpost as run } from './support/sealpost-cli.ts';
import { cliScenario } from './support/cli-scenario.ts';

const scenario = cliScenario('sealpost-kt-chat-');
const { ok } = scenario;

async function account(name: string): Promise<string> {
  const home = mkdtempSync(join(scenario.scratch, `${name}-`));
  const out = await ok(home, ['account', 'create', name, '--server', scenario.node.url]);
  assert.match(out, /published {2}device list version 0 in the key directory/);
  assert.match(out, /recovery code {2}([0-9A-Z]{4}-){13}[0-9A-Z]{4}\n/);
  return home;
}

async function keysOf(home: string) {
  return openKeystore(
    crypto,
    new Uint8Array(readFileSync(join(home, 'keystore.spks'))),
    new TextEncoder().encode(PASSPHRASE),
  );
}

const cs = () => mlsCiphersuite({ provider: nodeMlsCryptoProvider });

test('a ghost device on the server account endpoint, absent from the verified directory, is neither added nor accepted', async () => {
  const alice = await account('ghosta');
  const bob = await account('ghostb');
  await ok(bob, ['group', 'create', 'team', 'ghosta']);
  assert.match(await ok(alice, ['read']), /you joined a conversation with ghostb/);

  // The server's account endpoint lists a device that no list signed by Alice's account key holds.
  const keys = await keysOf(alice);
  const ghostSeed = crypto.randomBytes(32);
  const { deviceId: ghostId } = await new ServerApi(scenario.node.url, crypto).addDevice({
    username: 'ghosta',
    accountSeed: keys.accountSeed,
    deviceSeed: ghostSeed,
  });
  const ghost = await DeviceSession.open({
    serverUrl: scenario.node.url,
    username: 'ghosta',
    deviceSeed: ghostSeed,
    crypto,
    cs: await cs(),
    directory: unverifiedDirectory(scenario.node.url, crypto),
  });
  await ghost.close(); // its KeyPackages are on the server now
  const ghostText = Buffer.from(ghostId).toString('base64url');

  // Bob adds "Alice's devices the group lacks": the verified list holds none.
  const add = await run(scenario.scratch, bob, ['group', 'add', 'team', 'ghosta']);
  assert.notEqual(add.status, 0);
  assert.match(add.stderr, /ghosta has no device to add/);
  const listed = JSON.parse(await ok(bob, ['group', 'list', '--json'])) as Array<{
    members: Array<{ user: string; devices: Array<{ deviceId: string }> }>;
  }>;
  const ids = listed[0]!.members.flatMap((u) => u.devices.map((d) => d.deviceId));
  assert.equal(ids.includes(ghostText), false);

  // A client that trusts the account endpoint (Alice's own device, in process with the test-only
  // UnverifiedServerDirectory) commits the ghost's addition; the server orders it.
  const file = new ConversationStateFile(alice, crypto, keys.deviceSeed);
  const trusting = await DeviceSession.open({
    serverUrl: scenario.node.url,
    username: 'ghosta',
    deviceSeed: keys.deviceSeed,
    crypto,
    cs: await cs(),
    restore: async (c) => void (await file.restore(c)),
    directory: unverifiedDirectory(scenario.node.url, crypto),
  });
  try {
    const c = trusting.conversations.list()[0]!;
    await trusting.change(c, (x) => x.addUsers([], ['ghosta']));
    assert.ok(
      c.members().some((d) => d.deviceId === ghostText),
      'the unverified directory added the ghost',
    );
  } finally {
    await trusting.close();
    file.close();
  }
  const read = await ok(bob, ['read']);
  assert.match(
    read,
    new RegExp(`refused a message: CONVERSATION_UNKNOWN_DEVICE \\(ghosta's device ${ghostText}\\)`),
  );
  const after = JSON.parse(await ok(bob, ['group', 'list', '--json'])) as typeof listed;
  assert.deepEqual(
    after[0]!.members.flatMap((u) => u.devices.map((d) => d.deviceId)).sort(),
    ids.sort(),
    "bob's roster is unchanged",
  );
});

test("a device list version inserted behind the owner's back is reported by the owner's next read", async () => {
  const carol = await account('monc');
  assert.equal((await run(scenario.scratch, carol, ['read'])).status, 0, 'no alert for its own version');

  // The server logs a list under Carol's name that her account key never signed (a ghost device).
  const account_ = await scenario.node.server.context.store.getAccount('monc' as Username);
  const serverSeed = crypto.randomBytes(32);
  const forged = signDeviceList(
    crypto,
    {
      username: 'monc' as Username,
      version: 1,
      accountKey: crypto.ed25519.publicKey(serverSeed),
      recoveryKey: crypto.ed25519.publicKey(crypto.randomBytes(32)),
      previousHash: FIRST_LIST_PREVIOUS_HASH,
      devices: [deviceOf(crypto.randomBytes(32))],
    },
    serverSeed,
  );
  await scenario.node.server.context.directory.queueUncheckedForTest(
    account_!.id,
    'monc' as Username,
    forged,
  );
  await scenario.node.server.context.directory.publishNow();

  const alerted = await run(scenario.scratch, carol, ['read']);
  assert.equal(alerted.status, 2, alerted.stderr);
  assert.match(
    alerted.stderr,
    /ALERT: the key directory holds version 1 of monc's device list that this account did not make/,
  );
  assert.match(alerted.stderr, /error KT_VERSION_MISMATCH/);

  // Reported once: later runs remind, and work.
  const later = await run(scenario.scratch, carol, ['read']);
  assert.equal(later.status, 0, later.stderr);
  assert.match(later.stderr, /warning: versions 1 of monc's device list were not made by this account/);
});

test('group leave: the other member removes the leaver at its next run; the leaver sees it', async () => {
  const dan = await account('leaved');
  const eve = await account('leavee');
  await ok(dan, ['group', 'create', 'club', 'leavee']);
  assert.match(await ok(eve, ['read']), /you joined a conversation with leaved/);
  assert.match(await ok(eve, ['group', 'leave', 'club']), /\[club\] asked the members to remove you/);
  const danRead = await ok(dan, ['read']);
  assert.match(danRead, /\[club\] leavee asked to leave/);
  assert.match(danRead, /\[club\] leavee was removed by you/);
  assert.match(await ok(eve, ['read']), /\[club\] you were removed by leaved/);
  const groups = JSON.parse(await ok(dan, ['group', 'list', '--json'])) as Array<{
    members: Array<{ user: string }>;
  }>;
  assert.deepEqual(
    groups[0]!.members.map((u) => u.user),
    ['leaved'],
  );
});
