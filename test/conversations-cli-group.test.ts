/**
 * Issue 4's acceptance scenario as a user runs it: `sealpost` child processes (one home per
 * device) against one real server (SQLite). Three users with two devices each, the second linked
 * with `devices link` / `devices approve`; `group create` with all three; messages from several
 * devices, each read by every other device with its sender; mid-conversation a fourth user added,
 * a user removed (her devices see the removal and then nothing more), one device removed from its
 * account (`devices remove`: its mailbox is gone and it cannot connect); and a device that stays
 * offline through all of that and 30 more messages, whose one `read` prints everything in order.
 *
 * The client-level versions (and duplicated and reordered delivery, which a CLI user cannot
 * cause) are in packages/client/node/conversation-scenarios.test.ts and
 * test/conversations-e2e.test.ts.
 */
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { type Interactive, interactive, linkDevice, sealpost as run } from './support/sealpost-cli.ts';
import { cliScenario } from './support/cli-scenario.ts';

const scenario = cliScenario('sealpost-group-');
const { ok } = scenario;
const read = (home: string) => ok(home, ['read']);
const lines = (...l: string[]) => l.map((x) => `${x}\n`).join('');

interface User {
  readonly name: string;
  readonly homes: string[];
  readonly ids: string[];
}

/** An account made on its first device, and a second device linked to it from the first. */
async function user(name: string, devices: 1 | 2): Promise<User> {
  const first = mkdtempSync(join(scenario.scratch, `${name}1-`));
  const createdOut = await ok(first, ['account', 'create', name, '--server', scenario.node.url]);
  const u: User = { name, homes: [first], ids: [/^device id +(\S+)$/m.exec(createdOut)![1]!] };
  if (devices === 2) {
    const second = join(mkdtempSync(join(scenario.scratch, `${name}2-`)), 'home');
    u.ids.push(await linkDevice(scenario.scratch, first, second, name, scenario.node.url));
    u.homes.push(second);
  }
  return u;
}

test('three users with two devices each talk in a group that changes under them, through the CLI', async () => {
  const [alice, bob, carol, dave] = await Promise.all([
    user('alice', 2),
    user('bob', 2),
    user('carol', 2),
    user('dave', 1),
  ]);
  const [alice1, alice2] = alice.homes as [string, string];
  const [bob1, bob2] = bob.homes as [string, string];
  const [carol1, carol2] = carol.homes as [string, string];
  const [dave1] = dave.homes as [string];

  // One commit adds both devices of bob and carol and alice's other device.
  const created = await ok(alice1, ['group', 'create', 'team', 'bob', 'carol']);
  assert.match(created, /^\[team\] created \(#[0-9a-f]{8}\)\n/);
  assert.match(created, /^\[team\] bob was added by you$/m);
  assert.match(created, /^\[team\] carol was added by you$/m);
  assert.match(created, new RegExp(`^\\[team\\] alice has a new device ${alice.ids[1]}, added by you$`, 'm'));

  // Messages from three devices of three users, sent one after the other.
  const said: Array<[string, string, string]> = [
    [alice1, 'alice', 'hello from alice laptop'],
    [bob2, 'bob', "bob's phone says hi"],
    [carol1, 'carol', 'carol on her desktop'],
    [alice2, 'alice', "alice's phone too"],
  ];
  for (const [home, , text] of said) assert.equal(await ok(home, ['send', 'team', text]), 'sent to team\n');
  const heard = (home: string) =>
    said.filter(([from]) => from !== home).map(([, who, text]) => `[team] ${who}: ${text}`);
  const joined = (others: string, namer = 'alice') => [
    `* you joined a conversation with ${others}`,
    `[team] group named by ${namer}`,
  ];
  const reads = await Promise.all([alice1, alice2, bob1, bob2, carol1, carol2].map(read));
  assert.deepEqual(reads, [
    lines(...heard(alice1)),
    lines(...joined('bob, carol', `you (device ${alice.ids[0]})`), ...heard(alice2)),
    lines(...joined('alice, carol'), ...heard(bob1)),
    lines(...joined('alice, carol'), ...heard(bob2)),
    lines(...joined('alice, bob'), ...heard(carol1)),
    lines(...joined('alice, bob'), ...heard(carol2)),
  ]);

  // From here alice's second device stays offline until the end.
  assert.equal(await ok(bob1, ['group', 'add', 'team', 'dave']), '[team] dave was added by you\n');
  assert.equal(await ok(dave1, ['send', 'team', 'dave is in']), 'sent to team\n');
  assert.equal(
    await read(dave1),
    lines('* you joined a conversation with alice, bob, carol', '[team] group named by bob'),
  );
  assert.equal(await ok(alice1, ['group', 'remove', 'team', 'carol']), '[team] carol was removed by you\n');
  const carolSaw = lines(
    '[team] dave was added by bob',
    '[team] dave: dave is in',
    '[team] you were removed by alice',
  );
  assert.deepEqual(await Promise.all([read(carol1), read(carol2)]), [carolSaw, carolSaw]);

  // Bob takes his phone out of the account: one commit per conversation, then the account.
  const removed = await ok(bob1, ['devices', 'remove', '--', bob.ids[1]!]);
  assert.match(removed, new RegExp(`^\\[team\\] bob's device ${bob.ids[1]} was removed by you$`, 'm'));
  assert.match(removed, new RegExp(`^removed ${bob.ids[1]} from bob$`, 'm'));

  // 30 messages from three devices, live: each is seen by another member before the next is sent,
  // so the server orders them as written.
  const chats = new Map<string, Interactive>([
    ['alice', interactive(scenario.scratch, alice1, ['chat', 'team'])],
    ['bob', interactive(scenario.scratch, bob1, ['chat', 'team'])],
    ['dave', interactive(scenario.scratch, dave1, ['chat', 'team'])],
  ]);
  const order = ['alice', 'bob', 'dave'];
  const burst: string[] = [];
  for (let i = 0; i < 30; i++) {
    const from = order[i % 3]!;
    const to = order[(i + 1) % 3]!;
    const text = `message ${i + 1} of 30 from ${from}`;
    chats.get(from)!.line(text);
    await chats.get(to)!.waitFor(`[team] ${from}: ${text}`);
    burst.push(`[team] ${from}: ${text}`);
  }
  for (const [who, c] of chats) {
    const r = await c.end();
    assert.equal(r.status, 0, `${who}: ${r.stderr}`);
  }

  // The offline device catches up: every change and message since its last read, in order.
  assert.equal(
    await read(alice2),
    lines(
      '[team] dave was added by bob',
      '[team] dave: dave is in',
      `[team] carol was removed by you (device ${alice.ids[0]})`,
      `[team] bob's device ${bob.ids[1]} was removed by bob`,
      ...burst,
    ),
  );
  // Removed members get nothing new, and can no longer send.
  const [carolLater, carol2Later, listed] = await Promise.all([
    read(carol1),
    read(carol2),
    ok(dave1, ['group', 'list', '--json']),
  ]);
  assert.deepEqual([carolLater, carol2Later], ['', '']);
  const groups = JSON.parse(listed) as Array<{
    title: string;
    members: Array<{ user: string; devices: Array<{ deviceId: string; listed: boolean }> }>;
  }>;
  assert.deepEqual(
    groups.map((g) => ({
      title: g.title,
      members: g.members
        .map((u) => ({ user: u.user, devices: u.devices.map((d) => d.deviceId).sort() }))
        .sort((a, b) => a.user.localeCompare(b.user)),
    })),
    [
      {
        title: 'team',
        members: [
          { user: 'alice', devices: [...alice.ids].sort() },
          { user: 'bob', devices: [bob.ids[0]] },
          { user: 'dave', devices: [dave.ids[0]] },
        ],
      },
    ],
  );
  assert.ok(
    groups[0]!.members.every((u) => u.devices.every((d) => d.listed)),
    listed,
  );
  const refused = await run(scenario.scratch, carol1, ['send', 'team', 'still here?']);
  assert.notEqual(refused.status, 0);
  assert.match(refused.stderr, /^error VALIDATION_FAILED: you are no longer in team$/m);
  // The removed device's mailbox went with it, and the server no longer lets it in: its `read`
  // fails with the server's reason (it used to wait on a connection closed for good).
  const gone = await run(scenario.scratch, bob2, ['read']);
  assert.equal(gone.status, 2, gone.stderr); // exit-status.ts: authentication failed
  assert.equal(gone.stdout, '');
  assert.match(gone.stderr, /^error AUTH_SIGNATURE_INVALID: unknown device or bad signature$/m);
});
