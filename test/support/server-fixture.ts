/**
 * The fixture of a file of scenarios on one real server: a migrated store (by default the first
 * store factory's, SQLite), a server on it, and a scratch directory. All are made in node:test's
 * `before` and closed or removed in its `after`, so `instance`, `store` and `work` are read inside
 * tests, not when the file loads.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before } from 'node:test';
import type { Store } from '../../packages/server/src/store/store.ts';
import { storeFactories, type OpenedStore } from '../../packages/server/src/store/test-databases.ts';
import { startInstance, type Instance } from './harness.ts';

export interface ServerFixture {
  readonly instance: Instance;
  readonly store: Store;
  /** The scratch directory, named `<prefix>XXXXXX` in the system's temporary directory. */
  readonly work: string;
}

export function serverFixture(
  prefix: string,
  open: () => Promise<OpenedStore> = () => storeFactories[0]!.open(),
): ServerFixture {
  let opened: OpenedStore | undefined;
  let instance: Instance | undefined;
  let work: string | undefined;
  before(async () => {
    opened = await open();
    instance = await startInstance(opened.store);
    work = await mkdtemp(join(tmpdir(), prefix));
  });
  after(async () => {
    await instance?.close();
    await opened?.cleanup();
    if (work !== undefined) await rm(work, { recursive: true, force: true });
  });
  const started = <T>(value: T | undefined): T => {
    if (value === undefined) throw new Error('serverFixture: read inside a test, once before() ran');
    return value;
  };
  return {
    get instance() {
      return started(instance);
    },
    get store() {
      return started(opened).store;
    },
    get work() {
      return started(work);
    },
  };
}
