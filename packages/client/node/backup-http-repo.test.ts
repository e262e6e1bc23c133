/**
 * `HttpRepository` against a hostile server (a fake `fetch`): whatever it answers (random statuses,
 * bodies, headers, listings), every operation ends in a typed error or a checked value, never an
 * untyped exception, and an answer longer than the kind allows is refused. And the challenge batches:
 * one challenge per request, each sent once, fetched in growing batches, dropped when stale.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { LIMITS, SealpostError, toBase64url } from '@sealpost/core';
import { nodeCryptoProvider as crypto } from '@sealpost/core/node';
import { BackupError } from '../src/backup/errors.ts';
import type { ObjectName } from '../src/backup/repository.ts';
import { CHALLENGE_BATCH_FIRST, HttpRepository } from './backup-http-repo.ts';

const NAME = 'ab'.repeat(32) as ObjectName;

/** A server that hands out challenges and answers every blob request with `answer()`. */
function repoAnswering(answer: () => Response): HttpRepository {
  return new HttpRepository({
    serverUrl: 'http://127.0.0.1:1',
    username: 'alice',
    deviceSeed: new Uint8Array(32),
    crypto,
    attempts: 2,
    sleep: async () => {},
    fetch: async (url) =>
      url.endsWith('/v1/challenges')
        ? Response.json({ challenge: toBase64url(new Uint8Array(32)), expiresAtMs: 1 })
        : answer(),
  });
}

const typed = (e: unknown) => e instanceof SealpostError || e instanceof BackupError;

test('any answer to any operation is a typed error or a well-formed value', async () => {
  const answers = fc.record({
    status: fc.constantFrom(200, 201, 206, 400, 401, 404, 416, 429, 500, 503, 507),
    body: fc.oneof(
      fc.uint8Array({ maxLength: 300 }),
      fc.json().map((j) => new TextEncoder().encode(j)),
      fc
        .array(fc.record({ name: fc.string(), size: fc.integer(), kind: fc.integer({ min: 0, max: 5 }) }))
        .map((blobs) => new TextEncoder().encode(JSON.stringify({ blobs }))),
    ),
    range: fc.option(fc.string({ maxLength: 40 }), { nil: undefined }),
  });
  await fc.assert(
    fc.asyncProperty(answers, fc.nat(5), async (a, op) => {
      const repo = repoAnswering(
        () =>
          new Response(a.body.length === 0 ? null : a.body, {
            status: a.status,
            headers: a.range === undefined ? {} : { 'content-range': a.range },
          }),
      );
      try {
        if (op === 0) {
          for (const o of await repo.list('snapshots')) assert.match(o.name, /^[0-9a-f]{64}$/);
        } else if (op === 1) await repo.get('index', NAME);
        else if (op === 2) {
          const got = await repo.get('packs', NAME, { offset: 3, length: 10 });
          assert.equal(got.length, 10);
        } else if (op === 3) await repo.exists('packs', NAME);
        else if (op === 4) await repo.delete('packs', NAME);
        else await repo.get('keys', NAME);
      } catch (e) {
        assert.ok(typed(e), `untyped: ${String(e)}`);
      }
    }),
    { numRuns: 300 },
  );
});

test('refuses a key file answer longer than a key file, before buffering it', async () => {
  const repo = repoAnswering(() => new Response(new Uint8Array(1000), { status: 200 }));
  await assert.rejects(
    repo.get('keys', NAME),
    (e: unknown) => e instanceof SealpostError && e.code === 'BODY_TOO_LARGE',
  );
});

/**
 * A server that issues `count` random challenges per batch (or what `issue` says) and answers blob
 * requests with `blob(challenge)`; it records every challenge it issued and every one it was sent.
 */
function batchServer(
  blob: (challenge: string) => Response = () => Response.json({ stored: true }, { status: 201 }),
  issue: (count: number) => number = (count) => count,
) {
  const issued: string[][] = [];
  const used: string[] = [];
  let now = 0;
  const repo = new HttpRepository({
    serverUrl: 'http://127.0.0.1:1',
    username: 'alice',
    deviceSeed: new Uint8Array(32),
    crypto,
    sleep: async () => {},
    now: () => now,
    fetch: async (url, init) => {
      if (url.endsWith('/v1/challenges')) {
        const { count } = JSON.parse(String(init?.body)) as { count: number };
        const batch = Array.from({ length: issue(count) }, () => toBase64url(crypto.randomBytes(32)));
        issued.push(batch);
        return Response.json({ challenges: batch, expiresAtMs: now + LIMITS.challengeTtlMs });
      }
      const challenge = (init?.headers as Record<string, string>)['sealpost-challenge']!;
      used.push(challenge);
      return blob(challenge);
    },
  });
  return { repo, issued, used, advance: (ms: number) => (now += ms) };
}

function object(i: number): { name: ObjectName; bytes: Uint8Array } {
  const bytes = new Uint8Array([i & 0xff, i >> 8]);
  return { name: Buffer.from(crypto.sha256(bytes)).toString('hex') as ObjectName, bytes };
}

test('N blob requests cost about N round trips: challenges come in growing batches, each sent once', async () => {
  const { repo, issued, used } = batchServer();
  const n = 300;
  await Promise.all(Array.from({ length: n }, (_, i) => repo.put('index', object(i).name, object(i).bytes)));
  assert.equal(used.length, n);
  assert.equal(new Set(used).size, n, 'no challenge sent twice');
  const all = new Set(issued.flat());
  assert.ok(
    used.every((c) => all.has(c)),
    'only issued challenges are sent',
  );
  assert.deepEqual(
    issued.slice(0, 5).map((b) => b.length),
    [CHALLENGE_BATCH_FIRST, 8, 16, 32, LIMITS.challengesPerRequestMax],
  );
  assert.ok(issued.length <= 5 + Math.ceil(n / LIMITS.challengesPerRequestMax), `${issued.length} batches`);
});

test('drops its batch when the server says a challenge is gone, and once half the challenge lifetime passed', async () => {
  let refuse = true;
  const server = batchServer((challenge) => {
    if (refuse) {
      refuse = false;
      return Response.json(
        { code: 'AUTH_CHALLENGE_UNKNOWN', message: `challenge ${challenge.length} unknown` },
        { status: 401 },
      );
    }
    return Response.json({ stored: true }, { status: 201 });
  });
  await server.repo.put('index', object(1).name, object(1).bytes);
  assert.equal(server.issued.length, 2, 'a new batch after the refusal');
  assert.ok(server.issued[1]!.includes(server.used[1]!), 'the retry used the new batch');

  server.advance(LIMITS.challengeTtlMs / 2 - 1);
  await server.repo.put('index', object(2).name, object(2).bytes);
  assert.equal(server.issued.length, 2, 'still within the batch lifetime');
  server.advance(1);
  await server.repo.put('index', object(3).name, object(3).bytes);
  assert.equal(server.issued.length, 3, 'a new batch once half the lifetime passed');
  assert.ok(server.issued[2]!.includes(server.used.at(-1)!));
});

test('a batch answer with more challenges than asked, or none, is a typed error', async () => {
  for (const issue of [(count: number) => count + 1, () => 0]) {
    const { repo } = batchServer(undefined, issue);
    await assert.rejects(
      repo.put('index', object(1).name, object(1).bytes),
      (e: unknown) => e instanceof SealpostError && e.code === 'CODEC_INVALID_VALUE',
    );
  }
});
