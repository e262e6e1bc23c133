/**
 * Starts a server from a validated `Config`: opens the store (SQLite file in `dataDir`, or
 * PostgreSQL), applies migrations, connects the bus, listens. `close()` drains the instance and
 * then closes the bus and the store it opened.
 */
import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { LIMITS, fromBase64urlExact } from '@sealpost/core';
import { nodeCryptoProvider } from '@sealpost/core/node';
import { createServer } from './app.ts';
import type { Bus } from './bus/bus.ts';
import { MemoryBus } from './bus/memory.ts';
import { NatsBus } from './bus/nats.ts';
import type { Config } from './config.ts';
import { PostgresStore } from './store/postgres.ts';
import { SqliteStore } from './store/sqlite.ts';
import { ThreadedSqliteStore } from './store/sqlite-thread.ts';
import type { Store } from './store/store.ts';

export interface RunningServer {
  readonly url: string;
  readonly adminUrl: string;
  close(): Promise<void>;
}

export async function openStore(config: Config): Promise<Store> {
  if (config.store === 'postgres') {
    if (config.databaseUrl === undefined) throw new Error('databaseUrl is required for postgres');
    return PostgresStore.connect(config.databaseUrl);
  }
  const dir = resolve(config.dataDir);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const file = join(dir, 'sealpost.db');
  // Inline is faster on a small host (docs/BENCHMARKS.md); on its own thread a commit's fsync
  // never stalls the sockets, which matters when the disk is slow (store/sqlite-thread.ts).
  return config.sqliteThread ? ThreadedSqliteStore.open(file) : SqliteStore.open(file);
}

export async function openBus(config: Config): Promise<Bus> {
  if (config.bus === 'nats')
    return NatsBus.connect({ servers: config.natsUrl, subjectPrefix: config.natsSubject });
  return new MemoryBus();
}

export async function startServer(config: Config): Promise<RunningServer> {
  const store = await openStore(config);
  let bus: Bus | undefined;
  try {
    await store.migrate();
    bus = await openBus(config);
    const server = createServer({
      store,
      bus,
      crypto: nodeCryptoProvider,
      host: config.host,
      port: config.port,
      adminPort: config.adminPort,
      logLevel: config.logLevel,
      trustProxy: config.trustProxy,
      epochSeconds: config.epochSeconds,
      witnessKeys: config.witnessKeys.map((k) => fromBase64urlExact(k, LIMITS.publicKeyBytes, 'witness key')),
    });
    await server.listen();
    const openedBus = bus;
    return {
      url: server.url,
      adminUrl: server.adminUrl,
      async close() {
        await server.close();
        await openedBus.close();
        await store.close();
      },
    };
  } catch (err) {
    await bus?.close().catch(() => undefined);
    await store.close().catch(() => undefined);
    throw err;
  }
}
