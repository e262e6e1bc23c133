/**
 * `sealpost backup ... --repo <server URL>` as a child process against a real server: the account's
 * key store opens the repository (no repository passphrase), and init, create, snapshots, restore
 * and check --read-data work on the server's blob store.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { storeFactories } from '../packages/server/src/store/test-databases.ts';
import { assertSameTree, makeTree } from './support/backup-trees.ts';
import { startInstance, type Instance } from './support/harness.ts';
import { ok as okIn, sealpost as run } from './support/sealpost-cli.ts';

let instance: Instance;
let cleanup: () => Promise<void>;
let work: string;

before(async () => {
  const opened = await storeFactories[0]!.open();
  cleanup = opened.cleanup;
  instance = await startInstance(opened.store);
  work = await fs.mkdtemp(join(tmpdir(), 'sealpost-remote-cli-'));
});
after(async () => {
  await instance.close();
  await cleanup();
  await fs.rm(work, { recursive: true, force: true });
});

const sealpost = (args: readonly string[]) => run(work, join(work, 'home'), args);

test('backs up into the server with the account key, restores byte for byte, checks the data', async () => {
  const ok = (args: readonly string[]) => okIn(work, join(work, 'home'), args);
  await ok(['account', 'create', 'clibacker', '--server', instance.url]);
  const source = join(work, 'source');
  await makeTree(source, 1);
  const repo = ['--repo', instance.url];
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
  await ok(['backup', 'restore', 'latest', join(work, 'restored'), ...repo]);
  await assertSameTree(source, join(work, 'restored'));
  assert.match(await ok(['backup', 'check', '--read-data', ...repo]), /no problems found/);
});
