/**
 * Owner monitoring checks its own versions against what the device first verified
 * (packages/client/src/directory/own-version-records.ts; docs/key-transparency.md "Client"): a
 * lookup with the account key records the version's search key and commitment, and later
 * monitoring replays the directory's proof with them. A directory that swaps the commitment (a
 * forked log under the same keys) or the search key (another VRF key under the same signing key) of
 * an own version is refused, also at an address where the device kept no view; a device without
 * records is shown to accept the same answers. Real servers on SQLite; the forks are servers given
 * the directory's keys, as its operator holds them, and the hostile answers pass through a
 * tampering transport.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { fromBase64url, parseUsername, toBase64url } from '@sealpost/core';
import { decodeConfiguration } from '@sealpost/core/kt/configuration';
import { decodeOwnerMonitorProof, encodeOwnerMonitorProof } from '@sealpost/core/kt/response-codec';
import { DirectoryClient, type DirectoryMemory } from '../packages/client/src/directory/directory-client.ts';
import { DirectoryTrustError } from '../packages/client/src/directory/directory-errors.ts';
import { recordsKeyOf } from '../packages/client/src/directory/own-version-records.ts';
import { createDevice, crypto, uniqueName, type Instance, type TestDevice } from './support/harness.ts';
import { chainOf } from './support/device-lists.ts';
import { directoryKeys, ktServers, publish, refusal, type DirectoryKeys } from './support/kt-servers.ts';

const servers = ktServers();
const serverOn = async (keys?: DirectoryKeys): Promise<Instance> => (await servers.serverOn(keys)).server;

/** A fetch that rewrites the monitoring answer's proof. */
function rewritingMonitor(edit: (proof: Uint8Array) => Uint8Array) {
  return async (input: string, init: RequestInit): Promise<Response> => {
    const res = await fetch(input, init);
    if (!new URL(input).pathname.startsWith('/v1/kt/monitor/')) return res;
    const body = (await res.json()) as Record<string, unknown>;
    const proof = edit(fromBase64url(body['proof'] as string, 1 << 20));
    return Response.json({ ...body, proof: toBase64url(proof) });
  };
}

/** Bob's account on an honest server, his first list published and verified by his own device. */
async function bobOn(server: Instance) {
  const bob = await createDevice(server.url, uniqueName('bob'));
  await publish(server, chainOf(bob).next());
  const head = await server.server.context.directory.head();
  const directoryKey = decodeConfiguration(head.configuration).signaturePublicKey;
  const device = new DirectoryClient({ crypto, serverUrl: server.url, directoryKey });
  await device.lookup(bob.username, { accountKey: crypto.ed25519.publicKey(bob.accountSeed) });
  return { bob, directoryKey, device };
}

/** The same username on `fork`, with a first list of the fork's making (another commitment). */
async function sameNameOn(fork: Instance, bob: TestDevice): Promise<void> {
  const impostor = await createDevice(fork.url, bob.username);
  await publish(fork, chainOf(impostor).next());
}

function clientAt(server: Instance, directoryKey: Uint8Array, memory?: DirectoryMemory) {
  return new DirectoryClient({ crypto, serverUrl: server.url, directoryKey, memory });
}

describe('owner monitoring checks own versions against their first verification', () => {
  test("a lookup with the account key records the version's search key and commitment; monitoring passes with them", async () => {
    const a = await serverOn();
    const { bob, directoryKey, device } = await bobOn(a);
    const records = device.memory.versions.get(recordsKeyOf(directoryKey, parseUsername(bob.username)));
    assert.deepEqual([...(records?.keys() ?? [])], [0]);
    assert.equal(records!.get(0)!.vrfOutput.length, 32);
    assert.equal((await device.monitorOwn(bob.username, new Set([0]))).treeSize, 1);
    // A lookup without the account key (a contact's) records nothing.
    const carol = await createDevice(a.url, uniqueName('carol'));
    await publish(a, chainOf(carol).next());
    await device.lookup(carol.username);
    assert.equal(
      device.memory.versions.has(recordsKeyOf(directoryKey, parseUsername(carol.username))),
      false,
    );
  });

  test('a forked log under the same keys with another commitment for an own version is refused at an address with no view', async () => {
    const a = await serverOn();
    const { bob, directoryKey, device } = await bobOn(a);
    const fork = await serverOn(await directoryKeys(a));
    await sameNameOn(fork, bob);

    // A device of Bob's that recorded nothing accepts the fork: the version number is its own.
    const blank = clientAt(fork, directoryKey);
    assert.equal((await blank.monitorOwn(bob.username, new Set([0]))).treeSize, 1);

    // The device that verified version 0 on the honest log holds no view for this address, but its
    // records are the directory's, not the address's.
    const recorded = clientAt(fork, directoryKey, device.memory);
    const e = await refusal(recorded.monitorOwn(bob.username, new Set([0])));
    assert.ok(e instanceof DirectoryTrustError && e.reason === 'own-version-changed', String(e));
    assert.equal(e.details['version'], 0);
    assert.equal(recorded.memory.heads.has(recorded.serverUrl), false, 'a refused answer changes nothing');
    // The same with the account key: the lookup's commitment is not the recorded one either.
    const e2 = await refusal(
      recorded.lookup(bob.username, { accountKey: crypto.ed25519.publicKey(bob.accountSeed) }),
    );
    assert.equal(e2.code, 'IDENTITY_SIGNATURE_INVALID', 'the fork cannot sign as Bob');
  });

  test('another VRF key under the same directory key gives an own version another search key: refused', async () => {
    const a = await serverOn();
    const { bob, directoryKey, device } = await bobOn(a);
    const { signingSeed } = await directoryKeys(a);
    const fork = await serverOn({ signingSeed, vrfSecret: crypto.randomBytes(32) });
    await sameNameOn(fork, bob);
    const forkHead = await fork.server.context.directory.head();
    assert.deepEqual(decodeConfiguration(forkHead.configuration).signaturePublicKey, directoryKey);

    assert.equal((await clientAt(fork, directoryKey).monitorOwn(bob.username, new Set([0]))).treeSize, 1);
    const e = await refusal(
      clientAt(fork, directoryKey, device.memory).monitorOwn(bob.username, new Set([0])),
    );
    assert.ok(e instanceof DirectoryTrustError && e.reason === 'own-version-changed', String(e));
    assert.match(e.message, /search key/);
  });

  test("a transport that swaps an own version's commitment in the monitoring answer is refused as own-version-changed", async () => {
    const a = await serverOn();
    const { bob, directoryKey, device } = await bobOn(a);
    const swapped = new DirectoryClient({
      crypto,
      serverUrl: a.url,
      directoryKey,
      memory: device.memory,
      fetch: rewritingMonitor((bytes) => {
        const p = decodeOwnerMonitorProof(bytes);
        const lookups = p.lookups.map((l) =>
          l.version === 0 ? { ...l, commitment: crypto.randomBytes(32) } : l,
        );
        return encodeOwnerMonitorProof({ ...p, lookups });
      }),
    });
    const e = await refusal(swapped.monitorOwn(bob.username, new Set([0])));
    assert.ok(e instanceof DirectoryTrustError && e.reason === 'own-version-changed', String(e));
    assert.match(e.message, /commitment/);
  });

  test("an answer without the own versions' lookups verifies from the records (§12.3), and not without them", async () => {
    const a = await serverOn();
    const { bob, directoryKey, device } = await bobOn(a);
    const withoutOwn = rewritingMonitor((bytes) => {
      const p = decodeOwnerMonitorProof(bytes);
      assert.ok(p.lookups.some((l) => l.version === 0));
      return encodeOwnerMonitorProof({ ...p, lookups: p.lookups.filter((l) => l.version !== 0) });
    });
    const recorded = new DirectoryClient({
      crypto,
      serverUrl: a.url,
      directoryKey,
      memory: device.memory,
      fetch: withoutOwn,
    });
    assert.equal((await recorded.monitorOwn(bob.username, new Set([0]))).treeSize, 1);
    const blank = new DirectoryClient({ crypto, serverUrl: a.url, directoryKey, fetch: withoutOwn });
    assert.equal((await refusal(blank.monitorOwn(bob.username, new Set([0])))).code, 'KT_PROOF_MALFORMED');
  });

  test('monitoring records own versions it verifies first, and a later answer that no longer shows one is refused', async () => {
    const a = await serverOn();
    const bob = await createDevice(a.url, uniqueName('bob'));
    const chain = chainOf(bob);
    await publish(a, chain.next());
    await publish(a, chain.next());
    const head = await a.server.context.directory.head();
    const directoryKey = decodeConfiguration(head.configuration).signaturePublicKey;
    const device = clientAt(a, directoryKey);
    await device.monitorOwn(bob.username, new Set([0, 1]));
    const key = recordsKeyOf(directoryKey, parseUsername(bob.username));
    assert.deepEqual([...device.memory.versions.get(key)!.keys()].sort(), [0, 1]);

    const hiding = new DirectoryClient({
      crypto,
      serverUrl: a.url,
      directoryKey,
      memory: device.memory,
      fetch: async (input, init) => {
        const res = await fetch(input, init);
        if (!new URL(input).pathname.startsWith('/v1/kt/monitor/')) return res;
        const body = (await res.json()) as { positions: number[] };
        return Response.json({ ...body, positions: body.positions.slice(0, 1) });
      },
    });
    const e = await refusal(hiding.monitorOwn(bob.username, new Set([0, 1])));
    assert.ok(e instanceof DirectoryTrustError && e.reason === 'own-version-changed', String(e));
    assert.equal(e.details['version'], 1);
  });
});
