/**
 * Prometheus metrics, one registry per server instance (several instances share a process in
 * tests). Served only on the loopback admin listener. Labels never carry a username, device id or
 * address: only routes, codes and outcomes.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export function createMetrics() {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'sealpost_process_' });
  return {
    registry,
    httpRequests: new Counter({
      name: 'sealpost_http_requests_total',
      help: 'HTTP requests by route and status',
      labelNames: ['route', 'status'] as const,
      registers: [registry],
    }),
    wsConnections: new Gauge({
      name: 'sealpost_ws_connections',
      help: 'Authenticated WebSocket connections on this instance',
      registers: [registry],
    }),
    messagesStored: new Counter({
      name: 'sealpost_messages_stored_total',
      help: 'Mailbox entries stored (one per recipient device)',
      registers: [registry],
    }),
    sendsDuplicate: new Counter({
      name: 'sealpost_sends_duplicate_total',
      help: 'Sends whose message id was already stored',
      registers: [registry],
    }),
    messagesPushed: new Counter({
      name: 'sealpost_messages_pushed_total',
      help: 'DELIVER frames sent (redeliveries included)',
      registers: [registry],
    }),
    messagesAcked: new Counter({
      name: 'sealpost_messages_acked_total',
      help: 'Mailbox entries deleted on acknowledgement',
      registers: [registry],
    }),
    errors: new Counter({
      name: 'sealpost_errors_total',
      help: 'Typed errors answered, by code',
      labelNames: ['code'] as const,
      registers: [registry],
    }),
    busConnected: new Gauge({
      name: 'sealpost_bus_connected',
      help: '1 while the bus between instances is connected',
      registers: [registry],
    }),
    storeSeconds: new Histogram({
      name: 'sealpost_enqueue_seconds',
      help: 'Time to store one send',
      buckets: [0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
      registers: [registry],
    }),
  };
}

export type Metrics = ReturnType<typeof createMetrics>;
