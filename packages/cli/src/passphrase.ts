/**
 * Where the key store's passphrase comes from: SEALPOST_PASSPHRASE (scripts and tests), else a
 * prompt on the terminal that echoes nothing. Without either the command stops with a clear error
 * rather than wait on a pipe.
 *
 * The prompt reads the terminal in raw mode and collects bytes straight into a `Uint8Array`, so the
 * passphrase never becomes a JS string (which could not be wiped); the caller wipes the result.
 */
import { timingSafeEqual } from 'node:crypto';
import type { ReadStream } from 'node:tty';
import type { Writable } from 'node:stream';
import { ValidationError } from '@sealpost/core';

export const PASSPHRASE_ENV = 'SEALPOST_PASSPHRASE';
/** A new passphrase for what SEALPOST_PASSPHRASE opens (`backup key add|passwd`). */
export const NEW_PASSPHRASE_ENV = 'SEALPOST_NEW_PASSPHRASE';
/** A new key store's passphrase is at least this long (its only protection if the file is copied). */
export const PASSPHRASE_MIN_BYTES = 8;
export const PASSPHRASE_MAX_BYTES = 1024;

export interface PassphraseIo {
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly input: NodeJS.ReadableStream & Partial<Pick<ReadStream, 'isTTY' | 'setRawMode'>>;
  readonly output: Writable;
}

/**
 * `creating`: the passphrase of a new key store: asked twice on a terminal, and held to
 * PASSPHRASE_MIN_BYTES.
 */
export async function readPassphrase(io: PassphraseIo, creating: boolean): Promise<Uint8Array> {
  return read(io, PASSPHRASE_ENV, creating, creating ? 'New keystore passphrase: ' : 'Keystore passphrase: ');
}

/**
 * A second, new passphrase beside the one `readPassphrase` gives (a repository's next passphrase):
 * from SEALPOST_NEW_PASSPHRASE, else asked twice on the terminal; held to PASSPHRASE_MIN_BYTES.
 */
export async function readNewPassphrase(io: PassphraseIo, what: string): Promise<Uint8Array> {
  return read(io, NEW_PASSPHRASE_ENV, true, `New ${what} passphrase: `);
}

async function read(io: PassphraseIo, env: string, creating: boolean, prompt: string): Promise<Uint8Array> {
  const fromEnv = io.env[env];
  let passphrase: Uint8Array;
  if (fromEnv !== undefined && fromEnv !== '') {
    passphrase = new TextEncoder().encode(fromEnv);
  } else if (io.input.isTTY === true && typeof io.input.setRawMode === 'function') {
    passphrase = await promptHidden(io, prompt);
    if (creating) {
      const again = await promptHidden(io, 'Repeat passphrase: ');
      const same = again.length === passphrase.length && timingSafeEqual(again, passphrase);
      again.fill(0);
      if (!same) {
        passphrase.fill(0);
        throw new ValidationError('VALIDATION_FAILED', 'the two passphrases differ');
      }
    }
  } else {
    throw new ValidationError(
      'VALIDATION_FAILED',
      `no passphrase: set ${env} or run the command on a terminal`,
    );
  }
  if (creating && passphrase.length < PASSPHRASE_MIN_BYTES) {
    passphrase.fill(0);
    throw new ValidationError(
      'VALIDATION_FAILED',
      `passphrase must be at least ${PASSPHRASE_MIN_BYTES} bytes`,
    );
  }
  if (passphrase.length > PASSPHRASE_MAX_BYTES) {
    passphrase.fill(0);
    throw new ValidationError('VALIDATION_FAILED', `passphrase is longer than ${PASSPHRASE_MAX_BYTES} bytes`);
  }
  return passphrase;
}

const ENTER = [0x0d, 0x0a];
const CTRL_C = 0x03;
const CTRL_D = 0x04;
const BACKSPACE = [0x7f, 0x08];
const ESC = 0x1b;

/** Precondition: `io.input` is a TTY. Enter ends, backspace deletes one UTF-8 character, Ctrl-C cancels. */
export function promptHidden(io: PassphraseIo, prompt: string): Promise<Uint8Array> {
  const input = io.input;
  const buf = new Uint8Array(PASSPHRASE_MAX_BYTES);
  let length = 0;
  io.output.write(prompt);
  input.setRawMode!(true);
  input.resume();
  return new Promise((resolve, reject) => {
    const done = (error?: Error): void => {
      input.off('data', onData);
      input.setRawMode!(false);
      input.pause();
      io.output.write('\n');
      if (error !== undefined) {
        buf.fill(0);
        reject(error);
      } else {
        resolve(buf.slice(0, length));
        buf.fill(0);
      }
    };
    const consume = (bytes: Uint8Array): void => {
      for (const byte of bytes) {
        if (ENTER.includes(byte) || byte === CTRL_D) return done();
        if (byte === CTRL_C) return done(new ValidationError('VALIDATION_FAILED', 'cancelled'));
        // An escape sequence (arrow keys, ...) arrives as one chunk: drop the rest of it.
        if (byte === ESC) return;
        if (BACKSPACE.includes(byte)) {
          while (length > 0 && (buf[length - 1]! & 0xc0) === 0x80) length--;
          if (length > 0) length--;
          continue;
        }
        if (byte < 0x20) continue;
        if (length === buf.length) {
          return done(
            new ValidationError('VALIDATION_FAILED', `passphrase is longer than ${buf.length} bytes`),
          );
        }
        buf[length++] = byte;
      }
    };
    const onData = (chunk: Uint8Array | string): void => {
      const bytes = typeof chunk === 'string' ? new TextEncoder().encode(chunk) : chunk;
      try {
        consume(bytes);
      } finally {
        bytes.fill(0);
      }
    };
    input.on('data', onData);
  });
}
