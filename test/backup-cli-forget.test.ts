/**
 * `sealpost backup` snapshot selection (`--host`, `--tag`, `--path`) and `forget`'s restic rules
 * beyond the counts (`--keep-tag`, `--keep-within`, `--group-by`) with their `--json` reasons, run as
 * a user runs them: snapshots of one directory from two hosts, tagged, in a local repository.
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

interface Listed {
  id: string;
  hostname: string;
  tags: string[];
}
interface Forgot {
  removed: number;
  groupBy: string[];
  groups: {
    key: { hostname?: string; paths?: string[]; tags?: string[] };
    keep: { id: string; reasons: string[]; matches: string[] }[];
    remove: { id: string }[];
  }[];
}

/** One line per group: its key, then each kept id (by name) with its matches, then the removed. */
function outcome(result: Forgot, names: ReadonlyMap<string, string>): string[] {
  return result.groups.map(
    (g) =>
      `${JSON.stringify(g.key).replaceAll(source, '<src>')}: keep ${g.keep
        .map((k) => `${names.get(k.id)} (${k.matches.join('; ')})`)
        .join(', ')}; remove ${g.remove.map((s) => names.get(s.id)).join(', ')}`,
  );
}

before(async () => {
  work = await fs.mkdtemp(join(tmpdir(), 'sealpost-backup-cli-forget-'));
  repo = join(work, 'repo');
  source = join(work, 'src');
  await fs.mkdir(source);
});
after(async () => {
  await fs.rm(work, { recursive: true, force: true });
});

test('selects by host, tag and path, forgets per group with restic reasons, and leaves unselected hosts alone', async () => {
  await json(['init']);
  // Five snapshots of one directory, oldest first; each writes its name into the directory.
  const made: [name: string, host: string, tags: string[]][] = [
    ['a1', 'alpha', ['daily']],
    ['a2', 'alpha', ['monthly', 'daily']],
    ['b1', 'beta', ['daily']],
    ['a3', 'alpha', ['daily']],
    ['b2', 'beta', []],
  ];
  const names = new Map<string, string>();
  for (const [name, host, tags] of made) {
    await fs.writeFile(join(source, 'which.txt'), name);
    const tagArgs = tags.length === 0 ? [] : ['--tag', tags.join(',')];
    const { snapshotId } = await json<{ snapshotId: string }>(['create', source, '--host', host, ...tagArgs]);
    names.set(snapshotId, name);
  }
  const listed = (rows: Listed[]) => rows.map((r) => names.get(r.id));

  assert.deepEqual(listed(await json<Listed[]>(['snapshots'])), ['a1', 'a2', 'b1', 'a3', 'b2']);
  assert.deepEqual(listed(await json<Listed[]>(['snapshots', '--host', 'beta'])), ['b1', 'b2']);
  assert.deepEqual(listed(await json<Listed[]>(['snapshots', '--tag', 'daily,monthly'])), ['a2']);
  assert.deepEqual(
    listed(await json<Listed[]>(['snapshots', '--tag', 'monthly', '--tag', ''])),
    ['a2', 'b2'],
    'a --tag list each; "" selects the untagged',
  );
  assert.deepEqual(listed(await json<Listed[]>(['snapshots', '--path', source, '--host', 'alpha'])), [
    'a1',
    'a2',
    'a3',
  ]);
  assert.deepEqual(await json<Listed[]>(['snapshots', '--path', join(work, 'elsewhere')]), []);

  // "latest" is the newest of the selected snapshots.
  const out = join(work, 'out');
  await json(['restore', 'latest', out, '--host', 'alpha', '--tag', 'monthly']);
  assert.equal(await fs.readFile(join(out, 'which.txt'), 'utf8'), 'a2');
  await json(['restore', 'latest', join(work, 'out-b'), '--host', 'beta', '--tag', 'daily']);
  assert.equal(await fs.readFile(join(work, 'out-b', 'which.txt'), 'utf8'), 'b1');
  const none = await sealpost(['ls', 'latest', '--host', 'gamma']);
  assert.equal(none.status, 1);
  assert.match(none.stderr, /^error BACKUP_SNAPSHOT_NOT_FOUND: /m);
  const changed = await json<{ modified: number }>(['diff', 'latest', 'latest', '--host', 'beta']);
  assert.equal(changed.modified, 0);

  // Default groups (host, paths): each host keeps its own newest and the tagged one.
  const dry = await json<Forgot>(['forget', '--keep-last', '1', '--keep-tag', 'monthly', '--dry-run']);
  assert.deepEqual(dry.groupBy, ['host', 'paths']);
  assert.deepEqual(outcome(dry, names), [
    '{"hostname":"alpha","paths":["<src>"]}: keep a3 (last snapshot), a2 (has tags monthly); remove a1',
    '{"hostname":"beta","paths":["<src>"]}: keep b2 (last snapshot); remove b1',
  ]);
  assert.deepEqual(
    dry.groups[0]!.keep.map((k) => k.reasons),
    [['last'], ['tag']],
  );
  assert.equal(dry.removed, 0);

  // Grouped by tags, across hosts: one group's rule never keeps another group's snapshot.
  const byTags = await json<Forgot>(['forget', '--keep-last', '1', '--group-by', 'tags', '--dry-run']);
  assert.deepEqual(outcome(byTags, names), [
    '{"tags":[]}: keep b2 (last snapshot); remove ',
    '{"tags":["daily"]}: keep a3 (last snapshot); remove b1, a1',
    '{"tags":["daily","monthly"]}: keep a2 (last snapshot); remove ',
  ]);

  // One group of all: every snapshot was made within the last day of the newest.
  const within = await json<Forgot>(['forget', '--keep-within', '1d', '--group-by', '', '--dry-run']);
  assert.deepEqual(outcome(within, names), [
    '{}: keep b2 (within 1d), a3 (within 1d), b1 (within 1d), a2 (within 1d), a1 (within 1d); remove ',
  ]);

  // For real, only alpha's snapshots: beta's are not considered, so b1 stays.
  const forgot = await json<Forgot>([
    'forget',
    '--host',
    'alpha',
    '--keep-last',
    '1',
    '--keep-tag',
    'monthly',
  ]);
  assert.equal(forgot.removed, 1);
  assert.deepEqual(outcome(forgot, names), [
    '{"hostname":"alpha","paths":["<src>"]}: keep a3 (last snapshot), a2 (has tags monthly); remove a1',
  ]);
  assert.deepEqual(listed(await json<Listed[]>(['snapshots'])), ['a2', 'b1', 'a3', 'b2']);

  const text = await sealpost(['forget', '--keep-last', '1', '--host', 'beta', '--dry-run']);
  assert.equal(text.status, 0, text.stderr);
  assert.match(text.stdout, /^hostname beta, paths .+: keep 1, remove 1$/m);
  assert.match(text.stdout, /^ {2}keep {4}[0-9a-f]{12} {2}\S+ {2}beta .*\(last snapshot\)$/m);
  assert.match(text.stdout, /^ {2}remove {2}[0-9a-f]{12} {2}\S+ {2}beta {2}daily {2}\(no rule keeps it\)$/m);
});

test('refuses a bad --keep-within, a negative count, an unknown --group-by field and two --host on create; takes restic\'s "unlimited"', async () => {
  const refused: [args: string[], message: RegExp][] = [
    [['forget', '--keep-within', '5x'], /--keep-within is a duration such as 2y5m7d3h .*not "5x"/],
    [['forget', '--keep-within', '-1d'], /--keep-within is a duration/],
    [['forget', '--keep-last', '-1'], /--keep-last: not a count: -1/],
    [['forget', '--keep-daily', '2.5'], /--keep-daily: not a count: 2\.5/],
    [['forget', '--keep-last', '1', '--group-by', 'hostname'], /--group-by takes host, paths, tags/],
    [['create', source, '--host', 'a', '--host', 'b'], /create takes at most one --host/],
  ];
  for (const [args, message] of refused) {
    const run = await sealpost(args);
    assert.equal(run.status, 1, args.join(' '));
    assert.match(run.stderr, /^error VALIDATION_FAILED: /m, args.join(' '));
    assert.match(run.stderr, message, args.join(' '));
  }
  const unlimited = await json<Forgot>(['forget', '--keep-last', 'unlimited', '--dry-run']);
  assert.deepEqual(
    unlimited.groups.flatMap((g) => [
      ...g.keep.map((k) => k.matches.join()),
      ...g.remove.map(() => 'removed'),
    ]),
    ['last snapshot', 'last snapshot', 'last snapshot', 'last snapshot'],
    '--keep-last unlimited keeps all four',
  );
  const empty = await sealpost(['forget', '--keep-within', '0d']);
  assert.equal(empty.status, 1);
  assert.match(empty.stderr, /^error BACKUP_POLICY_EMPTY: /m);
});
