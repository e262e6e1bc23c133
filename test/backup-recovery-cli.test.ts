/**
 * Every device lost, the recovery code kept: `sealpost` as a child process. An account (created on
 * a real server, so its recovery code is printed once) backs up into an account-keyed directory
 * and into the server; its home (key store and all) is deleted; a new machine with an empty home
 * and nothing but the recovery code lists, reads and restores every snapshot byte for byte.
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

const fixture = serverFixture('sealpost-recovery-cli-');

const sealpost = (home: string, args: readonly string[], env: Record<string, string>) =>
  run(fixture.work, home, args, { env });
const ok = (home: string, args: readonly string[], env: Record<string, string>) =>
  okIn(fixture.work, home, args, { env });

test('a new machine with only the recovery code restores every snapshot after every device is lost', async () => {
  const oldHome = join(fixture.work, 'old-home');
  const device = { SEALPOST_PASSPHRASE: PASSPHRASE };
  const code = await createAccount(fixture.work, oldHome, 'phoenix', fixture.instance.url);

  const repoDir = join(fixture.work, 'repo');
  const dirRepo = ['--repo', repoDir, '--account'];
  const init = JSON.parse(await ok(oldHome, ['backup', 'init', ...dirRepo, '--json'], device)) as {
    recoveryKeyFile: boolean;
  };
  assert.equal(init.recoveryKeyFile, true);
  assert.equal((await fs.readdir(join(repoDir, 'keys'))).length, 2, 'account and recovery key files');
  const serverInit = JSON.parse(
    await ok(oldHome, ['backup', 'init', '--repo', fixture.instance.url, '--json'], device),
  ) as { recoveryKeyFile: boolean };
  assert.equal(serverInit.recoveryKeyFile, true);

  // Three snapshots of a changing tree; each state is kept aside to compare its restore with.
  const source = join(fixture.work, 'source');
  await makeTree(source, 2);
  const states: { id: string; copy: string }[] = [];
  for (let i = 0; i < 3; i++) {
    if (i === 1) await fs.writeFile(join(source, 'docs', 'later.txt'), 'written after the first snapshot\n');
    if (i === 2) await fs.rm(join(source, 'docs', 'note-4.txt'));
    const { snapshotId } = JSON.parse(
      await ok(oldHome, ['backup', 'create', source, ...dirRepo, '--json'], device),
    ) as { snapshotId: string };
    const copy = join(fixture.work, `state-${i}`);
    await fs.cp(source, copy, { recursive: true, verbatimSymlinks: true });
    states.push({ id: snapshotId, copy });
  }

  // Every device lost: the home, its key store and the account's keys are gone.
  await fs.rm(oldHome, { recursive: true });
  const newHome = join(fixture.work, 'new-home');
  const recovery = { SEALPOST_RECOVERY_CODE: code.toLowerCase().replaceAll('-', ' ') };
  const fromCode = ['--repo', repoDir, '--recovery-code'];

  const listed = JSON.parse(await ok(newHome, ['backup', 'snapshots', ...fromCode, '--json'], recovery)) as {
    id: string;
  }[];
  assert.deepEqual(
    listed.map((s) => s.id),
    states.map((s) => s.id),
  );
  const entries = JSON.parse(
    await ok(newHome, ['backup', 'ls', states[1]!.id, ...fromCode, '--json'], recovery),
  ) as { path: string }[];
  assert.ok(entries.some((e) => e.path === 'docs/later.txt'));
  for (const [i, state] of states.entries()) {
    const target = join(fixture.work, `restored-${i}`);
    await ok(newHome, ['backup', 'restore', state.id, target, ...fromCode], recovery);
    await assertSameTree(state.copy, target);
  }
  assert.match(
    await ok(newHome, ['backup', 'check', '--read-data', ...fromCode], recovery),
    /no problems found/,
  );
  await assert.rejects(fs.access(join(newHome, 'keystore.spks')), 'the new machine made no key store');
});

test('another account’s code and a mistyped code open nothing; a server repository is refused with a reason', async () => {
  const home = join(fixture.work, 'other-home');
  const device = { SEALPOST_PASSPHRASE: PASSPHRASE };
  await ok(home, ['account', 'create', 'otherone', '--server', fixture.instance.url], device);
  const repoDir = join(fixture.work, 'other-repo');
  await ok(home, ['backup', 'init', '--repo', repoDir, '--account'], device);

  const fromCode = ['backup', 'snapshots', '--repo', repoDir, '--recovery-code'];
  const otherCode = recoveryCodeOf(crypto, generateRecoverySecret(crypto));
  const wrong = await sealpost(join(fixture.work, 'blank'), fromCode, { SEALPOST_RECOVERY_CODE: otherCode });
  assert.notEqual(wrong.status, 0);
  assert.match(wrong.stderr, /KEYSTORE_PASSPHRASE_WRONG/);
  assert.ok(!wrong.stderr.includes(otherCode), 'the code is never printed');

  const typo = (otherCode[0] === 'A' ? 'B' : 'A') + otherCode.slice(1);
  const mistyped = await sealpost(join(fixture.work, 'blank'), fromCode, { SEALPOST_RECOVERY_CODE: typo });
  assert.match(mistyped.stderr, /IDENTITY_RECOVERY_CODE_INVALID/);

  const none = await sealpost(join(fixture.work, 'blank'), fromCode, {});
  assert.match(none.stderr, /SEALPOST_RECOVERY_CODE/);

  const server = await sealpost(
    join(fixture.work, 'blank'),
    ['backup', 'snapshots', '--repo', fixture.instance.url, '--recovery-code'],
    {
      SEALPOST_RECOVERY_CODE: otherCode,
    },
  );
  assert.notEqual(server.status, 0);
  assert.match(server.stderr, /needs a device of the account/);

  // A passphrase repository has no recovery key file: the code is told so.
  const plain = join(fixture.work, 'plain-repo');
  await ok(home, ['backup', 'init', '--repo', plain], device);
  const noRecovery = await sealpost(
    join(fixture.work, 'blank'),
    ['backup', 'snapshots', '--repo', plain, '--recovery-code'],
    {
      SEALPOST_RECOVERY_CODE: otherCode,
    },
  );
  assert.match(noRecovery.stderr, /no recovery key file/);
});
