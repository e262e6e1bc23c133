/**
 * `sealpost backup ...`: encrypted backups into a local directory (docs/backup-engine.md).
 *
 *   backup init --repo <dir>                         new repository (key file under the passphrase)
 *   backup create <dir> --repo <dir> [--tag <t,..>] [--host <h>] [--compression auto|fast|small]
 *                [--exclude... (backup-exclude.ts)]  new snapshot of <dir> (unchanged files not read)
 *   backup key list|add|passwd|remove --repo <dir>   passphrases (backup-key.ts)
 *   backup snapshots --repo <dir> [selection]        the snapshots, oldest first
 *   backup ls <snapshot> --repo <dir> [selection]    every entry of a snapshot
 *   backup restore <snapshot> <target> --repo <dir>  writes a snapshot (or --path of it) back
 *   backup diff <from> <to> --repo <dir>             paths added, removed, modified
 *   backup forget --repo <dir> --keep-... [--group-by host,paths,tags] [selection] [--dry-run]
 *   backup forget <snapshot>... --repo <dir> [--dry-run]   exactly these snapshots
 *   backup prune --repo <dir>                        deletes the data no snapshot uses
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
 * The selection is restic's: `--host <h>` (repeatable: any of them), `--tag <a,b>` (repeatable: every
 * tag of any one list; `--tag ""` selects snapshots without tags), `--path <p>` (repeatable: every
 * one among the snapshot's paths; made absolute as `create` records them; not on `restore`, whose
 * `--path` is a path inside the snapshot). `forget` considers only the selected snapshots;
 * `snapshots` lists them; on `ls`, `restore` and `diff`, "latest" is the newest of them.
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
  Excludes,
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
  GROUP_FIELDS,
  DEFAULT_GROUP_BY,
  parseKeepWithin,
  initRepository,
  listSnapshots,
  LocalRepository,
  selectSnapshots,
  nodeBackupDeps,
  favourMemory,
  openRepository,
  prune,
  restore,
  walkTree,
  type DamagedObject,
  type FsKind,
  type ForgetPolicy,
  type GroupField,
  type Repository,
  type Session,
  type SnapshotFilter,
} from '@sealpost/client/node/backup-api';
import { openKeystore } from '@sealpost/client';
import { nodeCryptoProvider as crypto } from '@sealpost/core/node';
import { resolveHome } from '../home.ts';
import type { CliIo } from '../io.ts';
import { readKeystoreFile } from '../keystore-file.ts';
import { readPassphrase } from '../passphrase.ts';
import { readRecoveryCode } from '../recovery-code.ts';
import { formatBytes, progressBar } from '../progress.ts';
import { printResult, repositoryOptions } from './backup-common.ts';
import { excludeOptions, excludeRules, type ExcludeOptions } from './backup-exclude.ts';
import { backupKeyCommand } from './backup-key.ts';

interface Options {
  readonly repo: string;
  readonly compression?: 'auto' | 'fast' | 'small';
  readonly json?: boolean;
  /** Each `--tag` as given: a tag list "a,b" (create adds every tag; a selection needs them all). */
  readonly tag?: string[];
  readonly host?: string[];
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
  readonly keepWithin?: KeepWithinArg;
  readonly keepWithinHourly?: KeepWithinArg;
  readonly keepWithinDaily?: KeepWithinArg;
  readonly keepWithinWeekly?: KeepWithinArg;
  readonly keepWithinMonthly?: KeepWithinArg;
  readonly keepWithinYearly?: KeepWithinArg;
  readonly keepTag?: string[];
  readonly groupBy?: GroupField[];
  readonly account?: boolean;
  readonly recoveryCode?: boolean;
  readonly grace?: number;
}

/** Options of the commands that select snapshots: `--path` there is repeatable. */
type SelectOptions = Omit<Options, 'path'> & { readonly path?: string[] };

/** A whole number of snapshots to keep (commander option parser for `flag`). */
const count = (flag: string) => (value: string) => {
  // restic's "unlimited": every snapshot the rule applies to (every bucket, for a bucket rule).
  if (value === 'unlimited') return Number.MAX_SAFE_INTEGER;
  if (!/^\d{1,9}$/.test(value))
    throw new ValidationError(
      'VALIDATION_FAILED',
      `${flag}: not a count: ${value} (a whole number, 0 or more, or "unlimited")`,
    );
  return Number(value);
};

/** A repeatable option's values, in order (commander option parser). */
const collect = (value: string, previous: string[] | undefined) => [...(previous ?? []), value];

type KeepWithinArg = NonNullable<ForgetPolicy['within']>;

/** restic's `--keep-within[-<bucket>]` duration such as 2y5m7d3h (commander option parser for `flag`). */
const keepWithinArg =
  (flag: string) =>
  (value: string): KeepWithinArg => {
    const within = parseKeepWithin(value);
    if (within === undefined) {
      throw new ValidationError(
        'VALIDATION_FAILED',
        `${flag} is a duration such as 2y5m7d3h (whole years, months, days, hours), not ${JSON.stringify(value)}`,
      );
    }
    return within;
  };

const GROUP_FIELD_NAMES: Readonly<Record<string, GroupField>> = {
  host: 'host',
  hosts: 'host',
  path: 'paths',
  paths: 'paths',
  tag: 'tags',
  tags: 'tags',
};

/** `--group-by host,paths,tags` (any of them; "" for one group of all), commander option parser. */
function groupByArg(value: string): GroupField[] {
  const fields = value === '' ? [] : value.split(',').map((f) => GROUP_FIELD_NAMES[f.trim()]);
  if (fields.some((f) => f === undefined)) {
    throw new ValidationError(
      'VALIDATION_FAILED',
      `--group-by takes ${GROUP_FIELDS.join(', ')} separated by commas ("" for one group), not ${JSON.stringify(value)}`,
    );
  }
  return GROUP_FIELDS.filter((f) => fields.includes(f));
}

/** The snapshot fields `forget` prints. */
interface ForgetSnapshot {
  readonly timeMs: number;
  readonly hostname: string;
  readonly paths: readonly string[];
  readonly tags: readonly string[];
}

/** The snapshots a command's `--host`, `--tag` and `--path` select (snapshots.ts). */
function filterOf(options: Pick<SelectOptions, 'host' | 'tag' | 'path'>): SnapshotFilter {
  return {
    hosts: options.host ?? [],
    tags: (options.tag ?? []).map((list) => list.split(',')),
    paths: (options.path ?? []).map((p) => resolve(p)),
  };
}

const selects = (f: SnapshotFilter) =>
  [f.hosts, f.tags, f.paths].some((x) => x !== undefined && x.length > 0);

/**
 * The id of the snapshot "latest" means among those the options select; any other id or prefix, or
 * "latest" with no selection, as given (the command's own lookup reports damaged snapshots).
 */
async function resolveLatest(
  session: Session,
  id: string,
  options: Pick<SelectOptions, 'host' | 'tag' | 'path'>,
): Promise<string> {
  const filter = filterOf(options);
  if (id !== 'latest' || !selects(filter)) return id;
  return (await findSnapshot(session, id, [], filter)).id;
}

/** The tags `create --tag a,b --tag c` records: each once, in order, none empty. */
function tagsOf(options: Options): string[] {
  return [...new Set((options.tag ?? []).flatMap((list) => list.split(',')).filter((t) => t !== ''))];
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

function compressionArg(value: string): 'auto' | 'fast' | 'small' {
  if (value === 'auto' || value === 'fast' || value === 'small') return value;
  throw new ValidationError('VALIDATION_FAILED', '--compression is auto, fast or small');
}

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

/**
 * A sealing worker per core but one: each reads, chunks and seals whole files (backup-workers.ts),
 * and this thread walks the tree, deduplicates, fills packs, and reads and seals a new file itself
 * whenever the worker has enough queued (BACKUP_ENGINE_LIMITS.backupFilesHereAbove): Debian set,
 * 2 cores, one worker so 6.96-7.10 s and 207 MiB against two workers' 5.98-6.75 s and 243-261 MiB
 * (a worker thread costs ~70 MiB). `check --read-data` verifies on all cores but one: it has two
 * packs in flight, one for the worker and one verified here (check.ts), and a second worker only
 * cost its memory. `restore` writes packs out on all cores but one too, and on this thread when
 * they are busy (Debian set, 2 cores: 1 worker 17.2 s, 2 workers 16.6-16.9 s and ~30 MiB more).
 * `restore` and `check` run in V8's memory saver mode (backup-reclaim.ts `favourMemory`: ~10-30 MiB
 * less at the same speed); `backup create` does not (~40 MiB less, ~10% slower).
 */
const deps = () =>
  nodeBackupDeps({
    workers: Math.max(1, availableParallelism() - 1),
    verifierWorkers: Math.max(1, availableParallelism() - 1),
    restorerWorkers: Math.max(1, availableParallelism() - 1),
  });

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
  options: Omit<Options, 'path'>,
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
  options: Omit<Options, 'path'>,
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

/**
 * Total bytes of regular files under `dir` that the backup will read (for the ETA), leaving out
 * what the excludes leave out as the walk does (backup.ts): patterns, the size limit, all but the
 * tag file in a directory that holds one, and with `oneFileSystem` whatever is on another device
 * than `dir` (a mount point is walked by neither). Unreadable entries count as 0. `device`: the
 * source's, given by the recursion.
 */
export async function treeBytes(dir: string, excludes: Excludes, device?: bigint): Promise<number> {
  if (excludes.oneFileSystem && device === undefined) {
    const source = await fs.lstat(dir, { bigint: true }).catch(() => undefined);
    if (source === undefined) return 0;
    device = source.dev;
  }
  let entries: Dirent[];
  try {
    entries = await fs.readdir(dir, { withFileTypes: true });
  } catch {
    return 0;
  }
  const tags =
    excludes.tagFiles.length === 0
      ? new Set<string>()
      : await excludes.tagsIn(
          (name) => direntKind(entries.find((e) => e.name === name)),
          (name, bytes) => fileHead(join(dir, name), bytes),
        );
  let total = 0;
  for (const e of entries) {
    const path = join(dir, e.name);
    if (excludes.excludesBesideTags(e.name, tags) || excludes.excludesPath(path)) continue;
    if (!e.isDirectory() && !e.isFile()) continue;
    const stat = await fs.lstat(path, { bigint: true }).catch(() => undefined);
    if (stat === undefined) continue;
    if (excludes.oneFileSystem && stat.dev !== device) continue;
    if (e.isDirectory()) total += await treeBytes(path, excludes, device);
    else if (!excludes.excludesSize(Number(stat.size))) total += Number(stat.size);
  }
  return total;
}

/** A directory entry's kind as the excludes name it (undefined for no entry). */
function direntKind(entry: Dirent | undefined): FsKind | undefined {
  if (entry === undefined) return undefined;
  if (entry.isFile()) return 'file';
  if (entry.isDirectory()) return 'dir';
  if (entry.isSymbolicLink()) return 'symlink';
  return 'other';
}

/** The first `bytes` bytes of the file at `path` (fewer if shorter), or undefined if unreadable. */
async function fileHead(path: string, bytes: number): Promise<Uint8Array | undefined> {
  try {
    const handle = await fs.open(path, 'r');
    try {
      const head = new Uint8Array(bytes);
      let fill = 0;
      while (fill < bytes) {
        const { bytesRead } = await handle.read(head, fill, bytes - fill, fill);
        if (bytesRead === 0) break;
        fill += bytesRead;
      }
      return head.subarray(0, fill);
    } finally {
      await handle.close();
    }
  } catch {
    return undefined;
  }
}

export function backupCommand(program: Command, io: CliIo): void {
  const home = () => (program.opts() as { home?: string }).home;
  const group = program.command('backup').description('encrypted backups into a repository directory');
  const sub = (name: string, description: string) =>
    repositoryOptions(group.command(name).description(description));
  const selecting = (command: Command, paths = true) => {
    command
      .option('--host <host>', 'only snapshots of this host (repeatable: any of them)', collect)
      .option(
        '--tag <tag,...>',
        'only snapshots with every one of these tags (repeatable: any list)',
        collect,
      );
    return paths
      ? command.option(
          '--path <path>',
          'only snapshots that include this path (repeatable: all of them)',
          collect,
        )
      : command;
  };
  const print = (options: Omit<Options, 'path'>, json: unknown, lines: string[]) =>
    printResult(io, options, json, lines);
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

  excludeOptions(sub('create', 'back up a directory into a new snapshot'))
    .argument('<dir>', 'the directory to back up')
    .option('--tag <tag,...>', 'tags for the snapshot (repeatable)', collect)
    .option('--host <name>', 'hostname recorded in the snapshot (default: this machine)', collect)
    .option('--force', 'read every file, even those unchanged since the last snapshot')
    .option(
      '--compression <auto|fast|small>',
      'zstd effort: fast (level 1), small (level 3, ~6% fewer bytes on text for more CPU), or auto ' +
        '(default: fast for a first backup of the directory, small once it has a snapshot to compare with)',
      compressionArg,
    )
    .action(
      action(async (dir: string, options: Options & ExcludeOptions) => {
        const source = resolve(dir);
        const stat = await fs.stat(source).catch(() => undefined);
        if (stat?.isDirectory() !== true)
          throw new ValidationError('VALIDATION_FAILED', `not a directory: ${dir}`);
        const hosts = options.host ?? [hostname()];
        if (hosts.length !== 1 || hosts[0] === '')
          throw new ValidationError(
            'VALIDATION_FAILED',
            'create takes at most one --host, and not an empty one',
          );
        const exclude = await excludeRules(options, io.env);
        await withSession(io, options, home(), async (session) => {
          const progress = progressBar(
            io.stderr,
            isTty(io) ? await treeBytes(source, new Excludes(exclude ?? {})) : 0,
            'files',
          );
          const result = await backup(session, source, {
            hostname: hosts[0]!,
            tags: tagsOf(options),
            force: options.force === true,
            compression: options.compression ?? 'auto',
            ...(exclude === undefined ? {} : { exclude }),
            onProgress: (p) => progress.update(p.bytesDone, p.files),
          }).finally(() => progress.end());
          print(options, result, [
            `snapshot ${result.snapshotId} saved`,
            `${result.files} files (${result.filesUnchanged} unchanged${result.filesLinked > 0 ? `, ${result.filesLinked} hard links read once` : ''}), ${result.dirs} dirs, ${result.symlinks} symlinks`,
            `read ${formatBytes(result.bytesRead)}; added ${formatBytes(result.bytesNew)} in ${result.blobsNew} blobs, ${result.packs} packs (${formatBytes(result.bytesStored)} stored, compressed for ${result.compression === 'fast' ? 'speed' : 'size'})`,
            ...(result.excluded > 0 ? [`left out by the excludes: ${result.excluded}`] : []),
            ...result.skipped.map((p) => `skipped (not a file, directory or symlink): ${p}`),
            ...result.errors.map((e) => `not backed up: ${e.path}: ${e.message}`),
          ]);
        });
      }),
    );

  selecting(sub('snapshots', 'list the snapshots (those selected), oldest first')).action(
    action(async (options: SelectOptions) => {
      await withSession(io, options, home(), async (session) => {
        const damaged: DamagedObject[] = [];
        const listed = selectSnapshots(await listSnapshots(session, damaged), filterOf(options));
        const all = listed.map(({ id, snapshot: s }) => ({
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

  selecting(sub('ls', 'list every entry of a snapshot'))
    .argument('<snapshot>', 'id, unique prefix, or "latest" (of the selected)')
    .action(
      action(async (id: string, options: SelectOptions) => {
        await withSession(io, options, home(), async (session) => {
          const damaged: DamagedObject[] = [];
          const reader = await BlobReader.load(session, damaged);
          const { snapshot } = await findSnapshot(session, id, damaged, filterOf(options));
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

  selecting(sub('restore', 'write a snapshot (or a path in it) back into a directory'), false)
    .argument('<snapshot>', 'id, unique prefix, or "latest" (of the snapshots --host and --tag select)')
    .argument('<target>', 'the directory to restore into')
    .option('--path <path>', 'only this path inside the snapshot')
    .action(
      action(async (given: string, target: string, options: Options) => {
        favourMemory();
        await withSession(io, options, home(), async (session) => {
          const id = await resolveLatest(session, given, { host: options.host, tag: options.tag });
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
        favourMemory();
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

  selecting(sub('diff', 'paths added, removed and modified between two snapshots'))
    .argument('<from>', 'id, unique prefix, or "latest" (of the selected)')
    .argument('<to>', 'id, unique prefix, or "latest" (of the selected)')
    .action(
      action(async (from: string, to: string, options: SelectOptions) => {
        await withSession(io, options, home(), async (session) => {
          const result = await diff(
            session,
            await resolveLatest(session, from, options),
            await resolveLatest(session, to, options),
          );
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

  const forgetCommand = selecting(
    sub(
      'forget',
      'remove the snapshots a keep policy does not keep (only among those selected), or those named',
    ),
  )
    .argument(
      '[snapshot...]',
      'ids, unique prefixes or "latest" (of the selected): remove exactly these (no --keep-* then)',
    )
    .option('--dry-run', 'only say what would be removed')
    .option('--prune', 'then prune the data no snapshot uses')
    .option('--grace <duration>', GRACE_HELP, graceArg);
  for (const rule of FORGET_RULES) {
    forgetCommand.option(
      `--keep-${rule} <n>`,
      rule === 'last'
        ? 'keep the n newest snapshots ("unlimited": all)'
        : `keep the newest snapshot of each of the last n ${rule} periods (UTC; "unlimited": of each)`,
      count(`--keep-${rule}`),
    );
  }
  forgetCommand.option(
    '--keep-within <duration>',
    "keep every snapshot newer than the group's newest less this duration (such as 2y5m7d3h)",
    keepWithinArg('--keep-within'),
  );
  // restic's --keep-within-<bucket> flags, each bucket with the period it names in the help.
  const withinBuckets = { hourly: 'hour', daily: 'day', weekly: 'week', monthly: 'month', yearly: 'year' };
  for (const [unit, period] of Object.entries(withinBuckets)) {
    forgetCommand.option(
      `--keep-within-${unit} <duration>`,
      `keep the newest snapshot of each ${period} (UTC) among those --keep-within <duration> keeps`,
      keepWithinArg(`--keep-within-${unit}`),
    );
  }
  forgetCommand
    .option('--keep-tag <tag,...>', 'keep every snapshot with all these tags (repeatable: any list)', collect)
    .option(
      '--group-by <fields>',
      `apply the policy to each group of snapshots with the same ${GROUP_FIELDS.join(', ')} ` +
        `(any of them, comma-separated; "" for one group; default ${DEFAULT_GROUP_BY.join(',')})`,
      groupByArg,
    );
  const forgetEntry = ({ id, snapshot: s }: { id: string; snapshot: ForgetSnapshot }) => ({
    id,
    time: new Date(s.timeMs).toISOString(),
    hostname: s.hostname,
    paths: s.paths,
    tags: s.tags,
  });
  const forgetLine = ({ id, snapshot: s }: { id: string; snapshot: ForgetSnapshot }) =>
    `${id.slice(0, 12)}  ${new Date(s.timeMs).toISOString()}  ${s.hostname}  ${s.tags.join(',')}`;
  forgetCommand.action(
    action(async (ids: string[], options: SelectOptions) => {
      const policy: ForgetPolicy = {
        last: options.keepLast,
        hourly: options.keepHourly,
        daily: options.keepDaily,
        weekly: options.keepWeekly,
        monthly: options.keepMonthly,
        yearly: options.keepYearly,
        withinHourly: options.keepWithinHourly,
        withinDaily: options.keepWithinDaily,
        withinWeekly: options.keepWithinWeekly,
        withinMonthly: options.keepWithinMonthly,
        withinYearly: options.keepWithinYearly,
        ...(options.keepWithin === undefined ? {} : { within: options.keepWithin }),
        ...(options.keepTag === undefined ? {} : { tags: options.keepTag.map((list) => list.split(',')) }),
      };
      const dryRun = options.dryRun === true;
      if (ids.length > 0) {
        // restic refuses the mix too: a policy would decide about snapshots the ids do not name.
        if (Object.values(policy).some((v) => v !== undefined) || options.groupBy !== undefined) {
          throw new ValidationError(
            'VALIDATION_FAILED',
            'forget takes snapshot ids or a keep policy (--keep-*, --group-by), not both',
          );
        }
        await withSession(io, options, home(), async (session) => {
          const result = await forget(session, { ids }, { dryRun, filter: filterOf(options) });
          const pruned =
            options.prune === true ? await prune(session, { dryRun, graceMs: options.grace }) : undefined;
          print(
            options,
            {
              dryRun,
              removed: result.removed,
              remove: result.remove.map(forgetEntry),
              ...(pruned === undefined ? {} : { prune: pruned }),
            },
            [
              ...result.remove.map((s) => `  remove  ${forgetLine(s)}`),
              dryRun ? 'dry run: nothing removed' : `${result.removed} snapshots removed`,
              ...(pruned === undefined ? [] : pruneLines(pruned)),
            ],
          );
        });
        return;
      }
      const groupBy = options.groupBy ?? DEFAULT_GROUP_BY;
      await withSession(io, options, home(), async (session) => {
        const result = await forget(session, policy, { dryRun, groupBy, filter: filterOf(options) });
        const pruned =
          options.prune === true ? await prune(session, { dryRun, graceMs: options.grace }) : undefined;
        const key = (g: (typeof result.groups)[number]) => ({
          ...(groupBy.includes('host') ? { hostname: g.hostname } : {}),
          ...(groupBy.includes('paths') ? { paths: g.paths } : {}),
          ...(groupBy.includes('tags') ? { tags: g.tags } : {}),
        });
        const title = (g: (typeof result.groups)[number]) =>
          groupBy.length === 0
            ? 'all snapshots'
            : Object.entries(key(g))
                .map(([k, v]) => `${k} ${Array.isArray(v) ? (v.length === 0 ? '(none)' : v.join(',')) : v}`)
                .join(', ');
        print(
          options,
          {
            dryRun,
            removed: result.removed,
            groupBy,
            groups: result.groups.map((g) => ({
              key: key(g),
              hostname: g.hostname,
              paths: g.paths,
              tags: g.tags,
              keep: g.keep.map((k) => ({
                ...forgetEntry(k.snapshot),
                reasons: k.reasons,
                matches: k.matches,
              })),
              remove: g.remove.map(forgetEntry),
            })),
            ...(pruned === undefined ? {} : { prune: pruned }),
          },
          [
            ...result.groups.flatMap((g) => [
              `${title(g)}: keep ${g.keep.length}, remove ${g.remove.length}`,
              ...g.keep.map((k) => `  keep    ${forgetLine(k.snapshot)}  (${k.matches.join('; ')})`),
              ...g.remove.map((s) => `  remove  ${forgetLine(s)}  (no rule keeps it)`),
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
    action,
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
