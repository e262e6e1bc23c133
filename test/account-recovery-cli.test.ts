/**
 * Every device lost, the recovery code kept, backups on the server: `sealpost` as a child process.
 * An account backs up three snapshots into its server repository; its home is deleted; on a new
 * machine `sealpost account recover` with only the code takes the account back (the old device is
 * unlinked), and `backup ... --repo <server> --recovery-code` restores every snapshot byte for
 * byte, adding a key file for the new account key so that later commands need no code.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { generateRecoverySecret, recoveryCodeOf } from '@sealpost/core/identity/recovery-key';
import { assertSameTree, makeTree } from './support/backup-trees.ts';
import { crypto } from './support/harness.ts';
import { serverFixture } from './support/server-fixture.ts';
import { PASSPHRASE, createAccount, ok as okIn, sealpost as run } from './support/sealpost-cli.ts';

const fixture = serverFixture('sealpost-account-recovery-cli-');

const sealpost = (home: string, args: readonly string[], env: Record<string, string>) =>
  run(fixture.work, home, args, { env });
const ok = (home: string, args: readonly string[], env: Record<string, string>) =>
  okIn(fixture.work, home, args, { env });

test('recover with the code only, then restore every snapshot of the server repository byte for byte', async () => {
  const oldHome = join(fixture.work, 'old-home');
  const device = { SEALPOST_PASSPHRASE: PASSPHRASE };
  const code = await createAccount(fixture.work, oldHome, 'lazarus', fixture.instance.url);
  const repo = ['--repo', fixture.instance.url];
  const init = JSON.parse(await ok(oldHome, ['backup', 'init', ...repo, '--json'], device)) as {
    recoveryKeyFile: boolean;
  };
  assert.equal(init.recoveryKeyFile, true);

  const source = join(fixture.work, 'source');
  await makeTree(source, 2);
  const states: { id: string; copy: string }[] = [];
  for (let i = 0; i < 3; i++) {
    if (i === 1) await fs.writeFile(join(source, 'docs', 'later.txt'), 'written after the first snapshot\n');
    if (i === 2) await fs.rm(join(source, 'docs', 'note-4.txt'));
    const { snapshotId } = JSON.parse(
      await ok(oldHome, ['backup', 'create', source, ...repo, '--json'], device),
    ) as { snapshotId: string };
    const copy = join(fixture.work, `state-${i}`);
    await fs.cp(source, copy, { recursive: true, verbatimSymlinks: true });
    states.push({ id: snapshotId, copy });
  }
  // Kept aside to show that the lost device's credentials stop working.
  const lostHome = join(fixture.work, 'lost-home');
  await fs.cp(oldHome, lostHome, { recursive: true });

  // Every device lost. Before recovery, the code alone cannot reach a server repository.
  await fs.rm(oldHome, { recursive: true });
  const newHome = join(fixture.work, 'new-home');
  const recovery = { SEALPOST_RECOVERY_CODE: code.toLowerCase().replaceAll('-', ' '), ...device };
  const early = await sealpost(newHome, ['backup', 'snapshots', ...repo, '--recovery-code'], recovery);
  assert.notEqual(early.status, 0);
  assert.match(early.stderr, /sealpost account recover/);

  // Another account's code is refused before anything changes.
  const otherCode = recoveryCodeOf(crypto, generateRecoverySecret(crypto));
  const wrong = await sealpost(
    join(fixture.work, 'wrong-home'),
    ['account', 'recover', 'lazarus', '--server', fixture.instance.url],
    { ...device, SEALPOST_RECOVERY_CODE: otherCode },
  );
  assert.notEqual(wrong.status, 0);
  assert.match(wrong.stderr, /IDENTITY_RECOVERY_CODE_INVALID/);
  assert.ok(!wrong.stderr.includes(otherCode) && !wrong.stdout.includes(otherCode), 'never printed');

  const recovered = await sealpost(
    newHome,
    ['account', 'recover', 'lazarus', '--server', fixture.instance.url],
    recovery,
  );
  assert.equal(recovered.status, 0, recovered.stderr);
  assert.match(recovered.stdout, /Recovered account lazarus/);
  assert.match(recovered.stdout, /unlinked\s+1 old device/);
  assert.match(recovered.stdout, /new safety code/);
  assert.match(recovered.stdout, /published\s+device list version 1/);
  assert.ok(
    !recovered.stdout.includes(code) && !recovered.stderr.includes(code),
    'the code is never printed',
  );

  // The lost device is out of the account: its key store no longer opens the server repository.
  const lost = await sealpost(lostHome, ['backup', 'snapshots', ...repo], device);
  assert.notEqual(lost.status, 0);
  assert.match(lost.stderr, /AUTH_/);

  const fromCode = [...repo, '--recovery-code'];
  const listedRun = await sealpost(newHome, ['backup', 'snapshots', ...fromCode, '--json'], recovery);
  assert.equal(listedRun.status, 0, listedRun.stderr);
  assert.match(listedRun.stderr, /added a key file/);
  const listed = JSON.parse(listedRun.stdout) as { id: string }[];
  assert.deepEqual(
    listed.map((s) => s.id),
    states.map((s) => s.id),
  );
  // From now on the new device's account key opens the repository: no code needed.
  for (const [i, state] of states.entries()) {
    const target = join(fixture.work, `restored-${i}`);
    await ok(newHome, ['backup', 'restore', state.id, target, ...repo], device);
    await assertSameTree(state.copy, target);
  }
  const again = await sealpost(newHome, ['backup', 'snapshots', ...fromCode, '--json'], recovery);
  assert.equal(again.status, 0, again.stderr);
  assert.doesNotMatch(again.stderr, /added a key file/);
  assert.match(await ok(newHome, ['backup', 'check', '--read-data', ...repo], device), /no problems found/);
});
