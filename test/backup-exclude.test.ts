/**
 * Backup excludes end to end on a local repository (BackupOptions.exclude, exclude.ts): what is
 * left out is absent from the snapshot and was never opened nor walked; cache directories and
 * directories holding an --exclude-if-present file keep only their tag; big files stay out; other
 * devices are not crossed, their mount points kept empty.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SealpostError } from '@sealpost/core';
import { LocalRepository } from '../packages/client/node/backup-local-repo.ts';
import { nodeBackupDeps } from '../packages/client/node/backup-node.ts';
import { backup, type BackupOptions } from '../packages/client/src/backup/backup.ts';
import { BlobReader } from '../packages/client/src/backup/blob-reader.ts';
import type { BackupDeps } from '../packages/client/src/backup/deps.ts';
import type { BackupFs, FsStat } from '../packages/client/src/backup/fs.ts';
import { initRepository, openRepository } from '../packages/client/src/backup/session.ts';
import { findSnapshot, ls } from '../packages/client/src/backup/snapshots.ts';

const PASSPHRASE = 'correct horse battery staple';
/** Cheap Argon2id for tests (RFC 9106 minimums are enforced by core, not cost). */
const TEST_ARGON2 = { memoryKiB: 1024, iterations: 1, parallelism: 1 };
const SIGNATURE = 'Signature: 8a477f597d28d172789f06886806bc55';
/** The header `headed/.sealpost-skip` starts with (and `wrong-header`'s does not). */
const SKIP_HEADER = 'SKIP: this directory';

let work: string;
let source: string;

/**
 * The tree: notes, logs at several depths, a `build` directory, a tagged cache, a directory with a
 * CACHEDIR.TAG that lacks the signature, directories marked for `--exclude-if-present` (`marked`
 * with an empty `.nobackup`, `headed` with a `.sealpost-skip` that starts with its header,
 * `wrong-header` with one that does not), a big file, and `mnt` (another device, when faked).
 */
async function makeTree(root: string): Promise<void> {
  const files: Record<string, string> = {
    'notes.txt': 'notes\n',
    'Photo.JPG': 'jpeg\n',
    'debug.log': 'log\n',
    'a/b/deep.log': 'log\n',
    'a/b/keep.txt': 'keep\n',
    'a/keep.log': 'kept by negation\n',
    'build/out.o': 'object\n',
    'build/sub/more.o': 'object\n',
    'cache/CACHEDIR.TAG': `${SIGNATURE}\n# This file is a cache directory tag.\n`,
    'cache/blob1': 'cached\n',
    'cache/sub/blob2': 'cached\n',
    'not-cache/CACHEDIR.TAG': 'Signature: something else\n',
    'not-cache/data': 'data\n',
    'marked/.nobackup': '',
    'marked/data.txt': 'data\n',
    'marked/sub/deep.txt': 'data\n',
    'headed/.sealpost-skip': `${SKIP_HEADER}\n# anything may follow\n`,
    'headed/data.txt': 'data\n',
    'wrong-header/.sealpost-skip': 'SKIP\n',
    'wrong-header/data.txt': 'data\n',
    'mnt/inside.txt': 'on another device\n',
    'mnt/d/deeper.txt': 'on another device\n',
  };
  for (const [path, text] of Object.entries(files)) {
    await fs.mkdir(join(root, path, '..'), { recursive: true });
    await fs.writeFile(join(root, path), text);
  }
  await fs.writeFile(join(root, 'big.bin'), new Uint8Array(3 * 1024 + 1));
  await fs.writeFile(join(root, 'exactly.bin'), new Uint8Array(3 * 1024));
}

/** Node's deps whose fs records the files opened and directories listed, `mnt` on device 999. */
function recording(fakeMount = false): { deps: BackupDeps; opened: string[]; listed: string[] } {
  const base = nodeBackupDeps();
  const opened: string[] = [];
  const listed: string[] = [];
  const rel = (path: string) => path.slice(source.length + 1);
  const onMount = (path: string) => rel(path) === 'mnt' || rel(path).startsWith('mnt/');
  const device = (path: string, stat: FsStat): FsStat =>
    fakeMount && onMount(path) ? { ...stat, device: 999n } : stat;
  const inner = base.fs;
  const wrapped: BackupFs = {
    ...inner,
    lstat: async (path) => device(path, await inner.lstat(path)),
    readdirStats: async (path) => {
      listed.push(rel(path));
      return (await inner.readdirStats!(path)).map(({ name, stat }) => ({
        name,
        stat: stat instanceof Error ? stat : device(`${path}/${name}`, stat),
      }));
    },
    openRead: (path) => {
      opened.push(rel(path));
      return inner.openRead(path);
    },
  };
  return { deps: { ...base, fs: wrapped }, opened, listed };
}

/** Backs `source` up into a new repository with `options`; returns the run and the snapshot's paths. */
async function backUp(options: Partial<BackupOptions>, fakeMount = false) {
  const { deps, opened, listed } = recording(fakeMount);
  const dir = await fs.mkdtemp(join(work, 'repo-'));
  await initRepository(new LocalRepository(dir), deps, PASSPHRASE, TEST_ARGON2);
  const session = await openRepository(new LocalRepository(dir), deps, PASSPHRASE);
  const result = await backup(session, source, { hostname: 'h', ...options });
  const { snapshot } = await findSnapshot(session, result.snapshotId);
  const reader = await BlobReader.load(session);
  const entries = await ls(reader, snapshot);
  return { result, paths: entries.map((e) => e.path).sort(), entries, opened, listed, dir };
}

before(async () => {
  work = await fs.mkdtemp(join(tmpdir(), 'sealpost-exclude-'));
  source = join(work, 'src');
  await makeTree(source);
});

after(async () => {
  await fs.rm(work, { recursive: true, force: true });
});

test('excluded files and directories are absent from the snapshot and never opened or walked', async () => {
  const { result, paths, opened, listed } = await backUp({
    exclude: { patterns: ['*.log', '!a/keep.log', `${source}/build`], caseInsensitivePatterns: ['*.jpg'] },
  });
  for (const gone of ['debug.log', 'a/b/deep.log', 'Photo.JPG', 'build', 'build/out.o', 'build/sub/more.o'])
    assert.ok(!paths.includes(gone), `${gone} left out`);
  for (const kept of ['notes.txt', 'a/keep.log', 'a/b/keep.txt', 'cache/blob1', 'mnt/d/deeper.txt'])
    assert.ok(paths.includes(kept), `${kept} kept`);
  for (const path of ['debug.log', 'a/b/deep.log', 'Photo.JPG', 'build/out.o', 'build/sub/more.o'])
    assert.ok(!opened.includes(path), `${path} not opened`);
  assert.ok(!listed.some((d) => d.startsWith('build')), 'build not walked');
  assert.ok(opened.includes('a/keep.log'));
  // debug.log, Photo.JPG, build (its contents are not counted), a/b/deep.log.
  assert.equal(result.excluded, 4);
});

test('without excludes nothing is left out and excluded is 0', async () => {
  const { result, paths } = await backUp({});
  assert.equal(result.excluded, 0);
  assert.ok(paths.includes('build/sub/more.o') && paths.includes('cache/sub/blob2'));
});

test('a directory tagged CACHEDIR.TAG with the signature keeps only the tag', async () => {
  const { result, paths, opened, listed, entries } = await backUp({ exclude: { caches: true } });
  assert.deepEqual(
    paths.filter((p) => p.startsWith('cache')),
    ['cache', 'cache/CACHEDIR.TAG'],
  );
  const tag = entries.find((e) => e.path === 'cache/CACHEDIR.TAG')!;
  assert.equal(tag.node.kind === 'file' && tag.node.size > 0, true, 'the tag is backed up whole');
  assert.ok(!opened.includes('cache/blob1'));
  assert.ok(!listed.includes('cache/sub'));
  // A tag without the signature does not count.
  assert.ok(paths.includes('not-cache/data'));
  assert.equal(result.excluded, 2);
});

test('a directory holding an --exclude-if-present file keeps only that file; a wrong header keeps it whole', async () => {
  const { result, paths, opened, listed } = await backUp({
    exclude: { ifPresent: ['.nobackup', `.sealpost-skip:${SKIP_HEADER}`] },
  });
  const under = (dir: string) => paths.filter((p) => p === dir || p.startsWith(`${dir}/`));
  // Without a header the tag's presence is enough; with one, the tag must start with it.
  assert.deepEqual(under('marked'), ['marked', 'marked/.nobackup']);
  assert.deepEqual(under('headed'), ['headed', 'headed/.sealpost-skip']);
  assert.deepEqual(under('wrong-header'), [
    'wrong-header',
    'wrong-header/.sealpost-skip',
    'wrong-header/data.txt',
  ]);
  // What the tags leave out is neither opened nor walked.
  for (const path of ['marked/data.txt', 'marked/sub/deep.txt', 'headed/data.txt'])
    assert.ok(!opened.includes(path), `${path} not opened`);
  assert.ok(!listed.includes('marked/sub'), 'marked/sub not walked');
  // Other directories are untouched: caches are another option.
  assert.ok(paths.includes('cache/blob1') && paths.includes('notes.txt'));
  // marked/data.txt, marked/sub, headed/data.txt.
  assert.equal(result.excluded, 3);
});

test('files larger than the limit are left out unread; directories are not sized', async () => {
  const { result, paths, opened } = await backUp({ exclude: { largerThanBytes: 3 * 1024 } });
  assert.ok(!paths.includes('big.bin'));
  assert.ok(!opened.includes('big.bin'));
  assert.ok(paths.includes('exactly.bin'));
  assert.ok(paths.includes('a/b/keep.txt'));
  assert.equal(result.excluded, 1);
});

test('one-file-system keeps a mount point as an empty directory and does not walk it', async () => {
  const { result, paths, opened, listed, entries } = await backUp({ exclude: { oneFileSystem: true } }, true);
  assert.ok(paths.includes('mnt'));
  assert.ok(!paths.some((p) => p.startsWith('mnt/')));
  assert.ok(!listed.includes('mnt') && !opened.some((p) => p.startsWith('mnt/')));
  assert.equal(entries.find((e) => e.path === 'mnt')!.node.kind, 'dir');
  assert.equal(result.excluded, 0);
  // The same tree with nothing faked: one device, everything in.
  const same = await backUp({ exclude: { oneFileSystem: true } });
  assert.ok(same.paths.includes('mnt/d/deeper.txt'));
});

test('the node file system reports a different device for another file system', async (t) => {
  // No mount can be made below a temporary source without privileges, so the engine's side is the
  // faked device above; this checks the node side: /dev/shm (a tmpfs on most Linux machines) is
  // reported on another device than the temporary directory, by lstat and by readdirStats.
  const shm = await fs.lstat('/dev/shm', { bigint: true }).catch(() => undefined);
  const tmp = await fs.lstat(work, { bigint: true });
  if (shm === undefined || shm.dev === tmp.dev) {
    t.skip('/dev/shm is missing or on the same device as the temporary directory');
    return;
  }
  const { deps } = recording();
  assert.equal((await deps.fs.lstat('/dev/shm')).device, shm.dev);
  assert.equal((await deps.fs.lstat(work)).device, tmp.dev);
  const [entry] = (await deps.fs.readdirStats!(source)).filter((e) => e.name === 'notes.txt');
  assert.equal((entry!.stat as FsStat).device, tmp.dev);
});

test('one-file-system on a file system without device ids is refused before anything is stored', async () => {
  const { deps } = recording();
  const strip = ({ device: _, ...stat }: FsStat): FsStat => stat;
  const noDevices: BackupDeps = {
    ...deps,
    fs: { ...deps.fs, lstat: async (path) => strip(await deps.fs.lstat(path)) },
  };
  const dir = await fs.mkdtemp(join(work, 'repo-'));
  await initRepository(new LocalRepository(dir), noDevices, PASSPHRASE, TEST_ARGON2);
  const session = await openRepository(new LocalRepository(dir), noDevices, PASSPHRASE);
  await assert.rejects(
    backup(session, source, { hostname: 'h', exclude: { oneFileSystem: true } }),
    (e: unknown) => e instanceof SealpostError && e.code === 'VALIDATION_FAILED',
  );
  assert.deepEqual(await fs.readdir(join(dir, 'data')).catch(() => []), []);
  assert.deepEqual(await fs.readdir(join(dir, 'snapshots')).catch(() => []), []);
});

test('a malformed pattern is refused before anything is stored', async () => {
  const { deps } = recording();
  const dir = await fs.mkdtemp(join(work, 'repo-'));
  await initRepository(new LocalRepository(dir), deps, PASSPHRASE, TEST_ARGON2);
  const session = await openRepository(new LocalRepository(dir), deps, PASSPHRASE);
  await assert.rejects(
    backup(session, source, { hostname: 'h', exclude: { patterns: ['ok', 'bad['] } }),
    (e: unknown) => e instanceof SealpostError && e.code === 'VALIDATION_FAILED',
  );
  assert.deepEqual(await fs.readdir(join(dir, 'snapshots')).catch(() => []), []);
});
