/** What a command reaches of the process: environment and standard streams (passed in, so tests can swap them). */
import type { Writable } from 'node:stream';
import type { PassphraseIo } from './passphrase.ts';

export interface CliIo extends PassphraseIo {
  readonly stdout: Writable;
  readonly stderr: Writable;
}

export function processIo(): CliIo {
  return {
    env: process.env,
    input: process.stdin,
    output: process.stderr,
    stdout: process.stdout,
    stderr: process.stderr,
  };
}
