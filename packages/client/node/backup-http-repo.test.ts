/**
 * `HttpRepository` against a hostile server (a fake `fetch`): whatever it answers (random statuses,
 * bodies, headers, listings), every operation ends in a typed error or a checked value, never an
 * untyped exception, and an answer longer than the kind allows is refused.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { SealpostError, toBase64url } from '@sealpost/core';
import { nodeCryptoProvider as crypto } from '@sealpost/core/node';
import { BackupError } from '../src/backup/errors.ts';
import type { ObjectName } from '../src/backup/repository.ts';
import { HttpRepository } from './backup-http-repo.ts';

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
