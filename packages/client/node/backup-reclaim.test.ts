import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { getHeapStatistics, setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { reclaimNativeMemory } from './backup-reclaim.ts';

const MiB = 1024 * 1024;

test('reclaiming after a phase gives back the heap pages its garbage took, which a plain full GC keeps', () => {
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as (options: { type: 'major' }) => void;
  // A phase's many small objects, promoted to the old generation by a full GC while alive.
  const phase: unknown[] = [];
  for (let i = 0; i < 400_000; i++) phase.push({ n: i, name: `entry ${i}`, ids: [i, i + 1] });
  gc({ type: 'major' });
  assert.equal(phase.length, 400_000);
  phase.length = 0;
  gc({ type: 'major' });
  const plain = getHeapStatistics().total_heap_size;
  reclaimNativeMemory('after-phase');
  const after = getHeapStatistics().total_heap_size;
  assert.ok(plain > 48 * MiB, `a plain full GC kept the heap at ${Math.round(plain / MiB)} MiB`);
  assert.ok(
    after < plain - 32 * MiB,
    `heap ${Math.round(after / MiB)} MiB after, ${Math.round(plain / MiB)} MiB before`,
  );
});

/** The largest heap, in bytes, of a child process that keeps ~4 rounds of small objects alive while it makes 300. */
function churnPeak(favour: boolean): number {
  const script = `
    import { getHeapStatistics } from 'node:v8';
    import { favourMemory } from ${JSON.stringify(new URL('./backup-reclaim.ts', import.meta.url).href)};
    if (${favour}) favourMemory();
    let peak = 0;
    const kept = [];
    for (let round = 0; round < 300; round++) {
      const live = [];
      for (let i = 0; i < 20000; i++) live.push({ n: i, name: 'entry ' + i, ids: [i] });
      kept.push(live);
      if (kept.length > 3) kept.shift();
      peak = Math.max(peak, getHeapStatistics().total_heap_size);
    }
    process.stdout.write(String(peak));
  `;
  const child = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' });
  assert.equal(child.status, 0, child.stderr);
  return Number(child.stdout);
}

test('favouring memory keeps a heap that churns through small objects under half the size it grows to otherwise', () => {
  const plain = churnPeak(false);
  const favoured = churnPeak(true);
  assert.ok(
    favoured < plain / 2,
    `heap peaked at ${Math.round(favoured / MiB)} MiB favouring memory, ${Math.round(plain / MiB)} MiB without`,
  );
});
