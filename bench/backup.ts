/**
 * node bench/backup.ts — Sealpost against restic and borg on the same data, in one run, each program
 * a child process as a user runs it (bench/backup/tools.ts), on repositories on the same disk:
 *   1. first backup of the data set (by default Debian's kernel source and a few binary packages,
 *      ~1.9 GB, fetched once with apt into bench/.cache/backup: bench/backup/dataset.ts);
 *   2. 1% of the files get insertions in the middle, plus new files (seeded: bench/backup/mutate.ts);
 *   3. second backup; 4. restore of the second snapshot (checked: same file count and bytes);
 *   5. check with every pack read (`check --read-data`, borg `check --verify-data`).
 * For each step: wall time, CPU time (user + sys of the child), peak RSS (GNU time), and the
 * repository's size after each backup. Ratios are against restic. The page cache is equally warm
 * for all: every file of the source is read just before each backup, the repositories were just
 * written before restore and check, and `sync` runs before every step.
 *
 * restic and borg come from apt (`apt-get install -y restic borgbackup`) when missing; when that
 * fails, the run says so in one line and measures Sealpost alone.
 *
 *   node bench/backup.ts [--quick] [--data <dir>] [--tools sealpost,restic,borg] [--seed 1] [--cpu-prof]
 *                        [--at <commit>] [--work <dir>]
 *
 * --quick: a seeded ~200 MB subset of the data; --data: another tree (copied, never changed);
 * --cpu-prof: Sealpost's children write V8 CPU profiles, summarised at the end (slows them down);
 * --at: Sealpost as of that commit instead of the working tree (bench/backup/checkout.ts).
 * --work: the scratch directory (default: work-<pid> in bench/.cache/backup), wiped at the start and
 *   at the end (but for --cpu-prof's profiles).
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs/promises';
import { cpus } from 'node:os';
import { basename, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { debianDataSet } from './backup/dataset.ts';
import { GNU_TIME, measure, type Command, type Usage } from './backup/measure.ts';
import { mutate } from './backup/mutate.ts';
import { summariseProfiles } from './backup/profile.ts';
import { checkout } from './backup/checkout.ts';
import { borg, onPath, restic, sealpost, type Tool, type ToolName } from './backup/tools.ts';
import { copyEntries, listTree, treeStats, warmTree, type TreeEntry } from './backup/tree.ts';

const { values } = parseArgs({
  options: {
    data: { type: 'string' },
    quick: { type: 'boolean', default: false },
    tools: { type: 'string', default: 'sealpost,restic,borg' },
    seed: { type: 'string', default: '1' },
    'cpu-prof': { type: 'boolean', default: false },
    at: { type: 'string' },
    work: { type: 'string' },
  },
});
const QUICK_BYTES = 200e6;
const ROOT = resolve(import.meta.dirname, '..');
const CACHE = join(ROOT, 'bench/.cache/backup');
// A scratch directory per run (runs at the same time must not wipe each other's), removed at the
// end but for the CPU profiles; scratch directories of runs that died are removed at the start.
const WORK = values.work === undefined ? join(CACHE, `work-${process.pid}`) : resolve(values.work);
const SOURCE = join(WORK, 'src');
const SEED = Number(values.seed);
const MB = 1e6;

// --- the programs -----------------------------------------------------------------------------
let wanted = values.tools.split(',') as ToolName[];
const others = wanted.filter((t) => t !== 'sealpost');
if (others.some((t) => !onPath(t)) || !onPath(GNU_TIME)) {
  try {
    execFileSync('apt-get', ['install', '-y', 'restic', 'borgbackup', 'time'], { stdio: 'pipe' });
  } catch (error) {
    const why = String((error as { stderr?: Buffer }).stderr ?? error)
      .trim()
      .split('\n')
      .at(-1);
    console.log(
      `cannot install restic and borg (apt-get install -y restic borgbackup: ${why}): Sealpost only`,
    );
  }
  wanted = wanted.filter((t) => t === 'sealpost' || onPath(t));
}
if (!onPath(GNU_TIME)) throw new Error(`${GNU_TIME} is missing (Debian package "time")`);
await fs.rm(WORK, { recursive: true, force: true });
for (const name of await fs.readdir(CACHE).catch(() => [])) {
  const pid = /^work-(\d+)$/.exec(name)?.[1];
  if (pid !== undefined && !alive(Number(pid)))
    await fs.rm(join(CACHE, name), { recursive: true, force: true });
}
const profDir = values['cpu-prof'] ? join(WORK, 'prof') : undefined;
const sealpostRoot = values.at === undefined ? ROOT : await checkout(ROOT, CACHE, values.at);
const makers: Record<ToolName, () => Tool> = {
  sealpost: () =>
    sealpost({
      root: sealpostRoot,
      label:
        values.at === undefined ? 'working tree' : `at ${basename(sealpostRoot).slice('sealpost-'.length)}`,
      ...(profDir === undefined ? {} : { cpuProfDir: profDir }),
    }),
  restic: () => restic(join(WORK, 'cache/restic')),
  borg: () => borg(join(WORK, 'cache/borg')),
};
const tools = wanted.map((t) => makers[t]());

// --- the data ---------------------------------------------------------------------------------
const data = values.data === undefined ? await debianDataSet(CACHE) : resolve(values.data);
const all = await listTree(data);
const allBytes = all.reduce((n, e) => n + e.size, 0);
/** A file is in the quick subset when a seeded hash of its path falls below the subset's share. */
const inQuick = (e: TreeEntry) =>
  createHash('sha256').update(`${SEED}:${e.path}`).digest().readUInt32BE(0) / 2 ** 32 <
  QUICK_BYTES / allBytes;
const chosen = values.quick ? all.filter(inQuick) : all;
await copyEntries(data, SOURCE, chosen);
const before = await treeStats(SOURCE);

console.log(`backup benchmark, ${new Date().toISOString()}`);
console.log(
  `machine: ${cpus().length} x ${cpus()[0]?.model ?? '?'}; programs: ${tools.map((t) => t.version).join('; ')}`,
);
console.log(
  `data: ${values.data ?? 'Debian packages (bench/backup/dataset.ts)'}${values.quick ? ', quick subset' : ''}: ` +
    `${before.files} files, ${before.symlinks} symlinks, ${before.dirs} dirs, ${(before.bytes / MB).toFixed(0)} MB`,
);

// --- the runs ---------------------------------------------------------------------------------
type Step = 'backup 1' | 'backup 2' | 'restore' | 'check';
interface Row extends Usage {
  readonly tool: ToolName;
  readonly step: Step;
  readonly bytes: number;
  readonly repoBytes?: number;
}
const rows: Row[] = [];
const repo = (t: Tool) => join(WORK, 'repos', t.name);
const usageFile = join(WORK, 'usage.txt');
const sync = () => execFileSync('sync');

async function step(t: Tool, name: Step, command: Command, bytes: number): Promise<Row> {
  sync();
  const usage = await measure(command, usageFile);
  const repoBytes = name.startsWith('backup') ? (await treeStats(repo(t))).bytes : undefined;
  const row = {
    tool: t.name,
    step: name,
    bytes,
    ...usage,
    ...(repoBytes === undefined ? {} : { repoBytes }),
  };
  rows.push(row);
  console.log(`  ${t.name} ${name}: ${usage.wallS.toFixed(1)} s`);
  return row;
}

for (const dir of ['repos', 'cache/restic', 'cache/borg'])
  await fs.mkdir(join(WORK, dir), { recursive: true });
for (const t of tools) {
  await measure(t.init(repo(t)), usageFile);
}
for (const t of tools) {
  await warmTree(SOURCE);
  await step(t, 'backup 1', t.backup(SOURCE, repo(t), 1), before.bytes);
}
const change = await mutate(SOURCE, await listTree(SOURCE), SEED);
const after = await treeStats(SOURCE);
console.log(
  `change (seed ${SEED}): ${change.modified} files got ${change.bytesInserted} bytes inserted in the middle; ` +
    `${change.added} new files, ${change.bytesAdded} bytes`,
);
for (const t of tools) {
  await warmTree(SOURCE);
  await step(t, 'backup 2', t.backup(SOURCE, repo(t), 2), after.bytes);
}
const restoreOk = new Map<ToolName, string>();
for (const t of tools) {
  const target = join(WORK, 'restore', t.name);
  await fs.mkdir(target, { recursive: true });
  await step(t, 'restore', t.restore(repo(t), target), after.bytes);
  const got = await treeStats(t.restoredRoot(target, SOURCE));
  restoreOk.set(
    t.name,
    got.files === after.files && got.bytes === after.bytes && got.symlinks === after.symlinks
      ? 'restored tree matches (files, symlinks, bytes)'
      : `RESTORED TREE DIFFERS: ${got.files} files, ${got.symlinks} symlinks, ${got.bytes} bytes`,
  );
  await fs.rm(target, { recursive: true, force: true });
}
for (const t of tools) await step(t, 'check', t.check(repo(t)), after.bytes);

// --- the report -------------------------------------------------------------------------------
const find = (tool: ToolName, s: Step) => rows.find((r) => r.tool === tool && r.step === s);
const added = (tool: ToolName) => find(tool, 'backup 2')!.repoBytes! - find(tool, 'backup 1')!.repoBytes!;
const peak = (tool: ToolName) => Math.max(...rows.filter((r) => r.tool === tool).map((r) => r.peakRssBytes));

console.log(
  '\n| program | step | wall s | MB/s | CPU s | peak RSS MiB | repository MB | added MB |\n' +
    '| --- | --- | --: | --: | --: | --: | --: | --: |',
);
for (const r of rows) {
  const repoCells =
    r.repoBytes === undefined
      ? '| | |'
      : `| ${(r.repoBytes / MB).toFixed(1)} | ${r.step === 'backup 2' ? (added(r.tool) / MB).toFixed(1) : ''} |`;
  console.log(
    `| ${r.tool} | ${r.step} | ${r.wallS.toFixed(1)} | ${(r.bytes / MB / r.wallS).toFixed(0)} | ` +
      `${r.cpuS.toFixed(1)} | ${(r.peakRssBytes / 2 ** 20).toFixed(0)} ${repoCells}`,
  );
}
console.log('');
for (const t of tools) console.log(`${t.name}: ${restoreOk.get(t.name)}`);

if (find('restic', 'backup 1') !== undefined) {
  const r = (tool: ToolName, s: Step) => find('restic', s)!.wallS / find(tool, s)!.wallS;
  const target = (value: number, goal: number, higherIsBetter: boolean) =>
    (higherIsBetter ? value >= goal : value <= goal)
      ? 'met'
      : `missed by ${Math.abs((value / goal - 1) * 100).toFixed(0)}%`;
  for (const t of tools.filter((t) => t.name !== 'restic')) {
    const b1 = r(t.name, 'backup 1');
    const b2 = added(t.name) / Math.max(1, added('restic'));
    const rs = r(t.name, 'restore');
    const rss = peak(t.name) / peak('restic');
    const goals = t.name === 'sealpost';
    console.log(
      `\n${t.name} vs restic:\n` +
        `  backup 1 throughput ${b1.toFixed(2)}x${goals ? ` (target >= 1.5x: ${target(b1, 1.5, true)})` : ''}\n` +
        `  backup 2 bytes added ${b2.toFixed(2)}x${goals ? ` (target <= 1x: ${target(b2, 1, false)})` : ''}\n` +
        `  restore throughput ${rs.toFixed(2)}x${goals ? ` (target >= 1x: ${target(rs, 1, true)})` : ''}\n` +
        `  check --read-data throughput ${r(t.name, 'check').toFixed(2)}x\n` +
        `  peak RSS (largest of all steps) ${rss.toFixed(2)}x${goals ? ` (target <= 1x: ${target(rss, 1, false)})` : ''}`,
    );
  }
}

if (profDir !== undefined) {
  for (const dir of (await fs.readdir(profDir)).sort()) {
    for (const p of await summariseProfiles(join(profDir, dir), ROOT)) {
      console.log(`\nsealpost ${dir}, ${p.file}: ${(p.totalMs / 1000).toFixed(1)} s sampled; self time:`);
      for (const [where, ms] of p.top)
        console.log(`  ${((100 * ms) / p.totalMs).toFixed(1).padStart(5)}%  ${where}`);
      console.log('  by script:');
      for (const [where, ms] of p.byScript)
        console.log(`  ${((100 * ms) / p.totalMs).toFixed(1).padStart(5)}%  ${where}`);
    }
  }
  console.log(`\nprofiles kept in ${profDir}`);
}

for (const name of await fs.readdir(WORK)) {
  if (join(WORK, name) !== profDir) await fs.rm(join(WORK, name), { recursive: true, force: true });
}
if (profDir === undefined) await fs.rm(WORK, { recursive: true, force: true });

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
