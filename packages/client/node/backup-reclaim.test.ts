import { test } from 'node:test';
import assert from 'node:assert/strict';
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
