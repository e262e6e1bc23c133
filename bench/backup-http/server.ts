/**
 * Child process of bench/backup-http.ts: one Sealpost server on SQLite (as `sealpost serve` runs it
 * by default) with the DEFAULT rate limits, on its own core. Prints `READY <url>` and runs until
 * SIGTERM, then removes its database.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { nodeCryptoProvider } from '@sealpost/core/node';
import { createServer } from '@sealpost/server';
import { MemoryBus } from '../../packages/server/src/bus/memory.ts';
import { SqliteStore } from '../../packages/server/src/store/sqlite.ts';

const dir = mkdtempSync(join(tmpdir(), 'sealpost-bench-http-'));
const store = SqliteStore.open(join(dir, 'bench.db'));
await store.migrate();
const server = createServer({
  store,
  bus: new MemoryBus(),
  crypto: nodeCryptoProvider,
  host: '127.0.0.1',
  port: 0,
  adminPort: -1,
  logLevel: 'warn',
});
// Every answer counted by route class and status; `STATS <json>` is printed on SIGUSR2.
const stats: Record<string, number> = {};
server.app.addHook('onResponse', async (req, reply) => {
  const key = `${req.method} ${req.routeOptions.url ?? 'unknown'} ${reply.statusCode}`;
  stats[key] = (stats[key] ?? 0) + 1;
});
process.on('SIGUSR2', () => {
  console.log(`STATS ${JSON.stringify(stats)}`);
  for (const k of Object.keys(stats)) delete stats[k];
});
console.log(`READY ${await server.listen()}`);
process.on('SIGTERM', () => {
  void server
    .close()
    .then(() => store.close())
    .finally(() => {
      rmSync(dir, { recursive: true, force: true });
      process.exit(0);
    });
});
