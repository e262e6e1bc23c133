/**
 * `sealpost backup key ...`: who can open a repository (restic's `key` command). A key file wraps
 * the repository's one master key, so adding, changing or removing a passphrase writes or deletes
 * one key file and re-encrypts nothing (docs/backup-format.md §Key files).
 *
 *   backup key list --repo <dir|url>            every key file: kind, Argon2id cost, the one in use
 *   backup key add --repo <dir|url>             a key file for a new passphrase
 *   backup key passwd --repo <dir>              the passphrase in use replaced by a new one
 *   backup key remove <key> --repo <dir|url>    a key file removed (never the one in use)
 *
 * The passphrase in use comes from SEALPOST_PASSPHRASE or a prompt (an account's repository opens
 * with the key store's, as every backup command); the new one from SEALPOST_NEW_PASSPHRASE or a
 * prompt, asked twice. An account's key file has no passphrase of its own, so `passwd` refuses an
 * account's repository (its key store's passphrase is changed with the key store; `key add` gives
 * the repository a passphrase of its own beside the account's).
 */
import type { Command } from 'commander';
import { ValidationError } from '@sealpost/core';
import {
  addKey,
  changeKey,
  listKeys,
  removeKey,
  type KeyFileInfo,
  type Repository,
} from '@sealpost/client/node/backup-api';
import type { BackupDeps } from '@sealpost/client/node/backup-api';
import type { CliIo } from '../io.ts';
import { readNewPassphrase } from '../passphrase.ts';
import { printResult, repositoryOptions } from './backup-common.ts';

interface KeyOptions {
  readonly repo: string;
  readonly json?: boolean;
  readonly account?: boolean;
  readonly recoveryCode?: boolean;
}

/** What `backup key` borrows from `backup` (commands/backup.ts): one way to open a target. */
export interface KeyCommandContext {
  readonly target: (options: KeyOptions) => Promise<{
    repo: Repository;
    secret: Uint8Array;
    account: boolean;
    recovery: boolean;
  }>;
  readonly deps: () => BackupDeps;
  /** Wraps an action so that the engine's errors are reported as the CLI reports them. */
  readonly action: <A extends unknown[]>(run: (...args: A) => Promise<void>) => (...args: A) => Promise<void>;
}

const KIND_TEXT: Record<KeyFileInfo['kind'], string> = {
  passphrase: 'passphrase',
  account: "account (the key store's account key)",
  recovery: 'recovery (opens with the recovery code)',
  damaged: 'damaged (does not parse; check reports it)',
};

export function keyLines(keys: readonly KeyFileInfo[]): string[] {
  return keys.map((k) => {
    const cost =
      k.argon2id === undefined
        ? ''
        : `  Argon2id m=${k.argon2id.memoryKiB} KiB t=${k.argon2id.iterations} p=${k.argon2id.parallelism}`;
    return `${k.current ? '*' : ' '} ${k.name.slice(0, 16)}  ${KIND_TEXT[k.kind]}${cost}`;
  });
}

export function backupKeyCommand(backupGroup: Command, io: CliIo, ctx: KeyCommandContext): void {
  const group = backupGroup
    .command('key')
    .description('passphrases that open a repository (no data is re-encrypted)');
  const sub = (name: string, description: string) =>
    repositoryOptions(group.command(name).description(description));
  const print = (options: KeyOptions, json: unknown, lines: string[]) =>
    printResult(io, options, json, lines);
  const run = ctx.action;
  /** Opens the target, runs `body` with its secret, wipes the secret. */
  const withTarget = async <T>(
    options: KeyOptions,
    body: (t: Awaited<ReturnType<KeyCommandContext['target']>>) => Promise<T>,
  ): Promise<T> => {
    const t = await ctx.target(options);
    try {
      return await body(t);
    } finally {
      t.secret.fill(0);
    }
  };

  sub('list', 'list the key files; * marks the one this passphrase opens').action(
    run(async (options: KeyOptions) => {
      const keys = await withTarget(options, (t) => listKeys(t.repo, ctx.deps(), t.secret));
      print(
        options,
        keys.map((k) => ({ ...k })),
        keyLines(keys),
      );
    }),
  );

  sub('add', 'add a key file for a new passphrase (from $SEALPOST_NEW_PASSPHRASE or a prompt)').action(
    run(async (options: KeyOptions) => {
      const name = await withTarget(options, async (t) => {
        const next = await readNewPassphrase(io, 'repository');
        try {
          return await addKey(t.repo, ctx.deps(), t.secret, next);
        } finally {
          next.fill(0);
        }
      });
      print(options, { added: name }, [`added key file ${name.slice(0, 16)}`]);
    }),
  );

  sub('passwd', 'replace the passphrase in use by a new one (nothing is re-encrypted)').action(
    run(async (options: KeyOptions) => {
      const { added, removed } = await withTarget(options, async (t) => {
        if (t.account || t.recovery) {
          throw new ValidationError(
            'VALIDATION_FAILED',
            t.account
              ? "an account's repository opens with the account's key, which has no passphrase of its " +
                  'own: `backup key add` gives the repository a passphrase beside it'
              : 'the recovery code cannot be changed here: `backup key add` gives the repository a passphrase',
          );
        }
        const before = (await listKeys(t.repo, ctx.deps(), t.secret)).find((k) => k.current)?.name;
        const next = await readNewPassphrase(io, 'repository');
        try {
          return {
            added: await changeKey(t.repo, ctx.deps(), t.secret, next),
            removed: before,
          };
        } finally {
          next.fill(0);
        }
      });
      print(options, { added, removed }, [
        `added key file ${added.slice(0, 16)}`,
        ...(removed === undefined || removed === added ? [] : [`removed key file ${removed.slice(0, 16)}`]),
      ]);
    }),
  );

  sub('remove', 'remove a key file (8 or more hex digits of its name; never the one in use)')
    .argument('<key>', 'the key file, as `backup key list` shows it')
    .action(
      run(async (key: string, options: KeyOptions) => {
        const removed = await withTarget(options, (t) => removeKey(t.repo, ctx.deps(), t.secret, key));
        print(options, { removed }, [`removed key file ${removed.slice(0, 16)}`]);
      }),
    );
}
