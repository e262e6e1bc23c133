/**
 * One progress line on a terminal: bytes done of the total, the rate, the time left, and a count,
 * redrawn in place (`\r`) at most every PROGRESS_REDRAW_MS. Only for a TTY: a pipe gets nothing.
 *
 * A stop-gap: `cli-progress` should replace this once the dependency is agreed.
 */
import type { Writable } from 'node:stream';

const PROGRESS_REDRAW_MS = 100;
const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB'] as const;

export function formatBytes(bytes: number): string {
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < UNITS.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value.toFixed(unit === 0 ? 0 : 1)} ${UNITS[unit]}`;
}

function formatSeconds(seconds: number): string {
  if (!Number.isFinite(seconds)) return '--:--';
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600);
  const mm = String(Math.floor((s % 3600) / 60)).padStart(2, '0');
  const ss = String(s % 60).padStart(2, '0');
  return h > 0 ? `${h}:${mm}:${ss}` : `${mm}:${ss}`;
}

export interface Progress {
  /** `done` bytes of the total so far, and a count shown after them (e.g. files). */
  update(done: number, count: number): void;
  /** Clears the line. */
  end(): void;
}

const silent: Progress = { update: () => undefined, end: () => undefined };

/** A progress line on `stream` if it is a terminal; `total` bytes (0 when unknown: no ETA). */
export function progressLine(
  stream: Writable & { isTTY?: boolean },
  total: number,
  label: string,
  now: () => number = () => performance.now(),
): Progress {
  if (stream.isTTY !== true) return silent;
  const start = now();
  let last = -Infinity;
  let width = 0;
  return {
    update(done, count) {
      const t = now();
      if (t - last < PROGRESS_REDRAW_MS) return;
      last = t;
      const seconds = (t - start) / 1000;
      const rate = seconds > 0 ? done / seconds : 0;
      const eta = total > 0 && rate > 0 ? (total - done) / rate : Infinity;
      const line = [
        total > 0 ? `${formatBytes(done)} / ${formatBytes(total)}` : formatBytes(done),
        `${(rate / 1e6).toFixed(1)} MB/s`,
        total > 0 ? `ETA ${formatSeconds(eta)}` : '',
        `${count} ${label}`,
      ]
        .filter((p) => p !== '')
        .join('  ');
      stream.write(`\r${line.padEnd(width)}`);
      width = line.length;
    },
    end() {
      if (width > 0) stream.write(`\r${' '.repeat(width)}\r`);
      width = 0;
    },
  };
}
