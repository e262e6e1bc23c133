/**
 * `sealpost backup ... --repo <server URL>` as a child process against a real server: the account's
 * key store opens the repository (no repository passphrase), and init, create, snapshots, restore
 * and check --read-data work on the server's blob store.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { assertSameTree, makeTree } from './support/backup-trees.ts';
import { serverFixture } from './support/server-fixture.ts';
import { ok as okIn, sealpost as run } from './support/sealpost-cli.ts';

const fixture = serverFixture('sealpost-remote-cli-');

const sealpost = (args: readonly string[]) => run(fixture.work, join(fixture.work, 'home'), args);

test('backs up into the server with the account key, restores byte for byte, checks the data', async () => {
  const ok = (args: readonly string[]) => okIn(fixture.work, join(fixture.work, 'home'), args);
  await ok(['account', 'create', 'clibacker', '--server', fixture.instance.url]);
  const source = join(fixture.work, 'source');
  await makeTree(source, 1);
  const repo = ['--repo', fixture.instance.url];
  await ok(['backup', 'init', ...repo]);
  const again = await sealpost(['backup', 'init', ...repo]);
  assert.notEqual(again.status, 0);
  assert.match(again.stderr, /BACKUP_REPOSITORY_EXISTS/);

  const created = JSON.parse(await ok(['backup', 'create', source, ...repo, '--json'])) as {
    snapshotId: string;
  };
  const snapshots = JSON.parse(await ok(['backup', 'snapshots', ...repo, '--json'])) as { id: string }[];
  assert.deepEqual(
    snapshots.map((s) => s.id),
    [created.snapshotId],
  );
  await ok(['backup', 'restore', 'latest', join(fixture.work, 'restored'), ...repo]);
  await assertSameTree(source, join(fixture.work, 'restored'));
  assert.match(await ok(['backup', 'check', '--read-data', ...repo]), /no problems found/);
});
