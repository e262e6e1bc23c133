// Properties of the keep policy (forget.ts) over random snapshot times; the worked examples are in
// test/backup-maintenance.test.ts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import type { BlobId } from '@sealpost/core/backup/blob';
import { applyPolicy, FORGET_RULES, type ForgetPolicy } from './forget.ts';
import type { ObjectName } from './repository.ts';
import type { SnapshotInfo } from './snapshots.ts';

const YEARS = 3 * 365 * 24 * 3_600_000;
const snapshots = fc
  .uniqueArray(fc.integer({ min: 0, max: YEARS }), { minLength: 1, maxLength: 60 })
  .map((offsets) =>
    offsets.map((o, i): SnapshotInfo => ({
      id: i.toString(16).padStart(64, '0') as ObjectName,
      snapshot: {
        timeMs: Date.UTC(2024, 0, 1) + o,
        tree: new Uint8Array(32) as BlobId,
        hostname: i % 3 === 0 ? 'a' : 'b',
        paths: ['/src'],
        tags: [],
      },
    })),
  );
const policy: fc.Arbitrary<ForgetPolicy> = fc
  .record(Object.fromEntries(FORGET_RULES.map((r) => [r, fc.nat(6)])) as Record<string, fc.Arbitrary<number>>)
  .filter((p) => Object.values(p).some((n) => n > 0));

test('keeps or removes every snapshot exactly once, each rule keeping at most its count per group', () => {
  fc.assert(
    fc.property(snapshots, policy, (all, p) => {
      const groups = applyPolicy(all, p);
      const seen = groups.flatMap((g) => [...g.keep.map((k) => k.snapshot.id), ...g.remove.map((s) => s.id)]);
      assert.deepEqual([...seen].sort(), all.map((s) => s.id).sort());
      for (const g of groups) {
        assert.ok(g.keep.length > 0, 'a group keeps at least its newest snapshot');
        for (const rule of FORGET_RULES) {
          const n = g.keep.filter((k) => k.reasons.includes(rule)).length;
          assert.ok(n <= (p[rule] ?? 0), `${rule}: ${n} kept`);
        }
      }
    }),
    { numRuns: 200 },
  );
});

test('the newest snapshot of each group is kept, and last n keeps the n newest', () => {
  fc.assert(
    fc.property(snapshots, fc.integer({ min: 1, max: 10 }), (all, n) => {
      for (const g of applyPolicy(all, { last: n })) {
        const group = all
          .filter((s) => s.snapshot.hostname === g.hostname)
          .sort((a, b) => b.snapshot.timeMs - a.snapshot.timeMs);
        assert.deepEqual(
          g.keep.map((k) => k.snapshot.id),
          group.slice(0, n).map((s) => s.id),
        );
      }
    }),
    { numRuns: 200 },
  );
});

test('does not depend on the order snapshots are given in', () => {
  fc.assert(
    fc.property(snapshots, policy, fc.nat(), (all, p, seed) => {
      const shuffled = [...all].sort(
        (a, b) => ((a.id.charCodeAt(63) * 31 + seed) % 7) - ((b.id.charCodeAt(63) * 31 + seed) % 7),
      );
      assert.deepEqual(applyPolicy(shuffled, p), applyPolicy(all, p));
    }),
    { numRuns: 100 },
  );
});
