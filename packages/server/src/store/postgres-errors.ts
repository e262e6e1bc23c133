/**
 * How PostgreSQL failures map to the error taxonomy: a lost or unobtainable connection is
 * STORE_UNAVAILABLE; a constraint violation the explicit checks should have prevented (a backstop)
 * is the typed error `Store` promises, found by the constraint names migrations give.
 */
import { ConflictError, NotFoundError, SealpostError, UnavailableError } from '@sealpost/core';
import { deviceExists, deviceNotFound } from './contract.ts';

/** Socket errors and SQLSTATEs meaning "the database cannot answer now" (PostgreSQL appendix A). */
const UNAVAILABLE_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EPIPE',
  'EHOSTUNREACH',
  'ENETUNREACH',
  '57P01', // admin_shutdown
  '57P02', // crash_shutdown
  '57P03', // cannot_connect_now
  '53300', // too_many_connections
]);
/** pg's own errors for a lost or unobtainable connection, which carry no code. */
const UNAVAILABLE_MESSAGES =
  /Connection terminated|timeout exceeded when trying to connect|Cannot use a pool after calling end|Client has encountered a connection error|not queryable/i;

/** Backstop for constraint violations the explicit checks should have prevented. */
const CONSTRAINT_ERRORS: Readonly<Record<string, () => SealpostError>> = {
  accounts_username_unique: () => new ConflictError('USERNAME_TAKEN', 'username is taken'),
  accounts_skeleton_unique: () => new ConflictError('USERNAME_TAKEN', 'username is taken'),
  devices_account_device_unique: deviceExists,
  devices_account_fk: () => new NotFoundError('ACCOUNT_NOT_FOUND', 'the account does not exist'),
  sent_sender_fk: () => deviceNotFound('sender'),
  mailbox_device_fk: () => deviceNotFound('recipient'),
};

export function mapPgError(e: unknown): unknown {
  if (e instanceof SealpostError) return e;
  const err = e as { code?: unknown; constraint?: unknown; message?: unknown };
  const code = typeof err.code === 'string' ? err.code : '';
  const message = typeof err.message === 'string' ? err.message : '';
  // SQLSTATE class 08: connection exception.
  if (UNAVAILABLE_CODES.has(code) || code.startsWith('08') || UNAVAILABLE_MESSAGES.test(message)) {
    return new UnavailableError('STORE_UNAVAILABLE', `PostgreSQL cannot answer (${code || message})`, {
      reason: code || 'connection',
    });
  }
  if ((code === '23505' || code === '23503') && typeof err.constraint === 'string') {
    const mapped = CONSTRAINT_ERRORS[err.constraint];
    if (mapped) return mapped();
  }
  return e;
}
