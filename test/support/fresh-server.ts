/**
 * A server on a fresh, migrated database of one store factory: started in node:test's `before`
 * and closed, its database dropped, in `after`. The fixture of a describe() run once per store
 * (`for (const factory of storeFactories) describe(...)`); `server` and `db` are read inside tests.
 */
import { after, before } from 'node:test';
import { type FreshDatabase, type StoreFactory } from '../../packages/server/src/store/test-databases.ts';
import { startInstance, type Instance } from './harness.ts';

export interface FreshServer {
  readonly server: Instance;
  readonly db: FreshDatabase;
}

export function freshServer(
  factory: StoreFactory,
  options: Parameters<typeof startInstance>[2] = {},
): FreshServer {
  let db: FreshDatabase | undefined;
  let server: Instance | undefined;
  before(async () => {
    db = await factory.fresh();
    const store = await db.open();
    await store.migrate();
    server = await startInstance(store, undefined, options);
  });
  after(async () => {
    await server?.close();
    await db?.cleanup();
  });
  const started = <T>(value: T | undefined): T => {
    if (value === undefined) throw new Error('freshServer: read inside a test, once before() ran');
    return value;
  };
  return {
    get server() {
      return started(server);
    },
    get db() {
      return started(db);
    },
  };
}
