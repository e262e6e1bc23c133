/**
 * node bench/mailbox-fanout.ts — what one MLS commit fanned out to a large group costs the store:
 * bytes the database grows by when the commit is stored for every other member, how long the
 * commit takes, and how long every recipient takes to fetch and acknowledge it (after which the
 * store should hold none of it).
 *
 *   node bench/mailbox-fanout.ts [--devices 1000] [--sizes 70000,1200000] [--only sqlite,postgres]
 *
 * Bytes: SQLite, pages in use ((page_count - freelist_count) * page_size); PostgreSQL, the total
 * size of every table with its TOAST and indexes (pg_total_relation_size; after a VACUUM for what
 * is left once acknowledged). Each (store, size) runs
 * on a database of its own, through the `Store` interface only.
 */
import { createHash, randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { LIMITS, parseUsername, usernameSkeleton } from '@sealpost/core';
import type { DevicePk, Store } from '../packages/server/src/store/store.ts';
import { storeFactories, type FreshDatabase } from '../packages/server/src/store/test-databases.ts';

const { values } = parseArgs({
  options: {
    devices: { type: 'string', default: '1000' },
    sizes: { type: 'string', default: '70000,1200000' },
    only: { type: 'string', default: 'sqlite,postgres' },
  },
});
const N = Number(values.devices);
const SIZES = values.sizes.split(',').map(Number);
const NOW = Math.floor(Date.now() / 1000);

/** Database bytes in use, per dialect (see the header). */
const USED_BYTES = {
  sqlite: `SELECT (p.page_count - f.freelist_count) * s.page_size AS used
           FROM pragma_page_count() AS p, pragma_freelist_count() AS f, pragma_page_size() AS s`,
  postgres: `SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0)::bigint AS used
             FROM pg_class AS c JOIN pg_namespace AS n ON n.oid = c.relnamespace
             WHERE n.nspname = 'public' AND c.relkind = 'r'`,
} as const;

async function usedBytes(db: FreshDatabase, kind: Store['kind']): Promise<number> {
  const [row] = await db.inspect(USED_BYTES[kind]);
  return Number(row!['used']);
}

/** `i` in letters no skeleton rule folds together, so each value names a distinct account. */
const letters = (i: number) => [...String(i)].map((d) => 'abefhkptxy'[Number(d)]).join('');

async function members(store: Store, count: number): Promise<DevicePk[]> {
  const out: DevicePk[] = [];
  for (let from = 0; from < count; from += 100) {
    const made = await Promise.all(
      Array.from({ length: Math.min(100, count - from) }, (_, k) => {
        const username = parseUsername(`member${letters(from + k)}`);
        return store.createAccount({
          username,
          skeleton: usernameSkeleton(username),
          accountKey: new Uint8Array(randomBytes(LIMITS.publicKeyBytes)),
          device: {
            deviceId: new Uint8Array(randomBytes(LIMITS.deviceIdBytes)),
            publicKey: new Uint8Array(randomBytes(LIMITS.publicKeyBytes)),
          },
          day: 20_000,
        });
      }),
    );
    out.push(...made.map((m) => m.device.pk));
  }
  return out;
}

const mb = (n: number) => (n / 1e6).toFixed(1);

for (const factory of storeFactories.filter((f) => values.only.split(',').includes(f.name))) {
  for (const size of SIZES) {
    const db = await factory.fresh();
    try {
      const store = await db.open();
      await store.migrate();
      const [sender, ...recipients] = await members(store, N);
      const payload = new Uint8Array(randomBytes(size));
      const before = await usedBytes(db, factory.kind);

      let t = performance.now();
      await store.commit({
        sender: sender!,
        recipients,
        messageId: new Uint8Array(randomBytes(LIMITS.messageIdBytes)),
        digest: new Uint8Array(createHash('sha256').update(payload).digest()),
        payload,
        expiresAtSecs: NOW + 3_600,
        groupId: new Uint8Array(randomBytes(32)),
        epoch: 0,
      });
      const commitMs = performance.now() - t;
      const stored = (await usedBytes(db, factory.kind)) - before;

      t = performance.now();
      // Eight recipients at a time, as eight connections would (a pool holds fewer than 999).
      let next = 0;
      await Promise.all(
        Array.from({ length: 8 }, async () => {
          while (next < recipients.length) {
            const pk = recipients[next++]!;
            const [entry] = await store.fetchMail(pk, 0, 1, NOW);
            await store.ack(pk, [entry!.seq]);
          }
        }),
      );
      const drainMs = performance.now() - t;
      // PostgreSQL keeps deleted rows' space until VACUUM, which gives back trailing empty pages.
      if (factory.kind === 'postgres') await db.inspect('VACUUM');
      const left = (await usedBytes(db, factory.kind)) - before;

      console.log(
        `${factory.name.padEnd(8)} payload ${mb(size).padStart(5)} MB to ${recipients.length} devices: ` +
          `stored ${mb(stored).padStart(8)} MB, commit ${commitMs.toFixed(0).padStart(6)} ms, ` +
          `fetch+ack all ${drainMs.toFixed(0).padStart(6)} ms, left after acks ${mb(left)} MB`,
      );
    } finally {
      await db.cleanup();
    }
  }
}
