/**
 * Key-transparency scenarios against real servers: servers on fresh SQLite databases, a fork of
 * one under its directory keys (as the operator holds them), witnesses following them over HTTP in
 * this process; all closed in node:test's `after`. And the steps those scenarios share: publishing
 * a device list into a new epoch, reading the directory's keys, expecting a typed refusal.
 */
import assert from 'node:assert/strict';
import { after } from 'node:test';
import { SealpostError, toBase64url } from '@sealpost/core';
import { HttpWitness } from '@sealpost/witness';
import { storeFactories, type FreshDatabase } from '../../packages/server/src/store/test-databases.ts';
import { crypto, post, startInstance, type Instance } from './harness.ts';

export interface DirectoryKeys {
  readonly signingSeed: Uint8Array;
  readonly vrfSecret: Uint8Array;
}

export interface KtServers {
  /** The public keys of the file's witnesses, in every server's configuration. */
  readonly witnessKeys: readonly Uint8Array[];
  /** A fresh database, cleaned up after the file's tests. */
  database(): Promise<FreshDatabase>;
  /** A server on `db`; with `keys`, the same directory keys as another server (a fork of it). */
  start(db: FreshDatabase, keys?: DirectoryKeys): Promise<Instance>;
  /** `start` on a fresh database. */
  serverOn(keys?: DirectoryKeys): Promise<{ server: Instance; db: FreshDatabase }>;
  /**
   * Witness `i` (0 <= i < witnesses) following `target()`: a function, so a test can move it
   * between servers (every request goes to the current target).
   */
  witnessOf(i: number, target: () => string): Promise<HttpWitness>;
}

/** Registers the cleanup; `witnesses` witness key pairs are made first, so every server has them. */
export function ktServers({ witnesses: count = 0 }: { witnesses?: number } = {}): KtServers {
  const seeds = Array.from({ length: count }, () => crypto.randomBytes(32));
  const witnessKeys = seeds.map((s) => crypto.ed25519.publicKey(s));
  const dbs: FreshDatabase[] = [];
  const instances: Instance[] = [];
  const witnesses: HttpWitness[] = [];
  after(async () => {
    for (const w of witnesses) w.close();
    for (const i of instances) await i.close();
    for (const db of dbs) await db.cleanup();
  });
  const servers: KtServers = {
    witnessKeys,
    async database() {
      const db = await storeFactories[0]!.fresh();
      dbs.push(db);
      return db;
    },
    async start(db, keys) {
      const store = await db.open();
      await store.migrate();
      if (keys !== undefined) await store.ktKeys(keys);
      const server = await startInstance(store, undefined, count === 0 ? {} : { witnessKeys });
      instances.push(server);
      return server;
    },
    async serverOn(keys) {
      const db = await servers.database();
      return { server: await servers.start(db, keys), db };
    },
    async witnessOf(i, target) {
      const first = target();
      const w = await HttpWitness.open({
        crypto,
        serverUrl: first,
        stateDir: undefined,
        seed: seeds[i],
        fetch: (input, init) => fetch(target() + input.slice(first.length), init),
      });
      witnesses.push(w);
      return w;
    },
  };
  return servers;
}

/** The directory's own key pair, read as its operator can (stored keys win over the ones offered). */
export async function directoryKeys(server: Instance): Promise<DirectoryKeys> {
  return server.server.context.store.ktKeys({
    signingSeed: new Uint8Array(32),
    vrfSecret: new Uint8Array(32),
  });
}

/** Posts `list` as a KT update and publishes it in a new epoch. */
export async function publish(server: Instance, list: Uint8Array): Promise<void> {
  const r = await post(`${server.url}/v1/kt/updates`, { deviceList: toBase64url(list) });
  assert.equal(r.status, 202, JSON.stringify(r.body));
  // undefined: the epoch timer published it first (serialised with publishNow: the queue is empty).
  if ((await server.server.context.directory.publishNow()) === undefined)
    assert.equal((await server.server.context.store.ktQueue(1)).length, 0, 'the update was published');
}

/** The typed error `p` rejects with; fails the test if it resolves or throws anything else. */
export async function refusal(p: Promise<unknown>): Promise<SealpostError> {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof SealpostError, `untyped: ${String(e)}`);
    return e;
  }
  assert.fail('expected a refusal');
}
