/**
 * How a failure reaches the user of the `sealpost` command: one line on stderr,
 * `error <CODE>: <message>`, and an exit status by kind of error. Messages of typed errors never
 * hold a secret (core errors.ts), and a server's messages were cleaned of control characters by
 * the client; anything untyped is reported by its name and message only.
 *
 * | status | meaning                                   | error kinds                        |
 * |--------|-------------------------------------------|------------------------------------|
 * | 0      | success                                   |                                    |
 * | 1      | usage, validation, anything else          | codec, validation, not-found, ...  |
 * | 2      | authentication or cryptography failed     | auth, crypto                       |
 * | 3      | server unreachable, unavailable, limited  | unavailable, rate-limited          |
 */
import { SealpostError } from '@sealpost/core';

export const EXIT = { ok: 0, usage: 1, auth: 2, unavailable: 3 } as const;

export function exitStatusOf(error: unknown): number {
  if (!(error instanceof SealpostError)) return EXIT.usage;
  switch (error.kind) {
    case 'auth':
    case 'crypto':
      return EXIT.auth;
    case 'unavailable':
    case 'rate-limited':
      return EXIT.unavailable;
    default:
      return EXIT.usage;
  }
}

export function errorLine(error: unknown): string {
  if (error instanceof SealpostError) return `error ${error.code}: ${error.message}`;
  if (error instanceof Error) return `error INTERNAL: ${error.name}: ${error.message}`;
  return 'error INTERNAL: unexpected failure';
}
