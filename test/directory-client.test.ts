/**
 * The directory client (packages/client/src/directory/) against a real server instance: a
 * published user verifies; a proof with one flipped bit, a device list the expected account key did
 * not sign, and a head older than one already accepted are refused with typed errors; owner
 * monitoring raises an alert for a version inserted behind the owner's back.
 *
 * The server itself refuses lists not signed by the account's key at submit (kt-directory.test.ts),
 * so the hostile answers here are made by a transport between client and server, as a compromised
 * server or network would serve them.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { SealpostError, fromBase64url, toBase64url } from '@sealpost/core';
import { decodeConfiguration } from '@sealpost/core/kt/configuration';
import { DirectoryClient } from '../packages/client/src/directory/directory-client.ts';
import {
  DirectoryTrustError,
  UnexpectedVersionAlert,
} from '../packages/client/src/directory/directory-errors.ts';
import { storeFactories, type FreshDatabase } from '../packages/server/src/store/test-databases.ts';
import { createDevice, crypto, post, startInstance, type Instance, uniqueName } from './support/harness.ts';
import { chainOf } from './support/device-lists.ts';

/** A fetch that lets a test rewrite the JSON answers of chosen paths. */
function interposed(rewrite: (path: string, body: Record<string, unknown>) => Record<string, unknown>) {
  return async (input: string, init: RequestInit): Promise<Response> => {
    const res = await fetch(input, init);
    const body = (await res.json()) as Record<string, unknown>;
    const out = rewrite(new URL(input).pathname, body);
    return new Response(JSON.stringify(out), {
      status: res.status,
      headers: { 'content-type': 'application/json' },
    });
  };
}

function flipBit(b64: unknown, bit: number): string {
  const bytes = fromBase64url(b64 as string, 1 << 20);
  bytes[Math.floor(bit / 8) % bytes.length]! ^= 1 << (bit % 8);
  return toBase64url(bytes);
}

async function codeOf(p: Promise<unknown>): Promise<SealpostError> {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof SealpostError, `untyped error: ${String(e)}`);
    return e;
  }
  assert.fail('expected a refusal');
}

const factory = storeFactories[0]!;

describe(`directory client (${factory.name})`, () => {
  let db: FreshDatabase;
  let server: Instance;
  let directoryKey: Uint8Array;

  async function publish(list: Uint8Array): Promise<void> {
    const r = await post(`${server.url}/v1/kt/updates`, { deviceList: toBase64url(list) });
    assert.equal(r.status, 202, JSON.stringify(r.body));
    assert.notEqual(await server.server.context.directory.publishNow(), undefined);
  }

  before(async () => {
    db = await factory.fresh();
    const store = await db.open();
    await store.migrate();
    server = await startInstance(store, undefined, { epochSeconds: 3600 });
    // The directory key is configured out of band; the test reads it from the service itself.
    const seed = await createDevice(server.url, uniqueName('seed'));
    await publish(chainOf(seed).next());
    const head = await server.server.context.directory.head();
    directoryKey = decodeConfiguration(head.configuration).signaturePublicKey;
  });
  after(async () => {
    await server.close();
    await db.cleanup();
  });

  test('a published user verifies; witnesses are reported as none configured', async () => {
    const alice = await createDevice(server.url, uniqueName('alice'));
    const list = chainOf(alice).next();
    await publish(list);
    const client = new DirectoryClient({ crypto, serverUrl: server.url, directoryKey });
    const found = await client.lookup(alice.username, {
      accountKey: crypto.ed25519.publicKey(alice.accountSeed),
    });
    assert.equal(found.version, 0);
    assert.equal(found.list.username, alice.username);
    assert.deepEqual(found.list.devices[0]!.deviceId, alice.deviceId);
    assert.deepEqual(found.head.witnesses, { kind: 'none-configured' });
    assert.ok(found.head.treeSize >= 2);
  });

  test('a head signed by another key than the configured one is refused', async () => {
    const bob = await createDevice(server.url, uniqueName('bob'));
    await publish(chainOf(bob).next());
    const other = crypto.ed25519.publicKey(crypto.randomBytes(32));
    const client = new DirectoryClient({ crypto, serverUrl: server.url, directoryKey: other });
    const e = await codeOf(client.lookup(bob.username));
    assert.ok(e instanceof DirectoryTrustError && e.reason === 'directory-key', String(e));
  });

  test('one flipped bit in any byte of the search proof is refused typed', async () => {
    const carol = await createDevice(server.url, uniqueName('carol'));
    await publish(chainOf(carol).next());
    const served = fromBase64url(
      ((await (await fetch(`${server.url}/v1/kt/search/${carol.username}`)).json()) as { proof: string })
        .proof,
      1 << 20,
    );
    const length = served.length;
    // One bit in every byte of the whole proof (head, lookups with their VRF proofs and commitments,
    // prefix and log proofs): the search key of a version proved absent comes from its VRF proof too.
    for (let byte = 0; byte < length; byte += 1) {
      const bit = byte * 8 + (byte % 8);
      const client = new DirectoryClient({
        crypto,
        serverUrl: server.url,
        directoryKey,
        fetch: interposed((path, body) =>
          path.startsWith('/v1/kt/search/') ? { ...body, proof: flipBit(body['proof'], bit) } : body,
        ),
      });
      const e = await codeOf(client.lookup(carol.username));
      assert.ok(
        e.kind === 'crypto' || e.kind === 'codec' || e.code.startsWith('KT_'),
        `bit ${bit}: ${e.code} ${e.message}`,
      );
      assert.equal(client.memory.heads.size, 0, 'a refused answer changes nothing');
    }
  });

  test('a device list the expected account key did not sign is refused, and nothing is remembered', async () => {
    const dave = await createDevice(server.url, uniqueName('dave'));
    const chain = chainOf(dave);
    await publish(chain.next());
    // A list signed by a key that names itself as the account key: valid on its own, not dave's.
    const other = crypto.randomBytes(32);
    const forged = chainOf(dave).next(other, crypto.ed25519.publicKey(other));
    const client = new DirectoryClient({
      crypto,
      serverUrl: server.url,
      directoryKey,
      fetch: interposed((path, body) =>
        path.startsWith('/v1/kt/search/') ? { ...body, deviceList: toBase64url(forged) } : body,
      ),
    });
    const e = await codeOf(
      client.lookup(dave.username, { accountKey: crypto.ed25519.publicKey(dave.accountSeed) }),
    );
    assert.equal(e.code, 'IDENTITY_SIGNATURE_INVALID');
    assert.ok(e instanceof DirectoryTrustError && e.reason === 'account-key');
    assert.equal(client.memory.heads.size, 0);
    // Without an expected key, the same forged list still fails the commitment the directory proved.
    const e2 = await codeOf(client.lookup(dave.username));
    assert.equal(e2.code, 'CRYPTO_VERIFICATION_FAILED');
    // A list whose signature is broken.
    const broken = chain.next();
    broken[broken.length - 1]! ^= 1;
    const client3 = new DirectoryClient({
      crypto,
      serverUrl: server.url,
      directoryKey,
      fetch: interposed((path, body) =>
        path.startsWith('/v1/kt/search/') ? { ...body, deviceList: toBase64url(broken) } : body,
      ),
    });
    assert.equal((await codeOf(client3.lookup(dave.username))).code, 'IDENTITY_SIGNATURE_INVALID');
  });

  test('a served head older than one already accepted is refused as a rollback', async () => {
    const erin = await createDevice(server.url, uniqueName('erin'));
    const chain = chainOf(erin);
    await publish(chain.next());
    const recorded = new Map<string, Record<string, unknown>>();
    let replay = false;
    const client = new DirectoryClient({
      crypto,
      serverUrl: server.url,
      directoryKey,
      fetch: interposed((path, body) => {
        if (replay) return recorded.get(path) ?? body;
        recorded.set(path, body);
        return body;
      }),
    });
    const first = await client.lookup(erin.username);
    await publish(chain.next());
    replay = false;
    const client2 = new DirectoryClient({
      crypto,
      serverUrl: server.url,
      directoryKey,
      memory: client.memory,
    });
    const second = await client2.lookup(erin.username);
    assert.equal(second.version, 1);
    assert.ok(second.head.treeSize > first.head.treeSize);
    replay = true; // the server now serves the head and proof of the first lookup
    const e = await codeOf(client.lookup(erin.username));
    assert.ok(e instanceof DirectoryTrustError && e.reason === 'rollback', String(e));
    assert.equal(client.memory.heads.get(client.serverUrl)!.treeSize, second.head.treeSize);
  });

  test('monitorOwn passes for own versions and alerts on a version inserted behind the owner', async () => {
    const frank = await createDevice(server.url, uniqueName('frank'));
    const chain = chainOf(frank);
    await publish(chain.next());
    const client = new DirectoryClient({ crypto, serverUrl: server.url, directoryKey });
    const own = new Set([0]);
    const status = await client.monitorOwn(frank.username, own);
    assert.deepEqual(status.witnesses, { kind: 'none-configured' });
    // Inserted through the server's directory service directly, not by this device.
    await server.server.context.directory.submit(chain.next());
    await server.server.context.directory.publishNow();
    const e = await codeOf(client.monitorOwn(frank.username, own));
    assert.ok(e instanceof UnexpectedVersionAlert, String(e));
    assert.deepEqual(e.versions, [1]);
    assert.equal(e.code, 'KT_VERSION_MISMATCH');
    // Once recorded as its own, the same directory state raises nothing.
    await client.monitorOwn(frank.username, new Set([0, 1]));
  });
});
