#!/usr/bin/env node
/**
 * The `sealpost` command. Commands live in `commands/`, one file per command group; this file
 * wires them into commander and turns every failure into one line on stderr and an exit status
 * (exit-status.ts). Usage errors are reported the same way as any other error.
 */
import { Command, CommanderError } from 'commander';
import { ValidationError } from '@sealpost/core';
import { accountCommand } from './commands/account.ts';
import { backupCommand } from './commands/backup.ts';
import { chatCommand } from './commands/chat.ts';
import { devicesCommand } from './commands/devices.ts';
import { discloseCommand } from './commands/disclose.ts';
import { groupCommand } from './commands/group.ts';
import { serveCommand } from './commands/serve.ts';
import { verifyCommand } from './commands/verify.ts';
import { witnessCommand } from './commands/witness.ts';
import { EXIT, errorLine, exitStatusOf } from './exit-status.ts';
import { processIo } from './io.ts';
import type { CliIo } from './io.ts';

/** Runs one command line (`argv` as in process.argv) and answers its exit status. */
async function runCli(argv: readonly string[], io: CliIo): Promise<number> {
  const program = new Command()
    .name('sealpost')
    .description('End-to-end encrypted messaging and backup; the server holds nothing it could hand over.')
    .option('--home <dir>', 'directory of the local key store (default: $SEALPOST_HOME or ~/.sealpost)')
    .exitOverride()
    .configureOutput({
      writeOut: (text) => io.stdout.write(text),
      writeErr: (text) => io.stderr.write(text),
      // Usage errors are printed below in the common `error <CODE>: <message>` form.
      outputError: () => undefined,
    });
  // Added after configuration: subcommands inherit exitOverride and the output settings.
  serveCommand(program, io);
  accountCommand(program, io);
  discloseCommand(program, io);
  backupCommand(program, io);
  chatCommand(program, io);
  groupCommand(program, io);
  devicesCommand(program, io);
  verifyCommand(program, io);
  witnessCommand(program, io);

  try {
    await program.parseAsync([...argv]);
    return EXIT.ok;
  } catch (error) {
    if (error instanceof CommanderError) {
      if (error.code === 'commander.helpDisplayed' || error.code === 'commander.version') return EXIT.ok;
      if (error.code === 'commander.help') return EXIT.usage;
      const usage = new ValidationError('VALIDATION_FAILED', error.message.replace(/^error: /, ''));
      io.stderr.write(errorLine(usage) + '\n');
      return EXIT.usage;
    }
    io.stderr.write(errorLine(error) + '\n');
    return exitStatusOf(error);
  }
}

if (import.meta.main) {
  const status = await runCli(process.argv, processIo());
  // Exit explicitly: a drained server or an aborted request may leave a handle that would keep us alive.
  process.exit(status);
}
