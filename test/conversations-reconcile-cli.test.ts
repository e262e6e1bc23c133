/**
 * Roster reconciliation through `sealpost` as users run it (child processes, one home each)
 * against a real server (docs/conversations.md "Roster reconciliation"): bob loses every device
 * and takes his account back with the recovery code on a new home; the other members' next
 * commands replace his old device by the new one in every conversation they share with him, from
 * the verified key directory, each member seeing why; his new device then reads and writes. A
 * device the server registers for bob but the directory does not list is never added.
 *
 * The client-level cases (races between reconcilers, with the owner's own add, a deleted
 * account) are in packages/client/node/conversation-reconcile.test.ts.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { ServerApi, openKeystore } from '@sealpost/client';
import { DeviceSession, mlsCiphersuite, nodeMlsCryptoProvider } from '@sealpost/client/node/conversation-cli';
import { crypto } from './support/harness.ts';
import { cliScenario } from './support/cli-scenario.ts';
import { PASSPHRASE, ok as okWith } from './support/sealpost-cli.ts';
import { unverifiedDirectory } from './support/unverified-directory.ts';

const scenario = cliScenario('sealpost-reconcile-');
const { ok } = scenario;
const read = (home: string) => ok(home, ['read']);

/** An account on a new home: its home, first device id and recovery code. */
async function account(name: string): Promise<{ home: string; deviceId: string; code: string }> {
  const home = mkdtempSync(join(scenario.scratch, `${name}-`));
  const out = await ok(home, ['account', 'create', name, '--server', scenario.node.url]);
  return {
    home,
    deviceId: /^device id +(\S+)$/m.exec(out)![1]!,
    code: /recovery code\s+([0-9A-Z-]+)/.exec(out)![1]!,
  };
}

interface GroupListing {
  readonly title: string | null;
  readonly epoch: number;
  readonly members: Array<{ user: string; devices: Array<{ deviceId: string }> }>;
}

/** `group list --json` by title ('' for the 1:1): the epoch and the `user/device` members. */
async function groupsOf(home: string): Promise<Map<string, { epoch: number; devices: string[] }>> {
  const listed = JSON.parse(await ok(home, ['group', 'list', '--json'])) as GroupListing[];
  return new Map(
    listed.map((g) => [
      g.title ?? '',
      {
        epoch: g.epoch,
        devices: g.members.flatMap((u) => u.devices.map((d) => `${u.user}/${d.deviceId}`)).sort(),
      },
    ]),
  );
}

/**
 * `read` until every one of `wanted` was printed (at most 5 runs): a run prints what its mailbox
 * held when the server said it was caught up (CAUGHT_UP); what another device's reconciliation
 * commits after that is printed by the next run.
 */
async function readUntil(home: string, ...wanted: string[]): Promise<string> {
  let out = '';
  for (let i = 0; i < 5 && !wanted.every((w) => out.includes(w)); i++) out += await read(home);
  return out;
}

test("after bob recovers his account, alice's next read replaces his old device by the new one; a ghost is never added", async () => {
  const alice = await account('alice');
  const bob = await account('bob');
  const carol = await account('carol');
  await ok(alice.home, ['send', 'bob', 'before the loss']);
  await ok(alice.home, ['group', 'create', 'team', 'bob', 'carol']);
  await read(bob.home);
  await read(carol.home);

  // Every device of bob lost; the recovery code takes the account back on a new home.
  const newHome = join(mkdtempSync(join(scenario.scratch, 'bob-new-')), 'home');
  const recovered = await okWith(
    scenario.scratch,
    newHome,
    ['account', 'recover', 'bob', '--server', scenario.node.url],
    { env: { SEALPOST_PASSPHRASE: PASSPHRASE, SEALPOST_RECOVERY_CODE: bob.code } },
  );
  const newId = /^device id +(\S+)$/m.exec(recovered)![1]!;
  assert.notEqual(newId, bob.deviceId);

  // alice's next read reconciles both conversations with the verified directory.
  const left = `bob's device ${bob.deviceId} left: no longer in bob's key directory entry`;
  const joined = `bob's device ${newId} joined: listed in bob's key directory entry`;
  const aliceRead = await read(alice.home);
  for (const label of ['[bob]', '[team]']) {
    assert.ok(aliceRead.includes(`${label} ${left} (removed by you)\n`), aliceRead);
    assert.ok(
      aliceRead.includes(`${label} ${joined} (added by you; earlier messages are not shared with it)\n`),
      aliceRead,
    );
  }
  const aliceGroups = await groupsOf(alice.home);
  assert.deepEqual(aliceGroups.get('')?.devices, [`alice/${alice.deviceId}`, `bob/${newId}`].sort());
  assert.deepEqual(
    aliceGroups.get('team')?.devices,
    [`alice/${alice.deviceId}`, `bob/${newId}`, `carol/${carol.deviceId}`].sort(),
  );

  // carol sees the same change, made by alice; her own checks find nothing left to do (no commit).
  const carolRead = await readUntil(carol.home, `[team] ${left}`, `[team] ${joined}`);
  assert.ok(carolRead.includes(`[team] ${left} (removed by alice)\n`), carolRead);
  assert.ok(carolRead.includes(`[team] ${joined} (added by alice;`), carolRead);
  const carolTeam = (await groupsOf(carol.home)).get('team');
  assert.equal(carolTeam?.epoch, aliceGroups.get('team')?.epoch);
  assert.deepEqual(carolTeam?.devices, aliceGroups.get('team')?.devices);
  assert.equal((await groupsOf(alice.home)).get('team')?.epoch, aliceGroups.get('team')?.epoch);

  // bob's new device reads alice's next message (not what came before) and writes to the group.
  await ok(alice.home, ['send', 'bob', 'welcome back']);
  const bobRead = await readUntil(newHome, 'alice: welcome back', '[team] group named by alice');
  assert.match(bobRead, /^alice: welcome back$/m);
  assert.match(bobRead, /^\[team\] group named by alice$/m);
  assert.doesNotMatch(bobRead, /before the loss/);
  await ok(newHome, ['send', 'team', 'back on a new device']);
  assert.match(await readUntil(carol.home, 'back on a new device'), /^\[team\] bob: back on a new device$/m);
  assert.match(await readUntil(alice.home, 'back on a new device'), /^\[team\] bob: back on a new device$/m);

  // The server registers a ghost device for bob (it holds KeyPackages there); no list bob's
  // account key signed holds it, so no member's reconciliation adds it.
  const keys = await openKeystore(
    crypto,
    new Uint8Array(readFileSync(join(newHome, 'keystore.spks'))),
    new TextEncoder().encode(PASSPHRASE),
  );
  const ghostSeed = crypto.randomBytes(32);
  const { deviceId } = await new ServerApi(scenario.node.url, crypto).addDevice({
    username: 'bob',
    accountSeed: keys.accountSeed,
    deviceSeed: ghostSeed,
  });
  const ghostId = Buffer.from(deviceId).toString('base64url');
  const ghost = await DeviceSession.open({
    serverUrl: scenario.node.url,
    username: 'bob',
    deviceSeed: ghostSeed,
    crypto,
    cs: await mlsCiphersuite({ provider: nodeMlsCryptoProvider }),
    directory: unverifiedDirectory(scenario.node.url, crypto),
  });
  await ghost.close(); // its KeyPackages are on the server now
  for (const home of [alice.home, carol.home]) {
    assert.doesNotMatch(await read(home), new RegExp(ghostId));
    for (const g of (await groupsOf(home)).values()) assert.ok(!g.devices.includes(`bob/${ghostId}`));
  }
});
