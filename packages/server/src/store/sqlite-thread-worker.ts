/**
 * Worker-thread side of `ThreadedSqliteStore`: owns the one SqliteStore connection and answers
 * calls `{id, method, args}` with `{id, ok, value}` or `{id, ok: false, error}`. Errors cross the
 * thread as their wire form (code, message, details) and are rebuilt typed on the other side.
 * Both directions travel in batches (an array per message): calls made in one turn of the event
 * loop cross together, and answers ready in one turn go back together.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { SealpostError } from '@sealpost/core';
import { SqliteStore } from './sqlite.ts';
import type { StoreOptions } from './options.ts';

export interface ThreadCall {
  readonly id: number;
  readonly method: string;
  readonly args: unknown[];
}
export type ThreadAnswer =
  | { readonly id: number; readonly ok: true; readonly value: unknown }
  | { readonly id: number; readonly ok: false; readonly error: unknown };

const port = parentPort;
if (port === null) throw new Error('sqlite-thread-worker.ts must run in a worker thread');
const { path, options } = workerData as { path: string; options: StoreOptions };

function wire(e: unknown): unknown {
  if (e instanceof SealpostError) return e.toJSON();
  return { code: 'STORE_UNAVAILABLE', message: 'store failed', details: {} };
}

let store: SqliteStore;
try {
  store = SqliteStore.open(path, options);
  port.postMessage([{ id: 0, ok: true, value: 'open' }] satisfies ThreadAnswer[]);
} catch (e) {
  port.postMessage([{ id: 0, ok: false, error: wire(e) }] satisfies ThreadAnswer[]);
  process.exit(1);
}

let answers: ThreadAnswer[] = [];
function answer(a: ThreadAnswer): void {
  if (answers.length === 0)
    setImmediate(() => {
      const batch = answers;
      answers = [];
      port!.postMessage(batch);
    });
  answers.push(a);
}

port.on('message', (calls: ThreadCall[]) => {
  for (const call of calls) {
    const method = (store as unknown as Record<string, (...a: unknown[]) => Promise<unknown>>)[call.method];
    if (typeof method !== 'function') {
      answer({ id: call.id, ok: false, error: wire(undefined) });
      continue;
    }
    method.apply(store, call.args).then(
      (value) => answer({ id: call.id, ok: true, value }),
      (e: unknown) => answer({ id: call.id, ok: false, error: wire(e) }),
    );
  }
});
