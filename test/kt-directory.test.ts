/**
 * The server's key-transparency directory (docs/key-transparency.md "Server") on every store:
 * signed device lists in, epochs out, search and owner-monitoring proofs checked with core's
 * client-side verification, the trees rebuilt from the stored log on restart, a witness feed
 * without usernames, accepted updates held in the store's queue until their epoch, and a list not
 * signed by the account key refused typed with nothing stored.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { fromBase64url, toBase64url, toHex, type Username } from '@sealpost/core';
import { verifyCommitment } from '@sealpost/core/kt/commitment';
import { decodeConfiguration } from '@sealpost/core/kt/configuration';
import { decodeOwnerMonitorProof, decodeSearchProof } from '@sealpost/core/kt/response-codec';
import { verifyOwnerMonitor, verifySearch } from '@sealpost/core/kt/verify-response';
import { searchKeyFromProof } from '@sealpost/core/kt/vrf-input';
import { storeFactories } from '../packages/server/src/store/test-databases.ts';
import { createDevice, crypto, post, startInstance, uniqueName } from './support/harness.ts';
import { chainOf } from './support/device-lists.ts';
import { freshServer } from './support/fresh-server.ts';

const b = (s: unknown): Uint8Array => fromBase64url(s as string, 1 << 20);
const utf8 = (s: string) => new TextEncoder().encode(s);
const range = (last: number) => Array.from({ length: last + 1 }, (_, i) => i);

async function get(url: string): Promise<{ status: number; body: Record<string, unknown>; text: string }> {
  const res = await fetch(url);
  const text = await res.text();
  return { status: res.status, body: JSON.parse(text) as Record<string, unknown>, text };
}

for (const factory of storeFactories) {
  describe(`key directory (${factory.name})`, () => {
    const fixture = freshServer(factory, { epochSeconds: 3600 });

    test('publishes an epoch; search and owner monitoring verify with core; restart rebuilds the same head', async () => {
      const alice = await createDevice(fixture.server.url, uniqueName('alice'));
      const bob = await createDevice(fixture.server.url, uniqueName('bob'));
      const aliceChain = chainOf(alice);
      const bobChain = chainOf(bob);
      for (const list of [aliceChain.next(), bobChain.next(), aliceChain.next()]) {
        const r = await post(`${fixture.server.url}/v1/kt/updates`, {
          deviceList: Buffer.from(list).toString('base64url'),
        });
        assert.equal(r.status, 202, JSON.stringify(r.body));
      }
      assert.equal(await fixture.server.server.context.directory.publishNow(), 0);
      const last = aliceChain.next();
      await post(`${fixture.server.url}/v1/kt/updates`, {
        deviceList: Buffer.from(last).toString('base64url'),
      });
      assert.equal(await fixture.server.server.context.directory.publishNow(), 1);

      const head = await get(`${fixture.server.url}/v1/kt/head`);
      assert.equal(head.status, 200);
      assert.equal(head.body['treeSize'], 2);
      const config = decodeConfiguration(b(head.body['configuration']));

      const found = await get(`${fixture.server.url}/v1/kt/search/${alice.username}`);
      assert.equal(found.status, 200, found.text);
      const label = utf8(alice.username);
      const verified = verifySearch(crypto, config, {
        label,
        now: Date.now(),
        response: decodeSearchProof(b(found.body['proof'])),
      });
      assert.equal(verified.version, 2);
      verifyCommitment(
        crypto,
        {
          opening: b(found.body['opening']),
          label,
          version: 2,
          update: { value: b(found.body['deviceList']) },
        },
        config.mode,
        verified.commitment,
      );
      assert.deepEqual(b(found.body['deviceList']), last);

      const monitored = await get(`${fixture.server.url}/v1/kt/monitor/${alice.username}`);
      assert.equal(monitored.status, 200, monitored.text);
      const response = decodeOwnerMonitorProof(b(monitored.body['proof']));
      const positions = monitored.body['positions'] as number[];
      assert.deepEqual(positions, [0, 0, 1]);
      const own = (v: number) => {
        const l = response.lookups.find((x) => x.version === v);
        assert.ok(l?.commitment, `lookup of version ${v}`);
        const vrfOutput = searchKeyFromProof(config.vrfPublicKey, label, v, l.vrfProof);
        return { vrfOutput, commitment: l.commitment };
      };
      // The owner's own keys here come from the server's lookups: the test checks the proof's shape.
      try {
        verifyOwnerMonitor(crypto, config, { label, positions, own, now: Date.now(), response });
      } catch (e) {
        assert.fail(`owner monitoring does not verify: ${String(e)}`);
      }

      // Restart: a new instance on the same database rebuilds the same signed head.
      const again = await startInstance(await fixture.db.open(), undefined, { epochSeconds: 3600 });
      try {
        const head2 = await get(`${again.url}/v1/kt/head`);
        assert.deepEqual(head2.body, head.body);
        const found2 = await get(`${again.url}/v1/kt/search/${alice.username}`);
        assert.equal(found2.body['version'], 2);
      } finally {
        await again.close();
      }
    });

    test('the updates feed carries VRF outputs and commitments, never a username', async () => {
      const canary = uniqueName('canary');
      const d = await createDevice(fixture.server.url, canary);
      const r = await post(`${fixture.server.url}/v1/kt/updates`, {
        deviceList: Buffer.from(chainOf(d).next()).toString('base64url'),
      });
      assert.equal(r.status, 202);
      const epoch = await fixture.server.server.context.directory.publishNow();
      assert.ok(epoch !== undefined);
      const feed = await get(`${fixture.server.url}/v1/kt/updates?after=-1`);
      assert.equal(feed.status, 200);
      const entries = feed.body['entries'] as { index: number; added: { vrfOutput: string }[] }[];
      assert.equal(entries.length, epoch + 1);
      assert.equal(entries.at(-1)!.added.length, 1);
      for (const encoding of [canary, Buffer.from(canary).toString('base64url'), toHex(utf8(canary))]) {
        assert.ok(!feed.text.includes(encoding), `the feed holds the username as ${encoding}`);
      }
      const later = await get(`${fixture.server.url}/v1/kt/updates?after=${epoch}`);
      assert.deepEqual(later.body['entries'], []);
    });

    test('an accepted update is stored before the POST answers and the epoch publishing it removes it from the queue', async () => {
      const d = await createDevice(fixture.server.url, uniqueName('durable'));
      const account = (await fixture.server.server.context.store.getAccount(d.username as Username))!;
      // The epoch timer may publish at any moment: a version is in exactly one of the two tables.
      const versions = async (table: 'kt_queue' | 'kt_values') =>
        (
          await fixture.db.inspect(
            `SELECT version FROM ${table} WHERE account_id = ${account.id} ORDER BY version`,
          )
        ).map((r) => Number(r['version']));
      const chain = chainOf(d);
      for (const version of [0, 1]) {
        const r = await post(`${fixture.server.url}/v1/kt/updates`, {
          deviceList: toBase64url(chain.next()),
        });
        assert.deepEqual([r.status, r.body['version']], [202, version]);
        assert.deepEqual(
          [...(await versions('kt_queue')), ...(await versions('kt_values'))].sort(),
          range(version),
        );
      }
      await fixture.server.server.context.directory.publishNow();
      assert.deepEqual(await versions('kt_queue'), []);
      assert.deepEqual(await versions('kt_values'), [0, 1]);
    });

    test('a device list not signed by the account key is refused typed and stores nothing', async () => {
      const d = await createDevice(fixture.server.url, uniqueName('mallory'));
      const before = await fixture.server.server.context.directory.updates(-1);
      // Signed by another key that names itself as the account key: valid on its own, not the account's.
      const other = crypto.randomBytes(32);
      const forged = chainOf(d).next(other, crypto.ed25519.publicKey(other));
      const r = await post(`${fixture.server.url}/v1/kt/updates`, {
        deviceList: Buffer.from(forged).toString('base64url'),
      });
      assert.equal(r.status, 400);
      assert.equal(r.body['code'], 'IDENTITY_SIGNATURE_INVALID');
      // A list whose signature is broken.
      const broken = chainOf(d).next();
      broken[broken.length - 1]! ^= 1;
      const r2 = await post(`${fixture.server.url}/v1/kt/updates`, {
        deviceList: Buffer.from(broken).toString('base64url'),
      });
      assert.equal(r2.status, 400);
      assert.equal(r2.body['code'], 'IDENTITY_SIGNATURE_INVALID');
      assert.equal(await fixture.server.server.context.directory.publishNow(), undefined);
      assert.deepEqual(await fixture.server.server.context.directory.updates(-1), before);
      const found = await get(`${fixture.server.url}/v1/kt/search/${d.username}`);
      assert.equal(found.status, 404);
      assert.equal(found.body['code'], 'KT_VERSION_NOT_FOUND');
      const rows = await fixture.db.inspect('SELECT count(*) AS n FROM kt_values');
      assert.equal(
        Number(rows[0]!['n']),
        before.entries.reduce((n, e) => n + e.added.length, 0),
      );
    });
  });
}
