/**
 * `sealpost backup key list|add|passwd|remove` run as a user runs it: passphrases come and go, the
 * data stays as it is, and the key file in use cannot be removed.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { PASSPHRASE, sealpost as cli } from './support/sealpost-cli.ts';

const SECOND = 'a second passphrase';
const THIRD = 'a third passphrase';

const sealpost = (args: readonly string[], passphrase: string, next?: string) =>
  cli(work, undefined, ['backup', ...args, '--repo', repo], {
    env: {
      SEALPOST_PASSPHRASE: passphrase,
      ...(next === undefined ? {} : { SEALPOST_NEW_PASSPHRASE: next }),
    },
  });

interface Key {
  name: string;
  kind: string;
  current: boolean;
  argon2id?: { memoryKiB: number };
}
const keys = async (passphrase: string): Promise<Key[]> => {
  const run = await sealpost(['key', 'list', '--json'], passphrase);
  assert.equal(run.status, 0, run.stderr);
  return JSON.parse(run.stdout) as Key[];
};
const current = async (passphrase: string): Promise<string> => {
  const mine = (await keys(passphrase)).filter((k) => k.current);
  assert.equal(mine.length, 1);
  return mine[0]!.name;
};

/** Every file of the repository but its key files, with its bytes' length and content. */
async function dataFiles(): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const entry of await fs.readdir(repo, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile()) continue;
    const path = relative(repo, join(entry.parentPath, entry.name));
    if (path.startsWith('keys')) continue;
    out.set(path, (await fs.readFile(join(repo, path))).toString('base64'));
  }
  return out;
}

let work: string;
let repo: string;
let source: string;

before(async () => {
  work = await fs.mkdtemp(join(tmpdir(), 'sealpost-backup-key-'));
  repo = join(work, 'repo');
  source = join(work, 'src');
  await fs.mkdir(source);
  await fs.writeFile(join(source, 'a.txt'), 'alpha\n'.repeat(5_000));
  assert.equal((await sealpost(['init'], PASSPHRASE)).status, 0);
  const create = await sealpost(['create', source], PASSPHRASE);
  assert.equal(create.status, 0, create.stderr);
});
after(async () => {
  await fs.rm(work, { recursive: true, force: true });
});

test('lists one passphrase key file, marked as the one in use, after init', async () => {
  const listed = await keys(PASSPHRASE);
  assert.equal(listed.length, 1);
  assert.equal(listed[0]!.kind, 'passphrase');
  assert.equal(listed[0]!.current, true);
  assert.match(listed[0]!.name, /^[0-9a-f]{64}$/);
  const text = await sealpost(['key', 'list'], PASSPHRASE);
  assert.match(text.stdout, new RegExp(`^\\* ${listed[0]!.name.slice(0, 16)}  passphrase  Argon2id m=`));
});

test('adds, changes and removes passphrases without touching any data file', async () => {
  const before = await dataFiles();
  assert.ok(before.size > 0);

  const add = await sealpost(['key', 'add', '--json'], PASSPHRASE, SECOND);
  assert.equal(add.status, 0, add.stderr);
  const second = await current(SECOND);
  assert.equal((JSON.parse(add.stdout) as { added: string }).added, second);
  assert.equal((await keys(PASSPHRASE)).length, 2);

  const first = await current(PASSPHRASE);
  const passwd = await sealpost(['key', 'passwd', '--json'], PASSPHRASE, THIRD);
  assert.equal(passwd.status, 0, passwd.stderr);
  const changed = JSON.parse(passwd.stdout) as { added: string; removed: string };
  assert.equal(changed.removed, first);
  assert.equal(changed.added, await current(THIRD));

  const old = await sealpost(['snapshots'], PASSPHRASE);
  assert.equal(old.status, 2, 'the replaced passphrase no longer opens the repository');
  assert.match(old.stderr, /KEYSTORE_PASSPHRASE_WRONG/);
  assert.equal((await sealpost(['snapshots'], SECOND)).status, 0, 'the added one still does');

  const removed = await sealpost(['key', 'remove', second.slice(0, 12)], THIRD);
  assert.equal(removed.status, 0, removed.stderr);
  assert.equal((await sealpost(['snapshots'], SECOND)).status, 2, 'a removed key file no longer opens');

  const check = await sealpost(['check', '--read-data'], THIRD);
  assert.equal(check.status, 0, check.stderr);
  assert.deepEqual(await dataFiles(), before, 'no pack, index or snapshot file changed');
});

test('refuses to remove the key file in use, naming the reason', async () => {
  const mine = await current(THIRD);
  const run = await sealpost(['key', 'remove', mine], THIRD);
  assert.equal(run.status, 1);
  assert.match(run.stderr, /^error BACKUP_KEY_IN_USE: /);
  assert.equal(await current(THIRD), mine);
});

test('refuses a key name that no key file has, or that is too short to be one', async () => {
  for (const name of ['00000000', 'zz', 'a1b2']) {
    const run = await sealpost(['key', 'remove', name], THIRD);
    assert.equal(run.status, 1, name);
    assert.match(run.stderr, /^error BACKUP_KEY_NOT_FOUND: /, name);
  }
  assert.equal((await keys(THIRD)).length, 1);
});

test('refuses a new passphrase shorter than the minimum and adds nothing', async () => {
  const run = await sealpost(['key', 'add'], THIRD, 'short');
  assert.equal(run.status, 1);
  assert.match(run.stderr, /^error VALIDATION_FAILED: passphrase must be at least/);
  assert.equal((await keys(THIRD)).length, 1);
});

test('refuses a key command with a wrong passphrase and changes nothing', async () => {
  const run = await sealpost(['key', 'add'], 'not the passphrase', SECOND);
  assert.equal(run.status, 2);
  assert.match(run.stderr, /KEYSTORE_PASSPHRASE_WRONG/);
  assert.equal((await keys(THIRD)).length, 1);
});
