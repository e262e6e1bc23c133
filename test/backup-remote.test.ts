/**
 * Backups into the Sealpost server's blob store (packages/client/node/backup-http-repo.ts) against a
 * real server on the SQLite store: the Repository contract over HTTP (kinds kept apart, ranges,
 * idempotent puts, missing objects, signed requests), retries of transient failures, and the engine
 * end to end: init, backup, snapshots, restore byte for byte, check --read-data, and no file name or
 * content in what the server stores.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { SealpostError, parseUsername } from '@sealpost/core';
import { HttpRepository, BLOB_KINDS } from '../packages/client/node/backup-http-repo.ts';
import { nodeBackupDeps } from '../packages/client/node/backup-node.ts';
import type { FetchLike } from '../packages/client/src/account-api.ts';
import { backup } from '../packages/client/src/backup/backup.ts';
import { check } from '../packages/client/src/backup/check.ts';
import { BackupError } from '../packages/client/src/backup/errors.ts';
import type { ObjectName } from '../packages/client/src/backup/repository.ts';
import { restore } from '../packages/client/src/backup/restore.ts';
import { initRepository, openRepository } from '../packages/client/src/backup/session.ts';
import { listSnapshots } from '../packages/client/src/backup/snapshots.ts';
import { assertSameTree, makeTree } from './support/backup-trees.ts';
import { createDevice, crypto, type TestDevice } from './support/harness.ts';
import { serverFixture } from './support/server-fixture.ts';

const PASSPHRASE = 'correct horse battery staple';
const TEST_ARGON2 = { memoryKiB: 1024, iterations: 1, parallelism: 1 };
const deps = nodeBackupDeps();

const nameOf = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex') as ObjectName;
const isBackupError = (code: string) => (e: unknown) => e instanceof BackupError && e.code === code;
const isError = (code: string) => (e: unknown) => e instanceof SealpostError && e.code === code;

const fixture = serverFixture('sealpost-remote-');

function repoOf(device: TestDevice, options: { fetch?: FetchLike; attempts?: number } = {}) {
  return new HttpRepository({
    serverUrl: fixture.instance.url,
    username: device.username,
    deviceSeed: device.deviceSeed,
    crypto,
    sleep: async () => {},
    ...options,
  });
}

describe('HttpRepository', () => {
  test('stores each kind apart, reads whole and ranged, lists, probes and deletes', async () => {
    const repo = repoOf(await createDevice(fixture.instance.url, 'kinds'));
    const objects = Object.keys(BLOB_KINDS).map((kind) => {
      const bytes = new Uint8Array(randomBytes(kind === 'keys' ? 123 : 5000));
      return { kind: kind as keyof typeof BLOB_KINDS, bytes, name: nameOf(bytes) };
    });
    for (const o of objects) await repo.put(o.kind, o.name, o.bytes);
    for (const o of objects) {
      assert.deepEqual(await repo.list(o.kind), [{ name: o.name, length: o.bytes.length }], o.kind);
      assert.deepEqual(await repo.get(o.kind, o.name), o.bytes);
      assert.deepEqual(await repo.get(o.kind, o.name, { offset: 7, length: 100 }), o.bytes.subarray(7, 107));
      assert.equal(await repo.exists(o.kind, o.name), true);
    }
    const pack = objects.find((o) => o.kind === 'packs')!;
    await assert.rejects(
      repo.get('packs', pack.name, { offset: 4990, length: 20 }),
      isBackupError('BACKUP_DATA_CORRUPT'),
    );
    await assert.rejects(
      repo.get('packs', pack.name, { offset: 5000, length: 1 }),
      isBackupError('BACKUP_DATA_CORRUPT'),
    );
    await repo.put('packs', pack.name, pack.bytes); // a repeated put is harmless
    await repo.delete('packs', pack.name);
    await repo.delete('packs', pack.name); // deleting a missing object is not an error
    assert.equal(await repo.exists('packs', pack.name), false);
    assert.deepEqual(await repo.list('packs'), []);
    await assert.rejects(repo.get('packs', pack.name), (e: unknown) => {
      assert.ok(e instanceof BackupError && e.code === 'BACKUP_DATA_CORRUPT');
      assert.equal(e.details['object'], `packs/${pack.name}`);
      return true;
    });
  });

  test('refuses bytes that do not hash to the name before sending them', async () => {
    const repo = repoOf(await createDevice(fixture.instance.url, 'namecheck'));
    const bytes = new Uint8Array(randomBytes(100));
    const wrong = nameOf(new Uint8Array(randomBytes(100)));
    await assert.rejects(repo.put('packs', wrong, bytes), isBackupError('BACKUP_OBJECT_NAME_INVALID'));
    await assert.rejects(repo.get('packs', 'ab' as ObjectName), isBackupError('BACKUP_OBJECT_NAME_INVALID'));
    assert.deepEqual(await repo.list('packs'), []);
  });

  test("another account's repository sees none of this account's objects", async () => {
    const alice = repoOf(await createDevice(fixture.instance.url, 'owner'));
    const mallory = repoOf(await createDevice(fixture.instance.url, 'stranger'));
    const bytes = new Uint8Array(randomBytes(300));
    await alice.put('index', nameOf(bytes), bytes);
    assert.deepEqual(await mallory.list('index'), []);
    assert.equal(await mallory.exists('index', nameOf(bytes)), false);
    await mallory.delete('index', nameOf(bytes));
    assert.equal(await alice.exists('index', nameOf(bytes)), true);
  });

  test('retries a request that got no answer or a 503, and gives up with NOT_READY', async () => {
    const device = await createDevice(fixture.instance.url, 'flaky');
    let failures = 2;
    const seen: string[] = [];
    const flaky: FetchLike = async (url, init) => {
      seen.push(`${init.method ?? 'GET'} ${new URL(url).pathname}`);
      if (url.includes('/v1/blobs') && failures > 0) {
        failures--;
        if (failures === 1) throw new TypeError('fetch failed');
        return new Response('bad gateway', { status: 503 });
      }
      return fetch(url, init);
    };
    const waits: number[] = [];
    const repo = new HttpRepository({
      serverUrl: fixture.instance.url,
      username: device.username,
      deviceSeed: device.deviceSeed,
      crypto,
      fetch: flaky,
      sleep: async (ms) => void waits.push(ms),
      random: () => 0.5,
    });
    const bytes = new Uint8Array(randomBytes(1000));
    await repo.put('packs', nameOf(bytes), bytes);
    assert.equal(waits.length, 2);
    assert.deepEqual(waits, [125, 250]); // full jitter at 0.5 of 250 ms, then of 500 ms
    assert.equal(seen.filter((s) => s.startsWith('PUT')).length, 3);
    assert.deepEqual(await repo.get('packs', nameOf(bytes)), bytes);

    const down = repoOf(device, {
      attempts: 3,
      fetch: async (url, init) =>
        url.includes('/v1/blobs') ? Promise.reject(new TypeError('fetch failed')) : fetch(url, init),
    });
    await assert.rejects(down.list('packs'), isError('NOT_READY'));
  });

  test('does not retry a refusal: a device the server does not know is AUTH_SIGNATURE_INVALID', async () => {
    const device = await createDevice(fixture.instance.url, 'known');
    let requests = 0;
    const repo = new HttpRepository({
      serverUrl: fixture.instance.url,
      username: device.username,
      deviceSeed: new Uint8Array(randomBytes(32)),
      crypto,
      fetch: (url, init) => {
        if (url.includes('/v1/blobs')) requests++;
        return fetch(url, init);
      },
    });
    await assert.rejects(repo.list('keys'), isError('AUTH_SIGNATURE_INVALID'));
    assert.equal(requests, 1);
  });
});

describe('backup into the server', () => {
  test('init, backup twice, snapshots, restore byte for byte, check --read-data', async () => {
    const device = await createDevice(fixture.instance.url, 'backer');
    const source = join(fixture.work, 'source');
    const canary = `canary-${randomBytes(8).toString('hex')}`;
    await makeTree(source, 3, canary);
    const repo = repoOf(device);
    await initRepository(repo, deps, PASSPHRASE, TEST_ARGON2);
    await assert.rejects(
      initRepository(repo, deps, PASSPHRASE, TEST_ARGON2),
      isBackupError('BACKUP_REPOSITORY_EXISTS'),
    );

    const session = await openRepository(repo, deps, PASSPHRASE);
    try {
      const first = await backup(session, source, { hostname: 'laptop' });
      assert.ok(first.packs >= 1);
      const second = await backup(session, source, { hostname: 'laptop' });
      assert.equal(second.packs, 0, 'an unchanged tree adds no pack');
      const snapshots = await listSnapshots(session);
      assert.deepEqual(
        snapshots.map((s) => s.id),
        [first.snapshotId, second.snapshotId],
      );

      const target = join(fixture.work, 'restored');
      await restore(session, first.snapshotId, target);
      await assertSameTree(source, target);

      const report = await check(session, { readData: true });
      assert.equal(report.ok, true, JSON.stringify(report.problems));
      assert.equal(report.packsRead, report.packs);
    } finally {
      session.close();
    }

    // What the server holds: the four kinds, and neither a file name nor file contents.
    const account = (await fixture.store.disclose(parseUsername(device.username)))!;
    const rows = account['blobs']!;
    assert.deepEqual(new Set(rows.map((r) => r['kind'])), new Set([1, 2, 3, 4]));
    const haystack = Buffer.concat(rows.map((r) => Buffer.from(r['bytes'] as Uint8Array)));
    assert.equal(haystack.includes(canary), false);
    assert.equal(haystack.includes('note 7'), false);
  });
});
