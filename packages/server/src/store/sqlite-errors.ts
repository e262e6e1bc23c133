/**
 * How SQLite failures map to the error taxonomy (STORE_UNAVAILABLE when the store cannot answer;
 * constraint violations as the typed conflicts `Store` promises), and the one retry SQLite needs
 * beyond its busy handler.
 */
import { ConflictError, SealpostError, UnavailableError } from '@sealpost/core';
import { deviceExists } from './contract.ts';

const SQLITE_BUSY = 5;
const PAUSE = new Int32Array(new SharedArrayBuffer(4));

/**
 * Runs `fn` again while it fails with SQLITE_BUSY, until `timeoutMs` has passed. Needed where SQLite
 * answers BUSY without calling the busy handler: switching the journal mode while other connections
 * open the same file (a reader that must upgrade its lock gives up at once to avoid deadlock;
 * https://sqlite.org/lockingv3.html, https://sqlite.org/wal.html#sometimes_queries_return_sqlite_busy_in_wal_mode).
 * Blocks the thread while it waits, like the busy handler itself.
 */
export function retryWhileBusy<T>(fn: () => T, timeoutMs: number): T {
  const deadline = Date.now() + timeoutMs;
  for (let pauseMs = 1; ; pauseMs = Math.min(pauseMs * 2, 50)) {
    try {
      return fn();
    } catch (e) {
      const errcode = (e as { errcode?: unknown }).errcode;
      if (typeof errcode !== 'number' || (errcode & 0xff) !== SQLITE_BUSY || Date.now() >= deadline) throw e;
      Atomics.wait(PAUSE, 0, 0, pauseMs);
    }
  }
}

/** SQLite primary result codes meaning "the store cannot answer now" (https://sqlite.org/rescode.html). */
const UNAVAILABLE_RESULT_CODES = new Set([
  SQLITE_BUSY, // another process held the lock past the busy timeout
  6, // SQLITE_LOCKED
  7, // SQLITE_NOMEM
  8, // SQLITE_READONLY
  10, // SQLITE_IOERR
  11, // SQLITE_CORRUPT
  13, // SQLITE_FULL
  14, // SQLITE_CANTOPEN
  15, // SQLITE_PROTOCOL
  26, // SQLITE_NOTADB
]);
const SQLITE_CONSTRAINT_UNIQUE = 2067;
const SQLITE_CONSTRAINT_PRIMARYKEY = 1555;

export function mapSqliteError(e: unknown): unknown {
  if (e instanceof SealpostError) return e;
  const err = e as { code?: unknown; errcode?: unknown; message?: unknown };
  const message = typeof err.message === 'string' ? err.message : '';
  if (err.code === 'ERR_INVALID_STATE') {
    return new UnavailableError('STORE_UNAVAILABLE', 'the SQLite database is closed');
  }
  if (err.code === 'ERR_SQLITE_ERROR' && typeof err.errcode === 'number') {
    if (UNAVAILABLE_RESULT_CODES.has(err.errcode & 0xff)) {
      return new UnavailableError('STORE_UNAVAILABLE', `SQLite cannot answer: ${message}`, {
        sqlite: err.errcode,
      });
    }
    // Unreachable while the checks above run first under BEGIN IMMEDIATE; kept as a backstop.
    if (err.errcode === SQLITE_CONSTRAINT_UNIQUE || err.errcode === SQLITE_CONSTRAINT_PRIMARYKEY) {
      if (message.includes('accounts.')) return new ConflictError('USERNAME_TAKEN', 'username is taken');
      if (message.includes('devices.')) return deviceExists();
    }
  }
  return e;
}
