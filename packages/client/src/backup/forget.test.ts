// Properties of the keep policy (forget.ts) over random snapshot times, hosts and tags, and worked
// examples of what restic's counting rules do not cover (--keep-within, --keep-within-<bucket>,
// --keep-tag, --group-by, restic 0.17's oldest snapshot); the counting rules' worked examples are in
// test/backup-maintenance.test.ts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import type { BlobId } from '@sealpost/core/backup/blob';
import { BackupError } from './errors.ts';
import {
  applyPolicy,
  bucket,
  FORGET_RULES,
  GROUP_FIELDS,
  keepWithinCutoff,
  parseKeepWithin,
  type ForgetPolicy,
  type GroupField,
  type KeepWithin,
  WITHIN_RULES,
  type WithinRule,
} from './forget.ts';
import type { ObjectName } from './repository.ts';
import { selectSnapshots, type SnapshotInfo } from './snapshots.ts';

const HOUR = 3_600_000;
const YEARS = 3 * 365 * 24 * HOUR;
const TAGS = ['daily', 'keep', 'db'] as const;
const snapshots = fc
  .uniqueArray(
    fc.record({
      offset: fc.integer({ min: 0, max: YEARS }),
      paths: fc.constantFrom(['/src'], ['/src'], ['/etc', '/src']),
      tags: fc.subarray([...TAGS]),
    }),
    { minLength: 1, maxLength: 60, selector: (r) => r.offset },
  )
  .map((records) =>
    records.map(({ offset, paths, tags }, i): SnapshotInfo => ({
      id: i.toString(16).padStart(64, '0') as ObjectName,
      snapshot: {
        timeMs: Date.UTC(2024, 0, 1) + offset,
        tree: new Uint8Array(32) as BlobId,
        hostname: i % 3 === 0 ? 'a' : 'b',
        paths,
        tags,
      },
    })),
  );
const within: fc.Arbitrary<KeepWithin> = fc.record({
  years: fc.nat(2),
  months: fc.nat(14),
  days: fc.nat(40),
  hours: fc.nat(30),
});
const groupBy: fc.Arbitrary<GroupField[]> = fc.subarray([...GROUP_FIELDS]);
const isBackupError = (code: string) => (e: unknown) => e instanceof BackupError && e.code === code;
const ids = (list: readonly SnapshotInfo[]) => list.map((s) => s.id);
const counts: fc.Arbitrary<ForgetPolicy> = fc
  .record(Object.fromEntries(FORGET_RULES.map((r) => [r, fc.nat(6)])) as Record<string, fc.Arbitrary<number>>)
  .filter((p) => Object.values(p).some((n) => n > 0));
/** Counting rules, and sometimes --keep-within and --keep-tag as well. */
const policy: fc.Arbitrary<ForgetPolicy> = fc
  .tuple(counts, fc.option(within, { nil: undefined }), fc.subarray([['keep'], ['daily', 'db'], ['']]))
  .map(([c, w, tags]) => ({ ...c, ...(w === undefined ? {} : { within: w }), tags }));

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
          .filter((s) => s.snapshot.hostname === g.hostname && s.snapshot.paths.join() === g.paths.join())
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

test("keep-within never removes a snapshot newer than its group's newest less the duration, and alone keeps only those", () => {
  fc.assert(
    fc.property(snapshots, within, groupBy, (all, w, by) => {
      fc.pre(w.years + w.months + w.days + w.hours > 0);
      for (const g of applyPolicy(all, { within: w }, by)) {
        const newest = Math.max(
          ...[...g.keep.map((k) => k.snapshot), ...g.remove].map((s) => s.snapshot.timeMs),
        );
        const cutoff = keepWithinCutoff(newest, w);
        for (const k of g.keep) {
          assert.ok(k.snapshot.snapshot.timeMs > cutoff);
          assert.deepEqual(k.reasons, ['within']);
        }
        for (const s of g.remove)
          assert.ok(s.snapshot.timeMs <= cutoff, 'removed only at or before the cutoff');
      }
    }),
    { numRuns: 200 },
  );
});

test("group-by never lets one group's rule keep another's snapshot: each group is decided as if alone", () => {
  fc.assert(
    fc.property(snapshots, policy, groupBy, (all, p, by) => {
      const groups = applyPolicy(all, p, by);
      for (const g of groups) {
        const members = [...g.keep.map((k) => k.snapshot), ...g.remove];
        for (const s of members) {
          if (by.includes('host')) assert.equal(s.snapshot.hostname, g.hostname);
          if (by.includes('paths')) assert.deepEqual([...s.snapshot.paths].sort(), g.paths);
          if (by.includes('tags')) assert.deepEqual([...s.snapshot.tags].sort(), g.tags);
        }
        const [alone] = applyPolicy(members, p, []);
        assert.deepEqual(alone!.keep, g.keep);
        assert.deepEqual(alone!.remove, g.remove);
      }
      assert.equal(
        groups.length,
        new Set(groups.map((g) => JSON.stringify([g.hostname, g.paths, g.tags]))).size,
      );
    }),
    { numRuns: 200 },
  );
});

test('keep-tag keeps every snapshot with all the tags of one list, and says which list', () => {
  fc.assert(
    fc.property(snapshots, counts, groupBy, (all, c, by) => {
      const tags = [['keep'], ['daily', 'db']];
      const kept = new Map(
        applyPolicy(all, { ...c, tags }, by).flatMap((g) => g.keep.map((k) => [k.snapshot.id, k])),
      );
      for (const s of all) {
        const lists = tags.filter((l) => l.every((t) => s.snapshot.tags.includes(t)));
        if (lists.length === 0) {
          assert.ok(!(kept.get(s.id)?.reasons ?? []).includes('tag'));
          continue;
        }
        assert.ok(kept.get(s.id)?.reasons.includes('tag'), 'a tagged snapshot is kept');
        for (const l of lists) assert.ok(kept.get(s.id)!.matches.includes(`has tags ${l.join(',')}`));
      }
    }),
    { numRuns: 200 },
  );
});

test('a selection keeps exactly the snapshots with a host of --host, the tags of a --tag list, every --path', () => {
  fc.assert(
    fc.property(snapshots, (all) => {
      assert.deepEqual(ids(selectSnapshots(all, {})), ids(all));
      assert.deepEqual(
        ids(selectSnapshots(all, { hosts: ['a'], tags: [['keep', 'db'], ['daily']], paths: ['/etc'] })),
        ids(
          all.filter(
            ({ snapshot: s }) =>
              s.hostname === 'a' &&
              ((s.tags.includes('keep') && s.tags.includes('db')) || s.tags.includes('daily')) &&
              s.paths.includes('/etc'),
          ),
        ),
      );
      assert.deepEqual(
        ids(selectSnapshots(all, { tags: [['']] })),
        ids(all.filter((s) => s.snapshot.tags.length === 0)),
        '--tag "" selects the snapshots without tags',
      );
    }),
    { numRuns: 100 },
  );
});

/** A snapshot at an ISO time, of host `h` with `tags`. */
function at(iso: string, hostname = 'h', tags: string[] = []): SnapshotInfo {
  const timeMs = Date.parse(iso);
  return {
    id: (timeMs.toString(16) + hostname + tags.join('')).padStart(64, '0') as ObjectName,
    snapshot: { timeMs, tree: new Uint8Array(32) as BlobId, hostname, paths: ['/src'], tags },
  };
}
const keptAt = (all: SnapshotInfo[], p: ForgetPolicy, by?: GroupField[]) =>
  applyPolicy(all, p, by).flatMap((g) =>
    g.keep.map(
      (k) => `${new Date(k.snapshot.snapshot.timeMs).toISOString().slice(0, 16)} ${k.matches.join('; ')}`,
    ),
  );

test("keep-within counts calendar months back from the newest snapshot, as Go's AddDate", () => {
  // 2026-03-31 less one month is "2026-02-31", that is 2026-03-03 (not the end of February).
  const all = ['2026-03-31T12:00', '2026-03-03T12:01', '2026-03-03T12:00', '2026-02-28T12:00'].map((t) =>
    at(`${t}:00Z`),
  );
  assert.deepEqual(keptAt(all, { within: parseKeepWithin('1m')! }), [
    '2026-03-31T12:00 within 1m',
    '2026-03-03T12:01 within 1m',
  ]);
  assert.deepEqual(keptAt(all, { within: parseKeepWithin('28d')! }), [
    '2026-03-31T12:00 within 28d',
    '2026-03-03T12:01 within 28d',
  ]);
});

test('keep-within, keep-tag and keep-last combine, each reason said as restic says it', () => {
  const all = [
    at('2026-01-01T00:00:00Z', 'h', ['monthly']),
    at('2026-01-20T00:00:00Z'),
    at('2026-01-25T00:00:00Z'),
    at('2026-01-30T00:00:00Z', 'h', ['monthly']),
  ];
  assert.deepEqual(keptAt(all, { last: 1, within: parseKeepWithin('7d')!, tags: [['monthly']] }), [
    '2026-01-30T00:00 last snapshot; within 7d; has tags monthly',
    '2026-01-25T00:00 within 7d',
    '2026-01-01T00:00 has tags monthly',
  ]);
});

test('group-by tags puts differently tagged snapshots in groups of their own; "" makes one group', () => {
  const all = [
    at('2026-01-01T00:00:00Z', 'a', ['x']),
    at('2026-01-02T00:00:00Z', 'a', []),
    at('2026-01-03T00:00:00Z', 'b', ['x']),
  ];
  const summary = (by: GroupField[]) =>
    applyPolicy(all, { last: 1 }, by).map(
      (g) => `${g.hostname}|${g.tags.join(',')} keep ${g.keep.length} remove ${g.remove.length}`,
    );
  assert.deepEqual(summary(['host', 'paths']), ['a| keep 1 remove 1', 'b| keep 1 remove 0']);
  assert.deepEqual(summary(['tags']), ['| keep 1 remove 0', '|x keep 1 remove 1']);
  assert.deepEqual(summary(['host', 'tags']), [
    'a| keep 1 remove 0',
    'a|x keep 1 remove 0',
    'b|x keep 1 remove 0',
  ]);
  assert.deepEqual(summary([]), ['| keep 1 remove 2']);
});

test('parses restic durations and refuses anything else', () => {
  assert.deepEqual(parseKeepWithin('2y5m7d3h'), { years: 2, months: 5, days: 7, hours: 3 });
  assert.deepEqual(parseKeepWithin('3h2y'), { years: 2, months: 0, days: 0, hours: 3 });
  assert.deepEqual(parseKeepWithin('30d'), { years: 0, months: 0, days: 30, hours: 0 });
  for (const bad of ['', '5x', '-1d', '1.5d', 'd', '7', '1d1d', '1w', ' 1d', '1d ', '1234567d']) {
    assert.equal(parseKeepWithin(bad), undefined, bad);
  }
});

test('refuses a within or count that is not a whole number, a within of zero alone, an unknown group field', () => {
  const all = [at('2026-01-01T00:00:00Z')];
  assert.throws(
    () => applyPolicy(all, { within: { years: 0, months: 0, days: -1, hours: 0 } }),
    isBackupError('BACKUP_POLICY_EMPTY'),
  );
  assert.throws(
    () => applyPolicy(all, { within: { years: 0, months: 0, days: 0.5, hours: 0 } }),
    isBackupError('BACKUP_POLICY_EMPTY'),
  );
  assert.throws(
    () => applyPolicy(all, { within: { years: 0, months: 0, days: 0, hours: 0 } }),
    isBackupError('BACKUP_POLICY_EMPTY'),
  );
  assert.throws(() => applyPolicy(all, { hourly: 1.5 }), isBackupError('BACKUP_POLICY_EMPTY'));
  assert.throws(
    () => applyPolicy(all, { last: 1 }, ['hostname' as GroupField]),
    isBackupError('BACKUP_POLICY_EMPTY'),
  );
  assert.throws(() => applyPolicy(all, { tags: [] }), isBackupError('BACKUP_POLICY_EMPTY'));
  assert.equal(applyPolicy(all, { tags: [['x']] })[0]!.remove.length, 1, 'keep-tag alone is a policy');
});

const withinRule = fc.constantFrom(...(Object.keys(WITHIN_RULES) as WithinRule[]));
const BUCKET_RULES = ['hourly', 'daily', 'weekly', 'monthly', 'yearly'] as const;
const membersOf = (g: ReturnType<typeof applyPolicy>[number]) =>
  [...g.keep.map((k) => k.snapshot), ...g.remove].sort(
    (a, b) => b.snapshot.timeMs - a.snapshot.timeMs || (a.id < b.id ? 1 : -1),
  );

test('keep-within-<bucket> keeps a subset of keep-within: one snapshot per bucket it covers, plus the oldest only as "oldest"', () => {
  fc.assert(
    fc.property(snapshots, within, withinRule, groupBy, (all, w, rule, by) => {
      fc.pre(w.years + w.months + w.days + w.hours > 0);
      const unit = WITHIN_RULES[rule];
      const plain = applyPolicy(all, { within: w }, by);
      const bucketed = applyPolicy(all, { [rule]: w } as ForgetPolicy, by);
      assert.equal(bucketed.length, plain.length);
      for (const [i, g] of bucketed.entries()) {
        const inSpan = new Set(ids(plain[i]!.keep.map((k) => k.snapshot)));
        const oldest = membersOf(g).at(-1)!;
        const seen = new Set<string>();
        for (const k of g.keep) {
          assert.ok(inSpan.has(k.snapshot.id), 'kept by plain within too');
          assert.deepEqual(k.reasons, [rule]);
          const b = bucket(unit, k.snapshot);
          if (k.matches[0]!.startsWith('oldest ')) {
            assert.equal(k.snapshot.id, oldest.id, 'only the oldest is kept in a bucket already kept');
            assert.ok(seen.has(b));
          } else {
            assert.ok(!seen.has(b), `one snapshot per ${unit} bucket`);
          }
          seen.add(b);
        }
        const covered = new Set(plain[i]!.keep.map((k) => bucket(unit, k.snapshot)));
        assert.deepEqual([...seen].sort(), [...covered].sort(), 'every bucket in the span keeps one');
      }
    }),
    { numRuns: 200 },
  );
});

test('a bucket rule keeps the newest of its n newest buckets, and the oldest snapshot when it has fewer than n (restic 0.17)', () => {
  fc.assert(
    fc.property(
      snapshots,
      fc.constantFrom(...BUCKET_RULES),
      fc.integer({ min: 1, max: 8 }),
      (all, rule, n) => {
        for (const g of applyPolicy(all, { [rule]: n } as ForgetPolicy)) {
          const members = membersOf(g);
          const firsts = members.filter(
            (s, i) => i === 0 || bucket(rule, members[i - 1]!) !== bucket(rule, s),
          );
          const want = ids(firsts.slice(0, n));
          if (firsts.length < n && !want.includes(members.at(-1)!.id)) want.push(members.at(-1)!.id);
          assert.deepEqual(ids(g.keep.map((k) => k.snapshot)), want);
        }
      },
    ),
    { numRuns: 200 },
  );
});

// Oldest first: 2026-03-01 is a Sunday, so 03-02 and 03-09 start ISO weeks.
const history = [
  '2025-12-31T00:00',
  '2026-02-27T00:00',
  '2026-03-02T10:00',
  '2026-03-10T19:00',
  '2026-03-10T20:10',
  '2026-03-10T20:30',
].map((t) => at(`${t}:00Z`));
const span = (text: string) => parseKeepWithin(text)!;

test('keep-within-<bucket> keeps the newest of each bucket within the span, said "<bucket> within <span>"', () => {
  const cases: [ForgetPolicy, string[]][] = [
    [
      { withinHourly: span('2h') },
      ['2026-03-10T20:30 hourly within 2h', '2026-03-10T19:00 hourly within 2h'],
    ],
    [
      { withinDaily: span('10d') },
      ['2026-03-10T20:30 daily within 10d', '2026-03-02T10:00 daily within 10d'],
    ],
    [
      { withinWeekly: span('10d') },
      ['2026-03-10T20:30 weekly within 10d', '2026-03-02T10:00 weekly within 10d'],
    ],
    [
      { withinMonthly: span('1m') },
      ['2026-03-10T20:30 monthly within 1m', '2026-02-27T00:00 monthly within 1m'],
    ],
    [
      { withinYearly: span('1y') },
      ['2026-03-10T20:30 yearly within 1y', '2025-12-31T00:00 yearly within 1y'],
    ],
    [
      { last: 1, within: span('1h'), withinDaily: span('1d'), tags: [['']] },
      [
        '2026-03-10T20:30 last snapshot; within 1h; daily within 1d; has tags ',
        '2026-03-10T20:10 within 1h; has tags ',
        '2026-03-10T19:00 has tags ',
        '2026-03-02T10:00 has tags ',
        '2026-02-27T00:00 has tags ',
        '2025-12-31T00:00 has tags ',
      ],
    ],
  ];
  for (const [p, want] of cases) assert.deepEqual(keptAt(history, p), want, JSON.stringify(p));
  assert.deepEqual(
    applyPolicy(history, { withinDaily: span('1d') })[0]!.keep.map((k) => k.reasons),
    [['withinDaily']],
  );
});

test('keep-within-<bucket> longer than the history keeps each bucket and the oldest snapshot, "oldest <bucket> within"', () => {
  const all = ['2026-03-09T06:00', '2026-03-09T12:00', '2026-03-10T08:00', '2026-03-10T20:00'].map((t) =>
    at(`${t}:00Z`),
  );
  assert.deepEqual(keptAt(all, { withinDaily: span('1y') }), [
    '2026-03-10T20:00 daily within 1y',
    '2026-03-09T12:00 daily within 1y',
    '2026-03-09T06:00 oldest daily within 1y',
  ]);
  assert.deepEqual(keptAt(all, { withinDaily: span('1d') }), ['2026-03-10T20:00 daily within 1d']);
});

test('keep-within-<bucket> keeps one of two snapshots made at the same time in one bucket', () => {
  const all = [
    at('2026-03-01T00:00:00Z'),
    at('2026-03-09T12:00:00Z'),
    at('2026-03-09T12:00:00Z', 'h', ['x']),
    at('2026-03-10T20:00:00Z'),
  ];
  const [g] = applyPolicy(all, { withinDaily: span('3d') });
  assert.deepEqual(
    g!.keep.map(
      (k) => `${new Date(k.snapshot.snapshot.timeMs).toISOString().slice(0, 13)} ${k.matches.join()}`,
    ),
    ['2026-03-10T20 daily within 3d', '2026-03-09T12 daily within 3d'],
  );
  assert.equal(g!.remove.length, 2, 'the other of the tie, and the oldest (outside the span)');
});

test('a bucket rule short of buckets also keeps the oldest snapshot, said "oldest <bucket> snapshot"; one with none left does not', () => {
  const all = ['2026-03-09T06:00', '2026-03-09T12:00', '2026-03-10T08:00', '2026-03-10T20:00'].map((t) =>
    at(`${t}:00Z`),
  );
  assert.deepEqual(keptAt(all, { daily: 5 }), [
    '2026-03-10T20:00 daily snapshot',
    '2026-03-09T12:00 daily snapshot',
    '2026-03-09T06:00 oldest daily snapshot',
  ]);
  assert.deepEqual(keptAt(all, { daily: 2 }), [
    '2026-03-10T20:00 daily snapshot',
    '2026-03-09T12:00 daily snapshot',
  ]);
  assert.deepEqual(keptAt(all, { yearly: Number.MAX_SAFE_INTEGER, last: 1 }), [
    '2026-03-10T20:00 last snapshot; yearly snapshot',
    '2026-03-09T06:00 oldest yearly snapshot',
  ]);
  assert.deepEqual(
    keptAt([all[0]!], { daily: 5 }),
    ['2026-03-09T06:00 daily snapshot'],
    'alone: not "oldest"',
  );
  // The oldest in a bucket of its own is an ordinary keep; ties at the oldest keep both.
  const tie = [
    at('2026-03-09T06:00:00Z'),
    at('2026-03-09T06:00:00Z', 'h', ['x']),
    at('2026-03-10T20:00:00Z'),
  ];
  assert.deepEqual(keptAt(tie, { daily: 5 }), [
    '2026-03-10T20:00 daily snapshot',
    '2026-03-09T06:00 daily snapshot',
    '2026-03-09T06:00 oldest daily snapshot',
  ]);
});

test('a group with no snapshots keeps and removes nothing; keep-within-<bucket> alone is a policy, zero or negative is refused', () => {
  assert.deepEqual(applyPolicy([], { withinDaily: span('7d') }), []);
  assert.deepEqual(applyPolicy([], { daily: 3 }), []);
  const all = [at('2026-01-01T00:00:00Z'), at('2025-01-01T00:00:00Z')];
  assert.equal(applyPolicy(all, { withinWeekly: span('1d') })[0]!.remove.length, 1);
  assert.throws(
    () => applyPolicy(all, { withinDaily: { years: 0, months: 0, days: 0, hours: 0 } }),
    isBackupError('BACKUP_POLICY_EMPTY'),
  );
  assert.throws(
    () => applyPolicy(all, { last: 1, withinMonthly: { years: 0, months: -1, days: 0, hours: 0 } }),
    (e: unknown) =>
      isBackupError('BACKUP_POLICY_EMPTY')(e) && /keep-within-monthly/.test((e as Error).message),
  );
});
