/**
 * `sealpost backup ...` run as a user runs it: a child process of the repository's Node 24, stdin
 * not a terminal, SEALPOST_PASSPHRASE for the passphrase, on a temporary tree and repository.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PASSPHRASE, sealpost as cli } from './support/sealpost-cli.ts';

/** Runs `sealpost backup <args> --repo <repo>`, HOME the test's directory and no `--home`. */
const sealpost = (args: readonly string[], passphrase = PASSPHRASE) =>
  cli(work, undefined, ['backup', ...args, '--repo', repo], { env: { SEALPOST_PASSPHRASE: passphrase } });

let work: string;
let source: string;
let repo: string;

before(async () => {
  work = await fs.mkdtemp(join(tmpdir(), 'sealpost-backup-cli-'));
  source = join(work, 'src');
  repo = join(work, 'repo');
  await fs.mkdir(join(source, 'docs', 'deep'), { recursive: true });
  await fs.writeFile(join(source, 'docs', 'a.txt'), 'alpha\n'.repeat(10_000));
  await fs.writeFile(
    join(source, 'docs', 'deep', 'b.bin'),
    new Uint8Array(300_000).map((_, i) => (i * 7919) & 0xff),
  );
  await fs.writeFile(join(source, 'empty'), '');
  await fs.symlink('docs/a.txt', join(source, 'link'));
});
after(async () => {
  await fs.rm(work, { recursive: true, force: true });
});

test('should init, create, list, restore and check --read-data through the command', async () => {
  const init = await sealpost(['init', '--json']);
  assert.equal(init.status, 0, init.stderr);
  assert.match((JSON.parse(init.stdout) as { repositoryId: string }).repositoryId, /^[0-9a-f]{64}$/);

  const create = await sealpost(['create', source, '--tag', 'first', '--json']);
  assert.equal(create.status, 0, create.stderr);
  const created = JSON.parse(create.stdout) as { snapshotId: string; files: number; symlinks: number };
  assert.equal(created.files, 3);
  assert.equal(created.symlinks, 1);
  assert.equal(create.stderr, '', 'no progress on a pipe');

  const again = await sealpost(['create', source, '--json']);
  assert.equal(again.status, 0, again.stderr);
  const second = JSON.parse(again.stdout) as { filesUnchanged: number; packs: number; parent: string };
  assert.deepEqual([second.filesUnchanged, second.packs, second.parent], [3, 0, created.snapshotId]);

  const snapshots = await sealpost(['snapshots', '--json']);
  assert.equal(snapshots.status, 0, snapshots.stderr);
  const listed = JSON.parse(snapshots.stdout) as { id: string; paths: string[]; tags: string[] }[];
  assert.equal(listed.length, 2);
  assert.deepEqual(
    [listed[0]!.id, listed[0]!.paths, listed[0]!.tags],
    [created.snapshotId, [source], ['first']],
  );

  const ls = await sealpost(['ls', created.snapshotId.slice(0, 10)]);
  assert.equal(ls.status, 0, ls.stderr);
  assert.match(ls.stdout, /docs\/deep\/b\.bin/);
  assert.match(ls.stdout, /link -> docs\/a\.txt/);

  const out = join(work, 'out');
  const restored = await sealpost(['restore', created.snapshotId, out]);
  assert.equal(restored.status, 0, restored.stderr);
  for (const path of ['docs/a.txt', 'docs/deep/b.bin', 'empty'])
    assert.deepEqual(await fs.readFile(join(out, path)), await fs.readFile(join(source, path)), path);
  assert.equal(await fs.readlink(join(out, 'link')), 'docs/a.txt');

  const checked = await sealpost(['check', '--read-data', '--json']);
  assert.equal(checked.status, 0, checked.stderr);
  const report = JSON.parse(checked.stdout) as { ok: boolean; packsRead: number };
  assert.equal(report.ok, true);
  const stored = await fs.readdir(join(repo, 'packs'), { recursive: true, withFileTypes: true });
  assert.equal(report.packsRead, stored.filter((e) => e.isFile()).length, 'every stored pack is read');
  assert.ok(report.packsRead >= 1);
});

test('should fail with the typed error and exit status', async () => {
  const cases: [string, readonly string[], string | undefined, number, string][] = [
    ['init over a repository', ['init'], undefined, 1, 'BACKUP_REPOSITORY_EXISTS'],
    ['a wrong passphrase', ['snapshots'], 'not the passphrase', 2, 'KEYSTORE_PASSPHRASE_WRONG'],
    ['an unknown snapshot', ['ls', 'ffff'], undefined, 1, 'BACKUP_SNAPSHOT_NOT_FOUND'],
    ['a source that is not a directory', ['create', join(work, 'nope')], undefined, 1, 'VALIDATION_FAILED'],
  ];
  for (const [what, args, passphrase, status, code] of cases) {
    const run = await sealpost(args, passphrase);
    assert.equal(run.status, status, what);
    assert.match(run.stderr, new RegExp(`^error ${code}: `), what);
  }
});

test('should exit 2 and name the pack when check --read-data finds a flipped bit', async () => {
  const packs = join(repo, 'packs');
  const [fan] = await fs.readdir(packs);
  const [name] = await fs.readdir(join(packs, fan!));
  const path = join(packs, fan!, name!);
  const bytes = await fs.readFile(path);
  bytes[100]! ^= 1;
  await fs.chmod(path, 0o644);
  await fs.writeFile(path, bytes);
  const run = await sealpost(['check', '--read-data']);
  assert.equal(run.status, 2);
  assert.match(run.stdout, new RegExp(`damaged: packs/${name}`));
  // Which pack comes first is random (names are content hashes): a damaged data pack is one problem,
  // a damaged tree pack also makes what it lists unverifiable. Detection is the point, not the count.
  assert.match(run.stderr, /^error BACKUP_DATA_CORRUPT: check found [1-9]\d* problems/);
});
