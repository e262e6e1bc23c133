/**
 * `sealpost backup create` with restic's exclude options, run as a user runs it: patterns from the
 * command line and from --exclude-file / --iexclude-file, caches, sizes; and the typed errors for
 * an exclude file that cannot be read and a malformed size, before anything is stored.
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

const snapshots = async () => json<{ id: string }[]>(['snapshots']);

before(async () => {
  work = await fs.mkdtemp(join(tmpdir(), 'sealpost-backup-exclude-cli-'));
  repo = join(work, 'repo');
  source = join(work, 'src');
  const files: Record<string, string> = {
    'keep.txt': 'keep\n',
    'a.tmp': 'tmp\n',
    'sub/b.tmp': 'tmp\n',
    'sub/important.tmp': 'kept by a ! line\n',
    'node_modules/x/index.js': 'js\n',
    'IMG.JPG': 'jpeg\n',
    'cache/CACHEDIR.TAG': 'Signature: 8a477f597d28d172789f06886806bc55\n',
    'cache/blob': 'cached\n',
    'big.bin': 'x'.repeat(2048),
  };
  for (const [path, text] of Object.entries(files)) {
    await fs.mkdir(join(source, path, '..'), { recursive: true });
    await fs.writeFile(join(source, path), text);
  }
  await fs.writeFile(
    join(work, 'excludes.txt'),
    ['# build output', '', '*.tmp', '   node_modules   ', '!sub/important.tmp', '\t# indented comment'].join(
      '\n',
    ) + '\r\n',
  );
  await fs.writeFile(join(work, 'iexcludes.txt'), '*.jpg\n');
  await json(['init']);
});

after(async () => {
  await fs.rm(work, { recursive: true, force: true });
});

test('create --exclude-file / --iexclude-file / --exclude-caches / --exclude-larger-than leave those entries out of the snapshot', async () => {
  const result = await json<{ snapshotId: string; excluded: number }>([
    'create',
    source,
    '--exclude-file',
    join(work, 'excludes.txt'),
    '--iexclude-file',
    join(work, 'iexcludes.txt'),
    '--exclude-caches',
    '--exclude-larger-than',
    '1k',
  ]);
  const entries = await json<{ path: string }[]>(['ls', result.snapshotId]);
  const paths = entries.map((e) => e.path.replace(/^\//, '')).sort();
  assert.deepEqual(paths, ['cache', 'cache/CACHEDIR.TAG', 'keep.txt', 'sub', 'sub/important.tmp']);
  // a.tmp, sub/b.tmp, node_modules, IMG.JPG, cache/blob, big.bin.
  assert.equal(result.excluded, 6);
});

test('create --exclude and -e take patterns from the command line, before those of files', async () => {
  const result = await json<{ snapshotId: string }>([
    'create',
    source,
    '-e',
    'important.tmp',
    '--exclude',
    `${source}/cache`,
    '--exclude-file',
    join(work, 'excludes.txt'),
  ]);
  const entries = await json<{ path: string }[]>(['ls', result.snapshotId]);
  const paths = entries.map((e) => e.path.replace(/^\//, '')).sort();
  // The file's later `!sub/important.tmp` re-includes what `-e important.tmp` excluded.
  assert.deepEqual(paths, ['IMG.JPG', 'big.bin', 'keep.txt', 'sub', 'sub/important.tmp']);
});

test('an exclude file that cannot be read is a validation error, and no snapshot is made', async () => {
  const before = (await snapshots()).length;
  const run = await sealpost(['create', source, '--exclude-file', join(work, 'missing.txt')]);
  assert.equal(run.status, 1);
  assert.match(run.stderr, /^error VALIDATION_FAILED: --exclude-file: cannot read .*missing\.txt/m);
  assert.equal((await snapshots()).length, before);
});

test('a malformed size or pattern is a validation error, and no snapshot is made', async () => {
  const before = (await snapshots()).length;
  for (const args of [
    ['--exclude-larger-than', '1.5G'],
    ['--exclude', 'bad['],
  ]) {
    const run = await sealpost(['create', source, ...args]);
    assert.equal(run.status, 1, args.join(' '));
    assert.match(run.stderr, /^error VALIDATION_FAILED: /m, args.join(' '));
  }
  assert.equal((await snapshots()).length, before);
});
