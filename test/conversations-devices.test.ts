/**
 * Linking a device from the command line against a real server (child processes, one home each):
 * the new device prints a link code, an existing device approves it; the new device receives the
 * account key (its key store is written), joins every conversation by a commit, gets each one's
 * recent history end to end encrypted, and then talks as the account; the other members see the
 * device arrive as an event. `devices remove` takes it out of the account and every conversation.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { interactive } from './support/sealpost-cli.ts';
import { cliScenario } from './support/cli-scenario.ts';

const scenario = cliScenario('sealpost-devices-');
const { ok } = scenario;

async function account(name: string): Promise<string> {
  const home = mkdtempSync(join(scenario.scratch, `${name}-`));
  await ok(home, ['account', 'create', name, '--server', scenario.node.url]);
  await ok(home, ['read']);
  return home;
}

test('a linked device gets the account key, every conversation and its history, and is removed again', async () => {
  const alice = await account('alice');
  const bob = await account('bob');
  await ok(alice, ['send', 'bob', 'one']);
  await ok(bob, ['send', 'alice', 'two']);
  await ok(alice, ['group', 'create', 'team', 'bob']);
  await ok(alice, ['send', 'team', 'three']);
  await ok(alice, ['read']);

  const phone = join(mkdtempSync(join(scenario.scratch, 'phone-')), 'home');
  const linking = interactive(scenario.scratch, phone, [
    'devices',
    'link',
    'alice',
    '--server',
    scenario.node.url,
  ]);
  await linking.waitFor(/^device fingerprint .+$/m);
  const code = /^link code +(\S+)$/m.exec(linking.stdout())![1]!;
  const fingerprint = /^device fingerprint +(.+)$/m.exec(linking.stdout())![1]!;

  const approved = await ok(alice, ['devices', 'approve', code]);
  assert.ok(approved.includes(`fingerprint ${fingerprint}`), approved);
  assert.match(approved, /^linked \S+$/m);
  const linked = await linking.end();
  assert.equal(linked.status, 0, linked.stderr);
  assert.match(linked.stdout, /^linked: 2 conversations, 3 messages of history/m);
  assert.ok(existsSync(join(phone, 'keystore.spks')));
  const phoneId = /^approved: this device is (\S+)$/m.exec(linked.stdout)![1]!;
  // The link box carried the backup recovery public key: the linked device's repositories open
  // with the recovery code too.
  const init = await ok(phone, [
    'backup',
    'init',
    '--repo',
    join(scenario.scratch, 'phone-repo'),
    '--account',
    '--json',
  ]);
  assert.equal((JSON.parse(init) as { recoveryKeyFile: boolean }).recoveryKeyFile, true);

  const history = await ok(phone, ['read']);
  assert.match(history, /^alice: one \(history\)$/m);
  assert.match(history, /^bob: two \(history\)$/m);
  assert.match(history, /^\[team\] alice: three \(history\)$/m);
  assert.match(await ok(bob, ['read']), new RegExp(`alice has a new device ${phoneId}, added by alice`));

  // The new device talks as alice, in the 1:1 conversation and the group.
  await ok(phone, ['send', 'bob', 'from the phone']);
  await ok(bob, ['send', 'team', 'to both of alice']);
  assert.match(await ok(bob, ['read']), /^alice: from the phone$/m);
  assert.match(await ok(phone, ['read']), /^\[team\] bob: to both of alice$/m);
  assert.match(await ok(alice, ['read']), /^\[team\] bob: to both of alice$/m);

  const devices = await ok(alice, ['devices', 'list']);
  assert.match(devices, new RegExp(`^${phoneId} +\\S+ +2/2 `, 'm'));

  const removed = await ok(alice, ['devices', 'remove', '--', phoneId]);
  assert.match(removed, new RegExp(`alice's device ${phoneId} was removed by you`));
  assert.match(await ok(bob, ['read']), new RegExp(`alice's device ${phoneId} was removed by alice`));
  assert.doesNotMatch(await ok(alice, ['devices', 'list']), new RegExp(phoneId));
});
