/**
 * Test harness for cross-package scenarios: server instances on a given store and bus, accounts
 * and devices created through the real HTTP API, and connected clients. Everything listens on
 * 127.0.0.1 with port 0.
 */
import { Buffer } from 'node:buffer';
import {
  accountCreateStatement,
  deviceIdOf,
  parseUsername,
  toBase64url,
  type DeviceAddress,
} from '@sealpost/core';
import { nodeCryptoProvider as crypto } from '@sealpost/core/node';
import { Connection, type ConnectionOptions, type IncomingMessage } from '@sealpost/client';
import { createServer, type Bus, type SealpostServer, type Store } from '@sealpost/server';
import { MemoryBus } from '../../packages/server/src/bus/memory.ts';

export { crypto };

export interface Instance {
  readonly server: SealpostServer;
  readonly url: string;
  readonly host: string;
  close(): Promise<void>;
}

export async function startInstance(
  store: Store,
  bus: Bus = new MemoryBus(),
  options: {
    now?: () => number;
    adminPort?: number;
    defaultRates?: boolean;
    witnessKeys?: readonly Uint8Array[];
    /**
     * Seconds between the directory's own epochs (default 2). Tests that publish with
     * `publishNow()` and assert its result set it long, so the timer cannot publish first.
     */
    epochSeconds?: number;
  } = {},
): Promise<Instance> {
  // Scenario tests send from one address faster than a person would: limits are lifted unless
  // a test asks for the defaults (the rate-limit tests do).
  const unlimited = { burst: 1e9, perSec: 1e9 };
  const server = createServer({
    store,
    bus,
    crypto,
    host: '127.0.0.1',
    port: 0,
    adminPort: options.adminPort ?? -1,
    logLevel: 'silent',
    ...(options.now ? { now: options.now } : {}),
    ...(options.witnessKeys ? { witnessKeys: options.witnessKeys } : {}),
    ...(options.epochSeconds === undefined ? {} : { epochSeconds: options.epochSeconds }),
    ...(options.defaultRates === true
      ? {}
      : { rates: { device: unlimited, address: unlimited, recovery: unlimited } }),
  });
  const url = await server.listen();
  return { server, url, host: new URL(url).host, close: () => server.close() };
}

export interface TestDevice {
  readonly username: string;
  readonly accountSeed: Uint8Array;
  readonly deviceSeed: Uint8Array;
  readonly deviceId: Uint8Array;
  readonly address: DeviceAddress;
}

export async function post(
  url: string,
  body: unknown,
): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

export async function challenge(url: string): Promise<Uint8Array> {
  const res = await post(`${url}/v1/challenges`, {});
  if (res.status !== 200) throw new Error(`challenge failed: ${res.status}`);
  return new Uint8Array(Buffer.from(res.body['challenge'] as string, 'base64url'));
}

/** Signed account-creation body; `tamper` may change it before it is sent. */
export async function accountBody(
  url: string,
  username: string,
  seeds = { account: crypto.randomBytes(32), device: crypto.randomBytes(32) },
) {
  const c = await challenge(url);
  const accountKey = crypto.ed25519.publicKey(seeds.account);
  const deviceKey = crypto.ed25519.publicKey(seeds.device);
  const statement = accountCreateStatement(
    c,
    new URL(url).host,
    parseUsername(username),
    accountKey,
    deviceKey,
  );
  return {
    seeds,
    body: {
      username,
      accountKey: toBase64url(accountKey),
      deviceKey: toBase64url(deviceKey),
      challenge: toBase64url(c),
      accountSignature: toBase64url(crypto.ed25519.sign(seeds.account, statement)),
      deviceSignature: toBase64url(crypto.ed25519.sign(seeds.device, statement)),
    },
  };
}

let uniqueCounter = 0;
/**
 * Characters whose username skeletons (docs/usernames.md) are themselves and never merge with a
 * neighbour: base-36 digits made look-alikes (`j` and `l` both fold to `l`), so two names of one
 * millisecond were refused as taken.
 */
const UNIQUE_DIGITS = 'abdefghkpstuxyz347';
const inUniqueDigits = (n: number): string => {
  let out = '';
  do {
    out = UNIQUE_DIGITS[n % UNIQUE_DIGITS.length]! + out;
    n = Math.floor(n / UNIQUE_DIGITS.length);
  } while (n > 0);
  return out;
};
/** A username no other test of this run uses, even on a shared database: `prefix` + time + count. */
export const uniqueName = (prefix: string): string =>
  `${prefix}${inUniqueDigits(Date.now())}${inUniqueDigits(uniqueCounter++)}`;

export async function createDevice(url: string, username: string): Promise<TestDevice> {
  const { seeds, body } = await accountBody(url, username);
  const res = await post(`${url}/v1/accounts`, body);
  if (res.status !== 201)
    throw new Error(`account creation failed: ${res.status} ${JSON.stringify(res.body)}`);
  const deviceId = deviceIdOf(crypto, crypto.ed25519.publicKey(seeds.device));
  return {
    username: parseUsername(username),
    accountSeed: seeds.account,
    deviceSeed: seeds.device,
    deviceId,
    address: { username: parseUsername(username), deviceId },
  };
}

export interface Inbox {
  readonly messages: IncomingMessage[];
  /** Resolves when at least `n` messages arrived (rejects after `ms`). */
  waitFor(n: number, ms?: number): Promise<IncomingMessage[]>;
}

export function inbox(): Inbox & { onMessage: (m: IncomingMessage) => void } {
  const messages: IncomingMessage[] = [];
  let waiters: Array<() => void> = [];
  return {
    messages,
    onMessage(m) {
      messages.push(m);
      const w = waiters;
      waiters = [];
      for (const f of w) f();
    },
    waitFor(n, ms = 10_000) {
      return new Promise((resolve, reject) => {
        const deadline = setTimeout(
          () => reject(new Error(`waited ${ms} ms for ${n} messages, got ${messages.length}`)),
          ms,
        );
        const check = () => {
          if (messages.length >= n) {
            clearTimeout(deadline);
            resolve(messages);
          } else waiters.push(check);
        };
        check();
      });
    },
  };
}

export function connect(
  url: string,
  device: TestDevice,
  onMessage: ConnectionOptions['onMessage'] = () => undefined,
  extra: Partial<ConnectionOptions> = {},
): Connection {
  return new Connection({
    serverUrl: url,
    username: device.username,
    deviceSeed: device.deviceSeed,
    crypto,
    onMessage,
    reconnectBaseMs: 20,
    reconnectMaxMs: 200,
    ...extra,
  });
}

export const text = (s: string): Uint8Array => new TextEncoder().encode(s);
export const untext = (b: Uint8Array): string => new TextDecoder().decode(b);

/** Polls `check` until it returns true or `ms` elapse. */
export async function eventually(
  check: () => boolean | Promise<boolean>,
  ms = 10_000,
  what = 'condition',
): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`timed out after ${ms} ms waiting for ${what}`);
}

/** A raw WebSocket to /v1/ws, for tests that speak the protocol by hand. */
export function rawSocket(
  url: string,
): Promise<{ ws: WebSocket; frames: Uint8Array[]; closed: Promise<CloseEvent> }> {
  const u = new URL(url);
  u.protocol = 'ws:';
  u.pathname = '/v1/ws';
  const ws = new WebSocket(u);
  ws.binaryType = 'arraybuffer';
  const frames: Uint8Array[] = [];
  const closed = new Promise<CloseEvent>((resolve) => ws.addEventListener('close', resolve));
  ws.addEventListener('message', (ev) => frames.push(new Uint8Array(ev.data as ArrayBuffer)));
  return new Promise((resolve, reject) => {
    ws.addEventListener('open', () => resolve({ ws, frames, closed }));
    ws.addEventListener('error', () => reject(new Error('socket failed to open')));
  });
}
