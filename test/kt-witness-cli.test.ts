/**
 * `sealpost witness` as a child process against real servers: it prints its key, cosigns the head
 * and posts the cosignature, which the server keeps once its operator configured the key; when the directory (same keys, a rewritten database) serves a smaller
 * head it keeps the evidence, says so and exits non-zero, and started again it still refuses.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fromBase64urlExact, toBase64url } from '@sealpost/core';
import { HttpFeed } from '@sealpost/witness';
import { storeFactories, type FreshDatabase } from '../packages/server/src/store/test-databases.ts';
import { createDevice, post, startInstance, type Instance, uniqueName } from './support/harness.ts';
import { chainOf } from './support/device-lists.ts';

const root = join(import.meta.dirname, '..');

function sealpost(
  args: readonly string[],
): Promise<{ status: number | null; stdout: string; stderr: string }> {
  const child = spawn(
    join(root, 'node_modules/.bin/node'),
    [join(root, 'packages/cli/src/main.ts'), ...args],
    {
      cwd: root,
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  return new Promise((res) => child.once('close', (status) => res({ status, stdout, stderr })));
}

async function publishNewUser(server: Instance): Promise<void> {
  const d = await createDevice(server.url, uniqueName('user'));
  const r = await post(`${server.url}/v1/kt/updates`, { deviceList: toBase64url(chainOf(d).next()) });
  assert.equal(r.status, 202, JSON.stringify(r.body));
  // undefined: the epoch timer published it first (serialised with publishNow: the queue is empty).
  if ((await server.server.context.directory.publishNow()) === undefined)
    assert.equal((await server.server.context.store.ktQueue(1)).length, 0, 'the update was published');
}

const factory = storeFactories[0]!;

describe('sealpost witness', () => {
  const dbs: FreshDatabase[] = [];
  const servers: Instance[] = [];
  let state: string;

  async function server(keys?: { signingSeed: Uint8Array; vrfSecret: Uint8Array }): Promise<Instance> {
    const db = await factory.fresh();
    dbs.push(db);
    const store = await db.open();
    await store.migrate();
    if (keys !== undefined) await store.ktKeys(keys);
    const s = await startInstance(store);
    servers.push(s);
    return s;
  }

  before(async () => {
    state = await mkdtemp(join(tmpdir(), 'sealpost-witness-cli-'));
  });
  after(async () => {
    for (const s of servers) await s.close();
    for (const db of dbs) await db.cleanup();
    await rm(state, { recursive: true, force: true });
  });

  test('cosigns the head, and halts with evidence and a non-zero status when the log is rolled back', async () => {
    const unconfigured = await server();
    await publishNewUser(unconfigured);
    await publishNewUser(unconfigured);
    // The server keeps no cosignature from a key its operator did not configure: the witness says so.
    const first = await sealpost(['witness', '--server', unconfigured.url, '--state', state, '--once']);
    assert.notEqual(first.status, 0, first.stdout + first.stderr);
    const key = /witness key {2}(\S+)/.exec(first.stdout)?.[1];
    assert.ok(key !== undefined, first.stdout);
    assert.match(
      first.stderr,
      new RegExp(`not kept {5}the server's operator must add ${key} to witnessKeys`),
    );
    assert.match(first.stderr, /KT_WITNESS_NOT_CONFIGURED/);

    // The operator adds the key and restarts on the same database.
    await unconfigured.close();
    const honest = await startInstance(await dbs[0]!.open(), undefined, {
      witnessKeys: [fromBase64urlExact(key, 32, 'key')],
    });
    servers.push(honest);
    const second = await sealpost(['witness', '--server', honest.url, '--state', state, '--once']);
    assert.equal(second.status, 0, second.stderr);
    assert.match(second.stdout, /cosigned {5}head of size 2/);
    const served = await new HttpFeed({ serverUrl: honest.url }).servedHead();
    assert.deepEqual(
      served.cosignatures.map((c) => toBase64url(c.witnessKey)),
      [key],
    );

    // The operator rewrites its database: the same keys, a log of one entry.
    const [row] = await dbs[0]!.inspect('SELECT signing_seed, vrf_secret FROM kt_keys');
    const rewritten = await server({
      signingSeed: new Uint8Array(row!['signing_seed'] as Uint8Array),
      vrfSecret: new Uint8Array(row!['vrf_secret'] as Uint8Array),
    });
    await publishNewUser(rewritten);
    const refused = await sealpost(['witness', '--server', rewritten.url, '--state', state, '--once']);
    assert.equal(refused.status, 1, refused.stdout + refused.stderr);
    assert.match(refused.stderr, /stops for good/);
    assert.match(refused.stderr, /evidence {5}rollback \(KT_TREE_SIZE_INVALID\)/);
    assert.match(refused.stderr, /signed {5}size 2 root [0-9a-f]{64}/);
    assert.match(refused.stderr, /offending {2}size 1 root [0-9a-f]{64}/);
    assert.equal((await new HttpFeed({ serverUrl: rewritten.url }).servedHead()).cosignatures.length, 0);

    // Started again, even against the honest server, it signs nothing.
    const again = await sealpost(['witness', '--server', honest.url, '--state', state, '--once']);
    assert.notEqual(again.status, 0);
    assert.match(again.stderr, /witness halted \(rollback\)/);
    assert.match(again.stderr, /evidence {5}rollback/);
  });

  test('--init makes the key without following, so the operator configures it before the first run', async () => {
    const dir = join(state, 'init');
    const made = await sealpost(['witness', '--init', '--state', dir]);
    assert.equal(made.status, 0, made.stderr);
    const key = /witness key {2}(\S+)/.exec(made.stdout)?.[1];
    assert.ok(key !== undefined, made.stdout);
    assert.doesNotMatch(made.stdout, /following|cosigned/);
    const again = await sealpost(['witness', '--init', '--state', dir]);
    assert.equal(/witness key {2}(\S+)/.exec(again.stdout)?.[1], key, 'the same key, read back');

    // The operator configures the key first; the witness's first run is kept at once.
    const s = await server();
    await publishNewUser(s);
    await s.close();
    const configured = await startInstance(await dbs.at(-1)!.open(), undefined, {
      witnessKeys: [fromBase64urlExact(key, 32, 'key')],
    });
    servers.push(configured);
    const first = await sealpost(['witness', '--server', configured.url, '--state', dir, '--once']);
    assert.equal(first.status, 0, first.stderr);
    assert.match(first.stdout, new RegExp(`witness key {2}${key}`));
    assert.doesNotMatch(first.stderr, /not kept/);
    const served = await new HttpFeed({ serverUrl: configured.url }).servedHead();
    assert.deepEqual(
      served.cosignatures.map((c) => toBase64url(c.witnessKey)),
      [key],
    );

    const neither = await sealpost(['witness', '--state', dir]);
    assert.notEqual(neither.status, 0);
    assert.match(neither.stderr, /--server is required/);
    const both = await sealpost(['witness', '--init', '--server', configured.url, '--state', dir]);
    assert.notEqual(both.status, 0);
  });
});
