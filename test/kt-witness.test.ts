/**
 * Witnesses in the loop (docs/witness.md "Server", "Over HTTP"), on every store: real witnesses
 * follow a real server over HTTP (head with root, entries, consistency proofs), cosign the heads
 * they verified and post the cosignatures, which the server keeps and serves with its head. The
 * server keeps only cosignatures from the witness keys its operator configured, only valid ones of
 * heads it signed, a bounded number per head, the newest per witness; it serves earlier cosigned
 * heads with consistency proofs to the newest; a witness restarted on its state goes on from where
 * it was, with the same key.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fromBase64url, toBase64url } from '@sealpost/core';
import { decodeConfiguration } from '@sealpost/core/kt/configuration';
import { verifyWitnessQuorum } from '@sealpost/core/kt/witness-quorum';
import {
  HttpFeed,
  HttpWitness,
  directoryIdOf,
  signCosignature,
  verifyQuorum,
  type Cosignature,
} from '@sealpost/witness';
import { storeFactories, type FreshDatabase } from '../packages/server/src/store/test-databases.ts';
import { DIRECTORY_LIMITS } from '../packages/server/src/directory/directory-service.ts';
import { decodeHeadAnswer } from '../packages/client/src/directory/head-answer.ts';
import { createDevice, crypto, post, startInstance, type Instance, uniqueName } from './support/harness.ts';
import { chainOf } from './support/device-lists.ts';

const cosignatureBody = (treeSize: number, c: Cosignature) => ({
  treeSize,
  witnessKey: toBase64url(c.witnessKey),
  timestamp: c.timestamp,
  signature: toBase64url(c.signature),
});

for (const factory of storeFactories) {
  describe(`witnesses over HTTP (${factory.name})`, () => {
    let db: FreshDatabase;
    let server: Instance;
    let stateRoot: string;
    // The witnesses this server's operator configured: enough to fill a head's slots and one more.
    const seeds = Array.from({ length: DIRECTORY_LIMITS.cosignaturesPerHead + 8 }, () =>
      crypto.randomBytes(32),
    );
    const configured = seeds.map((s) => crypto.ed25519.publicKey(s));

    async function publishNewUser(): Promise<number> {
      const d = await createDevice(server.url, uniqueName('user'));
      const r = await post(`${server.url}/v1/kt/updates`, { deviceList: toBase64url(chainOf(d).next()) });
      assert.equal(r.status, 202, JSON.stringify(r.body));
      const epoch = await server.server.context.directory.publishNow();
      assert.ok(epoch !== undefined);
      return epoch + 1;
    }

    async function head() {
      return new HttpFeed({ serverUrl: server.url }).servedHead();
    }

    before(async () => {
      db = await factory.fresh();
      const store = await db.open();
      await store.migrate();
      server = await startInstance(store, undefined, { witnessKeys: configured, epochSeconds: 3600 });
      stateRoot = await mkdtemp(join(tmpdir(), 'sealpost-witness-'));
    });
    after(async () => {
      await server.close();
      await db.cleanup();
      await rm(stateRoot, { recursive: true, force: true });
    });

    test('two witnesses follow the log over HTTP and the head is served with both cosignatures', async () => {
      await publishNewUser();
      const w1 = await HttpWitness.open({
        crypto,
        serverUrl: server.url,
        stateDir: join(stateRoot, 'w1'),
        seed: seeds[0],
      });
      const w2 = await HttpWitness.open({
        crypto,
        serverUrl: server.url,
        stateDir: undefined,
        seed: seeds[1],
      });
      try {
        await w1.step();
        await publishNewUser();
        await publishNewUser();
        // w1 goes on from its last head (a consistency proof over HTTP); w2 starts from entry 0.
        const [s1, s2] = [await w1.step(), await w2.step()];
        const served = await head();
        assert.equal(s1.treeSize, served.treeSize);
        assert.equal(s2.treeSize, served.treeSize);
        assert.equal(served.cosignatures.length, 2);
        const result = verifyQuorum(
          crypto,
          {
            directoryId: directoryIdOf(crypto, served.configuration),
            treeSize: served.treeSize,
            root: served.root,
          },
          served.cosignatures,
          [w1.publicKey, w2.publicKey],
          { maxLagSecs: 60, now: Date.now() },
        );
        assert.equal(result.witnesses.length, 2);
      } finally {
        w1.close();
        w2.close();
      }
      // Restarted on its state, w1 keeps its key and follows on.
      const again = await HttpWitness.open({
        crypto,
        serverUrl: server.url,
        stateDir: join(stateRoot, 'w1'),
      });
      try {
        const size = await publishNewUser();
        assert.equal((await again.step()).treeSize, size);
        assert.ok((await head()).cosignatures.some((c) => Buffer.from(c.witnessKey).equals(again.publicKey)));
      } finally {
        again.close();
      }
    });

    test('a cosignature that does not verify, or of a head the server never signed, is refused and not kept', async () => {
      const size = await publishNewUser();
      const served = await head();
      const directoryId = directoryIdOf(crypto, served.configuration);
      const seed = seeds[2]!;
      const good = signCosignature(crypto, seed, { directoryId, treeSize: size, root: served.root }, 1_000);

      const flipped = { ...good, signature: good.signature.slice() };
      flipped.signature[5]! ^= 1;
      const r1 = await post(`${server.url}/v1/kt/cosignatures`, cosignatureBody(size, flipped));
      assert.equal(r1.status, 400);
      assert.equal(r1.body['code'], 'CRYPTO_VERIFICATION_FAILED');

      // Signed over another root for this size: the server checks against the root it signed.
      const otherRoot = signCosignature(
        crypto,
        seed,
        { directoryId, treeSize: size, root: crypto.randomBytes(32) },
        1_000,
      );
      const r2 = await post(`${server.url}/v1/kt/cosignatures`, cosignatureBody(size, otherRoot));
      assert.equal(r2.body['code'], 'CRYPTO_VERIFICATION_FAILED');

      const ahead = signCosignature(
        crypto,
        seed,
        { directoryId, treeSize: size + 1, root: served.root },
        1_000,
      );
      const r3 = await post(`${server.url}/v1/kt/cosignatures`, cosignatureBody(size + 1, ahead));
      assert.equal(r3.status, 400);
      assert.equal(r3.body['code'], 'KT_TREE_SIZE_INVALID');

      const r4 = await post(`${server.url}/v1/kt/cosignatures`, {
        ...cosignatureBody(size, good),
        witnessKey: toBase64url(good.witnessKey.subarray(0, 31)),
      });
      assert.equal(r4.status, 400);
      assert.equal((await head()).cosignatures.length, 0, 'nothing was kept');

      const r5 = await post(`${server.url}/v1/kt/cosignatures`, cosignatureBody(size, good));
      assert.equal(r5.status, 200);
      assert.deepEqual((await head()).cosignatures, [good]);
    });

    test('a head keeps a bounded number of witnesses, and a witness only its newest cosignature', async () => {
      const size = await publishNewUser();
      const served = await head();
      const directoryId = directoryIdOf(crypto, served.configuration);
      const filling = seeds.slice(3, 3 + DIRECTORY_LIMITS.cosignaturesPerHead + 1);
      const at = (seed: Uint8Array, treeSize: number, root: Uint8Array, ts: number) =>
        post(
          `${server.url}/v1/kt/cosignatures`,
          cosignatureBody(treeSize, signCosignature(crypto, seed, { directoryId, treeSize, root }, ts)),
        );
      for (const seed of filling.slice(0, -1))
        assert.equal((await at(seed, size, served.root, 10)).status, 200);
      const over = await at(filling.at(-1)!, size, served.root, 10);
      assert.equal(over.status, 409);
      assert.equal(over.body['code'], 'KT_COSIGNATURES_FULL');
      // A known witness may still refresh its cosignature; an older one does not replace a newer one.
      assert.equal((await at(filling[0]!, size, served.root, 20)).status, 200);
      assert.equal((await at(filling[0]!, size, served.root, 15)).status, 200);
      const kept = (await head()).cosignatures;
      assert.equal(kept.length, DIRECTORY_LIMITS.cosignaturesPerHead);
      const first = crypto.ed25519.publicKey(filling[0]!);
      assert.equal(kept.find((c) => Buffer.from(c.witnessKey).equals(first))!.timestamp, 20);

      // The witness's cosignature of a newer head replaces its cosignature of this one.
      const size2 = await publishNewUser();
      const next = await head();
      assert.equal(next.treeSize, size2);
      assert.equal((await at(filling[0]!, size2, next.root, 30)).status, 200);
      const rows = await db.inspect('SELECT tree_size, witness_key FROM kt_cosignatures');
      assert.deepEqual(
        rows
          .filter((r) => Buffer.from(r['witness_key'] as Uint8Array).equals(first))
          .map((r) => Number(r['tree_size'])),
        [size2],
      );
    });

    test('crowding: valid cosignatures under keys the operator did not configure are refused typed and never fill a head', async () => {
      const size = await publishNewUser();
      const served = await head();
      const directoryId = directoryIdOf(crypto, served.configuration);
      const cosigned = { directoryId, treeSize: size, root: served.root };
      for (let i = 0; i < DIRECTORY_LIMITS.cosignaturesPerHead + 1; i++) {
        const stranger = signCosignature(crypto, crypto.randomBytes(32), cosigned, 10);
        const r = await post(`${server.url}/v1/kt/cosignatures`, cosignatureBody(size, stranger));
        assert.equal(r.status, 403);
        assert.equal(r.body['code'], 'KT_WITNESS_NOT_CONFIGURED');
      }
      assert.deepEqual((await head()).cosignatures, []);
      const real = signCosignature(crypto, seeds.at(-1)!, cosigned, 10);
      assert.equal((await post(`${server.url}/v1/kt/cosignatures`, cosignatureBody(size, real))).status, 200);
      assert.deepEqual((await head()).cosignatures, [real]);
    });

    test('a new head is served with the earlier heads witnesses cosigned and consistency proofs to it', async () => {
      await publishNewUser();
      const w1 = await HttpWitness.open({
        crypto,
        serverUrl: server.url,
        stateDir: undefined,
        seed: seeds[1],
      });
      const w2 = await HttpWitness.open({
        crypto,
        serverUrl: server.url,
        stateDir: undefined,
        seed: seeds[2],
      });
      try {
        const cosigned = (await w1.step()).treeSize;
        await w2.step();
        const newest = await publishNewUser(); // no witness has polled since
        const answer = decodeHeadAnswer(await (await fetch(`${server.url}/v1/kt/head`)).json());
        assert.equal(answer.treeSize, newest);
        assert.deepEqual(answer.cosignatures, []);
        const earlier = answer.earlier.find((e) => e.treeSize === cosigned);
        assert.ok(earlier !== undefined, JSON.stringify(answer.earlier.map((e) => e.treeSize)));
        assert.equal(earlier.cosignatures.length, 2);
        const result = verifyWitnessQuorum(
          crypto,
          {
            directoryId: directoryIdOf(crypto, answer.config),
            newest: { treeSize: answer.treeSize, root: answer.root },
            cosignatures: answer.cosignatures,
            earlier: answer.earlier,
          },
          [w1.publicKey, w2.publicKey],
          { maxLagSecs: 60, now: Date.now() },
        );
        assert.deepEqual(result.witnesses.length, 2);
        assert.equal(result.smallestTreeSize, cosigned);
        assert.ok(answer.earlier.length <= 8);
        assert.ok(answer.earlier.every((e, i) => i === 0 || e.treeSize < answer.earlier[i - 1]!.treeSize));
      } finally {
        w1.close();
        w2.close();
      }
    });

    test('consistency proofs between sizes are served, and impossible sizes refused typed', async () => {
      const size = await publishNewUser();
      const feed = new HttpFeed({ serverUrl: server.url });
      assert.ok((await feed.consistencyProof(1, size)).length > 0);
      for (const q of [`from=0&to=${size}`, `from=${size}&to=1`, `from=1&to=${size + 1}`]) {
        const res = await fetch(`${server.url}/v1/kt/consistency?${q}`);
        assert.equal(res.status, 400, q);
        assert.equal(((await res.json()) as { code: string }).code, 'KT_TREE_SIZE_INVALID');
      }
      const config = decodeConfiguration(
        fromBase64url(
          ((await (await fetch(`${server.url}/v1/kt/head`)).json()) as { configuration: string })
            .configuration,
          4096,
        ),
      );
      assert.equal(config.mode, 'thirdPartyAuditing');
    });
  });
}
