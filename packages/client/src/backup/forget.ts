/**
 * `forget`: which snapshots a retention policy keeps, and removing the others' snapshot files
 * (their data stays until `prune`, prune.ts); or removing snapshots named by id (restic's
 * `forget ID...`, `forget(session, { ids })`).
 *
 * The policy is restic's (`restic forget --keep-* --group-by`). The snapshots chosen (all, or those
 * a `SnapshotFilter` selects: snapshots.ts) are divided into groups by any of hostname, paths and
 * tags (`groupBy`, default host and paths, as restic's; none: one group), and each group is taken
 * newest first, on its own: no rule of one group ever keeps a snapshot of another. In a group:
 *
 * - `last: n` keeps the n newest snapshots;
 * - `hourly`, `daily`, `weekly` (ISO 8601 weeks), `monthly`, `yearly: n` keep the newest snapshot of
 *   each of the n most recent such periods that have one;
 * - `within` (restic's `--keep-within 2y5m7d3h`) keeps every snapshot strictly newer than the
 *   group's newest snapshot less that many years, months, days and hours (calendar arithmetic in
 *   UTC, as Go's `AddDate`: 2026-03-31 less 1m is 2026-02-31, that is 2026-03-03);
 * - `withinHourly` ... `withinYearly` (restic's `--keep-within-daily 7d` ...) keep the newest snapshot
 *   of each hour, day, week, month or year among those `within` that span would keep;
 * - `tags` (restic's `--keep-tag a,b`, repeatable) keeps every snapshot that has all the tags of any
 *   one of the lists (a list holding only "" matches the snapshots without tags, as restic's).
 *
 * As in restic 0.17, a bucket rule that still has a count left when it reaches the group's oldest
 * snapshot (fewer buckets than its count) keeps that snapshot too, even in a bucket it already kept
 * one of, so that the history kept reaches as far back as it can ("oldest daily snapshot"); so does
 * a within-bucket rule whose span covers the oldest snapshot ("oldest daily within 7d").
 *
 * A snapshot is kept when any rule keeps it; its reasons name each rule (`reasons`) and say it as
 * restic does (`matches`: "daily snapshot", "within 2y5m", "daily within 7d", "has tags a,b"). Time
 * buckets are in UTC (restic uses local time) and durations count back from the group's newest
 * snapshot, not from now, so the outcome depends only on the snapshots, never on where or when
 * `forget` runs. A policy that keeps nothing is refused (BACKUP_POLICY_EMPTY) rather than removing
 * everything; so is a negative or fractional count or duration.
 */
import { BackupError } from './errors.ts';
import type { Session } from './session.ts';
import {
  hasTags,
  listSnapshots,
  pickSnapshot,
  selectSnapshots,
  type DamagedObject,
  type SnapshotFilter,
  type SnapshotInfo,
} from './snapshots.ts';

/** The counting rules, `--keep-<rule> n`. */
export const FORGET_RULES = ['last', 'hourly', 'daily', 'weekly', 'monthly', 'yearly'] as const;
export type ForgetRule = (typeof FORGET_RULES)[number];
/** The rules that keep one snapshot per time bucket. */
export type BucketRule = Exclude<ForgetRule, 'last'>;
/** The within-bucket rules, `--keep-within-<bucket> <duration>`, each with its bucket. */
export const WITHIN_RULES = {
  withinHourly: 'hourly',
  withinDaily: 'daily',
  withinWeekly: 'weekly',
  withinMonthly: 'monthly',
  withinYearly: 'yearly',
} as const satisfies Record<string, BucketRule>;
export type WithinRule = keyof typeof WITHIN_RULES;
const WITHIN_RULE_NAMES = Object.keys(WITHIN_RULES) as WithinRule[];
/** Why a snapshot is kept: a counting rule, `within`, a within-bucket rule, or `tag`. */
export type KeepReason = ForgetRule | 'within' | WithinRule | 'tag';

/** restic's `--keep-within` duration: calendar years and months, days and hours. */
export interface KeepWithin {
  readonly years: number;
  readonly months: number;
  readonly days: number;
  readonly hours: number;
}

/**
 * How many of each to keep (a missing or 0 count keeps nothing), a `within` span, within-bucket
 * spans (a missing or zero span keeps nothing), tag lists.
 */
export type ForgetPolicy = Partial<Record<ForgetRule, number>> &
  Partial<Record<WithinRule, KeepWithin>> & {
    readonly within?: KeepWithin;
    readonly tags?: readonly (readonly string[])[];
  };

/**
 * restic's `forget ID...`: exactly these snapshots, each an id, a unique prefix of one, or "latest"
 * (the newest of those the filter selects), as `findSnapshot` resolves them. Never with a policy
 * (restic refuses the mix too).
 */
export type ForgetIds = { readonly ids: readonly string[] } & {
  readonly [K in keyof ForgetPolicy]?: never;
};

/** What snapshots are grouped by (restic's `--group-by host,paths,tags`). */
export const GROUP_FIELDS = ['host', 'paths', 'tags'] as const;
export type GroupField = (typeof GROUP_FIELDS)[number];
export const DEFAULT_GROUP_BY: readonly GroupField[] = ['host', 'paths'];

export interface KeptSnapshot {
  readonly snapshot: SnapshotInfo;
  /** The rules that keep it, in policy order (last, hourly, ..., yearly, within, withinHourly, ..., tag). */
  readonly reasons: readonly KeepReason[];
  /**
   * The same said as restic says it: "last snapshot", "daily snapshot", "oldest daily snapshot",
   * "within 7d", "daily within 7d", "has tags a,b".
   */
  readonly matches: readonly string[];
}

export interface ForgetGroup {
  /** The group's hostname, paths (sorted) and tags (sorted); "" and [] for a field not grouped by. */
  readonly hostname: string;
  readonly paths: readonly string[];
  readonly tags: readonly string[];
  /** Kept snapshots, newest first, each with the rules that keep it. */
  readonly keep: readonly KeptSnapshot[];
  /** Snapshots no rule keeps, newest first. */
  readonly remove: readonly SnapshotInfo[];
}

export interface ForgetResult {
  readonly groups: readonly ForgetGroup[];
  /** Snapshot files deleted (none on a dry run). */
  readonly removed: number;
}

export interface ForgetIdsResult {
  /** The snapshots named, each once, in the order first named: those removed (or, dry, to be). */
  readonly remove: readonly SnapshotInfo[];
  /** Snapshot files deleted (none on a dry run). */
  readonly removed: number;
}

export interface ForgetOptions {
  readonly dryRun?: boolean;
  /** Policy only: what groups are made of (default host and paths). */
  readonly groupBy?: readonly GroupField[];
  /** Policy: the snapshots considered; ids: the snapshots "latest" is the newest of. */
  readonly filter?: SnapshotFilter;
}

const WITHIN_UNITS = { y: 'years', m: 'months', d: 'days', h: 'hours' } as const;

/**
 * restic's duration ("2y5m7d3h", "30d", "1y"): whole numbers of years, months, days and hours, each
 * unit at most once, in any order. Undefined for anything else (the caller says why).
 */
export function parseKeepWithin(text: string): KeepWithin | undefined {
  if (!/^(\d{1,6}[ymdh]){1,4}$/.test(text)) return undefined;
  const within = { years: 0, months: 0, days: 0, hours: 0 };
  const seen = new Set<string>();
  for (const [, n, unit] of text.matchAll(/(\d+)([ymdh])/g)) {
    if (seen.has(unit!)) return undefined;
    seen.add(unit!);
    within[WITHIN_UNITS[unit as keyof typeof WITHIN_UNITS]] = Number(n);
  }
  return within;
}

/** "2y5m7d3h", zero parts left out ("0h" for all zero). */
export function formatKeepWithin(w: KeepWithin): string {
  const text = `${w.years > 0 ? `${w.years}y` : ''}${w.months > 0 ? `${w.months}m` : ''}${w.days > 0 ? `${w.days}d` : ''}${w.hours > 0 ? `${w.hours}h` : ''}`;
  return text === '' ? '0h' : text;
}

const withinIsZero = (w: KeepWithin | undefined) =>
  w === undefined || w.years + w.months + w.days + w.hours === 0;

/**
 * The instant `within` before `newestMs`: snapshots strictly newer are kept. Date.UTC normalises an
 * out-of-range month or day as Go's AddDate does; a span beyond the Date range keeps everything.
 */
export function keepWithinCutoff(newestMs: number, w: KeepWithin): number {
  const d = new Date(newestMs);
  const cutoff = Date.UTC(
    d.getUTCFullYear() - w.years,
    d.getUTCMonth() - w.months,
    d.getUTCDate() - w.days,
    d.getUTCHours() - w.hours,
    d.getUTCMinutes(),
    d.getUTCSeconds(),
    d.getUTCMilliseconds(),
  );
  return Number.isNaN(cutoff) ? -Infinity : cutoff;
}

/** ISO 8601 week of a UTC date: the year that owns the week's Thursday, and the week number. */
function isoWeek(d: Date): string {
  const thursday = new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate()));
  thursday.setUTCDate(thursday.getUTCDate() + 3 - ((thursday.getUTCDay() + 6) % 7));
  const yearStart = Date.UTC(thursday.getUTCFullYear(), 0, 1);
  const week = Math.floor((thursday.getTime() - yearStart) / 86_400_000 / 7) + 1;
  return `${thursday.getUTCFullYear()}-W${week}`;
}

/** The bucket a snapshot falls into for a rule; a rule keeps one snapshot per bucket. */
export function bucket(rule: ForgetRule, s: SnapshotInfo): string {
  const iso = new Date(s.snapshot.timeMs).toISOString(); // YYYY-MM-DDTHH:...
  switch (rule) {
    case 'last':
      return s.id;
    case 'hourly':
      return iso.slice(0, 13);
    case 'daily':
      return iso.slice(0, 10);
    case 'weekly':
      return isoWeek(new Date(s.snapshot.timeMs));
    case 'monthly':
      return iso.slice(0, 7);
    case 'yearly':
      return iso.slice(0, 4);
  }
}

const isCount = (n: unknown) => typeof n === 'number' && Number.isSafeInteger(n) && n >= 0;

function checkPolicy(policy: ForgetPolicy, groupBy: readonly GroupField[]): void {
  let any = false;
  for (const rule of FORGET_RULES) {
    const n = policy[rule];
    if (n === undefined) continue;
    if (!isCount(n)) {
      throw new BackupError('BACKUP_POLICY_EMPTY', `keep-${rule} must be a whole number`, { rule });
    }
    if (n > 0) any = true;
  }
  for (const rule of ['within', ...WITHIN_RULE_NAMES] as const) {
    const w = policy[rule];
    const flag = `keep-${rule.replace(/[A-Z]/, (c) => `-${c.toLowerCase()}`)}`;
    if (w !== undefined && ![w.years, w.months, w.days, w.hours].every(isCount)) {
      throw new BackupError('BACKUP_POLICY_EMPTY', `${flag} must be whole numbers of y, m, d and h`, {
        rule,
      });
    }
    if (!withinIsZero(w)) any = true;
  }
  if (policy.tags !== undefined && policy.tags.length > 0) any = true;
  if (!any) {
    throw new BackupError('BACKUP_POLICY_EMPTY', 'the policy keeps no snapshot: give at least one keep rule');
  }
  for (const field of groupBy) {
    if (!(GROUP_FIELDS as readonly string[]).includes(field)) {
      throw new BackupError('BACKUP_POLICY_EMPTY', `cannot group by ${String(field)}`, { groupBy: field });
    }
  }
}

/**
 * The rules that keep each snapshot of one group, given newest first (at least one). A bucket rule
 * keeps a snapshot in a new bucket, or the group's oldest while it still may keep one: restic 0.17's
 * `val != b.Last || nr == len(list)-1`, the second said "oldest ...".
 */
function keepInGroup(newestFirst: readonly SnapshotInfo[], policy: ForgetPolicy): ForgetGroup['keep'] {
  const left = new Map(FORGET_RULES.map((r) => [r, policy[r] ?? 0]));
  const lastBucket = new Map<ForgetRule | WithinRule, string>();
  const newestMs = newestFirst[0]!.snapshot.timeMs;
  const within = withinIsZero(policy.within) ? undefined : policy.within!;
  const cutoff = within === undefined ? Infinity : keepWithinCutoff(newestMs, within);
  const withinBuckets = WITHIN_RULE_NAMES.flatMap((rule) => {
    const w = policy[rule];
    if (withinIsZero(w)) return [];
    return [
      { rule, unit: WITHIN_RULES[rule], span: formatKeepWithin(w!), cutoff: keepWithinCutoff(newestMs, w!) },
    ];
  });
  const oldest = newestFirst[newestFirst.length - 1]!;
  const keep: KeptSnapshot[] = [];
  for (const s of newestFirst) {
    const reasons: KeepReason[] = [];
    const matches: string[] = [];
    for (const rule of FORGET_RULES) {
      if (left.get(rule)! <= 0) continue;
      const b = bucket(rule, s);
      const again = lastBucket.get(rule) === b;
      if (again && s !== oldest) continue;
      lastBucket.set(rule, b);
      left.set(rule, left.get(rule)! - 1);
      reasons.push(rule);
      matches.push(`${again ? 'oldest ' : ''}${rule} snapshot`);
    }
    if (s.snapshot.timeMs > cutoff) {
      reasons.push('within');
      matches.push(`within ${formatKeepWithin(within!)}`);
    }
    for (const { rule, unit, span, cutoff: from } of withinBuckets) {
      if (s.snapshot.timeMs <= from) continue;
      const b = bucket(unit, s);
      const again = lastBucket.get(rule) === b;
      if (again && s !== oldest) continue;
      lastBucket.set(rule, b);
      reasons.push(rule);
      matches.push(`${again ? 'oldest ' : ''}${unit} within ${span}`);
    }
    const tagged = (policy.tags ?? []).filter((list) => hasTags(s.snapshot.tags, list));
    if (tagged.length > 0) {
      reasons.push('tag');
      for (const list of tagged) matches.push(`has tags ${list.join(',')}`);
    }
    if (reasons.length > 0) keep.push({ snapshot: s, reasons, matches });
  }
  return keep;
}

/**
 * Applies `policy` to `snapshots` (any order), group by group (`groupBy`, default host and paths;
 * [] for one group of all). Pure: no I/O, no clock.
 */
export function applyPolicy(
  snapshots: readonly SnapshotInfo[],
  policy: ForgetPolicy,
  groupBy: readonly GroupField[] = DEFAULT_GROUP_BY,
): ForgetGroup[] {
  checkPolicy(policy, groupBy);
  const by = new Set(groupBy);
  const groups = new Map<string, SnapshotInfo[]>();
  for (const s of snapshots) {
    const key = JSON.stringify([
      by.has('host') ? s.snapshot.hostname : '',
      by.has('paths') ? [...s.snapshot.paths].sort() : [],
      by.has('tags') ? [...s.snapshot.tags].sort() : [],
    ]);
    groups.set(key, [...(groups.get(key) ?? []), s]);
  }
  const out: ForgetGroup[] = [];
  // Groups in order of hostname, then paths, then tags.
  const order = (key: string) => {
    const [h, p, t] = JSON.parse(key) as [string, string[], string[]];
    return [h, p.join('\u0000'), t.join('\u0000')].join('\u0001');
  };
  const byOrder = (a: string, b: string) =>
    order(a) < order(b) ? -1 : order(a) > order(b) ? 1 : a < b ? -1 : 1;
  for (const key of [...groups.keys()].sort(byOrder)) {
    const newestFirst = groups
      .get(key)!
      .sort((a, b) => b.snapshot.timeMs - a.snapshot.timeMs || (a.id < b.id ? 1 : -1));
    const keep = keepInGroup(newestFirst, policy);
    const kept = new Set(keep.map((k) => k.snapshot.id));
    const [hostname, paths, tags] = JSON.parse(key) as [string, string[], string[]];
    out.push({ hostname, paths, tags, keep, remove: newestFirst.filter((s) => !kept.has(s.id)) });
  }
  return out;
}

/**
 * Applies `policy` to the repository's snapshots (those `filter` selects; the others are left
 * alone) and deletes the files of those not kept. With `{ ids }` instead, deletes the files of
 * exactly the snapshots named, once every name is resolved: an unknown or ambiguous one is
 * BACKUP_SNAPSHOT_NOT_FOUND naming it, and nothing is deleted.
 */
export async function forget(
  session: Session,
  ids: ForgetIds,
  options?: ForgetOptions,
): Promise<ForgetIdsResult>;
export async function forget(
  session: Session,
  policy: ForgetPolicy,
  options?: ForgetOptions,
): Promise<ForgetResult>;
export async function forget(
  session: Session,
  what: ForgetPolicy | ForgetIds,
  options: ForgetOptions = {},
): Promise<ForgetResult | ForgetIdsResult> {
  return 'ids' in what ? forgetIds(session, what.ids, options) : forgetPolicy(session, what, options);
}

async function forgetPolicy(
  session: Session,
  policy: ForgetPolicy,
  options: ForgetOptions,
): Promise<ForgetResult> {
  const chosen = selectSnapshots(await listSnapshots(session), options.filter ?? {});
  const groups = applyPolicy(chosen, policy, options.groupBy ?? DEFAULT_GROUP_BY);
  let removed = 0;
  if (options.dryRun !== true) {
    for (const g of groups) {
      for (const s of g.remove) {
        await session.repo.delete('snapshots', s.id);
        removed++;
      }
    }
  }
  return { groups, removed };
}

async function forgetIds(
  session: Session,
  ids: readonly string[],
  options: ForgetOptions,
): Promise<ForgetIdsResult> {
  const named = new Map<SnapshotInfo['id'], SnapshotInfo>();
  // Listed (every snapshot file opened) once for all the names.
  const damaged: DamagedObject[] = [];
  const all = await listSnapshots(session, damaged);
  for (const id of ids) {
    let found: SnapshotInfo;
    try {
      found = pickSnapshot(all, id, damaged, options.filter ?? {});
    } catch (error) {
      // pickSnapshot's message does not say which of several names failed; this one does.
      if (!(error instanceof BackupError) || error.code !== 'BACKUP_SNAPSHOT_NOT_FOUND') throw error;
      throw new BackupError(error.code, `${error.message}: ${id}`, error.details, { cause: error });
    }
    if (!named.has(found.id)) named.set(found.id, found);
  }
  let removed = 0;
  if (options.dryRun !== true) {
    for (const id of named.keys()) {
      await session.repo.delete('snapshots', id);
      removed++;
    }
  }
  return { remove: [...named.values()], removed };
}
