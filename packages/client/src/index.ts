/** @sealpost/client: the SDK on top of @sealpost/core (runs in Node and in the browser). */

// --- accounts and devices over HTTP (docs/protocol.md "HTTP")
export * from './server-url.ts';
export * from './account-api.ts';
export * from './fingerprint.ts';

// --- encrypted local key store
export * from './keystore/keystore.ts';

// --- device session over WebSocket (docs/protocol.md "WebSocket /v1/ws")
export * from './connection.ts';

// --- verified key-transparency lookups and self-monitoring (docs/key-transparency.md "Client")
export * from './directory/directory-client.ts';
export * from './directory/directory-errors.ts';
export * from './directory/own-device-list.ts';
export * from './directory/recovery-device-list.ts';
