/** The witness's SQLite state: a witness that restarts goes on where it stopped, halted or not. */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { nodeCryptoProvider as crypto } from '@sealpost/core/node';
import { SealpostError } from '@sealpost/core';
import { directoryIdOf, verifyCosignature } from './cosignature.ts';
import { SqliteWitnessStore } from './state-sqlite.ts';
import { T0, forgedFeed, honestDirectory, testDirectoryKeys } from './test-directory.ts';
import { Witness, follow } from './witness.ts';
import { WitnessHaltedError } from './witness-errors.ts';

const { config } = testDirectoryKeys(crypto);
const NOW = T0 + 60_000;

function withDir(fn: (path: string) => Promise<void>): () => Promise<void> {
  return async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sealpost-witness-'));
    try {
      await fn(join(dir, 'witness.db'));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  };
}

describe('SqliteWitnessStore', () => {
  test(
    'a restarted witness keeps its key, its head and its prefix tree, and follows on',
    withDir(async (path) => {
      const { feed, publish } = honestDirectory(crypto);
      for (const labels of [['alice', 'bob'], ['carol'], ['alice']]) publish(labels);
      let store = SqliteWitnessStore.open(path, { crypto, config });
      let witness = new Witness({ crypto, config, store });
      const key = witness.publicKey;
      await follow(witness, feed, NOW);
      store.close();
      assert.equal(statSync(path).mode & 0o777, 0o600);

      publish(['dave']);
      publish(['bob', 'erin']);
      store = SqliteWitnessStore.open(path, { crypto, config });
      witness = new Witness({ crypto, config, store });
      assert.deepEqual(witness.publicKey, key);
      assert.equal(witness.head?.treeSize, 3);
      const c = await follow(witness, feed, NOW);
      const head = feed.treeHead();
      assert.ok(verifyCosignature(crypto, { directoryId: directoryIdOf(crypto, config), ...head }, c));
      assert.equal(store.load().leaves.length, 7);
      store.close();
    }),
  );

  test(
    'a halted witness stays halted after a restart, with its evidence',
    withDir(async (path) => {
      const { feed, publish } = honestDirectory(crypto);
      for (const labels of [['alice'], ['bob'], ['carol']]) publish(labels);
      let store = SqliteWitnessStore.open(path, { crypto, config });
      let witness = new Witness({ crypto, config, store });
      await follow(witness, feed, NOW);
      await assert.rejects(follow(witness, forgedFeed(crypto, feed.updates(0, 2)), NOW));
      store.close();

      store = SqliteWitnessStore.open(path, { crypto, config });
      witness = new Witness({ crypto, config, store });
      assert.equal(witness.evidence?.reason, 'rollback');
      assert.equal(witness.evidence?.signed?.treeSize, 3);
      assert.equal(witness.evidence?.offending.treeSize, 2);
      await assert.rejects(follow(witness, feed, NOW), WitnessHaltedError);
      store.close();
    }),
  );

  test(
    'a state file made for another directory is refused (CONFIG_INVALID)',
    withDir(async (path) => {
      SqliteWitnessStore.open(path, { crypto, config }).close();
      const other = { ...config, maxAhead: config.maxAhead + 1 };
      assert.throws(
        () => SqliteWitnessStore.open(path, { crypto, config: other }),
        (e) => e instanceof SealpostError && e.code === 'CONFIG_INVALID',
      );
    }),
  );

  test(
    'a key made by initKey before any directory is the key the first open binds to a directory',
    withDir(async (path) => {
      const key = SqliteWitnessStore.initKey(path, crypto);
      assert.equal(statSync(path).mode & 0o777, 0o600);
      assert.deepEqual(SqliteWitnessStore.initKey(path, crypto), key, 'made once, read again');
      const { feed, publish } = honestDirectory(crypto);
      publish(['alice']);
      const store = SqliteWitnessStore.open(path, { crypto, config });
      const witness = new Witness({ crypto, config, store });
      assert.deepEqual(witness.publicKey, key);
      const c = await follow(witness, feed, NOW);
      assert.deepEqual(c.witnessKey, key);
      store.close();
      // The state now follows that directory; initKey still reads the same key.
      assert.deepEqual(SqliteWitnessStore.initKey(path, crypto), key);
    }),
  );
});
