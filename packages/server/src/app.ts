/**
 * One Sealpost server instance: the public listener (HTTP API + WebSocket on /v1/ws) and the
 * loopback-only admin listener (/metrics, /healthz, /readyz). Storage and bus are passed in, so
 * tests run the same instance on SQLite or PostgreSQL, with the memory bus or NATS.
 *
 * Shutdown (`close`): mark draining (readyz answers 503, new sockets are refused), let every session
 * finish the frames it received, close sessions with CLOSE.goingAway, let HTTP requests in
 * progress finish (bounded by LIMITS.shutdownDrainMs), then stop the listeners.
 */
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import Fastify, { LogController, type FastifyInstance } from 'fastify';
import { WebSocketServer } from 'ws';
import {
  CLOSE,
  LIMITS,
  NotFoundError,
  RateLimitedError,
  UnavailableError,
  type CryptoProvider,
  WS_PROTOCOL_CAUGHT_UP,
} from '@sealpost/core';
import type { Bus } from './bus/bus.ts';
import type { ServerContext } from './context.ts';
import { toSealpostError } from './http/errors.ts';
import { registerAccountRoutes } from './http/accounts.ts';
import { hasOwnRateLimits, registerBlobRoutes } from './http/blobs.ts';
import { registerKtRoutes } from './http/kt.ts';
import { DirectoryService } from './directory/directory-service.ts';
import { createMetrics } from './metrics.ts';
import { RateLimiter } from './rate-limit.ts';
import type { Store } from './store/store.ts';
import { Hub } from './ws/hub.ts';
import { RecipientCache } from './ws/recipient-cache.ts';
import { DeviceSession } from './ws/session.ts';

export interface ServerOptions {
  readonly store: Store;
  readonly bus: Bus;
  readonly crypto: CryptoProvider;
  readonly host: string;
  readonly port: number;
  /** Loopback admin port; 0 picks a free one; -1 disables the admin listener. */
  readonly adminPort: number;
  readonly logLevel?: string;
  /** Where log lines go (default: stdout). Tests read them to check nothing private is logged. */
  readonly logStream?: { write(line: string): void };
  readonly trustProxy?: boolean;
  readonly now?: () => number;
  /** Seconds between key-directory epochs (config `epochSeconds`, default 2). */
  readonly epochSeconds?: number;
  /** Witnesses whose cosignatures the key directory keeps (config `witnessKeys`); none when absent. */
  readonly witnessKeys?: readonly Uint8Array[];
  /**
   * Overrides of the rate limits (benchmarks and load tests); defaults from LIMITS. `address` also
   * replaces the per-address blob and challenge buckets, `device` the per-device blob bucket.
   */
  readonly rates?: {
    readonly device?: { readonly burst: number; readonly perSec: number };
    readonly address?: { readonly burst: number; readonly perSec: number };
    /** Account recoveries per username (LIMITS.rateRecoveryPerAccount*). */
    readonly recovery?: { readonly burst: number; readonly perSec: number };
  };
}

export interface SealpostServer {
  /** The public listener, for `inject()` in tests. */
  readonly app: FastifyInstance;
  readonly context: ServerContext;
  /** Binds both listeners; resolves to the public URL. */
  listen(): Promise<string>;
  readonly url: string;
  readonly adminUrl: string;
  close(): Promise<void>;
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T | undefined> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => resolve(undefined), ms);
    t.unref?.();
    p.then(
      (v) => {
        clearTimeout(t);
        resolve(v);
      },
      (e: unknown) => {
        clearTimeout(t);
        reject(e instanceof Error ? e : new Error(String(e)));
      },
    );
  });
}

function addressOf(req: IncomingMessage, trustProxy: boolean): string {
  if (trustProxy) {
    const fwd = req.headers['x-forwarded-for'];
    const first = (Array.isArray(fwd) ? fwd[0] : fwd)?.split(',')[0]?.trim();
    if (first) return first;
  }
  return req.socket.remoteAddress ?? 'unknown';
}

export function createServer(opts: ServerOptions): SealpostServer {
  const now = opts.now ?? Date.now;
  const trustProxy = opts.trustProxy ?? false;
  const logger = {
    level: opts.logLevel ?? 'info',
    ...(opts.logStream ? { stream: opts.logStream } : {}),
    // No addresses, no URLs with usernames, no bodies in logs (DESIGN.md threat model 4).
    serializers: {
      req: (req: { method: string; routeOptions?: { url?: string } }) => ({
        method: req.method,
        route: req.routeOptions?.url,
      }),
      res: (res: { statusCode: number }) => ({ statusCode: res.statusCode }),
    },
  };
  const app = Fastify({
    logger,
    bodyLimit: LIMITS.httpBodyMaxBytes,
    trustProxy,
    logController: new LogController({ disableRequestLogging: true }),
    return503OnClosing: true,
  });
  const metrics = createMetrics();
  const ctx: ServerContext = {
    store: opts.store,
    bus: opts.bus,
    crypto: opts.crypto,
    metrics,
    log: app.log,
    now,
    addressLimiter: new RateLimiter(
      opts.rates?.address ?? { burst: LIMITS.ratePerAddressBurst, perSec: LIMITS.ratePerAddressPerSec },
      now,
      LIMITS.rateBucketsMax,
    ),
    deviceLimiter: new RateLimiter(
      opts.rates?.device ?? { burst: LIMITS.ratePerDeviceBurst, perSec: LIMITS.ratePerDevicePerSec },
      now,
      LIMITS.rateBucketsMax,
    ),
    blobAddressLimiter: new RateLimiter(
      opts.rates?.address ?? {
        burst: LIMITS.ratePerAddressBlobBurst,
        perSec: LIMITS.ratePerAddressBlobPerSec,
      },
      now,
      LIMITS.rateBucketsMax,
    ),
    blobDeviceLimiter: new RateLimiter(
      opts.rates?.device ?? { burst: LIMITS.ratePerDeviceBlobBurst, perSec: LIMITS.ratePerDeviceBlobPerSec },
      now,
      LIMITS.rateBucketsMax,
    ),
    challengeLimiter: new RateLimiter(
      opts.rates?.address ?? {
        burst: LIMITS.rateChallengesPerAddressBurst,
        perSec: LIMITS.rateChallengesPerAddressPerSec,
      },
      now,
      LIMITS.rateBucketsMax,
    ),
    recoveryLimiter: new RateLimiter(
      opts.rates?.recovery ?? {
        burst: LIMITS.rateRecoveryPerAccountBurst,
        perSec: LIMITS.rateRecoveryPerAccountPerSec,
      },
      now,
      LIMITS.rateBucketsMax,
    ),
    recipients: new RecipientCache(LIMITS.recipientCacheEntries),
    directory: new DirectoryService({
      store: opts.store,
      crypto: opts.crypto,
      now,
      epochSeconds: opts.epochSeconds ?? 2,
      witnessKeys: opts.witnessKeys,
      onError: (err) => app.log.error({ err }, 'key directory epoch failed'),
    }),
    draining: false,
  };
  const hub = new Hub(opts.bus);
  ctx.onDeviceRemoved = (device) => {
    ctx.recipients.evict(new Set([device]));
    hub.closeDevice(device, CLOSE.deviceRemoved, 'device removed');
  };
  const sessions = new Set<DeviceSession>();

  app.addHook('onRequest', async (req, reply) => {
    if (hasOwnRateLimits(req.routeOptions.url)) return;
    const wait = ctx.addressLimiter.take(addressOf(req.raw, trustProxy));
    if (wait > 0) {
      void reply.header('retry-after', String(wait));
      throw new RateLimitedError('too many requests from this address', wait);
    }
  });
  app.addHook('onResponse', async (req, reply) => {
    metrics.httpRequests.inc({ route: req.routeOptions.url ?? 'unknown', status: String(reply.statusCode) });
  });
  app.setErrorHandler((err, _req, reply) => {
    const e = toSealpostError(err);
    if (e.kind === 'internal') app.log.error({ err }, 'request failed');
    metrics.errors.inc({ code: e.code });
    if (e instanceof RateLimitedError) void reply.header('retry-after', String(e.retryAfterSecs));
    return reply.code(e.status).send(e.toJSON());
  });
  app.setNotFoundHandler((req, reply) => {
    const e = new NotFoundError('ROUTE_NOT_FOUND', `no route ${req.method} ${req.url.split('?')[0]}`);
    return reply.code(e.status).send(e.toJSON());
  });

  async function readiness(): Promise<{ status: number; body: Record<string, string> }> {
    if (ctx.draining)
      return { status: 503, body: new UnavailableError('SHUTTING_DOWN', 'draining').toJSON() as never };
    try {
      await opts.store.ping();
    } catch {
      return {
        status: 503,
        body: new UnavailableError('NOT_READY', 'store does not answer').toJSON() as never,
      };
    }
    return {
      status: 200,
      body: { status: 'ready', store: 'ok', bus: opts.bus.connected ? 'ok' : 'degraded' },
    };
  }
  const health = (instance: FastifyInstance) => {
    instance.get('/healthz', async () => ({ status: 'ok' }));
    instance.get('/readyz', async (_req, reply) => {
      const r = await readiness();
      return reply.code(r.status).send(r.body);
    });
  };
  health(app);
  registerAccountRoutes(app, ctx);
  registerBlobRoutes(app, ctx);
  registerKtRoutes(app, ctx.directory);

  const wss = new WebSocketServer({
    noServer: true,
    maxPayload: LIMITS.wsFrameMaxBytes,
    // The one subprotocol we know, chosen only when offered (ws would otherwise take whatever
    // comes first): a session sends CAUGHT_UP only to a client that asked for it (ws/session.ts).
    handleProtocols: (offered) => (offered.has(WS_PROTOCOL_CAUGHT_UP) ? WS_PROTOCOL_CAUGHT_UP : false),
  });
  const refuse = (socket: Duplex, status: number, text: string, extra = '') => {
    socket.end(`HTTP/1.1 ${status} ${text}\r\nConnection: close\r\nContent-Length: 0\r\n${extra}\r\n`);
  };
  app.server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on('error', () => socket.destroy());
    const path = (req.url ?? '').split('?')[0];
    if (path !== '/v1/ws') return refuse(socket, 404, 'Not Found');
    if (ctx.draining) return refuse(socket, 503, 'Service Unavailable');
    const wait = ctx.addressLimiter.take(addressOf(req, trustProxy));
    if (wait > 0) return refuse(socket, 429, 'Too Many Requests', `Retry-After: ${wait}\r\n`);
    const host = req.headers.host;
    if (typeof host !== 'string' || host.length === 0) return refuse(socket, 400, 'Bad Request');
    wss.handleUpgrade(req, socket, head, (ws) => {
      const session = new DeviceSession(ws, ctx, hub, host);
      sessions.add(session);
      ws.on('close', () => sessions.delete(session));
    });
  });

  const busGauge = setInterval(() => metrics.busConnected.set(opts.bus.connected ? 1 : 0), 1000);
  busGauge.unref();
  const sweeper = setInterval(() => {
    opts.store.sweepExpired(Math.floor(now() / 1000)).catch(() => {
      /* the store is down: the next sweep tries again */
    });
  }, LIMITS.expirySweepMs);
  sweeper.unref();

  let admin: FastifyInstance | undefined;
  if (opts.adminPort >= 0) {
    admin = Fastify({ logger: false });
    health(admin);
    admin.get('/metrics', async (_req, reply) => {
      metrics.busConnected.set(opts.bus.connected ? 1 : 0);
      metrics.wsConnections.set(hub.size);
      return reply
        .header('content-type', metrics.registry.contentType)
        .send(await metrics.registry.metrics());
    });
  }

  let url = '';
  let adminUrl = '';
  const server: SealpostServer = {
    app,
    context: ctx,
    get url() {
      return url;
    },
    get adminUrl() {
      return adminUrl;
    },
    async listen() {
      await ctx.directory.start();
      await app.listen({ host: opts.host, port: opts.port });
      const addr = app.server.address();
      if (addr === null || typeof addr === 'string') throw new Error('listener has no TCP address');
      const shownHost = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
      url = `http://${shownHost === '0.0.0.0' ? '127.0.0.1' : shownHost}:${addr.port}`;
      if (admin !== undefined) {
        await admin.listen({ host: '127.0.0.1', port: opts.adminPort });
        const a = admin.server.address();
        if (a !== null && typeof a !== 'string') adminUrl = `http://127.0.0.1:${a.port}`;
      }
      return url;
    },
    async close() {
      if (ctx.draining) return;
      ctx.draining = true;
      clearInterval(sweeper);
      clearInterval(busGauge);
      await withTimeout(Promise.all([...sessions].map((s) => s.settled())), LIMITS.shutdownDrainMs);
      for (const s of sessions) s.close(CLOSE.goingAway, 'server shutting down');
      hub.stop();
      wss.close();
      await withTimeout(app.close(), LIMITS.shutdownDrainMs);
      await ctx.directory.close();
      if (admin !== undefined) await admin.close();
    },
  };
  return server;
}
