/**
 * `forget`: which snapshots a retention policy keeps, and removing the others' snapshot files
 * (their data stays until `prune`, prune.ts).
 *
 * The policy is restic's (`restic forget --keep-*`). Snapshots are grouped by hostname and paths,
 * and each group is taken newest first. Every rule walks the whole group on its own: `last: n`
 * keeps the n newest snapshots; `daily: n` keeps the newest snapshot of each of the n most recent
 * days that have one, and likewise `hourly`, `weekly` (ISO 8601 weeks), `monthly` and `yearly`. A
 * snapshot is kept when any rule keeps it, and its reasons are listed. Time buckets are in UTC
 * (restic uses local time), so the outcome depends only on the snapshots, never on where or when
 * `forget` runs. A policy that keeps nothing is refused (BACKUP_POLICY_EMPTY) rather than
 * removing everything.
 */
import { BackupError } from './errors.ts';
import type { Session } from './session.ts';
import { listSnapshots, type SnapshotInfo } from './snapshots.ts';

export const FORGET_RULES = ['last', 'hourly', 'daily', 'weekly', 'monthly', 'yearly'] as const;
export type ForgetRule = (typeof FORGET_RULES)[number];

/** How many of each to keep; a missing or 0 count means the rule keeps nothing. */
export type ForgetPolicy = Partial<Record<ForgetRule, number>>;

export interface ForgetGroup {
  readonly hostname: string;
  readonly paths: readonly string[];
  /** Kept snapshots, newest first, each with the rules that keep it. */
  readonly keep: readonly { readonly snapshot: SnapshotInfo; readonly reasons: readonly ForgetRule[] }[];
  /** Snapshots the policy does not keep, newest first. */
  readonly remove: readonly SnapshotInfo[];
}

export interface ForgetResult {
  readonly groups: readonly ForgetGroup[];
  /** Snapshot files deleted (none on a dry run). */
  readonly removed: number;
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
function bucket(rule: ForgetRule, s: SnapshotInfo): string {
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

function checkPolicy(policy: ForgetPolicy): void {
  let any = false;
  for (const rule of FORGET_RULES) {
    const n = policy[rule];
    if (n === undefined) continue;
    if (!Number.isSafeInteger(n) || n < 0) {
      throw new BackupError('BACKUP_POLICY_EMPTY', `keep-${rule} must be a whole number`, { rule });
    }
    if (n > 0) any = true;
  }
  if (!any) {
    throw new BackupError('BACKUP_POLICY_EMPTY', 'the policy keeps no snapshot: give at least one keep rule');
  }
}

/** Applies `policy` to `snapshots` (any order), group by group. Pure: no I/O, no clock. */
export function applyPolicy(snapshots: readonly SnapshotInfo[], policy: ForgetPolicy): ForgetGroup[] {
  checkPolicy(policy);
  const groups = new Map<string, SnapshotInfo[]>();
  for (const s of snapshots) {
    const key = JSON.stringify([s.snapshot.hostname, s.snapshot.paths]);
    groups.set(key, [...(groups.get(key) ?? []), s]);
  }
  const out: ForgetGroup[] = [];
  for (const key of [...groups.keys()].sort()) {
    const newestFirst = groups
      .get(key)!
      .sort((a, b) => b.snapshot.timeMs - a.snapshot.timeMs || (a.id < b.id ? 1 : -1));
    const left = new Map(FORGET_RULES.map((r) => [r, policy[r] ?? 0]));
    const lastBucket = new Map<ForgetRule, string>();
    const keep: { snapshot: SnapshotInfo; reasons: ForgetRule[] }[] = [];
    const remove: SnapshotInfo[] = [];
    for (const s of newestFirst) {
      const reasons: ForgetRule[] = [];
      for (const rule of FORGET_RULES) {
        if (left.get(rule)! <= 0) continue;
        const b = bucket(rule, s);
        if (lastBucket.get(rule) === b) continue;
        lastBucket.set(rule, b);
        left.set(rule, left.get(rule)! - 1);
        reasons.push(rule);
      }
      if (reasons.length > 0) keep.push({ snapshot: s, reasons });
      else remove.push(s);
    }
    const [hostname, paths] = JSON.parse(key) as [string, string[]];
    out.push({ hostname, paths, keep, remove });
  }
  return out;
}

/** Applies `policy` to the repository's snapshots and deletes the files of those not kept. */
export async function forget(
  session: Session,
  policy: ForgetPolicy,
  options: { readonly dryRun?: boolean } = {},
): Promise<ForgetResult> {
  const groups = applyPolicy(await listSnapshots(session), policy);
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
