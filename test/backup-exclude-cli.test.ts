/**
 * `sealpost backup create` with restic's exclude options, run as a user runs it: patterns from the
 * command line and from --exclude-file / --iexclude-file (with environment variables expanded),
 * caches, --exclude-if-present, sizes; and the typed errors for an exclude file that cannot be read,
 * a malformed size and a tag file that is not a file name, before anything is stored.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { backupCommands, PASSPHRASE, sealpost as sealpostWith } from './support/sealpost-cli.ts';

let work: string;
let repo: string;
let source: string;
/** A tree for --exclude-if-present: `project` holds `.nobackup`, `venv` and `other` a `.skip`. */
let tagged: string;
/** A tree for the variables of an exclude file. */
let envSource: string;

async function writeTree(root: string, files: Record<string, string>): Promise<void> {
  for (const [path, text] of Object.entries(files)) {
    await fs.mkdir(join(root, path, '..'), { recursive: true });
    await fs.writeFile(join(root, path), text);
  }
}

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
  await writeTree(source, files);
  tagged = join(work, 'tagged');
  await writeTree(tagged, {
    'keep.txt': 'keep\n',
    'project/.nobackup': '',
    'project/src.c': 'int main;\n',
    'project/build/out.o': 'object\n',
    'venv/.skip': 'SKIP: virtualenv\n',
    'venv/lib.py': 'pass\n',
    'other/.skip': 'not the header\n',
    'other/data': 'data\n',
  });
  envSource = join(work, 'env-src');
  await writeTree(envSource, {
    'keep.txt': 'keep\n',
    'drop-by-home.txt': 'HOME is the test directory\n',
    'node_modules/x.js': 'js\n',
    'price$.txt': 'a literal dollar\n',
    'price.txt': 'kept\n',
  });
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

test('create --exclude-if-present keeps only the tag of a directory holding it; a wrong header keeps the directory whole', async () => {
  const result = await json<{ snapshotId: string; excluded: number }>([
    'create',
    tagged,
    '--exclude-if-present',
    '.nobackup',
    '--exclude-if-present',
    '.skip:SKIP:',
  ]);
  const entries = await json<{ path: string }[]>(['ls', result.snapshotId]);
  const paths = entries.map((e) => e.path.replace(/^\//, '')).sort();
  assert.deepEqual(paths, [
    'keep.txt',
    'other',
    'other/.skip',
    'other/data',
    'project',
    'project/.nobackup',
    'venv',
    'venv/.skip',
  ]);
  // project/build, project/src.c, venv/lib.py.
  assert.equal(result.excluded, 3);
});

test('an --exclude-if-present that is not a file name is a validation error before the passphrase is asked for', async () => {
  const before = (await snapshots()).length;
  for (const spec of ['project/.nobackup', ':SKIP', '', '..']) {
    // No passphrase in the environment: opening the repository would fail otherwise.
    const run = await sealpostWith(
      work,
      undefined,
      ['backup', 'create', tagged, '--exclude-if-present', spec, '--repo', repo],
      { env: {} },
    );
    assert.equal(run.status, 1, spec);
    assert.match(run.stderr, /^error VALIDATION_FAILED: bad --exclude-if-present/m, spec);
  }
  assert.equal((await snapshots()).length, before);
});

test('create --exclude-file expands $VAR and ${VAR} from the environment, $$ to a dollar, and drops lines that expand to nothing', async () => {
  // HOME is `work` (support/sealpost-cli.ts); SEALPOST_TEST_UNSET is never set (SEALPOST_* are not
  // inherited), so its line expands to "" and is dropped rather than refused as an empty pattern.
  await fs.writeFile(
    join(work, 'env-excludes.txt'),
    ['$HOME/env-src/drop-by-home.txt', '${SEALPOST_TEST_DIR}', '$SEALPOST_TEST_UNSET', 'price$$.txt'].join(
      '\n',
    ),
  );
  const run = await sealpostWith(
    work,
    undefined,
    [
      'backup',
      'create',
      envSource,
      '--exclude-file',
      join(work, 'env-excludes.txt'),
      '--repo',
      repo,
      '--json',
    ],
    { env: { SEALPOST_PASSPHRASE: PASSPHRASE, SEALPOST_TEST_DIR: 'node_modules' } },
  );
  assert.equal(run.status, 0, run.stderr);
  const result = JSON.parse(run.stdout) as { snapshotId: string; excluded: number };
  const entries = await json<{ path: string }[]>(['ls', result.snapshotId]);
  const paths = entries.map((e) => e.path.replace(/^\//, '')).sort();
  assert.deepEqual(paths, ['keep.txt', 'price.txt']);
  // drop-by-home.txt, node_modules, price$.txt.
  assert.equal(result.excluded, 3);
});
