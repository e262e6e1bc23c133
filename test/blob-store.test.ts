/**
 * The backup blob store (`Store.putBlob` and friends) on every store implementation: round trip,
 * idempotent put, a name that is not the bytes' SHA-256 refused, the quota refused with nothing
 * stored, one account's blobs invisible to another, ranged reads. Then the HTTP routes over one
 * store: signed requests, Range, 507, and a signature that does not carry over to another request.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import {
  LIMITS,
  SealpostError,
  blobAccessStatement,
  parseUsername,
  toBase64url,
  usernameSkeleton,
  type ErrorCode,
} from '@sealpost/core';
import { BLOB_AUTH_HEADERS, BLOB_KIND_HEADER } from '../packages/server/src/http/blobs.ts';
import type { StoreOptions } from '../packages/server/src/store/options.ts';
import type { Store } from '../packages/server/src/store/store.ts';
import { storeFactories, type StoreFactory } from '../packages/server/src/store/test-databases.ts';
import {
  challenge,
  createDevice,
  crypto,
  startInstance,
  type Instance,
  type TestDevice,
} from './support/harness.ts';

function bytes(n: number): Uint8Array {
  return new Uint8Array(randomBytes(n));
}

function sha256(data: Uint8Array): Uint8Array {
  return new Uint8Array(createHash('sha256').update(data).digest());
}

async function newAccount(store: Store, name: string): Promise<number> {
  const username = parseUsername(name);
  const { account } = await store.createAccount({
    username,
    skeleton: usernameSkeleton(username),
    accountKey: bytes(LIMITS.publicKeyBytes),
    device: { deviceId: bytes(LIMITS.deviceIdBytes), publicKey: bytes(LIMITS.publicKeyBytes) },
    day: 20_500,
  });
  return account.id;
}

function rejectsWith(code: ErrorCode) {
  return (e: unknown) => e instanceof SealpostError && e.code === code;
}

async function withStore(
  factory: StoreFactory,
  fn: (store: Store) => Promise<void>,
  opts?: StoreOptions,
): Promise<void> {
  const { store, cleanup } = await factory.open(opts);
  try {
    await fn(store);
  } finally {
    await cleanup();
  }
}

for (const factory of storeFactories) {
  describe(`blob store (${factory.name})`, () => {
    test('a stored blob reads back whole, and is listed with its size', () =>
      withStore(factory, async (store) => {
        const alice = await newAccount(store, 'alice');
        const blob = bytes(1000);
        assert.deepEqual(await store.putBlob(alice, sha256(blob), blob), { stored: true });
        const got = await store.getBlob(alice, sha256(blob));
        assert.equal(got?.size, 1000);
        assert.deepEqual(new Uint8Array(got!.bytes), blob);
        const listed = await store.listBlobs(alice);
        assert.deepEqual(
          listed.map((b) => ({ name: new Uint8Array(b.name), size: b.size, kind: b.kind })),
          [{ name: sha256(blob), size: 1000, kind: 0 }],
        );
        assert.equal(await store.deleteBlob(alice, sha256(blob)), true);
        assert.equal(await store.getBlob(alice, sha256(blob)), undefined);
        assert.equal(await store.deleteBlob(alice, sha256(blob)), false);
      }));

    test('putting a blob again stores nothing new', () =>
      withStore(factory, async (store) => {
        const alice = await newAccount(store, 'alice');
        const blob = bytes(100);
        await store.putBlob(alice, sha256(blob), blob);
        assert.deepEqual(await store.putBlob(alice, sha256(blob), blob), { stored: false });
        assert.equal((await store.listBlobs(alice)).length, 1);
      }));

    test('a blob keeps the kind it was first put with, and a listing can ask for one kind', () =>
      withStore(factory, async (store) => {
        const alice = await newAccount(store, 'alice');
        const [a, b, c] = [bytes(10), bytes(20), bytes(30)];
        await store.putBlob(alice, sha256(a), a, 2);
        await store.putBlob(alice, sha256(b), b, 3);
        await store.putBlob(alice, sha256(c), c, 2);
        assert.deepEqual(await store.putBlob(alice, sha256(a), a, 3), { stored: false });
        const kinds = async (kind?: number) =>
          (await store.listBlobs(alice, kind)).map((x) => `${Buffer.from(x.name).toString('hex')}:${x.kind}`);
        const hex = (x: Uint8Array) => Buffer.from(sha256(x)).toString('hex');
        assert.deepEqual(await kinds(2), [`${hex(a)}:2`, `${hex(c)}:2`].sort());
        assert.deepEqual(await kinds(3), [`${hex(b)}:3`]);
        assert.deepEqual(await kinds(0), []);
        assert.equal((await kinds()).length, 3);
        for (const bad of [-1, 256, 1.5]) {
          await assert.rejects(store.putBlob(alice, sha256(a), a, bad), rejectsWith('VALIDATION_FAILED'));
          await assert.rejects(store.listBlobs(alice, bad), rejectsWith('VALIDATION_FAILED'));
        }
      }));

    test('a name that is not the SHA-256 of the bytes is refused, nothing stored', () =>
      withStore(factory, async (store) => {
        const alice = await newAccount(store, 'alice');
        const blob = bytes(100);
        const wrong = sha256(blob);
        wrong[0]! ^= 1;
        await assert.rejects(store.putBlob(alice, wrong, blob), rejectsWith('CRYPTO_VERIFICATION_FAILED'));
        await assert.rejects(
          store.putBlob(alice, sha256(blob).slice(1), blob),
          rejectsWith('VALIDATION_FAILED'),
        );
        assert.deepEqual(await store.listBlobs(alice), []);
      }));

    test('a put past the quota is refused (507), nothing stored; a repeat put still succeeds', () =>
      withStore(
        factory,
        async (store) => {
          const alice = await newAccount(store, 'alice');
          const bob = await newAccount(store, 'bob');
          const first = bytes(600);
          const second = bytes(500);
          await store.putBlob(alice, sha256(first), first);
          await assert.rejects(store.putBlob(alice, sha256(second), second), (e: unknown) => {
            assert.ok(e instanceof SealpostError);
            assert.equal(e.code, 'QUOTA_EXCEEDED');
            assert.equal(e.status, 507);
            assert.equal(e.details.store, 'blobs');
            return true;
          });
          assert.equal(await store.getBlob(alice, sha256(second)), undefined);
          assert.deepEqual(await store.putBlob(alice, sha256(first), first), { stored: false });
          // The quota is per account.
          assert.deepEqual(await store.putBlob(bob, sha256(second), second), { stored: true });
        },
        { blobQuotaBytes: 1000 },
      ));

    test('a blob larger than blobMaxBytes is refused', () =>
      withStore(
        factory,
        async (store) => {
          const alice = await newAccount(store, 'alice');
          const blob = bytes(65);
          await assert.rejects(store.putBlob(alice, sha256(blob), blob), rejectsWith('BODY_TOO_LARGE'));
        },
        { blobMaxBytes: 64 },
      ));

    test('another account can neither read, list nor delete the blob', () =>
      withStore(factory, async (store) => {
        const alice = await newAccount(store, 'alice');
        const mallory = await newAccount(store, 'mallory');
        const blob = bytes(100);
        await store.putBlob(alice, sha256(blob), blob);
        assert.equal(await store.getBlob(mallory, sha256(blob)), undefined);
        assert.equal(await store.getBlob(mallory, sha256(blob), { offset: 0, length: 10 }), undefined);
        assert.deepEqual(await store.listBlobs(mallory), []);
        assert.equal(await store.deleteBlob(mallory, sha256(blob)), false);
        assert.equal((await store.getBlob(alice, sha256(blob)))?.size, 100);
      }));

    test('a ranged get returns exactly those bytes, cut at the end', () =>
      withStore(factory, async (store) => {
        const alice = await newAccount(store, 'alice');
        const blob = bytes(1000);
        await store.putBlob(alice, sha256(blob), blob);
        const cases = [
          { offset: 0, length: 1, want: blob.subarray(0, 1) },
          { offset: 10, length: 90, want: blob.subarray(10, 100) },
          { offset: 999, length: 1, want: blob.subarray(999) },
          { offset: 990, length: 100, want: blob.subarray(990) },
          { offset: 1000, length: 10, want: new Uint8Array(0) },
          { offset: 5, length: 0, want: new Uint8Array(0) },
        ];
        for (const c of cases) {
          const got = await store.getBlob(alice, sha256(blob), { offset: c.offset, length: c.length });
          assert.equal(got?.size, 1000);
          assert.deepEqual(new Uint8Array(got!.bytes), c.want, `range ${c.offset}+${c.length}`);
        }
        await assert.rejects(
          store.getBlob(alice, sha256(blob), { offset: -1, length: 1 }),
          rejectsWith('VALIDATION_FAILED'),
        );
      }));
  });
}

describe('blob routes', () => {
  let instance: Instance;
  let cleanup: () => Promise<void>;
  before(async () => {
    const opened = await storeFactories[0]!.open({ blobQuotaBytes: 10_000 });
    cleanup = opened.cleanup;
    instance = await startInstance(opened.store);
  });
  after(async () => {
    await instance.close();
    await cleanup();
  });

  const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

  async function signed(
    device: TestDevice,
    method: 'GET' | 'PUT' | 'DELETE',
    name: Uint8Array,
  ): Promise<Record<string, string>> {
    const c = await challenge(instance.url);
    const statement = blobAccessStatement(
      c,
      instance.host,
      parseUsername(device.username),
      device.deviceId,
      method,
      name,
    );
    return {
      [BLOB_AUTH_HEADERS.username]: device.username,
      [BLOB_AUTH_HEADERS.device]: toBase64url(device.deviceId),
      [BLOB_AUTH_HEADERS.challenge]: toBase64url(c),
      [BLOB_AUTH_HEADERS.signature]: toBase64url(crypto.ed25519.sign(device.deviceSeed, statement)),
    };
  }

  async function put(device: TestDevice, blob: Uint8Array, name = sha256(blob)) {
    return fetch(`${instance.url}/v1/blobs/${hex(name)}`, {
      method: 'PUT',
      headers: { ...(await signed(device, 'PUT', name)), 'content-type': 'application/octet-stream' },
      body: Buffer.from(blob),
    });
  }

  test('should store, read, range-read, list and delete a blob for its account only', async () => {
    const alice = await createDevice(instance.url, 'alicehttp');
    const mallory = await createDevice(instance.url, 'malloryhttp');
    const blob = bytes(3000);
    const name = sha256(blob);
    assert.equal((await put(alice, blob)).status, 201);
    assert.equal((await put(alice, blob)).status, 200);

    const whole = await fetch(`${instance.url}/v1/blobs/${hex(name)}`, {
      headers: await signed(alice, 'GET', name),
    });
    assert.equal(whole.status, 200);
    assert.deepEqual(new Uint8Array(await whole.arrayBuffer()), blob);

    const part = await fetch(`${instance.url}/v1/blobs/${hex(name)}`, {
      headers: { ...(await signed(alice, 'GET', name)), range: 'bytes=100-199' },
    });
    assert.equal(part.status, 206);
    assert.equal(part.headers.get('content-range'), 'bytes 100-199/3000');
    assert.deepEqual(new Uint8Array(await part.arrayBuffer()), blob.subarray(100, 200));

    const past = await fetch(`${instance.url}/v1/blobs/${hex(name)}`, {
      headers: { ...(await signed(alice, 'GET', name)), range: 'bytes=3000-' },
    });
    assert.equal(past.status, 416);
    assert.equal(past.headers.get('content-range'), 'bytes */3000');

    const theirs = await fetch(`${instance.url}/v1/blobs/${hex(name)}`, {
      headers: await signed(mallory, 'GET', name),
    });
    assert.equal(theirs.status, 404);
    const theirDelete = await fetch(`${instance.url}/v1/blobs/${hex(name)}`, {
      method: 'DELETE',
      headers: await signed(mallory, 'DELETE', name),
    });
    assert.deepEqual(await theirDelete.json(), { deleted: false });

    const list = await fetch(`${instance.url}/v1/blobs`, {
      headers: await signed(alice, 'GET', new Uint8Array(0)),
    });
    assert.deepEqual(await list.json(), { blobs: [{ name: hex(name), size: 3000, kind: 0 }] });

    const del = await fetch(`${instance.url}/v1/blobs/${hex(name)}`, {
      method: 'DELETE',
      headers: await signed(alice, 'DELETE', name),
    });
    assert.deepEqual(await del.json(), { deleted: true });
  });

  test('should store the kind header and list one kind on ?kind=', async () => {
    const carol = await createDevice(instance.url, 'carolhttp');
    const [a, b] = [bytes(40), bytes(50)];
    const putKind = async (blob: Uint8Array, kind: string) =>
      fetch(`${instance.url}/v1/blobs/${hex(sha256(blob))}`, {
        method: 'PUT',
        headers: {
          ...(await signed(carol, 'PUT', sha256(blob))),
          'content-type': 'application/octet-stream',
          [BLOB_KIND_HEADER]: kind,
        },
        body: Buffer.from(blob),
      });
    assert.equal((await putKind(a, '2')).status, 201);
    assert.equal((await putKind(b, '4')).status, 201);
    for (const bad of ['256', '-1', 'x', '1e2']) {
      const res = await putKind(bytes(5), bad);
      assert.equal(res.status, 400, bad);
      assert.equal(((await res.json()) as { code: string }).code, 'VALIDATION_FAILED');
    }
    const list = async (query: string) =>
      fetch(`${instance.url}/v1/blobs${query}`, { headers: await signed(carol, 'GET', new Uint8Array(0)) });
    assert.deepEqual(await (await list('?kind=4')).json(), {
      blobs: [{ name: hex(sha256(b)), size: 50, kind: 4 }],
    });
    assert.equal(((await (await list('')).json()) as { blobs: unknown[] }).blobs.length, 2);
    assert.equal((await list('?kind=300')).status, 400);
  });

  test('should refuse a wrong name, a quota overrun (507), and a signature made for another request', async () => {
    const bob = await createDevice(instance.url, 'bobhttp');
    const blob = bytes(100);
    const wrong = sha256(bytes(1));
    const mismatch = await put(bob, blob, wrong);
    assert.equal(mismatch.status, 400);
    assert.equal(((await mismatch.json()) as { code: string }).code, 'CRYPTO_VERIFICATION_FAILED');

    const big = bytes(10_001);
    assert.equal((await put(bob, big)).status, 507);

    // Signed for GET, sent as DELETE: refused, and the blob stays.
    assert.equal((await put(bob, blob)).status, 201);
    const replayed = await fetch(`${instance.url}/v1/blobs/${hex(sha256(blob))}`, {
      method: 'DELETE',
      headers: await signed(bob, 'GET', sha256(blob)),
    });
    assert.equal(replayed.status, 401);
    const unsigned = await fetch(`${instance.url}/v1/blobs`);
    assert.equal(unsigned.status, 401);
  });
});
