/**
 * `sealpost witness --server URL [--state <dir>] [--interval s] [--directory-key <key>] [--once]`: an
 * independent witness of a server's key directory (docs/witness.md). It prints its public key (give
 * it to the clients that should trust it, and to the server's operator: a server keeps cosignatures
 * only from the witness keys it configured), follows the log from its first entry, cosigns each head
 * it verified and posts the cosignature to the server, every `--interval` seconds.
 *
 * `sealpost witness --init [--state <dir>]` only makes the key (or reads the one the state holds)
 * and prints it, contacting no server, so that the operator can add it to `witnessKeys` before the
 * witness's first run.
 *
 * State (its seed, the last verified head, its copy of the prefix tree, evidence) lives in SQLite in
 * `--state` (default `<home>/witness`). When the directory rolls back, forks or rewrites its log the
 * witness keeps the evidence, stops for good and exits non-zero; started again on the same state it
 * refuses to sign and prints the evidence. A server that is down or a head it cannot read yet is
 * retried at the next poll. SIGINT or SIGTERM stops it between polls.
 */
import { join } from 'node:path';
import type { Command } from 'commander';
import {
  LIMITS,
  SealpostError,
  ValidationError,
  fromBase64urlExact,
  toBase64url,
  toHex,
} from '@sealpost/core';
import { nodeCryptoProvider as crypto } from '@sealpost/core/node';
// The witness itself loads on use (runWitness): its state is node:sqlite, whose experimental warning
// would otherwise print on every `sealpost` command.
import type { Evidence, HttpWitness } from '@sealpost/witness';
import { WITNESS_LIMITS } from '@sealpost/witness/limits';
import { resolveHome } from '../home.ts';
import type { CliIo } from '../io.ts';

interface Options {
  readonly home?: string;
  readonly server?: string;
  readonly init?: boolean;
  readonly state?: string;
  readonly interval?: string;
  readonly directoryKey?: string;
  readonly once?: boolean;
}

export function witnessCommand(program: Command, io: CliIo): void {
  program
    .command('witness')
    .description("follow a server's key directory, verify every head and cosign it (an independent witness)")
    .option('--server <url>', 'the server whose directory to witness (required unless --init)')
    .option('--state <dir>', "the witness's state directory (default: <home>/witness)")
    .option('--interval <seconds>', 'seconds between polls', String(WITNESS_LIMITS.pollIntervalSecs))
    .option(
      '--directory-key <key>',
      "the directory's head signing key, base64url (default: the first one seen)",
    )
    .option('--once', 'poll once and exit')
    .option('--init', "make the witness's key in its state directory, print it and exit (follows nothing)")
    .action((_options: Options, cmd: Command) => runWitness(io, cmd.optsWithGlobals()));
}

function describeEvidence(e: Evidence): string {
  const head = (h: { treeSize: number; root: Uint8Array }) => `size ${h.treeSize} root ${toHex(h.root)}`;
  return (
    `evidence     ${e.reason} (${e.code}) detected ${new Date(e.detectedAt).toISOString()}\n` +
    `  signed     ${e.signed === undefined ? 'none' : head(e.signed)}\n` +
    `  offending  ${head(e.offending)}\n` +
    `  ${e.message}\n`
  );
}

async function runWitness(io: CliIo, options: Options): Promise<void> {
  const stateDir = options.state ?? join(resolveHome(options.home, io.env), 'witness');
  if (options.init === true) {
    if (options.server !== undefined || options.once === true) {
      throw new ValidationError(
        'VALIDATION_FAILED',
        '--init only makes the key: run again without it to follow',
      );
    }
    const { HttpWitness } = await import('@sealpost/witness');
    const key = HttpWitness.initKey(stateDir, crypto);
    io.stdout.write(`witness key  ${toBase64url(key)}\nstate        ${stateDir}\n`);
    return;
  }
  const server = options.server;
  if (server === undefined) {
    throw new ValidationError('VALIDATION_FAILED', '--server is required (or --init to only make the key)');
  }
  const interval = Number(options.interval ?? WITNESS_LIMITS.pollIntervalSecs);
  if (!Number.isFinite(interval) || interval <= 0 || interval > 86_400) {
    throw new ValidationError('VALIDATION_FAILED', '--interval is seconds between 0 and 86400');
  }
  const directoryKey =
    options.directoryKey === undefined
      ? undefined
      : fromBase64urlExact(options.directoryKey, LIMITS.publicKeyBytes, 'directory key');
  const { HttpWitness, WitnessHaltedError, WitnessRefusedError } = await import('@sealpost/witness');
  let witness: HttpWitness;
  try {
    witness = await HttpWitness.open({ crypto, serverUrl: server, stateDir, directoryKey });
  } catch (e) {
    if (e instanceof WitnessHaltedError) io.stderr.write(describeEvidence(e.evidence));
    throw e;
  }
  io.stdout.write(`witness key  ${toBase64url(witness.publicKey)}\nfollowing    ${witness.feed.serverUrl}\n`);
  let stopping = false;
  let wake: (() => void) | undefined;
  const stop = () => {
    stopping = true;
    wake?.();
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  try {
    for (;;) {
      try {
        const { treeSize, cosignature } = await witness.step();
        io.stdout.write(`cosigned     head of size ${treeSize} at ${cosignature.timestamp}\n`);
      } catch (e) {
        if (e instanceof WitnessRefusedError && e.evidence !== undefined) {
          io.stderr.write(
            `the directory broke its log: this witness stops for good\n${describeEvidence(e.evidence)}`,
          );
          throw e;
        }
        if (e instanceof WitnessHaltedError) throw e;
        // Not the directory's signed word (a bad signature, a server that is down): try again later.
        if (e instanceof SealpostError && e.code === 'KT_WITNESS_NOT_CONFIGURED') {
          // Verified and cosigned, but the server keeps cosignatures only from configured witnesses.
          io.stderr.write(
            `not kept     the server's operator must add ${toBase64url(witness.publicKey)} to witnessKeys\n`,
          );
        }
        if (!(e instanceof SealpostError) || options.once === true) throw e;
        io.stderr.write(`skipped      ${e.code}: ${e.message}\n`);
      }
      if (options.once === true || stopping) return;
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, interval * 1000);
        wake = () => {
          clearTimeout(t);
          resolve();
        };
      });
      if (stopping) return;
    }
  } finally {
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
    witness.close();
  }
}
