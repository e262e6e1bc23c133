/**
 * `sealpost send`, `read`, `group` and `chat` as a user runs them (child processes of the
 * repository's Node 24, each with its own home), against a real server: a 1:1 conversation created
 * on first send, read back across separate runs (state restored from the encrypted file), which
 * does not hold the plaintext; a group created, grown and shrunk with every change printed as an
 * event; two users chatting interactively over their live connections.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { interactive, sealpost as run } from './support/sealpost-cli.ts';
import { cliScenario } from './support/cli-scenario.ts';

const scenario = cliScenario('sealpost-chat-');
const { ok } = scenario;

/** A new account in its own home; its first `read` puts its KeyPackages on the server. */
async function account(name: string): Promise<string> {
  const home = mkdtempSync(join(scenario.scratch, `${name}-`));
  await ok(home, ['account', 'create', name, '--server', scenario.node.url]);
  assert.equal(await ok(home, ['read']), '');
  return home;
}

test('send creates a 1:1 conversation; read prints what arrived, across runs', async () => {
  const alice = await account('alice');
  const bob = await account('bob');

  assert.equal(await ok(alice, ['send', 'bob', 'hello Bob \u001b[31m']), 'sent to bob\n');
  assert.equal(await ok(bob, ['read']), '* you joined a conversation with alice\nalice: hello Bob ?[31m\n');
  assert.equal(await ok(bob, ['read']), '', 'nothing new');

  assert.equal(await ok(bob, ['send', 'alice', 'hi Alice']), 'sent to alice\n');
  assert.equal(await ok(alice, ['send', 'bob', 'second']), 'sent to bob\n');
  assert.equal(await ok(alice, ['read']), 'bob: hi Alice\n');
  assert.equal(await ok(bob, ['read']), 'alice: second\n');

  for (const home of [alice, bob]) {
    const file = readFileSync(join(home, 'conversations.spcs'));
    for (const plain of ['hello Bob', 'hi Alice', 'second']) {
      assert.equal(file.includes(Buffer.from(plain)), false, `${plain} not in ${home}`);
    }
  }
});

test('send to a user without devices ready is a typed error', async () => {
  const carol = mkdtempSync(join(scenario.scratch, 'carol-'));
  await ok(carol, ['account', 'create', 'carol', '--server', scenario.node.url]);
  const r = await run(scenario.scratch, carol, ['send', 'nobody', 'hi']);
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, /^error VALIDATION_FAILED: nobody has no device ready/m);
});

test('a group is created, grown and shrunk; every member sees each change as an event', async () => {
  const [dan, erin, frank, gina] = [
    await account('dan'),
    await account('erin'),
    await account('frank'),
    await account('gina'),
  ];
  const created = await ok(dan, ['group', 'create', 'team', 'erin', 'frank']);
  assert.match(created, /^\[team\] created \(#[0-9a-f]{8}\)\n/);
  assert.match(created, /^\[team\] erin was added by you$/m);
  assert.match(created, /^\[team\] frank was added by you$/m);

  assert.equal(await ok(dan, ['send', 'team', 'hello team']), 'sent to team\n');
  assert.equal(
    await ok(erin, ['read']),
    '* you joined a conversation with dan, frank\n[team] group named by dan\n[team] dan: hello team\n',
  );
  assert.equal(await ok(erin, ['send', 'team', 'hi from erin']), 'sent to team\n');

  assert.equal(await ok(dan, ['group', 'add', 'team', 'gina']), '[team] gina was added by you\n');
  assert.equal(await ok(dan, ['group', 'remove', 'team', 'frank']), '[team] frank was removed by you\n');
  assert.equal(await ok(dan, ['send', 'team', 'after the changes']), 'sent to team\n');

  assert.equal(
    await ok(frank, ['read']),
    [
      '* you joined a conversation with dan, erin',
      '[team] group named by dan',
      '[team] dan: hello team',
      '[team] erin: hi from erin',
      '[team] gina was added by dan',
      '[team] you were removed by dan',
      '',
    ].join('\n'),
  );
  assert.equal(
    await ok(gina, ['read']),
    '* you joined a conversation with dan, erin, frank\n[team] group named by dan\n[team] frank was removed by dan\n[team] dan: after the changes\n',
  );
  assert.equal(
    await ok(erin, ['read']),
    '[team] gina was added by dan\n[team] frank was removed by dan\n[team] dan: after the changes\n',
  );
  // Frank can no longer send; the others' list shows the roster, each device checked.
  const refused = await run(scenario.scratch, frank, ['send', 'team', 'still here?']);
  assert.notEqual(refused.status, 0);
  const listed = await ok(erin, ['group', 'list']);
  assert.match(listed, /^\[team\] #[0-9a-f]{8} epoch 3\n/);
  assert.match(listed, /^ {2}dan: [\w-]+\n/m);
  assert.match(listed, /^ {2}erin: [\w-]+ \(this device\)\n/m);
  assert.match(listed, /^ {2}gina: [\w-]+\n/m);
  assert.doesNotMatch(listed, /frank|NOT LISTED/);
});

test('two users chat interactively: lines sent, arrivals printed live, EOF saves and exits', async () => {
  const hana = await account('hana');
  const ivan = await account('ivan');
  await ok(hana, ['send', 'ivan', 'before the chat']);

  const h = interactive(scenario.scratch, hana, ['chat', 'ivan']);
  const i = interactive(scenario.scratch, ivan, ['chat', 'hana']);
  // Ivan's unread message is printed first.
  await i.waitFor('hana: before the chat');
  i.line('hello hana');
  await h.waitFor('ivan: hello hana');
  h.line('hi ivan, live');
  h.line('   ');
  h.line('second line');
  await i.waitFor('hana: second line');
  assert.match(i.stdout(), /hana: hi ivan, live\nhana: second line\n/);

  const [hr, ir] = await Promise.all([h.end(), i.end()]);
  assert.equal(hr.status, 0, hr.stderr);
  assert.equal(ir.status, 0, ir.stderr);
  // Printed live, so not unread; and the state was saved: the conversation goes on next run.
  assert.equal(await ok(ivan, ['read']), '');
  assert.equal(await ok(ivan, ['send', 'hana', 'after the chat']), 'sent to hana\n');
  assert.equal(await ok(hana, ['read']), 'ivan: after the chat\n');
});
