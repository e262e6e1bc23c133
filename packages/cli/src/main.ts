#!/usr/bin/env node
/**
 * The `sealpost` command. Commands live in `commands/`, one file per command group; this file
 * wires them into commander and turns every failure into one line on stderr and an exit status
 * (exit-status.ts). Usage errors are reported the same way as any other error.
 */
import { Command, CommanderError } from 'commander';
import { ValidationError } from '@sealpost/core';
import { EXIT, errorLine, exitStatusOf } from './exit-status.ts';
import { processIo } from './io.ts';
import type { CliIo } from './io.ts';

type Register = (program: Command, io: CliIo) => void;

/**
 * Each command group's module by the top-level commands it adds, in the order `--help` lists
 * them. Only the group a command line names is loaded: `sealpost backup ...` then never loads the
 * server, the MLS stack or the key-transparency code, which in the bundled CLI (scripts/build-cli.ts,
 * split into chunks) took ~60 MiB off a backup's peak RSS on the Debian set (329-357 against
 * 401-420 MiB). Anything else (no command, `--help`, an unknown name) loads them all.
 */
const GROUPS: readonly { readonly names: readonly string[]; readonly load: () => Promise<Register> }[] = [
  { names: ['serve'], load: async () => (await import('./commands/serve.ts')).serveCommand },
  { names: ['account'], load: async () => (await import('./commands/account.ts')).accountCommand },
  { names: ['disclose'], load: async () => (await import('./commands/disclose.ts')).discloseCommand },
  { names: ['backup'], load: async () => (await import('./commands/backup.ts')).backupCommand },
  { names: ['send', 'read', 'chat'], load: async () => (await import('./commands/chat.ts')).chatCommand },
  { names: ['group'], load: async () => (await import('./commands/group.ts')).groupCommand },
  { names: ['devices'], load: async () => (await import('./commands/devices.ts')).devicesCommand },
  { names: ['verify'], load: async () => (await import('./commands/verify.ts')).verifyCommand },
  { names: ['witness'], load: async () => (await import('./commands/witness.ts')).witnessCommand },
];

/** Options of the program itself that take a value (their value is not the command's name). */
const GLOBAL_OPTIONS_WITH_VALUE = new Set(['--home']);

/** The command a command line names: its first argument that is neither an option nor an option's value. */
function commandName(argv: readonly string[]): string | undefined {
  for (let i = 2; i < argv.length; i++) {
    const arg = argv[i]!;
    if (GLOBAL_OPTIONS_WITH_VALUE.has(arg)) i++;
    else if (!arg.startsWith('-')) return arg;
  }
  return undefined;
}

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
  const name = commandName(argv);
  const named = GROUPS.filter((g) => name !== undefined && g.names.includes(name));
  for (const group of named.length > 0 ? named : GROUPS) (await group.load())(program, io);

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

/**
 * How long a finished command may wait for the event loop to empty before it exits anyway (a
 * drained server or an aborted request may leave a handle that would keep it alive).
 */
const EXIT_GRACE_MS = 2_000;

if (import.meta.main) {
  const status = await runCli(process.argv, processIo());
  // The process ends when its event loop empties, not with process.exit() at once: process.exit()
  // shuts Node's platform threads down before V8's heap, and a background compile job waiting for
  // a garbage collection then waits forever (nodejs/node#54918, still open in Node 24 and 26; a
  // `sealpost backup snapshots` hung so once in our CI run, after printing its result). An empty
  // event loop tears the heap down first, which releases such a job.
  process.exitCode = status;
  setTimeout(() => process.exit(status), EXIT_GRACE_MS).unref();
}
