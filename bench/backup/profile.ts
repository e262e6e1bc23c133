/**
 * Where a Sealpost child's time went: V8 CPU profiles (`node --cpu-prof`, one file per thread)
 * summarised as self time per function, heaviest first.
 */
import * as fs from 'node:fs/promises';
import { join } from 'node:path';

interface ProfileNode {
  readonly id: number;
  readonly callFrame: { readonly functionName: string; readonly url: string; readonly lineNumber: number };
}

interface CpuProfile {
  readonly nodes: readonly ProfileNode[];
  readonly samples: readonly number[];
  readonly timeDeltas: readonly number[];
}

export interface ThreadProfile {
  /** The profile's file name (`CPU.<date>.<pid>.<thread>.<seq>.cpuprofile`; thread 0 is main). */
  readonly file: string;
  readonly totalMs: number;
  /** [function at file:line, self milliseconds], heaviest first. */
  readonly top: readonly (readonly [string, number])[];
  /** [script (or a V8 category such as "(garbage collector)"), self milliseconds], heaviest first. */
  readonly byScript: readonly (readonly [string, number])[];
}

const heaviest = (totals: Map<string, number>, count: number) =>
  [...totals]
    .sort((a, b) => b[1] - a[1])
    .slice(0, count)
    .map(([k, us]) => [k, us / 1000] as const);

/** Summarises every `.cpuprofile` in `dir`; `root` is cut from file URLs. */
export async function summariseProfiles(dir: string, root: string, count = 12): Promise<ThreadProfile[]> {
  const files = (await fs.readdir(dir)).filter((f) => f.endsWith('.cpuprofile')).sort();
  const out: ThreadProfile[] = [];
  for (const file of files) {
    const profile = JSON.parse(await fs.readFile(join(dir, file), 'utf8')) as CpuProfile;
    const frames = new Map(profile.nodes.map((n) => [n.id, n.callFrame]));
    const self = new Map<string, number>();
    const scripts = new Map<string, number>();
    let totalUs = 0;
    profile.samples.forEach((id, i) => {
      const f = frames.get(id)!;
      const script = f.url.replace(`file://${root}/`, '');
      const where = script === '' ? '' : ` ${script}:${f.lineNumber + 1}`;
      const key = `${f.functionName === '' ? '(anonymous)' : f.functionName}${where}`;
      const us = profile.timeDeltas[i] ?? 0;
      self.set(key, (self.get(key) ?? 0) + us);
      const group = script === '' ? (f.functionName.startsWith('(') ? f.functionName : '(native)') : script;
      scripts.set(group, (scripts.get(group) ?? 0) + us);
      totalUs += us;
    });
    out.push({
      file,
      totalMs: totalUs / 1000,
      top: heaviest(self, count),
      byScript: heaviest(scripts, count),
    });
  }
  return out;
}
