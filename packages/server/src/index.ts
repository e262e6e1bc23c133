/** @sealpost/server: delivery service (HTTP + WebSocket) on SQLite or PostgreSQL, with a bus between instances. */
export { createServer, type ServerOptions, type SealpostServer } from './app.ts';
export { loadConfig, redactConfig, type Config, type ConfigSources } from './config.ts';
export { startServer, openStore, openBus, type RunningServer } from './start.ts';
export type { Store, DevicePk } from './store/store.ts';
export { SCHEMA, type TableSpec, type ColumnSpec } from './store/schema.ts';
export type { Disclosure, DisclosedRow } from './store/disclosure.ts';
export type { Bus, BusEvent } from './bus/bus.ts';
