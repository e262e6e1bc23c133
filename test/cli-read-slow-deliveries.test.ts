/**
 * `sealpost read` against a server whose deliveries are slow: every read of a mailbox waits
 * `SLOW_FETCH_MS` in the store (a server far away, a loaded machine). The CLI waits for the
 * server's CAUGHT_UP and the messages before it, not for a pause in deliveries, so it prints every
 * waiting message however long they take to come. (With the former 600 ms idle guess, this `read`
 * printed nothing: the first delivery came after it gave up.)
 */
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { SqliteStore } from '../packages/server/src/store/sqlite.ts';
import type { Store } from '../packages/server/src/store/store.ts';
import { ok as run } from './support/sealpost-cli.ts';
import { serverFixture } from './support/server-fixture.ts';

/** Longer than the former idle guess (600 ms) with room to spare. */
const SLOW_FETCH_MS = 2_000;

/** `store` with every `fetchMail` held back by SLOW_FETCH_MS while `slow.on`. */
function slowDeliveries(store: Store, slow: { on: boolean }): Store {
  return new Proxy(store, {
    get(target, key) {
      const value: unknown = Reflect.get(target, key, target);
      if (key === 'fetchMail') {
        return async (...args: Parameters<Store['fetchMail']>) => {
          if (slow.on) await new Promise((r) => setTimeout(r, SLOW_FETCH_MS));
          return target.fetchMail(...args);
        };
      }
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
}

const slow = { on: false };
const fixture = serverFixture('sealpost-slow-', async () => {
  const store = SqliteStore.open(':memory:');
  await store.migrate();
  return { store: slowDeliveries(store, slow), cleanup: () => store.close() };
});
const ok = (home: string, args: readonly string[]) => run(fixture.work, home, args);

async function account(name: string): Promise<string> {
  const home = mkdtempSync(join(fixture.work, `${name}-`));
  await ok(home, ['account', 'create', name, '--server', fixture.instance.url]);
  assert.equal(await ok(home, ['read']), '');
  return home;
}

test('read prints every waiting message when the server is slow to deliver them', async () => {
  const alice = await account('alice');
  const bob = await account('bob');
  assert.equal(await ok(alice, ['send', 'bob', 'first']), 'sent to bob\n');
  assert.equal(await ok(alice, ['send', 'bob', 'second']), 'sent to bob\n');

  slow.on = true;
  try {
    assert.equal(
      await ok(bob, ['read']),
      '* you joined a conversation with alice\nalice: first\nalice: second\n',
    );
  } finally {
    slow.on = false;
  }
  assert.equal(await ok(bob, ['read']), '', 'everything was acknowledged');
});
