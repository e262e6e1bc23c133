/**
 * `sealpost backup ...`: encrypted backups into a local directory (docs/backup-engine.md).
 *
 *   backup init --repo <dir>                         new repository (key file under the passphrase)
 *   backup create <dir> --repo <dir> [--tag <t>]     new snapshot of <dir> (unchanged files not read)
 *   backup snapshots --repo <dir>                    the snapshots, oldest first
 *   backup ls <snapshot> --repo <dir>                every entry of a snapshot
 *   backup restore <snapshot> <target> --repo <dir>  writes a snapshot (or --path of it) back
 *   backup check --repo <dir> [--read-data]          is the repository whole?
 *
 * `--repo` is a directory, or an http(s) URL: that Sealpost server's blob store for this device's
 * account, opened with the account's key (the key store's passphrase is asked for instead of a
 * repository passphrase; docs/backup-format.md "Keys from the account"). `--account` keys a
 * directory the same way. An account's repository also gets a recovery key file, so that
 * `--recovery-code` (the code from SEALPOST_RECOVERY_CODE or a prompt, recovery-code.ts) opens a
 * directory on a machine with no key store at all, and a server repository on the device that
 * `sealpost account recover` made (which adds a key file for its new account key).
 *
 * <snapshot> is an id, a unique prefix of one, or "latest". The passphrase comes from
 * SEALPOST_PASSPHRASE or a prompt (passphrase.ts) and is wiped when done. `--json` prints one JSON
 * document on stdout; progress (bytes, rate, ETA) goes to stderr, on a terminal only. A failed check
 * prints its report and exits as BACKUP_DATA_CORRUPT (status 2).
 */
import type { Dirent } from 'node:fs';
import * as fs from 'node:fs/promises';
import { availableParallelism, hostname } from 'node:os';
import { join, resolve } from 'node:path';
import type { Command } from 'commander';
import { SealpostError, ValidationError, type ErrorKind } from '@sealpost/core';
import {
  backup,
  BackupError,
  BlobReader,
  check,
  ACCOUNT_KEY_FILE_PARAMS,
  accountKeySecret,
  addKeyWithRecovery,
  addRecoveryKey,
  openRepositoryWithRecovery,
  HttpRepository,
  diff,
  findSnapshot,
  forget,
  FORGET_RULES,
  initRepository,
  listSnapshots,
  LocalRepository,
  nodeBackupDeps,
  openRepository,
  prune,
  restore,
  walkTree,
  type DamagedObject,
  type ForgetPolicy,
  type Repository,
  type Session,
} from '@sealpost/client/node/backup-api';
import { openKeystore } from '@sealpost/client';
import { nodeCryptoProvider as crypto } from '@sealpost/core/node';
import { resolveHome } from '../home.ts';
import type { CliIo } from '../io.ts';
import { readKeystoreFile } from '../keystore-file.ts';
import { readPassphrase } from '../passphrase.ts';
import { readRecoveryCode } from '../recovery-code.ts';
import { formatBytes, progressBar } from '../progress.ts';
import { backupKeyCommand } from './backup-key.ts';

interface Options {
  readonly repo: string;
  readonly json?: boolean;
  readonly tag?: string[];
  readonly host?: string;
  readonly force?: boolean;
  readonly path?: string;
  readonly readData?: boolean;
  readonly dryRun?: boolean;
  readonly prune?: boolean;
  readonly keepLast?: number;
  readonly keepHourly?: number;
  readonly keepDaily?: number;
  readonly keepWeekly?: number;
  readonly keepMonthly?: number;
  readonly keepYearly?: number;
  readonly account?: boolean;
  readonly recoveryCode?: boolean;
  readonly grace?: number;
}

/** A whole number of snapshots to keep (commander option parser). */
function count(value: string): number {
  if (!/^\d{1,9}$/.test(value)) throw new ValidationError('VALIDATION_FAILED', `not a count: ${value}`);
  return Number(value);
}

/** Longest `--grace` accepted: a condemned pack waits at most this long before a prune deletes it. */
const GRACE_MAX_MS = 90 * 24 * 60 * 60 * 1000;
const GRACE_UNIT_MS = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;

/** A grace period such as `0`, `30m`, `12h` or `7d` (commander option parser), in ms. */
function graceArg(value: string): number {
  const m = /^(\d{1,6})([smhd])?$/.exec(value);
  const ms = m === null ? NaN : Number(m[1]) * GRACE_UNIT_MS[(m[2] ?? 's') as keyof typeof GRACE_UNIT_MS];
  if (!(ms <= GRACE_MAX_MS)) {
    throw new ValidationError(
      'VALIDATION_FAILED',
      `--grace is a duration such as 0, 30m, 12h or 7d, at most 90d`,
    );
  }
  return ms;
}

const GRACE_HELP =
  'how long a pack stays condemned before a prune deletes it (default 24h); shorter only when no other ' +
  'device backs up into this repository meanwhile (docs/backup-engine.md)';

const isTty = (io: CliIo) => (io.stderr as { isTTY?: boolean }).isTTY === true;

/**
 * BackupError is the client's own class until its codes join core's table (docs/backup-engine.md);
 * meanwhile the CLI reports it like a core error: its own code, and the exit status of its kind.
 */
class BackupCommandError extends SealpostError {
  readonly #kind: ErrorKind;
  constructor(error: BackupError) {
    super('VALIDATION_FAILED', error.message, error.details);
    Object.defineProperty(this, 'code', { value: error.code });
    this.#kind = error.kind;
  }
  override get kind(): ErrorKind {
    return this.#kind;
  }
}

/** One line per snapshot or index file left out because it does not open. */
function skippedLines(damaged: readonly DamagedObject[]): string[] {
  return damaged.map((d) => `skipped (does not open): ${d.object}: ${d.message}`);
}

function reported(error: unknown): unknown {
  return error instanceof BackupError ? new BackupCommandError(error) : error;
}

/** Seals on all cores but one (chunking and ids stay on this thread). */
const deps = () => nodeBackupDeps({ workers: Math.max(1, availableParallelism() - 1) });

/**
 * The repository `--repo` names and the secret that opens it: a directory and the passphrase; a
 * server URL, or a directory with `--account`, and the account's key file secret (from the key
 * store in `home`, with its backup recovery public key when it has one); or, with
 * `--recovery-code`, a directory and the recovery secret (`recovery`), or a server URL, this
 * device's account key file secret and the recovery secret (`recoverySecret`: a device made by
 * `sealpost account recover`, whose account key has no key file yet). The caller wipes the secrets.
 */
async function target(
  io: CliIo,
  options: Options,
  home: string | undefined,
  confirm: boolean,
): Promise<{
  repo: Repository;
  secret: Uint8Array;
  account: boolean;
  recovery: boolean;
  recoveryKey?: Uint8Array | undefined;
  recoverySecret?: Uint8Array | undefined;
}> {
  const server = /^https?:\/\//i.test(options.repo);
  if (options.recoveryCode === true && !server) {
    if (options.account === true)
      throw new ValidationError('VALIDATION_FAILED', '--recovery-code and --account exclude each other');
    const repo = new LocalRepository(resolve(options.repo));
    return { repo, secret: await readRecoveryCode(io), account: false, recovery: true };
  }
  if (!server && options.account !== true) {
    return {
      repo: new LocalRepository(resolve(options.repo)),
      secret: await readPassphrase(io, confirm),
      account: false,
      recovery: false,
    };
  }
  // The server admits only a device of the account: without a key store (`account recover` makes
  // one from the code) this fails here, before the code is asked for.
  const bytes = await readKeystoreFile(resolveHome(home, io.env)).catch((error: unknown) => {
    if (options.recoveryCode === true && error instanceof ValidationError) {
      throw new ValidationError(
        'VALIDATION_FAILED',
        '--recovery-code with a server repository needs a device of the account: make one with ' +
          '`sealpost account recover <username> --server <url>` first',
      );
    }
    throw error;
  });
  const recoverySecret = options.recoveryCode === true ? await readRecoveryCode(io) : undefined;
  const passphrase = await readPassphrase(io, false);
  const contents = await openKeystore(crypto, bytes, passphrase).finally(() => passphrase.fill(0));
  try {
    const repo = server
      ? new HttpRepository({
          serverUrl: options.repo,
          username: contents.username,
          deviceSeed: contents.deviceSeed,
          crypto,
        })
      : new LocalRepository(resolve(options.repo));
    return {
      repo,
      secret: accountKeySecret(crypto, contents.accountSeed),
      account: true,
      recovery: false,
      recoveryKey: contents.backupRecoveryKey,
      recoverySecret,
    };
  } finally {
    contents.accountSeed.fill(0);
    contents.deviceSeed.fill(0);
  }
}

async function withSession<T>(
  io: CliIo,
  options: Options,
  home: string | undefined,
  run: (session: Session) => Promise<T>,
): Promise<T> {
  const { repo, secret, recovery, recoverySecret } = await target(io, options, home, false);
  let session: Session;
  try {
    session = recovery
      ? await openRepositoryWithRecovery(repo, deps(), secret)
      : recoverySecret !== undefined
        ? await openAddingAccountKey(io, repo, secret, recoverySecret)
        : await openRepository(repo, deps(), secret);
  } finally {
    secret.fill(0);
    recoverySecret?.fill(0);
  }
  try {
    return await run(session);
  } finally {
    session.close();
  }
}

/**
 * A server repository with `--recovery-code` on a recovered device (docs/backup-format.md "Recovery
 * key files"): the key file of this device's account key opens it once it exists; until then the
 * recovery key file opens it, and a key file for the account key is added, so that later commands
 * need no code.
 */
async function openAddingAccountKey(
  io: CliIo,
  repo: Repository,
  accountSecret: Uint8Array,
  recoverySecret: Uint8Array,
): Promise<Session> {
  try {
    return await openRepository(repo, deps(), accountSecret);
  } catch (error) {
    if (!(error instanceof SealpostError && error.code === 'KEYSTORE_PASSPHRASE_WRONG')) throw error;
  }
  await addKeyWithRecovery(repo, deps(), recoverySecret, accountSecret, ACCOUNT_KEY_FILE_PARAMS);
  io.stderr.write(
    "note: added a key file for this device's account key: later commands need no --recovery-code\n",
  );
  return openRepository(repo, deps(), accountSecret);
}

/** Total bytes of regular files under `dir` (for the ETA); unreadable entries count as 0. */
async function treeBytes(dir: string): Promise<number> {
  let total = 0;
  let entries: Dirent[];
  try {
    entries = await fs.readdir(dir, { withFileTypes: true });
  } catch {
    return 0;
  }
  for (const e of entries) {
    if (e.isDirectory()) total += await treeBytes(join(dir, e.name));
    else if (e.isFile())
      total += await fs.lstat(join(dir, e.name)).then(
        (s) => s.size,
        () => 0,
      );
  }
  return total;
}

export function backupCommand(program: Command, io: CliIo): void {
  const home = () => (program.opts() as { home?: string }).home;
  const group = program.command('backup').description('encrypted backups into a repository directory');
  const sub = (name: string, description: string) =>
    group
      .command(name)
      .description(description)
      .requiredOption('--repo <dir|url>', "the repository: a local directory, or a Sealpost server's URL")
      .option('--account', "a directory keyed by this device's account (as a server repository is)")
      .option(
        '--recovery-code',
        `open the directory with the account's recovery code (from $SEALPOST_RECOVERY_CODE or a prompt)`,
      )
      .option('--json', 'machine-readable output');
  const print = (options: Options, json: unknown, lines: string[]) =>
    io.stdout.write(
      options.json === true ? JSON.stringify(json, null, 2) + '\n' : lines.map((l) => l + '\n').join(''),
    );
  const action =
    <A extends unknown[]>(run: (...args: A) => Promise<void>) =>
    async (...args: A) => {
      try {
        await run(...args);
      } catch (error) {
        throw reported(error);
      }
    };

  sub('init', 'create a repository in an empty directory').action(
    action(async (options: Options) => {
      if (options.recoveryCode === true)
        throw new ValidationError('VALIDATION_FAILED', 'init takes no --recovery-code');
      const { repo, secret, account, recoveryKey } = await target(io, options, home(), true);
      try {
        const { repositoryId } = account
          ? await initRepository(repo, deps(), secret, ACCOUNT_KEY_FILE_PARAMS)
          : await initRepository(repo, deps(), secret);
        // The account's repository: a recovery key file too, sealed to the key store's public key.
        const recoveryKeyFile = account && recoveryKey !== undefined;
        if (recoveryKeyFile) await addRecoveryKey(repo, deps(), secret, recoveryKey);
        print(options, { repositoryId, ...(account ? { recoveryKeyFile } : {}) }, [
          `created repository ${repositoryId} in ${options.repo}`,
          ...(!account
            ? []
            : recoveryKeyFile
              ? ['the recovery code opens it (recovery key file written)']
              : [
                  'warning: this key store holds no backup recovery key (made before it existed, or linked):',
                  '         the recovery code will not open this repository',
                ]),
        ]);
      } finally {
        secret.fill(0);
      }
    }),
  );

  sub('create', 'back up a directory into a new snapshot')
    .argument('<dir>', 'the directory to back up')
    .option('--tag <tag...>', 'tags for the snapshot')
    .option('--host <name>', 'hostname recorded in the snapshot (default: this machine)')
    .option('--force', 'read every file, even those unchanged since the last snapshot')
    .action(
      action(async (dir: string, options: Options) => {
        const source = resolve(dir);
        const stat = await fs.stat(source).catch(() => undefined);
        if (stat?.isDirectory() !== true)
          throw new ValidationError('VALIDATION_FAILED', `not a directory: ${dir}`);
        await withSession(io, options, home(), async (session) => {
          const progress = progressBar(io.stderr, isTty(io) ? await treeBytes(source) : 0, 'files');
          const result = await backup(session, source, {
            hostname: options.host ?? hostname(),
            tags: options.tag ?? [],
            force: options.force === true,
            onProgress: (p) => progress.update(p.bytesDone, p.files),
          }).finally(() => progress.end());
          print(options, result, [
            `snapshot ${result.snapshotId} saved`,
            `${result.files} files (${result.filesUnchanged} unchanged), ${result.dirs} dirs, ${result.symlinks} symlinks`,
            `read ${formatBytes(result.bytesRead)}; added ${formatBytes(result.bytesNew)} in ${result.blobsNew} blobs, ${result.packs} packs (${formatBytes(result.bytesStored)} stored)`,
            ...result.skipped.map((p) => `skipped (not a file, directory or symlink): ${p}`),
            ...result.errors.map((e) => `not backed up: ${e.path}: ${e.message}`),
          ]);
        });
      }),
    );

  sub('snapshots', 'list the snapshots, oldest first').action(
    action(async (options: Options) => {
      await withSession(io, options, home(), async (session) => {
        const damaged: DamagedObject[] = [];
        const all = (await listSnapshots(session, damaged)).map(({ id, snapshot: s }) => ({
          id,
          time: new Date(s.timeMs).toISOString(),
          hostname: s.hostname,
          paths: s.paths,
          tags: s.tags,
        }));
        for (const line of skippedLines(damaged)) io.stderr.write(line + '\n');
        print(
          options,
          all,
          all.map(
            (s) =>
              `${s.id.slice(0, 12)}  ${s.time}  ${s.hostname}  ${s.paths.join(' ')}  ${s.tags.join(',')}`,
          ),
        );
      });
    }),
  );

  sub('ls', 'list every entry of a snapshot')
    .argument('<snapshot>', 'id, unique prefix, or "latest"')
    .action(
      action(async (id: string, options: Options) => {
        await withSession(io, options, home(), async (session) => {
          const damaged: DamagedObject[] = [];
          const reader = await BlobReader.load(session, damaged);
          const { snapshot } = await findSnapshot(session, id, damaged);
          for (const line of skippedLines(damaged)) io.stderr.write(line + '\n');
          const entries: { path: string; kind: string; mode: string; size?: number; target?: string }[] = [];
          for await (const { path, node } of walkTree(reader, snapshot.tree)) {
            entries.push({
              path,
              kind: node.kind,
              mode: node.mode.toString(8).padStart(4, '0'),
              ...(node.kind === 'file' ? { size: node.size } : {}),
              ...(node.kind === 'symlink' ? { target: new TextDecoder().decode(node.target) } : {}),
            });
          }
          print(
            options,
            entries,
            entries.map(
              (e) =>
                `${e.kind.padEnd(7)} ${e.mode} ${String(e.size ?? '').padStart(12)}  ${e.path}${e.target === undefined ? '' : ` -> ${e.target}`}`,
            ),
          );
        });
      }),
    );

  sub('restore', 'write a snapshot (or a path in it) back into a directory')
    .argument('<snapshot>', 'id, unique prefix, or "latest"')
    .argument('<target>', 'the directory to restore into')
    .option('--path <path>', 'only this path inside the snapshot')
    .action(
      action(async (id: string, target: string, options: Options) => {
        await withSession(io, options, home(), async (session) => {
          let total = 0;
          if (isTty(io)) {
            const { snapshot } = await findSnapshot(session, id);
            const prefix = (options.path ?? '')
              .split('/')
              .filter((p) => p !== '' && p !== '.')
              .join('/');
            for await (const { path, node } of walkTree(await BlobReader.load(session), snapshot.tree)) {
              if (node.kind === 'file' && (prefix === '' || path === prefix || path.startsWith(prefix + '/')))
                total += node.size;
            }
          }
          const progress = progressBar(io.stderr, total, 'files');
          const result = await restore(session, id, resolve(target), {
            ...(options.path === undefined ? {} : { path: options.path }),
            onProgress: (p) => progress.update(p.bytesWritten, p.files),
          }).finally(() => progress.end());
          print(options, result, [
            `restored ${result.files} files, ${result.dirs} dirs, ${result.symlinks} symlinks (${formatBytes(result.bytesWritten)}) into ${target}`,
          ]);
          for (const line of skippedLines(result.damaged)) io.stderr.write(line + '\n');
        });
      }),
    );

  sub('check', 'check the repository (with --read-data: every pack and blob)')
    .option('--read-data', 'read and verify every pack')
    .action(
      action(async (options: Options) => {
        await withSession(io, options, home(), async (session) => {
          let progress: ReturnType<typeof progressBar> | undefined;
          const report = await check(session, {
            readData: options.readData === true,
            onProgress: (p) => {
              progress ??= progressBar(io.stderr, p.totalBytes, 'packs');
              progress.update(p.bytes, p.packs);
            },
          }).finally(() => progress?.end());
          print(options, report, [
            `${report.snapshots} snapshots, ${report.packs} packs, ${report.blobs} blobs, ${report.trees} trees` +
              (options.readData === true ? `, ${report.packsRead} packs read` : ''),
            ...(report.unreferencedPacks > 0
              ? [`${report.unreferencedPacks} packs no index names (unused)`]
              : []),
            ...report.problems.map((p) => `damaged: ${p.object}: ${p.message}`),
            report.ok ? 'no problems found' : `${report.problems.length} problems found`,
          ]);
          if (!report.ok) {
            throw new BackupError('BACKUP_DATA_CORRUPT', `check found ${report.problems.length} problems`, {
              problems: report.problems.length,
            });
          }
        });
      }),
    );

  sub('diff', 'paths added, removed and modified between two snapshots')
    .argument('<from>', 'id, unique prefix, or "latest"')
    .argument('<to>', 'id, unique prefix, or "latest"')
    .action(
      action(async (from: string, to: string, options: Options) => {
        await withSession(io, options, home(), async (session) => {
          const result = await diff(session, from, to);
          const sign = { added: '+', removed: '-', modified: 'M', metadata: 'U' } as const;
          const size = (n: number | undefined) => (n === undefined ? '' : formatBytes(n));
          print(options, result, [
            ...result.entries.map((e) => {
              const sizes =
                e.change === 'modified' && e.kind === 'file'
                  ? ` (${size(e.sizeBefore)} -> ${size(e.sizeAfter)})`
                  : e.kind === 'file'
                    ? ` (${size(e.sizeAfter ?? e.sizeBefore)})`
                    : '';
              return `${sign[e.change]}  ${e.path}${e.kind === 'dir' ? '/' : ''}${sizes}`;
            }),
            `${result.added} added (${formatBytes(result.bytesAdded)}), ${result.removed} removed (${formatBytes(result.bytesRemoved)}), ${result.modified} modified, ${result.metadata} with new metadata`,
          ]);
        });
      }),
    );

  const forgetCommand = sub('forget', 'remove the snapshots a keep policy does not keep')
    .option('--dry-run', 'only say what would be removed')
    .option('--prune', 'then prune the data no snapshot uses')
    .option('--grace <duration>', GRACE_HELP, graceArg);
  for (const rule of FORGET_RULES) {
    forgetCommand.option(
      `--keep-${rule} <n>`,
      rule === 'last'
        ? 'keep the n newest snapshots'
        : `keep the newest snapshot of each of the last n ${rule} periods (UTC)`,
      count,
    );
  }
  forgetCommand.action(
    action(async (options: Options) => {
      const policy: ForgetPolicy = {
        last: options.keepLast,
        hourly: options.keepHourly,
        daily: options.keepDaily,
        weekly: options.keepWeekly,
        monthly: options.keepMonthly,
        yearly: options.keepYearly,
      };
      await withSession(io, options, home(), async (session) => {
        const dryRun = options.dryRun === true;
        const result = await forget(session, policy, { dryRun });
        const pruned =
          options.prune === true ? await prune(session, { dryRun, graceMs: options.grace }) : undefined;
        const line = (id: string, timeMs: number) => `${id.slice(0, 12)}  ${new Date(timeMs).toISOString()}`;
        print(
          options,
          {
            dryRun,
            removed: result.removed,
            groups: result.groups.map((g) => ({
              hostname: g.hostname,
              paths: g.paths,
              keep: g.keep.map((k) => ({
                id: k.snapshot.id,
                time: new Date(k.snapshot.snapshot.timeMs).toISOString(),
                reasons: k.reasons,
              })),
              remove: g.remove.map((s) => ({ id: s.id, time: new Date(s.snapshot.timeMs).toISOString() })),
            })),
            ...(pruned === undefined ? {} : { prune: pruned }),
          },
          [
            ...result.groups.flatMap((g) => [
              `${g.hostname} ${g.paths.join(' ')}: keep ${g.keep.length}, remove ${g.remove.length}`,
              ...g.keep.map(
                (k) => `  keep    ${line(k.snapshot.id, k.snapshot.snapshot.timeMs)}  ${k.reasons.join(',')}`,
              ),
              ...g.remove.map((s) => `  remove  ${line(s.id, s.snapshot.timeMs)}`),
            ]),
            dryRun ? 'dry run: nothing removed' : `${result.removed} snapshots removed`,
            ...(pruned === undefined ? [] : pruneLines(pruned)),
          ],
        );
      });
    }),
  );

  sub('prune', 'remove the data no snapshot uses (condemned first, deleted after a grace period)')
    .option('--dry-run', 'only say what would be done')
    .option('--grace <duration>', GRACE_HELP, graceArg)
    .action(
      action(async (options: Options) => {
        await withSession(io, options, home(), async (session) => {
          const result = await prune(session, { dryRun: options.dryRun === true, graceMs: options.grace });
          print(options, result, pruneLines(result));
        });
      }),
    );

  backupKeyCommand(group, io, {
    target: (options) => target(io, options, home(), false),
    deps,
    reported,
  });
}

function pruneLines(r: Awaited<ReturnType<typeof prune>>): string[] {
  return [
    `${r.snapshots} snapshots use ${r.blobsUsed} blobs; packs: ${r.packsKept} kept, ${r.packsRepacked} repacked into ${r.packsWritten} (${formatBytes(r.bytesCopied)} copied)`,
    `${r.packsCondemned} packs condemned now, ${r.packsPending} waiting out the grace period, ${r.packsRescued} used again`,
    `${r.packsDeleted} packs deleted (${formatBytes(r.bytesDeleted)})` +
      (r.dryRun ? ' (dry run: nothing written or deleted)' : ''),
    ...r.packsMissing.map((p) => `damaged: packs/${p} is indexed, used, and not stored`),
  ];
}
