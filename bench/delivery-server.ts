/**
 * Child process of bench/delivery.ts: one server (sqlite | postgres) or the raw relay, on its own
 * core. Prints `READY <url>` and runs until killed. Rate limits are lifted: the benchmark measures
 * delivery, not the limiter.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { WebSocketServer, type WebSocket } from 'ws';
import { nodeCryptoProvider } from '@sealpost/core/node';
import { createServer } from '@sealpost/server';
import { MemoryBus } from '../packages/server/src/bus/memory.ts';
import { PostgresStore } from '../packages/server/src/store/postgres.ts';
import { SqliteStore } from '../packages/server/src/store/sqlite.ts';
import { ThreadedSqliteStore } from '../packages/server/src/store/sqlite-thread.ts';

const mode = process.argv[2];
const unlimited = { burst: 1e9, perSec: 1e9 };

if (mode === 'relay') {
  // The physical reference: same frames in, same frames out, no authentication, no persistence.
  // Frame: to:u16 | body. The relay answers the sender with 1 byte and pushes body to `to`.
  const peers = new Map<number, WebSocket>();
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  wss.on('connection', (ws, req) => {
    const id = Number(new URL(req.url ?? '/', 'http://x').searchParams.get('id'));
    peers.set(id, ws);
    ws.on('message', (data: Buffer) => {
      if (data.length < 2) return; // an ack: nothing to store, nothing to do
      const to = data.readUInt16BE(0);
      peers.get(to)?.send(data.subarray(2));
      ws.send(Buffer.of(1));
    });
  });
  wss.on('listening', () => {
    const addr = wss.address();
    if (typeof addr === 'object' && addr !== null) console.log(`READY ws://127.0.0.1:${addr.port}`);
  });
} else if (mode === 'sqlite' || mode === 'sqlite-thread' || mode === 'postgres') {
  const dir = mkdtempSync(join(tmpdir(), 'sealpost-bench-'));
  const store =
    mode === 'sqlite'
      ? SqliteStore.open(join(dir, 'bench.db'))
      : mode === 'sqlite-thread'
        ? await ThreadedSqliteStore.open(join(dir, 'bench.db'))
        : await PostgresStore.connect(process.argv[3]!);
  await store.migrate();
  const server = createServer({
    store,
    bus: new MemoryBus(),
    crypto: nodeCryptoProvider,
    host: '127.0.0.1',
    port: 0,
    adminPort: -1,
    logLevel: 'warn',
    rates: { device: unlimited, address: unlimited },
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
} else {
  console.error('usage: delivery-server.ts sqlite | sqlite-thread | postgres <url> | relay');
  process.exit(1);
}
