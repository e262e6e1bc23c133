/**
 * `sealpost backup diff|forget|prune`, and `--json` on every backup subcommand, run as a user runs
 * them: a child process of the repository's Node 24, SEALPOST_PASSPHRASE for the passphrase.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { backupCommands } from './support/sealpost-cli.ts';

let work: string;
let repo: string;
let source: string;

/** `sealpost backup <args> --repo <repo>`, HOME the test's directory and no `--home`; and its --json form. */
const { run: sealpost, json } = backupCommands(() => ({ scratch: work, repo }));

before(async () => {
  work = await fs.mkdtemp(join(tmpdir(), 'sealpost-backup-cli-maint-'));
  repo = join(work, 'repo');
  source = join(work, 'src');
  await fs.mkdir(join(source, 'docs'), { recursive: true });
  await fs.writeFile(join(source, 'docs/a.txt'), 'first version of a\n'.repeat(1000));
  await fs.writeFile(join(source, 'gone.txt'), 'removed before the second backup');
});
after(async () => {
  await fs.rm(work, { recursive: true, force: true });
});

test('diff, forget and prune, each with --json, and --json on every other subcommand', async () => {
  await json(['init']);
  const one = await json<{ snapshotId: string }>(['create', source]);
  await fs.writeFile(join(source, 'docs/a.txt'), 'second version\n');
  await fs.rm(join(source, 'gone.txt'));
  await fs.writeFile(join(source, 'new.bin'), new Uint8Array(5000).fill(1));
  const two = await json<{ snapshotId: string }>(['create', source]);
  assert.equal((await json<unknown[]>(['snapshots'])).length, 2);
  assert.ok((await json<unknown[]>(['ls', 'latest'])).length >= 3);

  const changes = await json<{ entries: { path: string; change: string }[]; bytesAdded: number }>([
    'diff',
    one.snapshotId,
    two.snapshotId,
  ]);
  assert.deepEqual(
    changes.entries.map((e) => `${e.change} ${e.path}`),
    ['modified docs/a.txt', 'removed gone.txt', 'added new.bin'],
  );
  assert.equal(changes.bytesAdded, 5000);
  const text = await sealpost(['diff', one.snapshotId.slice(0, 8), 'latest']);
  assert.equal(text.status, 0, text.stderr);
  assert.match(text.stdout, /^M {2}docs\/a\.txt \(18\.6 KiB -> 15 B\)$/m);
  assert.match(text.stdout, /^- {2}gone\.txt/m);
  assert.match(text.stdout, /^\+ {2}new\.bin \(4\.9 KiB\)$/m);

  const dry = await json<{ dryRun: boolean; removed: number; groups: { remove: { id: string }[] }[] }>([
    'forget',
    '--keep-last',
    '1',
    '--dry-run',
  ]);
  assert.equal(dry.removed, 0);
  assert.deepEqual(
    dry.groups[0]!.remove.map((s) => s.id),
    [one.snapshotId],
  );
  assert.equal((await json<unknown[]>(['snapshots'])).length, 2);

  const forgot = await json<{ removed: number; prune: { packsCondemned: number; packsDeleted: number } }>([
    'forget',
    '--keep-last',
    '1',
    '--prune',
  ]);
  assert.equal(forgot.removed, 1);
  assert.ok(forgot.prune.packsCondemned >= 1, "the first snapshot's tree pack");
  assert.equal(forgot.prune.packsDeleted, 0, 'deleted only after the grace period');
  const pruned = await json<{ dryRun: boolean; packsPending: number }>(['prune', '--dry-run']);
  assert.equal(pruned.dryRun, true);
  assert.equal(pruned.packsPending, forgot.prune.packsCondemned);

  const out = join(work, 'out');
  await json(['restore', 'latest', out]);
  assert.equal(await fs.readFile(join(out, 'docs/a.txt'), 'utf8'), 'second version\n');
  assert.equal((await json<{ ok: boolean }>(['check', '--read-data'])).ok, true);
});

test('forget refuses a policy that keeps nothing, and a count that is not one', async () => {
  const none = await sealpost(['forget']);
  assert.equal(none.status, 1);
  assert.match(none.stderr, /^error BACKUP_POLICY_EMPTY: /m);
  const bad = await sealpost(['forget', '--keep-daily', 'seven']);
  assert.notEqual(bad.status, 0);
  assert.match(bad.stderr, /not a count: seven/);
});

test('prune --grace 0 deletes at the next prune what the previous one condemned; a bad --grace is refused', async () => {
  // Runs after the first test: its forget --prune left condemned packs waiting out the 24 h default.
  const waiting = await json<{ packsPending: number; packsDeleted: number }>(['prune', '--dry-run']);
  assert.ok(waiting.packsPending >= 1, 'the first test left condemned packs');
  assert.equal(waiting.packsDeleted, 0);
  const pruned = await json<{ packsDeleted: number; packsPending: number }>(['prune', '--grace', '0']);
  assert.equal(pruned.packsDeleted, waiting.packsPending);
  assert.equal(pruned.packsPending, 0);
  assert.equal((await json<{ ok: boolean }>(['check', '--read-data'])).ok, true);

  for (const bad of ['-1', '1w', '91d', 'soon']) {
    const run = await sealpost(['prune', '--grace', bad]);
    assert.notEqual(run.status, 0, bad);
    assert.match(run.stderr, /--grace is a duration such as 0, 30m, 12h or 7d, at most 90d/, bad);
  }
});
