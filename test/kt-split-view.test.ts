/**
 * Split view inside the lag window (docs/witness.md "The window after an epoch"): the directory
 * copies its database at an epoch the witnesses cosigned and runs a second server on the copy, so
 * both serve the same history up to that head and then diverge, under the same keys. Witnesses
 * follow the first. A client of the second accepts its newer head on the witnesses' cosignatures of
 * the shared head (the window the lag allows), but:
 * - a client that accepted a head from one server refuses the other's head of that size (`fork`),
 *   whichever it saw first;
 * - a witness shown the second history halts with evidence naming both heads the directory signed
 *   (`split-view` at the same size, `fork` past it);
 * - once the lag has passed, the second server's heads get no quorum: the witnesses never cosign them.
 * Real servers on SQLite and three witnesses over HTTP in this process, as in kt-malicious-server.
 */
import assert from 'node:assert/strict';
import { DatabaseSync } from 'node:sqlite';
import { describe, test } from 'node:test';
import { decodeConfiguration } from '@sealpost/core/kt/configuration';
import { verifyTreeHead } from '@sealpost/core/kt/tree-head';
import { type HttpWitness, WitnessRefusedError, type Evidence } from '@sealpost/witness';
import { DirectoryClient } from '../packages/client/src/directory/directory-client.ts';
import { DirectoryTrustError } from '../packages/client/src/directory/directory-errors.ts';
import { createDevice, crypto, uniqueName, type Instance } from './support/harness.ts';
import { chainOf } from './support/device-lists.ts';
import { ktServers, publish, refusal } from './support/kt-servers.ts';

const MAX_LAG_SECS = 60;
// SQLite (ktServers' databases): the copy is one file.
const { database, start, witnessOf } = ktServers({ witnesses: 3 });

async function publishNewUser(server: Instance, prefix: string): Promise<string> {
  const d = await createDevice(server.url, uniqueName(prefix));
  await publish(server, chainOf(d).next());
  return d.username;
}

/** The size and root of the server's newest signed head. */
async function headOf(server: Instance): Promise<{ treeSize: number; root: Uint8Array }> {
  const h = await server.server.context.directory.head();
  return { treeSize: h.treeHead.treeSize, root: h.root };
}

/** A client that talks to `url()` while remembering heads under `home`'s address. */
function clientOf(
  home: Instance,
  directoryKey: Uint8Array,
  url: () => string,
  ws: readonly HttpWitness[],
  now?: () => number,
): DirectoryClient {
  return new DirectoryClient({
    crypto,
    serverUrl: home.url,
    directoryKey,
    witnesses: { keys: ws.map((w) => w.publicKey), maxLagSecs: MAX_LAG_SECS },
    fetch: (input, init) => fetch(url() + input.slice(home.url.length), init),
    ...(now === undefined ? {} : { now }),
  });
}

describe('split view within the lag window', () => {
  test('two servers share a history up to a cosigned head, then diverge: clients refuse the other fork, witnesses shown both halt with evidence', async () => {
    // One directory, two users, three witnesses cosigning its head of size 2.
    const dbA = await database();
    const a = await start(dbA);
    const alice = await publishNewUser(a, 'alice');
    await publishNewUser(a, 'bob');
    const headA2 = await headOf(a);
    const config = decodeConfiguration((await a.server.context.directory.head()).configuration);
    const directoryKey = config.signaturePublicKey;
    const targets = [a.url, a.url, a.url];
    const ws = [0, 1, 2].map((i) => witnessOf(i, () => targets[i]!));
    for (const w of ws) assert.equal((await (await w).step()).treeSize, 2);
    const trusted = await Promise.all(ws);

    // The operator copies the database at that epoch (with the witnesses' cosignatures) and runs a
    // second server on the copy: the same keys, the same history up to size 2.
    const dbB = await database();
    const raw = new DatabaseSync(dbA.location);
    raw.exec(`VACUUM INTO '${dbB.location.replaceAll("'", "''")}'`);
    raw.close();
    const b = await start(dbB);
    assert.deepEqual(await headOf(b), headA2);

    // Both publish an epoch of their own: two heads of size 3, one history each.
    await publishNewUser(a, 'carol');
    await publishNewUser(b, 'mallory');
    for (const w of trusted) assert.equal((await w.step()).treeSize, 3); // the witnesses follow A
    const [headA3, headB3] = [await headOf(a), await headOf(b)];
    assert.equal(headA3.treeSize, 3);
    assert.equal(headB3.treeSize, 3);
    assert.notDeepEqual(headA3.root, headB3.root);

    // Inside the lag each server's head is accepted by a client that saw no other: A's on the
    // witnesses' cosignatures of it, B's on their cosignatures of the shared head it extends.
    const onA = clientOf(a, directoryKey, () => a.url, trusted);
    const seenA = await onA.lookup(alice);
    assert.ok(seenA.head.witnesses.kind === 'quorum' && seenA.head.witnesses.cosignedTreeSize === 3);
    const onB = clientOf(a, directoryKey, () => b.url, trusted);
    const seenB = await onB.lookup(alice);
    assert.equal(seenB.head.treeSize, 3);
    assert.ok(seenB.head.witnesses.kind === 'quorum' && seenB.head.witnesses.cosignedTreeSize === 2);

    // A client that accepted a head from one server is refused the other's head of that size,
    // whichever it saw first.
    for (const [first, second, accepted] of [
      [a, b, headA3],
      [b, a, headB3],
    ] as const) {
      let route = first.url;
      const client = clientOf(a, directoryKey, () => route, trusted);
      await client.lookup(alice);
      route = second.url;
      const fork = await refusal(client.lookup(alice));
      assert.ok(fork instanceof DirectoryTrustError && fork.reason === 'fork', String(fork));
      assert.deepEqual(client.memory.heads.get(client.serverUrl)!.root, accepted.root, 'nothing changed');
    }

    // A witness shown B's head of the same size halts: split view, with both signed heads.
    targets[2] = b.url;
    const split = await refusal(trusted[2]!.step());
    assert.ok(split instanceof WitnessRefusedError && split.reason === 'split-view', String(split));
    checkEvidence(split.evidence!, headA3, headB3);
    // B grows past it: a witness shown it finds no consistency proof from A's head (fork).
    await publishNewUser(b, 'mallory');
    const headB4 = await headOf(b);
    targets[1] = b.url;
    const forked = await refusal(trusted[1]!.step());
    assert.ok(forked instanceof WitnessRefusedError && forked.reason === 'fork', String(forked));
    checkEvidence(forked.evidence!, headA3, headB4);

    // Past the lag, B's heads have no quorum: no witness ever cosigned one of them.
    const later = Date.now() + (MAX_LAG_SECS + 30) * 1000;
    const late = clientOf(
      a,
      directoryKey,
      () => b.url,
      trusted,
      () => later,
    );
    const stale = await refusal(late.lookup(alice));
    assert.ok(stale instanceof DirectoryTrustError && stale.reason === 'witness-quorum', String(stale));

    /** Both heads in the evidence are the directory's own statements: anyone can check them. */
    function checkEvidence(
      e: Evidence,
      signed: { treeSize: number; root: Uint8Array },
      offending: { treeSize: number; root: Uint8Array },
    ): void {
      assert.equal(e.signed!.treeSize, signed.treeSize);
      assert.deepEqual(e.signed!.root, signed.root);
      assert.equal(e.offending.treeSize, offending.treeSize);
      assert.deepEqual(e.offending.root, offending.root);
      for (const h of [e.signed!, e.offending]) {
        verifyTreeHead(crypto, config, { treeSize: h.treeSize, signature: h.signature }, h.root);
      }
    }
  });
});
