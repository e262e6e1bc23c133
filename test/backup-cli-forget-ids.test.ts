/**
 * `sealpost backup forget <snapshot>...` (restic's `forget ID...`): exactly the snapshots named, by
 * id, unique prefix or "latest", every name resolved before anything is removed; never with a keep
 * policy. Run as a user runs it, on a local repository with three snapshots.
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

interface Forgot {
  dryRun: boolean;
  removed: number;
  remove: { id: string; time: string; hostname: string; paths: string[]; tags: string[] }[];
}

const listed = async () => (await json<{ id: string }[]>(['snapshots'])).map((s) => s.id);

before(async () => {
  work = await fs.mkdtemp(join(tmpdir(), 'sealpost-backup-cli-forget-ids-'));
  repo = join(work, 'repo');
  source = join(work, 'src');
  await fs.mkdir(source);
});
after(async () => {
  await fs.rm(work, { recursive: true, force: true });
});

test('forget <id>... removes exactly the named snapshots (prefix, full id, "latest"), after resolving them all', async () => {
  await json(['init']);
  const made: string[] = [];
  for (const name of ['one', 'two', 'three']) {
    await fs.writeFile(join(source, 'which.txt'), name);
    made.push(
      (await json<{ snapshotId: string }>(['create', source, '--host', 'h', '--tag', name])).snapshotId,
    );
  }
  const [one, two, three] = made as [string, string, string];

  // A dry run lists what would go, in the shape of a policy forget's removed list.
  const dry = await json<Forgot>(['forget', one.slice(0, 8), '--dry-run']);
  assert.equal(dry.dryRun, true);
  assert.equal(dry.removed, 0);
  assert.deepEqual(
    dry.remove.map((s) => [s.id, s.hostname, s.paths, s.tags]),
    [[one, 'h', [source], ['one']]],
  );
  assert.match(dry.remove[0]!.time, /^\d{4}-\d{2}-\d{2}T/);
  assert.deepEqual(await listed(), made);

  // One unknown name among known ones: an error naming it, and nothing removed.
  const unknown = await sealpost(['forget', one, 'nosuch', two.slice(0, 10)]);
  assert.equal(unknown.status, 1);
  assert.match(unknown.stderr, /^error BACKUP_SNAPSHOT_NOT_FOUND: no snapshot matches: nosuch$/m);
  assert.deepEqual(await listed(), made);

  // Ids and a keep policy together are refused before the repository is opened.
  for (const policy of [
    ['--keep-last', '1'],
    ['--keep-within-daily', '7d'],
    ['--group-by', 'host'],
  ]) {
    const mixed = await sealpost(['forget', one, ...policy]);
    assert.equal(mixed.status, 1, policy.join(' '));
    assert.match(mixed.stderr, /^error VALIDATION_FAILED: forget takes snapshot ids or a keep policy/m);
  }
  assert.deepEqual(await listed(), made);

  // The same snapshot named twice (prefix and full id) is removed once.
  const forgot = await json<Forgot>(['forget', one.slice(0, 8), one]);
  assert.equal(forgot.removed, 1);
  assert.deepEqual(
    forgot.remove.map((s) => s.id),
    [one],
  );
  assert.deepEqual(await listed(), [two, three]);

  // "latest" is the newest; the text output lists what was removed.
  const text = await sealpost(['forget', 'latest']);
  assert.equal(text.status, 0, text.stderr);
  assert.match(text.stdout, new RegExp(`^ {2}remove {2}${three.slice(0, 12)} {2}\\S+ {2}h {2}three$`, 'm'));
  assert.match(text.stdout, /^1 snapshots removed$/m);
  assert.deepEqual(await listed(), [two]);
  assert.equal(
    (await json<{ ok: boolean }>(['check'])).ok,
    true,
    'only snapshot files went; data waits for prune',
  );
});
