/**
 * `favourMemory`: V8's memory saver mode for the rest of the process (below). `reclaimNativeMemory`:
 * a young-generation garbage collection, called by the backup engine after each pack it handles
 * (deps.ts `reclaim`).
 *
 * Why: every `zstdCompressSync` / `zstdDecompressSync` call makes a zstd context (a few hundred KiB to
 * a few MiB of native memory, not reported to V8 as external memory) that is freed only when its
 * small JS handle is collected. V8 sees a small heap and collects rarely, so thousands of dead
 * contexts pile up: a `check --read-data` of 45 MB of packs peaked at 462 MiB RSS with 84 MiB of
 * ArrayBuffers and a 54 MiB heap. The handles are young, so a minor GC (a millisecond or less on
 * this heap) frees them; measured on 3,000 decompressions of 700 KB: 140 MiB RSS without, 93 MiB
 * with one every 16 blobs, at the same speed.
 *
 * After a phase (`after-phase`: the index loaded, a restore planned, a check's trees walked) it is
 * a full GC of the kind V8 makes when memory runs low (`flavor: 'last-resort'`: it also gives the
 * heap's free pages back), where a plain full GC left the restore plan's pages committed through
 * the writing (Debian set, 2 alternating rounds: restore 223-224 -> 191-202 MiB peak RSS, check
 * 212-215 -> 191-196 MiB, same times).
 *
 * `gc` is not exposed without `--expose-gc`, which the CLI's users do not pass: V8's flag is set at
 * run time and the function taken from a fresh context (node:v8 `setFlagsFromString`, node:vm). When
 * that is refused, reclaiming does nothing and memory is only higher.
 *
 * `favourMemory` sets V8's `--memory-saver-mode` at run time (V8 reads it at each decision to grow
 * a heap or to collect, in every isolate of the process, worker threads included): old generations
 * grow less past what is live and are compacted sooner. The CLI sets it for `restore` and `check`,
 * where it costs no measurable time (Debian set, 2 alternating rounds: check 198-205 -> 179 MiB
 * peak RSS at 4.5-4.6 s, restore 198-214 -> 174-184 MiB at the same times), and not for `backup
 * create`, where the engine thread is the bottleneck: 200-216 -> 168-173 MiB but 6.6-7.1 -> 7.4-7.8
 * s (docs/backup-engine.md "Memory, session 10").
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

type Gc = (options?: { type?: 'minor' | 'major'; flavor?: 'regular' | 'last-resort' }) => void;

function exposeGc(): Gc | undefined {
  try {
    setFlagsFromString('--expose-gc');
    const gc: unknown = runInNewContext('gc');
    return typeof gc === 'function' ? (gc as Gc) : undefined;
  } catch {
    return undefined;
  }
}

const gc = exposeGc();

export function favourMemory(): void {
  try {
    setFlagsFromString('--memory-saver-mode');
  } catch {
    // Refused: memory is only higher.
  }
}

export function reclaimNativeMemory(when?: 'after-phase'): void {
  gc?.(when === 'after-phase' ? { type: 'major', flavor: 'last-resort' } : { type: 'minor' });
}
