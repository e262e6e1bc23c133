// Tests run under Node: node:test and node:assert are the only node:* imports, and only here.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import {
  CodecError,
  CryptoVerificationError,
  LimitError,
  RateLimitedError,
  SealpostError,
  UnavailableError,
  ValidationError,
  accountCreateStatement,
  deviceAddStatement,
  deviceIdOf,
  deviceRemoveStatement,
  fromBase64url,
  parseUsername,
  toBase64url,
} from '@sealpost/core';
import { nodeCryptoProvider as crypto } from '@sealpost/core/node';
import { ServerApi } from './account-api.ts';
import type { FetchLike } from './account-api.ts';

const BASE = 'http://sealpost.test:8420';
const AUDIENCE = 'sealpost.test:8420';
const accountSeed = new Uint8Array(32).fill(7);
const deviceSeed = new Uint8Array(32).fill(8);
const secondSeed = new Uint8Array(32).fill(9);
const accountKey = crypto.ed25519.publicKey(accountSeed);
const deviceKey = crypto.ed25519.publicKey(deviceSeed);
const secondKey = crypto.ed25519.publicKey(secondSeed);
const b64 = toBase64url;

interface Call {
  readonly url: string;
  readonly method: string;
  readonly body: Record<string, string> | undefined;
}

function json(status: number, body: unknown, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { 'content-type': 'application/json', ...headers },
  });
}

/**
 * A fake server that checks what an honest server checks (signatures over the right statement,
 * audience, single-use challenge) and answers as docs/protocol.md says, unless `override` answers first.
 */
function fakeServer(override?: (call: Call) => Response | undefined): { fetch: FetchLike; calls: Call[] } {
  const calls: Call[] = [];
  const challenges = new Set<string>();
  const devices = new Map<string, Uint8Array>([[b64(deviceIdOf(crypto, deviceKey)), deviceKey]]);
  const take = (challenge: string | undefined): Uint8Array => {
    assert.ok(
      challenge !== undefined && challenges.delete(challenge),
      'challenge must be fresh and single-use',
    );
    return fromBase64url(challenge, 100);
  };
  const verify = (key: Uint8Array, statement: Uint8Array, signature: string | undefined): void => {
    assert.ok(crypto.ed25519.verify(key, statement, fromBase64url(signature ?? '', 100)), 'signature');
  };
  const fetch: FetchLike = async (url, init) => {
    const call: Call = {
      url,
      method: init.method ?? 'GET',
      body: typeof init.body === 'string' ? (JSON.parse(init.body) as Record<string, string>) : undefined,
    };
    calls.push(call);
    const answer = override?.(call);
    if (answer !== undefined) return answer;
    const path = url.slice(BASE.length);
    const username = parseUsername('alice');
    if (call.method === 'POST' && path === '/v1/challenges') {
      const challenge = b64(crypto.randomBytes(32));
      challenges.add(challenge);
      return json(200, { challenge, expiresAtMs: Date.now() + 60_000 });
    }
    if (call.method === 'POST' && path === '/v1/accounts') {
      const b = call.body!;
      const statement = accountCreateStatement(
        take(b['challenge']),
        AUDIENCE,
        parseUsername(b['username']),
        fromBase64url(b['accountKey']!, 100),
        fromBase64url(b['deviceKey']!, 100),
      );
      verify(fromBase64url(b['accountKey']!, 100), statement, b['accountSignature']);
      verify(fromBase64url(b['deviceKey']!, 100), statement, b['deviceSignature']);
      return json(201, {
        username: b['username'],
        deviceId: b64(deviceIdOf(crypto, fromBase64url(b['deviceKey']!, 100))),
      });
    }
    if (call.method === 'GET' && path === '/v1/accounts/alice') {
      return json(200, {
        username,
        accountKey: b64(accountKey),
        devices: [...devices].map(([deviceId, publicKey]) => ({
          deviceId,
          publicKey: b64(publicKey),
          createdDay: 20000,
        })),
      });
    }
    if (call.method === 'POST' && path === '/v1/accounts/alice/devices') {
      const b = call.body!;
      const key = fromBase64url(b['deviceKey']!, 100);
      const statement = deviceAddStatement(take(b['challenge']), AUDIENCE, username, key);
      verify(accountKey, statement, b['accountSignature']);
      verify(key, statement, b['deviceSignature']);
      devices.set(b64(deviceIdOf(crypto, key)), key);
      return json(201, { deviceId: b64(deviceIdOf(crypto, key)) });
    }
    const remove = /^\/v1\/accounts\/alice\/devices\/([A-Za-z0-9_-]+)$/.exec(path);
    if (call.method === 'DELETE' && remove !== null) {
      const b = call.body!;
      const statement = deviceRemoveStatement(
        take(b['challenge']),
        AUDIENCE,
        username,
        fromBase64url(remove[1]!, 20),
      );
      verify(accountKey, statement, b['accountSignature']);
      if (!devices.delete(remove[1]!))
        return json(404, { code: 'DEVICE_NOT_FOUND', message: 'no such device' });
      return json(200, { removed: true });
    }
    return json(404, { code: 'ROUTE_NOT_FOUND', message: `no route ${call.method} ${path}` });
  };
  return { fetch, calls };
}

async function rejection(promise: Promise<unknown>): Promise<SealpostError> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof SealpostError, `untyped error: ${String(error)}`);
    return error;
  }
  assert.fail('expected a rejection');
}

/** A fake server whose answer to `path` (after the challenge) is `answer`. */
function answering(path: string, answer: () => Response): ServerApi {
  const server = fakeServer((call) => (call.url === BASE + path ? answer() : undefined));
  return new ServerApi(BASE, crypto, { fetch: server.fetch });
}

describe('ServerApi against an honest server', () => {
  it('should fetch a challenge', async () => {
    const api = new ServerApi(BASE, crypto, { fetch: fakeServer().fetch });
    const { challenge, expiresAtMs } = await api.challenge();
    assert.equal(challenge.length, 32);
    assert.ok(expiresAtMs > Date.now());
  });

  it('should create an account with both signatures over the statement for its audience', async () => {
    const server = fakeServer();
    const api = new ServerApi(BASE + '/', crypto, { fetch: server.fetch });
    assert.equal(api.audience, AUDIENCE);
    const created = await api.createAccount({ username: 'Alice', accountSeed, deviceSeed });
    assert.equal(created.username, 'alice');
    assert.deepEqual(created.deviceId, deviceIdOf(crypto, deviceKey));
    assert.deepEqual(
      server.calls.map((c) => `${c.method} ${c.url}`),
      [`POST ${BASE}/v1/challenges`, `POST ${BASE}/v1/accounts`],
    );
  });

  it('should never send a seed', async () => {
    const server = fakeServer();
    const api = new ServerApi(BASE, crypto, { fetch: server.fetch });
    await api.createAccount({ username: 'alice', accountSeed, deviceSeed });
    await api.addDevice({ username: 'alice', accountSeed, deviceSeed: secondSeed });
    const sent = JSON.stringify(server.calls);
    for (const seed of [accountSeed, deviceSeed, secondSeed]) assert.ok(!sent.includes(b64(seed)));
  });

  it('should list, add and remove devices', async () => {
    const api = new ServerApi(BASE, crypto, { fetch: fakeServer().fetch });
    const { deviceId } = await api.addDevice({ username: 'alice', accountSeed, deviceSeed: secondSeed });
    assert.deepEqual(deviceId, deviceIdOf(crypto, secondKey));
    const account = await api.getAccount('alice');
    assert.deepEqual(account.accountKey, accountKey);
    assert.deepEqual(
      account.devices.map((d) => d.publicKey),
      [deviceKey, secondKey],
    );
    assert.deepEqual(await api.removeDevice({ username: 'alice', accountSeed, deviceId }), { removed: true });
    assert.equal((await api.getAccount('alice')).devices.length, 1);
  });
});

describe('ServerApi arguments', () => {
  const cases: ReadonlyArray<readonly [string, (api: ServerApi) => Promise<unknown>]> = [
    ['an invalid username', (api) => api.createAccount({ username: 'a!', accountSeed, deviceSeed })],
    [
      'a short account seed',
      (api) => api.createAccount({ username: 'alice', accountSeed: new Uint8Array(31), deviceSeed }),
    ],
    [
      'a long device seed',
      (api) => api.addDevice({ username: 'alice', accountSeed, deviceSeed: new Uint8Array(33) }),
    ],
    ['a username with a path', (api) => api.getAccount('alice/../x')],
    [
      'a short device id',
      (api) => api.removeDevice({ username: 'alice', accountSeed, deviceId: new Uint8Array(7) }),
    ],
  ];
  for (const [name, call] of cases) {
    it(`should refuse ${name} before any request`, async () => {
      const server = fakeServer();
      const error = await rejection(call(new ServerApi(BASE, crypto, { fetch: server.fetch })));
      assert.ok(error instanceof ValidationError);
      assert.equal(server.calls.length, 0);
    });
  }

  for (const url of ['ftp://x', 'http://u:p@x', 'http://x/path', 'http://x?q', 'not a url', '']) {
    it(`should refuse the base URL ${JSON.stringify(url)}`, () => {
      assert.throws(() => new ServerApi(url, crypto), ValidationError);
    });
  }
});

describe('ServerApi against a hostile or failing server', () => {
  it('should turn error answers into typed errors', async () => {
    const api = answering('/v1/accounts', () => json(409, { code: 'USERNAME_TAKEN', message: 'taken' }));
    const error = await rejection(api.createAccount({ username: 'alice', accountSeed, deviceSeed }));
    assert.equal(error.code, 'USERNAME_TAKEN');
    assert.equal(error.kind, 'conflict');
  });

  it('should keep retryAfterSecs of RATE_LIMITED', async () => {
    const api = answering('/v1/challenges', () =>
      json(429, { code: 'RATE_LIMITED', message: 'slow down', details: { retryAfterSecs: 7 } }),
    );
    const error = await rejection(api.challenge());
    assert.ok(error instanceof RateLimitedError);
    assert.equal(error.retryAfterSecs, 7);
  });

  it('should clean control characters and bound the length of server messages', async () => {
    const api = answering('/v1/challenges', () =>
      json(400, { code: 'VALIDATION_FAILED', message: '\u001b]0;pwned\u0007bad\u202e' + 'x'.repeat(5000) }),
    );
    const error = await rejection(api.challenge());
    // eslint-disable-next-line no-control-regex
    assert.ok(!/[\u0000-\u001f\u007f-\u009f\u202e]/.test(error.message));
    assert.ok(error.message.length < 400);
  });

  const statusCases: ReadonlyArray<readonly [string, () => Response, string]> = [
    ['an unknown error code', () => json(400, { code: 'NO_SUCH_CODE', message: 'x' }), 'INTERNAL'],
    ['a 502 page from a proxy', () => new Response('<html>bad gateway</html>', { status: 502 }), 'NOT_READY'],
    ['a 404 page', () => new Response('not found', { status: 404 }), 'INTERNAL'],
    [
      'a success with the wrong status',
      () => json(201, { challenge: b64(new Uint8Array(32)), expiresAtMs: 1 }),
      'INTERNAL',
    ],
    ['a body that is not JSON', () => new Response('{', { status: 200 }), 'CODEC_INVALID_VALUE'],
    [
      'a body that is not UTF-8',
      () => new Response(new Uint8Array([0xff]), { status: 200 }),
      'CODEC_INVALID_VALUE',
    ],
    ['a JSON array', () => json(200, []), 'CODEC_INVALID_VALUE'],
    [
      'a challenge of 31 bytes',
      () => json(200, { challenge: b64(new Uint8Array(31)), expiresAtMs: 1 }),
      'CODEC_INVALID_VALUE',
    ],
    [
      'a padded challenge',
      () => json(200, { challenge: b64(new Uint8Array(32)) + '=', expiresAtMs: 1 }),
      'CODEC_LENGTH_LIMIT',
    ],
    [
      'a non-canonical challenge',
      () => json(200, { challenge: 'A'.repeat(42) + 'B', expiresAtMs: 1 }),
      'CODEC_INVALID_VALUE',
    ],
    [
      'a base64 (not url) challenge',
      () => json(200, { challenge: '+'.repeat(43), expiresAtMs: 1 }),
      'CODEC_INVALID_VALUE',
    ],
    [
      'an expiry that is a string',
      () => json(200, { challenge: b64(new Uint8Array(32)), expiresAtMs: '1' }),
      'CODEC_INVALID_VALUE',
    ],
    [
      'a negative expiry',
      () => json(200, { challenge: b64(new Uint8Array(32)), expiresAtMs: -1 }),
      'CODEC_INVALID_VALUE',
    ],
  ];
  for (const [name, answer, code] of statusCases) {
    it(`should answer ${name} with ${code}`, async () => {
      const error = await rejection(answering('/v1/challenges', answer).challenge());
      assert.equal(error.code, code);
    });
  }

  it('should refuse an answer over the size bound announced by Content-Length', async () => {
    const api = answering(
      '/v1/challenges',
      () => new Response('{}', { status: 200, headers: { 'content-length': '1000000' } }),
    );
    const error = await rejection(api.challenge());
    assert.ok(error instanceof LimitError);
    assert.equal(error.code, 'BODY_TOO_LARGE');
  });

  it('should stop reading a streamed answer once it passes the size bound', async () => {
    let pulled = 0;
    const endless = new ReadableStream<Uint8Array>({
      pull(controller) {
        pulled++;
        controller.enqueue(new Uint8Array(16 * 1024).fill(0x20));
      },
    });
    const error = await rejection(
      answering('/v1/challenges', () => new Response(endless, { status: 200 })).challenge(),
    );
    assert.equal(error.code, 'BODY_TOO_LARGE');
    assert.ok(pulled < 10);
  });

  it('should report an unreachable server as NOT_READY', async () => {
    const api = new ServerApi(BASE, crypto, { fetch: () => Promise.reject(new TypeError('fetch failed')) });
    const error = await rejection(api.challenge());
    assert.ok(error instanceof UnavailableError);
    assert.equal(error.code, 'NOT_READY');
  });

  it('should refuse a device id that does not match the device key', async () => {
    const api = answering('/v1/accounts', () =>
      json(201, { username: 'alice', deviceId: b64(new Uint8Array(8)) }),
    );
    const error = await rejection(api.createAccount({ username: 'alice', accountSeed, deviceSeed }));
    assert.ok(error instanceof CryptoVerificationError);
  });

  it('should refuse an answer for another username', async () => {
    const api = answering('/v1/accounts', () =>
      json(201, { username: 'alicf', deviceId: b64(deviceIdOf(crypto, deviceKey)) }),
    );
    const error = await rejection(api.createAccount({ username: 'alice', accountSeed, deviceSeed }));
    assert.ok(error instanceof CodecError);
  });

  const device = { deviceId: b64(deviceIdOf(crypto, deviceKey)), publicKey: b64(deviceKey), createdDay: 1 };
  const accountCases: ReadonlyArray<readonly [string, unknown, string]> = [
    [
      'another username',
      { username: 'bob', accountKey: b64(accountKey), devices: [] },
      'CODEC_INVALID_VALUE',
    ],
    [
      'a short account key',
      { username: 'alice', accountKey: b64(new Uint8Array(31)), devices: [] },
      'CODEC_INVALID_VALUE',
    ],
    [
      'devices that are not a list',
      { username: 'alice', accountKey: b64(accountKey), devices: {} },
      'CODEC_INVALID_VALUE',
    ],
    [
      '17 devices',
      { username: 'alice', accountKey: b64(accountKey), devices: Array(17).fill(device) },
      'CODEC_INVALID_VALUE',
    ],
    [
      'a device listed twice',
      { username: 'alice', accountKey: b64(accountKey), devices: [device, device] },
      'CODEC_INVALID_VALUE',
    ],
    [
      'a null device',
      { username: 'alice', accountKey: b64(accountKey), devices: [null] },
      'CODEC_INVALID_VALUE',
    ],
    [
      'a device id of another key',
      { username: 'alice', accountKey: b64(accountKey), devices: [{ ...device, publicKey: b64(secondKey) }] },
      'CRYPTO_VERIFICATION_FAILED',
    ],
    [
      'a fractional day',
      { username: 'alice', accountKey: b64(accountKey), devices: [{ ...device, createdDay: 1.5 }] },
      'CODEC_INVALID_VALUE',
    ],
  ];
  for (const [name, body, code] of accountCases) {
    it(`should refuse an account answer with ${name}`, async () => {
      const error = await rejection(
        answering('/v1/accounts/alice', () => json(200, body)).getAccount('alice'),
      );
      assert.equal(error.code, code);
    });
  }

  it('should refuse a removal answer that is not {removed: true}', async () => {
    const deviceId = deviceIdOf(crypto, secondKey);
    const api = answering(`/v1/accounts/alice/devices/${b64(deviceId)}`, () => json(200, { removed: 'yes' }));
    const error = await rejection(api.removeDevice({ username: 'alice', accountSeed, deviceId }));
    assert.equal(error.code, 'CODEC_INVALID_VALUE');
  });

  it('should answer any JSON from the server with a typed error or a checked value', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 200, max: 599 }).filter((s) => ![204, 205, 304].includes(s)),
        fc.jsonValue(),
        async (status, body) => {
          const calls: ReadonlyArray<(api: ServerApi) => Promise<unknown>> = [
            (api) => api.challenge(),
            (api) => api.getAccount('alice'),
            (api) => api.createAccount({ username: 'alice', accountSeed, deviceSeed }),
            (api) => api.removeDevice({ username: 'alice', accountSeed, deviceId: new Uint8Array(8) }),
          ];
          for (const call of calls) {
            const api = new ServerApi(BASE, crypto, {
              fetch: () => Promise.resolve(new Response(JSON.stringify(body), { status })),
            });
            try {
              await call(api);
            } catch (error) {
              assert.ok(error instanceof SealpostError, String(error));
            }
          }
        },
      ),
      { numRuns: 200 },
    );
  });
});
