/**
 * Acceptance "Bad input" for backups on the server's blob store: a wrong passphrase, a target that
 * is not a repository (an empty blob store, junk where key files go, a server that is not Sealpost),
 * a foreign server or another account's repository, and a quota that fills up in the middle of a
 * backup. Each is a clear typed error, and nothing already stored is damaged: the earlier snapshot
 * still restores byte for byte and checks whole.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes, randomFillSync } from 'node:crypto';
import * as fs from 'node:fs/promises';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { SealpostError } from '@sealpost/core';
import { HttpRepository } from '../packages/client/node/backup-http-repo.ts';
import { nodeBackupDeps } from '../packages/client/node/backup-node.ts';
import { backup } from '../packages/client/src/backup/backup.ts';
import { check } from '../packages/client/src/backup/check.ts';
import { BackupError } from '../packages/client/src/backup/errors.ts';
import { OBJECT_KINDS, type ObjectName } from '../packages/client/src/backup/repository.ts';
import { restore } from '../packages/client/src/backup/restore.ts';
import { initRepository, openRepository } from '../packages/client/src/backup/session.ts';
import { listSnapshots } from '../packages/client/src/backup/snapshots.ts';
import { storeFactories } from '../packages/server/src/store/test-databases.ts';
import { assertSameTree, makeTree } from './support/backup-trees.ts';
import { createDevice, crypto, startInstance, type Instance, type TestDevice } from './support/harness.ts';

const MiB = 1024 * 1024;
const PASSPHRASE = 'correct horse battery staple';
const TEST_ARGON2 = { memoryKiB: 1024, iterations: 1, parallelism: 1 };
const QUOTA = 20 * MiB;
const deps = nodeBackupDeps();

const isError = (code: string) => (e: unknown) =>
  (e instanceof SealpostError || e instanceof BackupError) && e.code === code;

const cleanups: Array<() => Promise<void>> = [];
let instance: Instance;
let work: string;
let source: string;

before(async () => {
  const opened = await storeFactories[0]!.open({ blobQuotaBytes: QUOTA });
  instance = await startInstance(opened.store);
  cleanups.push(opened.cleanup, () => instance.close());
  work = await fs.mkdtemp(join(tmpdir(), 'sealpost-bad-input-'));
  source = join(work, 'source');
  await makeTree(source, 1);
});
after(async () => {
  for (const c of cleanups.reverse()) await c();
  await fs.rm(work, { recursive: true, force: true });
});

function repoOf(device: { username: string; deviceSeed: Uint8Array }, url = instance.url) {
  return new HttpRepository({
    serverUrl: url,
    username: device.username,
    deviceSeed: device.deviceSeed,
    crypto,
    attempts: 2,
    sleep: async () => {},
  });
}

/** A repository with one snapshot of `source`; returns its id. */
async function withSnapshot(repo: HttpRepository, passphrase = PASSPHRASE): Promise<string> {
  await initRepository(repo, deps, passphrase, TEST_ARGON2);
  const session = await openRepository(repo, deps, passphrase);
  try {
    return (await backup(session, source, { hostname: 'h' })).snapshotId;
  } finally {
    session.close();
  }
}

/** Every stored object's name, by kind: "nothing changed" is this, equal before and after. */
async function inventory(repo: HttpRepository): Promise<Record<string, string[]>> {
  const out: Record<string, string[]> = {};
  for (const kind of OBJECT_KINDS) out[kind] = (await repo.list(kind)).map((o) => o.name).sort();
  return out;
}

/** The snapshot restores byte for byte and the repository checks whole, data included. */
async function assertIntact(repo: HttpRepository, snapshotId: string): Promise<void> {
  const session = await openRepository(repo, deps, PASSPHRASE);
  try {
    const target = await fs.mkdtemp(join(work, 'restored-'));
    await restore(session, snapshotId, join(target, 'tree'));
    await assertSameTree(source, join(target, 'tree'));
    const report = await check(session, { readData: true });
    assert.equal(report.ok, true, JSON.stringify(report.problems));
  } finally {
    session.close();
  }
}

test('a wrong passphrase is KEYSTORE_PASSPHRASE_WRONG and changes nothing', async () => {
  const repo = repoOf(await createDevice(instance.url, 'wrongpass'));
  const snapshotId = await withSnapshot(repo);
  const before = await inventory(repo);
  for (const wrong of ['correct horse battery stapl', 'Correct horse battery staple', 'x']) {
    await assert.rejects(openRepository(repo, deps, wrong), isError('KEYSTORE_PASSPHRASE_WRONG'));
  }
  await assert.rejects(initRepository(repo, deps, 'other', TEST_ARGON2), isError('BACKUP_REPOSITORY_EXISTS'));
  assert.deepEqual(await inventory(repo), before);
  await assertIntact(repo, snapshotId);
});

test('a blob store that holds no repository is BACKUP_NOT_A_REPOSITORY, junk key files a typed error', async () => {
  const device = await createDevice(instance.url, 'notarepo');
  const repo = repoOf(device);
  await assert.rejects(openRepository(repo, deps, PASSPHRASE), isError('BACKUP_NOT_A_REPOSITORY'));
  // Blobs of other kinds are not a repository either.
  const pack = new Uint8Array(randomBytes(2000));
  await repo.put('packs', createHash('sha256').update(pack).digest('hex') as ObjectName, pack);
  await assert.rejects(openRepository(repo, deps, PASSPHRASE), isError('BACKUP_NOT_A_REPOSITORY'));
  // Junk where key files go: 123 random bytes, a shorter and a longer blob.
  for (const size of [123, 50, 400]) {
    const junk = new Uint8Array(randomBytes(size));
    await repo.put('keys', createHash('sha256').update(junk).digest('hex') as ObjectName, junk);
  }
  await assert.rejects(openRepository(repo, deps, PASSPHRASE), (e: unknown) => {
    assert.ok(e instanceof SealpostError, String(e));
    assert.match(e.code, /^(CODEC_|KEYSTORE_PASSPHRASE_WRONG$|BODY_TOO_LARGE$)/);
    return true;
  });
});

test('a server that is not a Sealpost server is a typed error, not a hang', async () => {
  const http = createServer((_req, res) =>
    res.writeHead(404, { 'content-type': 'text/html' }).end('<h1>no</h1>'),
  );
  await new Promise<void>((done) => http.listen(0, '127.0.0.1', done));
  cleanups.push(() => new Promise((done) => http.close(() => done())));
  const { port } = http.address() as { port: number };
  const device = await createDevice(instance.url, 'elsewhere');
  const repo = repoOf(device, `http://127.0.0.1:${port}`);
  await assert.rejects(openRepository(repo, deps, PASSPHRASE), (e: unknown) => {
    assert.ok(e instanceof SealpostError, String(e));
    assert.match(e.message, /404/);
    return true;
  });
});

test("a foreign server's store is AUTH_SIGNATURE_INVALID: the account is not there, nothing is stored", async () => {
  const opened = await storeFactories[0]!.open();
  const foreign = await startInstance(opened.store);
  cleanups.push(opened.cleanup, () => foreign.close());
  const device = await createDevice(instance.url, 'traveller');
  const home = repoOf(device);
  const snapshotId = await withSnapshot(home);
  const away = repoOf(device, foreign.url);
  await assert.rejects(openRepository(away, deps, PASSPHRASE), isError('AUTH_SIGNATURE_INVALID'));
  await assert.rejects(
    initRepository(away, deps, PASSPHRASE, TEST_ARGON2),
    isError('AUTH_SIGNATURE_INVALID'),
  );
  await assertIntact(home, snapshotId);
});

test("another account's repository copied in: its objects are named as damage; ours are untouched", async () => {
  const alice: TestDevice = await createDevice(instance.url, 'aliceowner');
  const bob: TestDevice = await createDevice(instance.url, 'bobforeign');
  const ours = repoOf(alice);
  const theirs = repoOf(bob);
  const snapshotId = await withSnapshot(ours);
  await withSnapshot(theirs, "bob's own passphrase");
  const before = await inventory(ours);

  // The server (or someone with the account) puts every object of Bob's repository into Alice's.
  const foreign: string[] = [];
  for (const kind of OBJECT_KINDS) {
    for (const { name } of await theirs.list(kind)) {
      await ours.put(kind, name, await theirs.get(kind, name));
      foreign.push(`${kind}/${name}`);
    }
  }
  // Our key file still opens (Bob's does not, with our passphrase); Bob's snapshot and index files
  // do not open under our keys, and each is reported by name.
  const session = await openRepository(ours, deps, PASSPHRASE);
  try {
    await assert.rejects(listSnapshots(session), (e: unknown) => {
      assert.ok(e instanceof BackupError && e.code === 'BACKUP_DATA_CORRUPT');
      assert.ok(foreign.includes(String(e.details['object'])), e.message);
      return true;
    });
    const report = await check(session, { readData: true });
    assert.equal(report.ok, false);
    const named = report.problems.map((p) => `${p.object}: ${p.message}`);
    for (const kind of ['index', 'snapshots'] as const) {
      for (const f of foreign.filter((x) => x.startsWith(`${kind}/`)))
        assert.ok(
          named.some((n) => n.includes(f)),
          `${f} not named in ${named.join('; ')}`,
        );
    }
    const oursNamed = Object.entries(before).flatMap(([kind, names]) => names.map((n) => `${kind}/${n}`));
    assert.ok(!named.some((n) => oursNamed.some((o) => n.includes(o))), 'one of our objects reported');
  } finally {
    session.close();
  }
  // Removing what check named leaves our repository exactly as it was.
  for (const f of foreign) {
    const [kind, name] = f.split('/') as [(typeof OBJECT_KINDS)[number], ObjectName];
    await ours.delete(kind, name);
  }
  assert.deepEqual(await inventory(ours), before);
  await assertIntact(ours, snapshotId);
});

test('a quota that fills up mid-backup is QUOTA_EXCEEDED (507); the earlier snapshot still restores', async () => {
  const repo = repoOf(await createDevice(instance.url, 'fullquota'));
  const snapshotId = await withSnapshot(repo);
  const grown = join(work, 'grown');
  await fs.cp(source, grown, { recursive: true });
  // 24 MiB of new random data: the first 16 MiB pack fits under the 20 MiB quota, the next does not.
  const big = new Uint8Array(24 * MiB);
  for (let o = 0; o < big.length; o += 65_536) randomFillSync(big, o, 65_536);
  await fs.writeFile(join(grown, 'new-big.bin'), big);

  const session = await openRepository(repo, deps, PASSPHRASE);
  let packsBefore: number;
  try {
    packsBefore = (await repo.list('packs')).length;
    await assert.rejects(backup(session, grown, { hostname: 'h' }), (e: unknown) => {
      assert.ok(e instanceof SealpostError && e.code === 'QUOTA_EXCEEDED', String(e));
      assert.equal(e.status, 507);
      return true;
    });
    assert.ok((await repo.list('packs')).length > packsBefore, 'some packs were stored before the quota hit');
    assert.equal((await listSnapshots(session)).length, 1, 'no snapshot of the failed run');
    const report = await check(session, { readData: true });
    assert.equal(report.ok, true, JSON.stringify(report.problems));
    assert.ok(report.unreferencedPacks >= 1, "the failed run's packs are unused, not damage");
  } finally {
    session.close();
  }
  await assertIntact(repo, snapshotId);
});
