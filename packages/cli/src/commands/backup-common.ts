/**
 * What every `sealpost backup` subcommand shares (backup.ts, backup-key.ts): the options that
 * name and open a repository, and the output (JSON with `--json`, lines otherwise).
 */
import type { Command } from 'commander';
import type { CliIo } from '../io.ts';

/** `--repo`, `--account`, `--recovery-code` and `--json` on `command`. */
export function repositoryOptions(command: Command): Command {
  return command
    .requiredOption('--repo <dir|url>', "the repository: a local directory, or a Sealpost server's URL")
    .option('--account', "a directory keyed by this device's account (as a server repository is)")
    .option(
      '--recovery-code',
      `open the directory with the account's recovery code (from $SEALPOST_RECOVERY_CODE or a prompt)`,
    )
    .option('--json', 'machine-readable output');
}

/** `json` as one JSON document with `--json`, else `lines`, on stdout. */
export function printResult(
  io: CliIo,
  options: { readonly json?: boolean },
  json: unknown,
  lines: string[],
): void {
  io.stdout.write(
    options.json === true ? JSON.stringify(json, null, 2) + '\n' : lines.map((l) => l + '\n').join(''),
  );
}
