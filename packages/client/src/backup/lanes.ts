/**
 * Bounded concurrency for the engine's I/O: a backup reads several source files at once and a restore
 * writes several files at once (one file at a time leaves both cores idle waiting on each call;
 * docs/BENCHMARKS.md). `Lanes` admits at most `width` tasks at a time, in the order they ask; the
 * caller chooses the width from BACKUP_ENGINE_LIMITS, so memory held per task stays bounded too.
 *
 * The first failure is kept and rethrown by `drain`, and tasks not yet started are refused, so a run
 * that fails stops starting work; tasks already running finish (their own cleanup runs).
 */
export class Lanes {
  readonly #width: number;
  #running = 0;
  readonly #waiting: (() => void)[] = [];
  readonly #tasks = new Set<Promise<void>>();
  #failed: { error: unknown } | undefined;

  /** Precondition: `width` >= 1. */
  constructor(width: number) {
    this.#width = Math.max(1, Math.floor(width));
  }

  /** Whether a task started now would run at once (a lane is free). */
  get free(): boolean {
    return this.#running < this.#width;
  }

  /** Waits for a free lane. Call `release` once done with it (prefer `run` / `start`). */
  async acquire(): Promise<void> {
    this.#throwIfFailed();
    if (this.#running < this.#width) {
      this.#running++;
      return;
    }
    await new Promise<void>((resolve) => this.#waiting.push(resolve));
    if (this.#failed !== undefined) {
      this.release(); // pass the lane on, so every waiter wakes and sees the failure
      throw this.#failed.error;
    }
  }

  release(): void {
    const next = this.#waiting.shift();
    if (next !== undefined) next();
    else this.#running--;
  }

  /** Runs `task` in a lane, waiting for one first; its result or error is the caller's. */
  async run<T>(task: () => Promise<T>): Promise<T> {
    await this.acquire();
    try {
      return await task();
    } finally {
      this.release();
    }
  }

  /**
   * Starts `task` once a lane is free and returns when it has started (so a loop calling `start`
   * advances only as lanes free up). A failure is kept for `drain`, which rethrows the first.
   */
  async start(task: () => Promise<void>): Promise<void> {
    await this.acquire();
    const running = (async () => {
      try {
        await task();
      } catch (error) {
        this.#failed ??= { error };
      } finally {
        this.release();
      }
    })();
    this.#tasks.add(running);
    void running.then(() => this.#tasks.delete(running));
  }

  /** Waits for every started task; rethrows the first failure. */
  async drain(): Promise<void> {
    while (this.#tasks.size > 0) await Promise.all([...this.#tasks]);
    this.#throwIfFailed();
  }

  #throwIfFailed(): void {
    if (this.#failed !== undefined) throw this.#failed.error;
  }
}
