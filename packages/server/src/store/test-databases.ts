/**
 * Test support: throwaway databases, and `storeFactories`, the table that store-backed suites
 * iterate so the same tests run against SQLite and PostgreSQL.
 *
 * Every call makes a database of its own (a temporary SQLite file, or a uniquely named PostgreSQL
 * database on 127.0.0.1:5432 as user postgres) and `cleanup`/`drop` removes it. PostgreSQL being
 * down is a failure with a clear message, never a skip: CI must fail loudly (`.ci/run` starts it).
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import pg from 'pg';
import { STORE_DEFAULTS, type StoreOptions } from './options.ts';
import { PostgresStore } from './postgres.ts';
import { SqliteStore } from './sqlite.ts';
import { ThreadedSqliteStore } from './sqlite-thread.ts';
import type { Store } from './store.ts';

const POSTGRES_SERVER = 'postgres://postgres@127.0.0.1:5432';
const CONNECT_TIMEOUT_MS = 5_000;

export interface TestPostgres {
  readonly url: string;
  /** Drops the database, closing any connection left open on it. Safe to call twice. */
  drop(): Promise<void>;
}

/** Creates a fresh, empty PostgreSQL database. Throws (never skips) when PostgreSQL is unreachable. */
export async function createTestPostgres(): Promise<TestPostgres> {
  const name = `sealpost_test_${process.pid}_${randomBytes(6).toString('hex')}`;
  await onMaintenanceDatabase((c) => c.query(`CREATE DATABASE ${name}`));
  let dropped = false;
  return {
    url: `${POSTGRES_SERVER}/${name}`,
    async drop() {
      if (dropped) return;
      dropped = true;
      await onMaintenanceDatabase((c) => c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`));
    },
  };
}

async function onMaintenanceDatabase<T>(fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({
    connectionString: `${POSTGRES_SERVER}/postgres`,
    connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
  });
  try {
    await client.connect();
  } catch (e) {
    const reason = (e as { code?: string }).code ?? (e instanceof Error ? e.message : String(e));
    throw new Error(
      `PostgreSQL is not reachable at 127.0.0.1:5432 as user postgres (${reason}). ` +
        'Store tests need it and never skip: start it with ' +
        '`pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start` (see .ci/run).',
      { cause: e },
    );
  }
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

export interface OpenedStore {
  readonly store: Store;
  /** Closes the store and deletes its database. */
  cleanup(): Promise<void>;
}

/** An empty, unmigrated database that several store instances may open. */
export interface FreshDatabase {
  /** The SQLite file path or the PostgreSQL URL. */
  readonly location: string;
  /** Opens another store instance on this database (not migrated). */
  open(opts?: StoreOptions): Promise<Store>;
  /** Runs read-only SQL on a connection of its own, for tests that inspect the database itself. */
  inspect(sql: string): Promise<Record<string, unknown>[]>;
  /** Closes every store opened here and deletes the database. */
  cleanup(): Promise<void>;
}

export interface StoreFactory {
  /** Names the implementation in test titles: 'sqlite', 'sqlite-thread', 'postgres'. */
  readonly name: string;
  readonly kind: Store['kind'];
  fresh(): Promise<FreshDatabase>;
  /** A migrated store on a database of its own. */
  open(opts?: StoreOptions): Promise<OpenedStore>;
}

async function freshSqliteThread(): Promise<FreshDatabase> {
  const db = await freshSqlite();
  return { ...db, open: async (opts) => db.track(await ThreadedSqliteStore.open(db.location, opts)) };
}

async function freshSqlite(): Promise<FreshDatabase & { track(store: Store): Store }> {
  const dir = await mkdtemp(join(tmpdir(), 'sealpost-store-'));
  const location = join(dir, 'store.db');
  const stores: Store[] = [];
  return {
    location,
    async open(opts) {
      const store = SqliteStore.open(location, opts);
      stores.push(store);
      return store;
    },
    track(store) {
      stores.push(store);
      return store;
    },
    async inspect(sql) {
      const db = new DatabaseSync(location, { readOnly: true, timeout: STORE_DEFAULTS.sqliteBusyTimeoutMs });
      try {
        return db.prepare(sql).all() as Record<string, unknown>[];
      } finally {
        db.close();
      }
    },
    async cleanup() {
      for (const s of stores) await s.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

async function freshPostgres(): Promise<FreshDatabase> {
  const database = await createTestPostgres();
  const stores: Store[] = [];
  return {
    location: database.url,
    async open(opts) {
      const store = await PostgresStore.connect(database.url, opts);
      stores.push(store);
      return store;
    },
    async inspect(sql) {
      const client = new pg.Client({
        connectionString: database.url,
        connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
      });
      await client.connect();
      try {
        return (await client.query(sql)).rows as Record<string, unknown>[];
      } finally {
        await client.end();
      }
    },
    async cleanup() {
      for (const s of stores) await s.close();
      await database.drop();
    },
  };
}

function factory(name: string, kind: Store['kind'], fresh: () => Promise<FreshDatabase>): StoreFactory {
  return {
    name,
    kind,
    fresh,
    async open(opts) {
      const db = await fresh();
      try {
        const store = await db.open(opts);
        await store.migrate();
        return { store, cleanup: () => db.cleanup() };
      } catch (e) {
        await db.cleanup();
        throw e;
      }
    },
  };
}

export const storeFactories: readonly StoreFactory[] = [
  factory('sqlite', 'sqlite', freshSqlite),
  factory('sqlite-thread', 'sqlite', freshSqliteThread),
  factory('postgres', 'postgres', freshPostgres),
];
