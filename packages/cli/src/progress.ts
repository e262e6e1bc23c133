/**
 * Progress of long work on a terminal, drawn by cli-progress: a bar, bytes done of the total, the
 * rate, the time left (cli-progress's estimate over its last `ETA_WINDOW` updates) and a count, on
 * stderr, redrawn at most PROGRESS_FPS times a second. Only for a TTY: a pipe, a file or `--json`
 * gets nothing, so scripts read clean output.
 */
import type { Writable } from 'node:stream';
import { SingleBar } from 'cli-progress';

const PROGRESS_FPS = 10;
/** Updates the ETA is averaged over (cli-progress `etaBuffer`). */
const ETA_WINDOW = 50;
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

export interface Progress {
  /** `done` bytes of the total so far, and a count shown after them (e.g. files). */
  update(done: number, count: number): void;
  /** Removes the bar. */
  end(): void;
}

const silent: Progress = { update: () => undefined, end: () => undefined };

/**
 * A progress bar on `stream` if it is a terminal, else nothing. `total`: bytes expected (0 when
 * unknown: no bar and no ETA, only bytes, rate and count).
 */
export function progressBar(
  stream: Writable & { isTTY?: boolean },
  total: number,
  label: string,
  now: () => number = () => performance.now(),
): Progress {
  if (stream.isTTY !== true) return silent;
  const known = total > 0;
  const bar = new SingleBar({
    stream: stream as unknown as NodeJS.WritableStream,
    format: known
      ? '{bar} {percentage}% | {done} / {size} | {rate} | ETA {eta_formatted} | {count} {label}'
      : '{done} | {rate} | {count} {label}',
    fps: PROGRESS_FPS,
    etaBuffer: ETA_WINDOW,
    clearOnComplete: true,
    hideCursor: true,
    barsize: 30,
  });
  const start = now();
  const payload = (done: number, count: number) => {
    const seconds = (now() - start) / 1000;
    return {
      done: formatBytes(done),
      size: formatBytes(total),
      rate: `${formatBytes(seconds > 0 ? done / seconds : 0)}/s`,
      count,
      label,
    };
  };
  bar.start(known ? total : 1, 0, payload(0, 0));
  return {
    update(done, count) {
      bar.update(known ? Math.min(done, total) : 0, payload(done, count));
    },
    end() {
      bar.stop();
    },
  };
}
