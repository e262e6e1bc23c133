/**
 * `sealpost verify` with witnesses configured, as a user runs it (a child process with its own home):
 * the head is accepted on a quorum of the configured witnesses (also a head published after their
 * last poll, on their cosignatures of the earlier head it extends), and refused with a non-zero
 * status and the counts when the quorum is not met.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { toBase64url } from '@sealpost/core';
import { decodeConfiguration } from '@sealpost/core/kt/configuration';
import { HttpWitness } from '@sealpost/witness';
import { storeFactories, type FreshDatabase } from '../packages/server/src/store/test-databases.ts';
import { crypto, startInstance, type Instance } from './support/harness.ts';
import { ok, sealpost } from './support/sealpost-cli.ts';

const factory = storeFactories[0]!;
const seeds = [0, 1, 2].map(() => crypto.randomBytes(32));
const witnessKeys = seeds.map((s) => crypto.ed25519.publicKey(s));

describe('sealpost verify with witnesses', () => {
  let db: FreshDatabase;
  let server: Instance;
  let scratch: string;
  const witnesses: HttpWitness[] = [];

  before(async () => {
    db = await factory.fresh();
    const store = await db.open();
    await store.migrate();
    server = await startInstance(store, undefined, { witnessKeys });
    scratch = await mkdtemp(join(tmpdir(), 'sealpost-verify-'));
  });
  after(async () => {
    for (const w of witnesses) w.close();
    await server.close();
    await db.cleanup();
    await rm(scratch, { recursive: true, force: true });
  });

  test('a quorum of the configured witnesses is reported; without one, verify refuses with the counts', async () => {
    const home = join(scratch, 'home');
    const username = `gina${Date.now().toString(36)}`;
    await ok(scratch, home, ['account', 'create', username, '--server', server.url]);
    // `account create` published the account's first device list and waited for its epoch: head 1.
    assert.equal((await server.server.context.directory.head()).treeHead.treeSize, 1);
    for (const seed of seeds) {
      const w = await HttpWitness.open({ crypto, serverUrl: server.url, stateDir: undefined, seed });
      witnesses.push(w);
      await w.step();
    }
    const head = await server.server.context.directory.head();
    const directoryKey = toBase64url(decodeConfiguration(head.configuration).signaturePublicKey);
    const flags = (keys: readonly Uint8Array[]) => [
      '--directory-key',
      directoryKey,
      ...keys.flatMap((k) => ['--witness', toBase64url(k)]),
    ];

    const met = await ok(scratch, home, ['verify', username, ...flags(witnessKeys)]);
    assert.match(met, /witnesses {4}3 of 3 cosigned \(quorum 2\), oldest counted \d+ s ago\n/);

    // A new epoch the witnesses have not polled yet (another account's first list): accepted on
    // their cosignatures of head 1.
    await ok(scratch, join(scratch, 'other-home'), [
      'account',
      'create',
      `${username}b`,
      '--server',
      server.url,
    ]);
    assert.equal((await server.server.context.directory.head()).treeHead.treeSize, 2);
    const behind = await ok(scratch, home, ['verify', username]);
    assert.match(behind, /directory {4}head of 2 entries/);
    assert.match(behind, /3 of 3 cosigned \(quorum 2\).*on head 1 which this head extends/);

    // Trusting one of these witnesses and two that never cosigned: 1 of the 2 needed.
    const strangers = [crypto.randomBytes(32), crypto.randomBytes(32)].map((s) =>
      crypto.ed25519.publicKey(s),
    );
    const refused = await sealpost(scratch, home, [
      'verify',
      username,
      ...flags([witnessKeys[0]!, ...strangers]),
    ]);
    assert.notEqual(refused.status, 0);
    assert.match(
      refused.stderr,
      /CRYPTO_VERIFICATION_FAILED: witness quorum not met for head 2: 1 of 2 required/,
    );
    assert.equal(refused.stdout, '');
  });
});
