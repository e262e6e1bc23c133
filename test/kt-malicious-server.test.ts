/**
 * Acceptance: a malicious server is caught (DESIGN.md threat model 2 and 3; docs/witness.md). Real
 * server instances on SQLite, three real witnesses following them over HTTP in this process, and
 * directory clients that trust those witnesses (majority quorum). The server's misbehaviour is
 * played by a tampering transport between it and its clients or witnesses, by the directory's test
 * seam (`queueUncheckedForTest`, reachable from no route), or by rewriting its own database and
 * restarting on it, as a compromised operator would. Every server keeps the three witnesses' keys
 * (config `witnessKeys`). A head published since the witnesses' last poll is accepted on their quorum
 * over an earlier head it provably extends, never over a head of another history, never past the lag.
 */
import assert from 'node:assert/strict';
import { DatabaseSync } from 'node:sqlite';
import { describe, test } from 'node:test';
import { LIMITS, toBase64url, type Username } from '@sealpost/core';
import { decodeConfiguration } from '@sealpost/core/kt/configuration';
import { deviceListHash, signDeviceList } from '@sealpost/core/identity/device-list';
import { type HttpWitness, WitnessHaltedError, WitnessRefusedError } from '@sealpost/witness';
import { DirectoryClient } from '../packages/client/src/directory/directory-client.ts';
import {
  DirectoryTrustError,
  UnexpectedVersionAlert,
} from '../packages/client/src/directory/directory-errors.ts';
import { createDevice, crypto, uniqueName, type Instance, type TestDevice } from './support/harness.ts';
import { chainOf, deviceOf } from './support/device-lists.ts';
import { directoryKeys, ktServers, publish, refusal } from './support/kt-servers.ts';

const MAX_LAG_SECS = 60;
/** Three witnesses, whose keys every server's operator configures. */
const { serverOn, start, witnessOf } = ktServers({ witnesses: 3 });

function clientOf(
  server: Instance,
  trusted: readonly HttpWitness[],
  directoryKey: Uint8Array,
  opts: { now?: () => number; fetch?: (input: string, init: RequestInit) => Promise<Response> } = {},
) {
  return new DirectoryClient({
    crypto,
    serverUrl: server.url,
    directoryKey,
    witnesses: { keys: trusted.map((w) => w.publicKey), maxLagSecs: MAX_LAG_SECS },
    ...opts,
  });
}

async function headKey(server: Instance): Promise<Uint8Array> {
  const head = await server.server.context.directory.head();
  return decodeConfiguration(head.configuration).signaturePublicKey;
}

/**
 * A list for `d`'s username continuing its chain, which `d`'s account key did not sign: the server
 * can only sign with a key of its own (an account-key rotation nobody authorised).
 */
function forgedListFor(d: TestDevice, version: number, previous: Uint8Array, ghost: boolean): Uint8Array {
  const serverSeed = crypto.randomBytes(32);
  const devices = [deviceOf(d.deviceSeed), ...(ghost ? [deviceOf(crypto.randomBytes(32))] : [])].sort(
    (a, b) => Buffer.compare(a.deviceId, b.deviceId),
  );
  return signDeviceList(
    crypto,
    {
      username: d.username as Username,
      version,
      accountKey: crypto.ed25519.publicKey(serverSeed),
      recoveryKey: crypto.ed25519.publicKey(crypto.randomBytes(32)),
      previousHash: deviceListHash(crypto, previous),
      devices,
    },
    serverSeed,
  );
}

/** One honest server with Alice and Bob published, followed and cosigned by three witnesses. */
async function world() {
  const { server, db } = await serverOn();
  const alice = await createDevice(server.url, uniqueName('alice'));
  const bob = await createDevice(server.url, uniqueName('bob'));
  const bobChain = chainOf(bob);
  const bobV0 = bobChain.next();
  await publish(server, chainOf(alice).next());
  await publish(server, bobV0);
  // Where the witnesses find the directory (a test may move it).
  const target = { url: server.url };
  const ws = [
    await witnessOf(0, () => target.url),
    await witnessOf(1, () => target.url),
    await witnessOf(2, () => target.url),
  ];
  for (const w of ws) await w.step();
  return { server, db, alice, bob, bobV0, ws, target, directoryKey: await headKey(server) };
}

describe('a malicious server is caught', () => {
  test("it answers Alice's lookup of Bob with a key Bob never published: Alice refuses it; logged, Bob's device alerts within one epoch", async () => {
    const { server, bob, bobV0, ws, directoryKey } = await world();
    const aliceClient = clientOf(server, ws, directoryKey);
    const honest = await aliceClient.lookup(bob.username);
    assert.equal(honest.version, 0);
    assert.equal(honest.head.witnesses.kind === 'quorum' && honest.head.witnesses.count, 3);

    // Served only to Alice, not logged: a list under a key Bob never had.
    const other = crypto.randomBytes(32);
    const substitute = chainOf(bob).next(other, crypto.ed25519.publicKey(other));
    const tampered = clientOf(server, ws, directoryKey, {
      fetch: async (input, init) => {
        const res = await fetch(input, init);
        if (!new URL(input).pathname.startsWith('/v1/kt/search/')) return res;
        const body = (await res.json()) as Record<string, unknown>;
        return Response.json({ ...body, deviceList: toBase64url(substitute) });
      },
    });
    const e1 = await refusal(tampered.lookup(bob.username));
    assert.equal(e1.code, 'CRYPTO_VERIFICATION_FAILED', 'the commitment the log proved does not open to it');
    assert.equal(tampered.memory.heads.size, 0);

    // Logged as well: the witnesses cannot see values, but Bob's own device monitoring its label can.
    const account = await server.server.context.store.getAccount(bob.username as Username);
    await server.server.context.directory.queueUncheckedForTest(
      account!.id,
      bob.username as Username,
      forgedListFor(bob, 2, bobV0, false),
    );
    await server.server.context.directory.publishNow();
    for (const w of ws) await w.step();
    const bobDevice = clientOf(server, ws, directoryKey);
    const alert = await refusal(bobDevice.monitorOwn(bob.username, new Set([0])));
    assert.ok(alert instanceof UnexpectedVersionAlert, String(alert));
    assert.deepEqual(alert.versions, [1]);
    // And Alice, who accepted Bob's list before, refuses the substitute as its successor.
    const e2 = await refusal(aliceClient.lookup(bob.username));
    assert.match(e2.code, /^IDENTITY_/);
  });

  test("it adds a ghost device to Bob's device list, entered in the log: Bob's devices alert within one epoch", async () => {
    const { server, bob, bobV0, ws, directoryKey } = await world();
    const bobDevice = clientOf(server, ws, directoryKey);
    assert.equal((await bobDevice.monitorOwn(bob.username, new Set([0]))).witnesses.kind, 'quorum');
    const account = await server.server.context.store.getAccount(bob.username as Username);
    await server.server.context.directory.queueUncheckedForTest(
      account!.id,
      bob.username as Username,
      forgedListFor(bob, 2, bobV0, true),
    );
    await server.server.context.directory.publishNow(); // one epoch
    for (const w of ws) await w.step();
    const alert = await refusal(bobDevice.monitorOwn(bob.username, new Set([0])));
    assert.ok(alert instanceof UnexpectedVersionAlert, String(alert));
    assert.deepEqual(alert.versions, [1]);
    assert.equal(alert.code, 'KT_VERSION_MISMATCH');
  });

  test('split view: it shows two clients two different tree heads; no witness quorum signs both, and the client without a quorum refuses', async () => {
    const { server: a } = await serverOn();
    const { server: b } = await serverOn(await directoryKeys(a));
    const onA = await createDevice(a.url, uniqueName('carol'));
    const onB = await createDevice(b.url, uniqueName('carol'));
    await publish(a, chainOf(onA).next());
    await publish(b, chainOf(onB).next()); // the same size, another root, the same signing key
    const directoryKey = await headKey(a);
    assert.deepEqual(await headKey(b), directoryKey);

    let w3Target = a.url;
    const w1 = await witnessOf(0, () => a.url);
    const w2 = await witnessOf(1, () => b.url);
    const w3 = await witnessOf(2, () => w3Target);
    await w1.step();
    await w2.step();
    await w3.step(); // w3 sees view A first ...
    w3Target = b.url; // ... then the server shows it view B
    const e = await refusal(w3.step());
    assert.ok(e instanceof WitnessRefusedError && e.reason === 'split-view', String(e));
    assert.ok(e.evidence !== undefined);

    const trusted = [w1, w2, w3];
    const client1 = clientOf(a, trusted, directoryKey);
    const client2 = clientOf(b, trusted, directoryKey);
    const seen1 = await client1.lookup(onA.username);
    assert.equal(seen1.head.witnesses.kind === 'quorum' && seen1.head.witnesses.count, 2);
    const refused = await refusal(client2.lookup(onB.username));
    assert.ok(refused instanceof DirectoryTrustError && refused.reason === 'witness-quorum', String(refused));
    assert.equal(client2.memory.heads.size, 0);
    // No witness's cosignature is on both heads.
    const keysOn = async (s: Instance) =>
      new Set(
        (await s.server.context.directory.cosignatures.forHead(1)).map((c) =>
          Buffer.from(c.witnessKey).toString('hex'),
        ),
      );
    const [onHeadA, onHeadB] = [await keysOn(a), await keysOn(b)];
    assert.deepEqual(
      [...onHeadA].filter((k) => onHeadB.has(k)),
      [],
    );
  });

  test('it rewrites or drops an earlier epoch: every witness detects it and stops signing, with evidence', async () => {
    const { server, db, ws, target } = await world();
    const extra = await createDevice(server.url, uniqueName('dave'));
    await publish(server, chainOf(extra).next());
    for (const w of ws) assert.equal((await w.step()).treeSize, 3);

    // The operator drops epochs 1 and 2 from its database and restarts on it.
    await server.close();
    const raw = new DatabaseSync(db.location);
    raw.exec(`DELETE FROM kt_values WHERE vrf_output IN (SELECT vrf_output FROM kt_updates WHERE epoch >= 1);
              DELETE FROM kt_updates WHERE epoch >= 1; DELETE FROM kt_epochs WHERE epoch >= 1;
              DELETE FROM kt_cosignatures;`);
    raw.close();
    const restarted = await start(db); // migrating is a no-op on a migrated database
    target.url = restarted.url; // the witnesses follow the same directory at its new address

    // ws[0] polls now: the log shrank (dropped epochs).
    const dropped = await refusal(ws[0]!.step());
    assert.ok(dropped instanceof WitnessRefusedError && dropped.reason === 'rollback', String(dropped));
    // The rewritten log grows past the old size: a different history, caught by the consistency proof.
    for (let i = 0; i < 3; i++) {
      const d = await createDevice(restarted.url, uniqueName('erin'));
      await publish(restarted, chainOf(d).next());
    }
    for (const w of ws.slice(1)) {
      const rewritten = await refusal(w.step());
      assert.ok(rewritten instanceof WitnessRefusedError && rewritten.reason === 'fork', String(rewritten));
      assert.equal(rewritten.evidence!.signed!.treeSize, 3);
      assert.equal(rewritten.evidence!.offending.treeSize, 4);
    }
    for (const w of ws) {
      assert.ok((await refusal(w.step())) instanceof WitnessHaltedError);
    }
    assert.deepEqual(await restarted.server.context.directory.cosignatures.forHead(4), []);
  });

  test('it rolls its log back to an older head and keeps serving it: refused as rollback after the retries, asked atLeast each time, nothing remembered', async () => {
    const { server, db, bob, ws, target, directoryKey } = await world();
    const extra = await createDevice(server.url, uniqueName('dave'));
    await publish(server, chainOf(extra).next());
    for (const w of ws) await w.step();
    const heads: string[] = [];
    // The client keeps one address; the operator restarts the directory behind it.
    const client = clientOf({ url: 'http://directory.test' } as Instance, ws, directoryKey, {
      fetch: (input, init) => {
        const u = new URL(input);
        if (u.pathname === '/v1/kt/head') heads.push(u.search);
        return fetch(target.url + u.pathname + u.search, init);
      },
    });
    const accepted = await client.lookup(bob.username);
    assert.equal(accepted.head.treeSize, 3);

    // The operator drops the newest epoch from its database and restarts on it: an honest instance
    // asked for atLeast=3 replays its store, which no longer holds it, and serves its newest head.
    await server.close();
    const raw = new DatabaseSync(db.location);
    raw.exec(`DELETE FROM kt_values WHERE vrf_output IN (SELECT vrf_output FROM kt_updates WHERE epoch >= 2);
              DELETE FROM kt_updates WHERE epoch >= 2; DELETE FROM kt_epochs WHERE epoch >= 2;
              DELETE FROM kt_cosignatures;`);
    raw.close();
    target.url = (await start(db)).url;
    heads.length = 0;
    const e = await refusal(client.lookup(bob.username));
    assert.ok(e instanceof DirectoryTrustError && e.reason === 'rollback', String(e));
    assert.deepEqual(e.details, { treeSize: 2, accepted: 3, reason: 'rollback' });
    assert.deepEqual(heads, Array(LIMITS.ktHeadAttempts).fill('?atLeast=3'));
    assert.equal(client.memory.heads.get(client.serverUrl)!.treeSize, 3);
  });

  test('it serves a tree head older than the maximum lag: refused', async () => {
    const { server, bob, ws, directoryKey } = await world();
    const fresh = clientOf(server, ws, directoryKey);
    assert.equal((await fresh.lookup(bob.username)).version, 0);
    // The server freezes the head and its cosignatures while time goes on (witnesses would have
    // cosigned newer heads, which it withholds).
    const later = Date.now() + (MAX_LAG_SECS + 30) * 1000;
    const frozen = clientOf(server, ws, directoryKey, { now: () => later });
    const e = await refusal(frozen.lookup(bob.username));
    assert.ok(e instanceof DirectoryTrustError && e.reason === 'witness-quorum', String(e));
    assert.equal(e.details['stale'], 3);
    assert.equal(frozen.memory.heads.size, 0);
  });

  test('a head published after the witnesses last polled is accepted on their quorum over the earlier head it extends', async () => {
    const { server, bob, ws, directoryKey } = await world();
    const dave = await createDevice(server.url, uniqueName('dave'));
    await publish(server, chainOf(dave).next()); // a new epoch; no witness has polled since
    const client = clientOf(server, ws, directoryKey);
    const found = await client.lookup(bob.username);
    assert.equal(found.head.treeSize, 3);
    const w = found.head.witnesses;
    assert.ok(w.kind === 'quorum', JSON.stringify(w));
    assert.equal(w.count, 3);
    assert.equal(w.cosignedTreeSize, 2, 'counted on the earlier head');
  });

  test('it serves its head with a head the witnesses cosigned on another history: refused as cosigned-fork, nothing remembered', async () => {
    const { server: a } = await serverOn();
    const { server: b } = await serverOn(await directoryKeys(a));
    const onA = await createDevice(a.url, uniqueName('frank'));
    await publish(a, chainOf(onA).next());
    const directoryKey = await headKey(a);
    const ws = [
      await witnessOf(0, () => a.url),
      await witnessOf(1, () => a.url),
      await witnessOf(2, () => a.url),
    ];
    for (const w of ws) await w.step(); // they cosign A's head of size 1
    await publish(a, chainOf(await createDevice(a.url, uniqueName('frank'))).next());
    const fromA = (await (await fetch(`${a.url}/v1/kt/head`)).json()) as { cosignedHeads: unknown[] };
    assert.equal(fromA.cosignedHeads.length, 1);

    // B holds another history of the same size under the same keys, and borrows A's cosigned head.
    const onB = await createDevice(b.url, uniqueName('frank'));
    await publish(b, chainOf(onB).next());
    await publish(b, chainOf(await createDevice(b.url, uniqueName('frank'))).next());
    const client = clientOf(b, ws, directoryKey, {
      fetch: async (input, init) => {
        const res = await fetch(input, init);
        if (new URL(input).pathname !== '/v1/kt/head') return res;
        const body = (await res.json()) as Record<string, unknown>;
        return Response.json({ ...body, cosignedHeads: fromA.cosignedHeads });
      },
    });
    const e = await refusal(client.lookup(onB.username));
    assert.ok(e instanceof DirectoryTrustError && e.reason === 'cosigned-fork', String(e));
    assert.equal(client.memory.heads.size, 0);
  });

  test('a quorum only on an earlier head older than the maximum lag is refused', async () => {
    const { server, bob, ws, directoryKey } = await world();
    const dave = await createDevice(server.url, uniqueName('dave'));
    await publish(server, chainOf(dave).next()); // the witnesses never cosign it
    const later = Date.now() + (MAX_LAG_SECS + 30) * 1000;
    const client = clientOf(server, ws, directoryKey, { now: () => later });
    const e = await refusal(client.lookup(bob.username));
    assert.ok(e instanceof DirectoryTrustError && e.reason === 'witness-quorum', String(e));
    assert.equal(e.details['stale'], 3);
    assert.equal(client.memory.heads.size, 0);
  });
});
