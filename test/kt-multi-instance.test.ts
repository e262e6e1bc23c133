/**
 * The key directory on several instances sharing one PostgreSQL database (docs/key-transparency.md
 * "Server"): one publisher, elected by an advisory lock; the others follow the stored log. Updates
 * posted to any instance are published exactly once in one log, every instance serves the same
 * head, and when the publisher closes another takes over while a witness hopping between instances
 * sees one append-only log. A follower that has not replayed the newest epoch yet, asked by a client
 * that the publisher already showed it, replays the store before answering: no false rollback.
 * The queue is durable on every store: updates accepted by a server that
 * was killed (SIGKILL) before their epoch are published by the next one.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import { LIMITS, fromBase64url, toBase64url } from '@sealpost/core';
import { decodeConfiguration } from '@sealpost/core/kt/configuration';
import { decodeSearchProof } from '@sealpost/core/kt/response-codec';
import { verifySearch } from '@sealpost/core/kt/verify-response';
import { HttpWitness } from '@sealpost/witness';
import { DirectoryClient } from '../packages/client/src/directory/directory-client.ts';
import { createServer, type Store } from '@sealpost/server';
import { MemoryBus } from '../packages/server/src/bus/memory.ts';
import { PostgresStore } from '../packages/server/src/store/postgres.ts';
import { SqliteStore } from '../packages/server/src/store/sqlite.ts';
import { createTestPostgres, storeFactories } from '../packages/server/src/store/test-databases.ts';
import { createDevice, crypto, eventually, post, type Instance, uniqueName } from './support/harness.ts';
import { chainOf } from './support/device-lists.ts';

const root = resolve(import.meta.dirname, '..');
const witnessSeed = crypto.randomBytes(32);
const witnessKey = crypto.ed25519.publicKey(witnessSeed);

/** An instance with a 1-second epoch that keeps the test witness's cosignatures. */
async function instance(store: Store, epochSeconds = 1): Promise<Instance> {
  const unlimited = { burst: 1e9, perSec: 1e9 };
  const server = createServer({
    store,
    bus: new MemoryBus(),
    crypto,
    host: '127.0.0.1',
    port: 0,
    adminPort: -1,
    logLevel: 'silent',
    epochSeconds,
    witnessKeys: [witnessKey],
    rates: { device: unlimited, address: unlimited },
  });
  const url = await server.listen();
  return { server, url, host: new URL(url).host, close: () => server.close() };
}

async function get(url: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(url);
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

const submit = (url: string, list: Uint8Array) =>
  post(`${url}/v1/kt/updates`, { deviceList: toBase64url(list) });

describe('key directory on two instances sharing PostgreSQL', () => {
  let db: { url: string; drop(): Promise<void> };
  const stores: PostgresStore[] = [];
  const open = async () => {
    const store = await PostgresStore.connect(db.url);
    stores.push(store);
    return store;
  };
  let a: Instance;
  let b: Instance;

  before(async () => {
    db = await createTestPostgres();
    const [sa, sb] = [await open(), await open()];
    await Promise.all([sa.migrate(), sb.migrate()]);
    a = await instance(sa);
    b = await instance(sb);
  });
  after(async () => {
    await Promise.all([a?.close(), b?.close()]);
    await Promise.all(stores.map((s) => s.close()));
    await db?.drop();
  });

  test('one instance publishes; updates posted to both are published exactly once and both serve the same head', async () => {
    assert.equal(a.server.context.directory.publishing, true);
    assert.equal(b.server.context.directory.publishing, false);
    const users = await Promise.all(
      Array.from({ length: 6 }, (_, i) => createDevice((i % 2 ? b : a).url, uniqueName('user'))),
    );
    const chains = users.map(chainOf);
    // Every user's first list, alternately through each instance, then a second one through the other.
    const posted = await Promise.all(users.map((_, i) => submit((i % 2 ? b : a).url, chains[i]!.next())));
    assert.deepEqual(
      posted.map((r) => [r.status, r.body['version']]),
      users.map(() => [202, 0]),
    );
    for (let i = 0; i < users.length; i++) {
      const r = await submit((i % 2 ? a : b).url, chains[i]!.next());
      assert.deepEqual([r.status, r.body['version']], [202, 1]);
    }
    // Two lists continuing the same version, posted to both instances at once: one becomes
    // version 2, the other no longer continues the chain and is refused.
    const forked = chainOf(users[0]!);
    forked.next();
    forked.next();
    const [x, y] = await Promise.all([submit(a.url, chains[0]!.next()), submit(b.url, forked.next())]);
    assert.deepEqual([x.status, y.status].sort(), [202, 400]);
    assert.equal((x.status === 202 ? x : y).body['version'], 2);
    assert.match(String((x.status === 202 ? y : x).body['code']), /^IDENTITY_/);

    await a.server.context.directory.publishNow();
    assert.equal(await b.server.context.directory.publishNow(), undefined, 'a follower publishes nothing');
    const [queued] = await stores[0]!.ktQueue(1);
    assert.equal(queued, undefined, 'the queue is empty once published');

    const [published] = await inspect(
      db.url,
      'SELECT count(*)::int AS n, count(DISTINCT (account_id, version))::int AS d FROM kt_values',
    );
    assert.deepEqual(published, { n: 13, d: 13 }, 'each accepted version published once');
    await eventually(
      async () => {
        const [ha, hb] = [await get(`${a.url}/v1/kt/head`), await get(`${b.url}/v1/kt/head`)];
        return JSON.stringify(ha.body) === JSON.stringify(hb.body);
      },
      5_000,
      'both instances to serve the same head',
    );

    // Searched on the follower, a user whose lists went through both instances: version 2, verified.
    const head = await get(`${b.url}/v1/kt/head`);
    const config = decodeConfiguration(fromBase64url(head.body['configuration'] as string, 1 << 16));
    const found = await get(`${b.url}/v1/kt/search/${users[0]!.username}`);
    assert.equal(found.status, 200);
    const verified = verifySearch(crypto, config, {
      label: new TextEncoder().encode(users[0]!.username),
      now: Date.now(),
      response: decodeSearchProof(fromBase64url(found.body['proof'] as string, 1 << 20)),
    });
    assert.equal(verified.version, 2);
  });

  test("a client that accepted the publisher's new head is not refused by a follower that has not replayed it yet", async () => {
    const follower = b.server.context.directory;
    const publisher = a.server.context.directory;
    follower.holdFollowingForTest(true);
    try {
      // Sizes as replayed (`updates(-1)` catches up to nothing); once this returns, a poll already
      // queued has run: from here on, the follower stays behind.
      const sizeOf = async (on: Instance) => (await on.server.context.directory.updates(-1)).treeSize;
      const behindBy = async () => (await sizeOf(a)) - (await sizeOf(b));
      await behindBy();
      // A load balancer: every request goes to the instance `route` picks for its path.
      let route = (_path: string): Instance => a;
      const requests: string[] = [];
      const balanced = (input: string, init: RequestInit) => {
        const u = new URL(input);
        const to = route(u.pathname);
        requests.push(`${to === a ? 'a' : 'b'} ${u.pathname}${u.search}`);
        return fetch(to.url + u.pathname + u.search, init);
      };
      const d = await createDevice(a.url, uniqueName('lag'));
      const chain = chainOf(d);
      const publishOnA = async (list = chain.next()) => {
        assert.equal((await submit(a.url, list)).status, 202);
        await publisher.publishNow(); // published now, or by the epoch timer just before
      };

      await publishOnA();
      const directoryKey = decodeConfiguration((await publisher.head()).configuration).signaturePublicKey;
      const client = new DirectoryClient({ crypto, serverUrl: a.url, directoryKey, fetch: balanced });
      const first = await client.lookup(d.username); // from the publisher
      assert.equal(first.version, 0);
      assert.ok((await behindBy()) > 0, 'the follower has not replayed the head the client accepted');
      // Without atLeast: its own, older head (none at all when this test runs alone).
      const stale = await get(`${b.url}/v1/kt/head`);
      assert.ok(stale.status === 404 || Number(stale.body['treeSize']) < first.head.treeSize);

      // Everything from the follower: it catches up on atLeast before answering.
      route = () => b;
      requests.length = 0;
      const again = await client.lookup(d.username);
      assert.equal(again.version, 0);
      assert.ok(again.head.treeSize >= first.head.treeSize);
      assert.deepEqual(requests.slice(0, 1), [`b /v1/kt/head?atLeast=${first.head.treeSize}`]);
      assert.equal(await behindBy(), 0, 'caught up by the request, not by its poll');

      // The head from the publisher, the proof from the follower (behind again): the proof request
      // names the head's size, which the follower catches up to.
      await publishOnA();
      assert.ok((await behindBy()) > 0);
      route = (path) => (path === '/v1/kt/head' ? a : b);
      const second = await client.lookup(d.username);
      assert.equal(second.version, 1);
      await publishOnA();
      assert.ok((await behindBy()) > 0);
      const monitored = await client.monitorOwn(d.username, new Set([0, 1, 2]));
      assert.ok(monitored.treeSize > second.head.treeSize);
      assert.equal(await behindBy(), 0);

      // A server that does not know atLeast (dropped here) and answers from the follower: the client
      // asks again, and the follower has replayed by then (as its poll would have).
      await publishOnA(chainOf(await createDevice(a.url, uniqueName('lag'))).next());
      assert.ok((await behindBy()) > 0);
      let heads = 0;
      const oldServer = new DirectoryClient({
        crypto,
        serverUrl: a.url,
        directoryKey,
        memory: client.memory,
        fetch: async (input, init) => {
          const u = new URL(input);
          u.searchParams.delete('atLeast');
          const res = await fetch(b.url + u.pathname + u.search, init);
          if (u.pathname === '/v1/kt/head' && heads++ === 0) await follower.publishNow(); // replays
          return res;
        },
      });
      const third = await oldServer.lookup(d.username);
      assert.equal(third.version, 2);
      assert.equal(heads, 2, 'one smaller head, then the replayed one');
      assert.ok(heads <= LIMITS.ktHeadAttempts);

      // A size no instance published: answered with the newest head, which such a client refuses.
      const beyond = await get(`${b.url}/v1/kt/head?atLeast=${third.head.treeSize + 1000}`);
      assert.equal(beyond.status, 200);
      assert.equal(beyond.body['treeSize'], third.head.treeSize);
    } finally {
      follower.holdFollowingForTest(false);
    }
  });

  test('a follower whose store does not answer its catch-up in time answers NOT_READY, never its older head', async () => {
    const follower = b.server.context.directory;
    follower.holdFollowingForTest(true);
    const locker = new pg.Client({ connectionString: db.url });
    await locker.connect();
    try {
      await follower.updates(-1); // a poll already queued has run
      const d = await createDevice(a.url, uniqueName('slow'));
      assert.equal((await submit(a.url, chainOf(d).next())).status, 202);
      await a.server.context.directory.publishNow();
      const newest = Number((await get(`${a.url}/v1/kt/head`)).body['treeSize']);
      // The follower's read of kt_epochs waits behind this lock until it is released.
      await locker.query('BEGIN');
      await locker.query('LOCK TABLE kt_epochs IN ACCESS EXCLUSIVE MODE');
      const slow = await get(`${b.url}/v1/kt/head?atLeast=${newest}`);
      assert.deepEqual([slow.status, slow.body['code']], [503, 'NOT_READY']);
      await locker.query('ROLLBACK');
      const caughtUp = await get(`${b.url}/v1/kt/head?atLeast=${newest}`);
      assert.deepEqual([caughtUp.status, caughtUp.body['treeSize']], [200, newest]);
    } finally {
      await locker.end();
      follower.holdFollowingForTest(false);
    }
  });

  test('when the publisher closes, the other takes over; a witness hopping between instances sees one append-only log', async () => {
    let target = a.url;
    const witness = await HttpWitness.open({
      crypto,
      serverUrl: a.url,
      stateDir: undefined,
      seed: witnessSeed,
      fetch: (input, init) => fetch(target + new URL(input).pathname + new URL(input).search, init),
    });
    try {
      const publishOne = async (on: Instance) => {
        const before = Number((await get(`${on.url}/v1/kt/head`)).body['treeSize']);
        const d = await createDevice(on.url, uniqueName('late'));
        assert.equal((await submit(on.url, chainOf(d).next())).status, 202);
        await eventually(
          async () => Number((await get(`${on.url}/v1/kt/head`)).body['treeSize']) > before,
          10_000,
          'the next epoch',
        );
      };
      await publishOne(a);
      const first = await witness.step();
      target = b.url;
      await publishOne(a);
      await eventually(
        async () => (await get(`${b.url}/v1/kt/head`)).body['treeSize'] === first.treeSize + 1,
      );
      assert.equal((await witness.step()).treeSize, first.treeSize + 1);

      await a.close(); // releases the lock: b takes it at its next epoch
      await eventually(() => b.server.context.directory.publishing, 5_000, 'b to take over');
      await publishOne(b);
      await publishOne(b);
      assert.equal((await witness.step()).treeSize, first.treeSize + 3);

      // A third instance joins as a follower of b; the witness follows it on.
      const c = await instance(await open());
      try {
        assert.equal(c.server.context.directory.publishing, false);
        await publishOne(b);
        target = c.url;
        await eventually(
          async () => (await get(`${c.url}/v1/kt/head`)).body['treeSize'] === first.treeSize + 4,
        );
        assert.equal((await witness.step()).treeSize, first.treeSize + 4);
        assert.equal(witness.witness.evidence, undefined);
      } finally {
        await c.close();
      }
    } finally {
      witness.close();
    }
  });
});

async function inspect(url: string, sql: string): Promise<Record<string, unknown>[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query(sql)).rows as Record<string, unknown>[];
  } finally {
    await client.end();
  }
}

/** `sealpost serve` in a child process with a one-hour epoch: nothing it accepts gets published. */
async function serve(env: Record<string, string>): Promise<{ url: string; child: ChildProcess }> {
  const clean: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env))
    if (!k.startsWith('SEALPOST_') && v !== undefined) clean[k] = v;
  const child = spawn(
    join(root, 'node_modules/.bin/node'),
    [join(root, 'packages/cli/src/main.ts'), 'serve'],
    {
      cwd: root,
      env: {
        ...clean,
        SEALPOST_PORT: '0',
        SEALPOST_ADMIN_PORT: '-1',
        SEALPOST_EPOCH_SECONDS: '3600',
        ...env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let out = '';
  const url = await new Promise<string>((resolveUrl, reject) => {
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /listening on (http:\/\/[^\s]+)/.exec(out);
      if (m) resolveUrl(m[1]!);
    });
    child.once('exit', (code) => reject(new Error(`sealpost serve exited with ${code}: ${out}`)));
  });
  return { url, child };
}

for (const factory of storeFactories.filter((f) => f.name !== 'sqlite-thread')) {
  test(`${factory.name}: updates accepted by a server killed before their epoch are published by the next one`, async () => {
    const scratch = await mkdtemp(join(tmpdir(), 'sealpost-kt-queue-'));
    const pgdb = factory.kind === 'postgres' ? await createTestPostgres() : undefined;
    const env: Record<string, string> =
      pgdb === undefined
        ? { SEALPOST_STORE: 'sqlite', SEALPOST_DATA_DIR: scratch }
        : { SEALPOST_STORE: 'postgres', SEALPOST_DATABASE_URL: pgdb.url };
    let store: Store | undefined;
    let next: Instance | undefined;
    try {
      const { url, child } = await serve(env);
      const users = [];
      try {
        for (let i = 0; i < 3; i++) {
          const d = await createDevice(url, uniqueName('queued'));
          assert.equal((await submit(url, chainOf(d).next())).status, 202);
          users.push(d);
        }
      } finally {
        const exited = new Promise((r) => child.once('exit', r));
        child.kill('SIGKILL');
        await exited;
      }
      store =
        pgdb === undefined
          ? SqliteStore.open(join(scratch, 'sealpost.db'))
          : await PostgresStore.connect(pgdb.url);
      assert.equal((await store.ktQueue(10)).length, 3, 'the killed server stored what it accepted');
      next = await instance(store, 3600);
      assert.equal(await next.server.context.directory.publishNow(), 0);
      for (const d of users) {
        const found = await get(`${next.url}/v1/kt/search/${d.username}`);
        assert.equal(found.status, 200);
        assert.equal(found.body['version'], 0);
      }
      assert.deepEqual(await store.ktQueue(10), []);
    } finally {
      await next?.close();
      await store?.close();
      await pgdb?.drop();
      await rm(scratch, { recursive: true, force: true });
    }
  });
}
