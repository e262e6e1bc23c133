/**
 * The three backup programs the benchmark compares, each as the commands a user would type, with
 * its repository password from the environment:
 *   - sealpost: `[NAME=value ...] node <flags> dist/cli/sealpost.mjs backup ...` (the bundle; packages/cli/src/main.ts
 *     at commits before it), as package.json's "sealpost" script runs it (`cliCommand`) (zstd level 1,
 *     AES-256-GCM; seals on all cores but one, the main thread reads, chunks and computes ids),
 *     SEALPOST_PASSPHRASE;
 *   - restic: repository format 2, `--compression auto` (zstd at its default speed, about level 3),
 *     GOMAXPROCS = the core count, RESTIC_PASSWORD;
 *   - borg 1.x: `repokey` (AES-256-CTR + HMAC-SHA256), `--compression zstd,3`, one thread (borg 1
 *     has no other), BORG_PASSPHRASE.
 * restic's and borg's local caches go under the benchmark's work directory and are not counted in
 * the repository size.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { basename, dirname, join } from 'node:path';
import type { Command } from './measure.ts';

export type ToolName = 'sealpost' | 'restic' | 'borg';

export interface Tool {
  readonly name: ToolName;
  /** One line: the program's version. */
  readonly version: string;
  init(repo: string): Command;
  /** `run` is 1 for the first backup, 2 for the second. */
  backup(source: string, repo: string, run: number): Command;
  restore(repo: string, target: string): Command;
  check(repo: string): Command;
  /** Where the restored copy of `source` is under `target`. */
  restoredRoot(target: string, source: string): string;
}

/** Not a secret: a benchmark repository's password, the same for all three. */
const PASSWORD = 'sealpost bench: not a secret';

/** The environment without any of the three programs' own variables, plus `extra`. */
function environment(extra: Record<string, string>): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env))
    if (v !== undefined && !/^(SEALPOST|RESTIC|BORG)_/.test(k)) env[k] = v;
  return { ...env, ...extra };
}

export function onPath(program: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${program}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

function firstLine(cmd: string, args: string[]): string {
  return execFileSync(cmd, args, { encoding: 'utf8' }).trim().split('\n')[0]!;
}

/**
 * What the "sealpost" script of package.json may look like: the environment it sets for node
 * (`NAME=value` before `node`, none at older commits), its node flags between `node` and the
 * entry: from the bundle (built first, scripts/build-cli.ts), or, at commits before the bundle,
 * from the TypeScript source.
 */
const CLI_SCRIPTS = [
  {
    form: /^node\s+scripts\/build-cli\.ts\s+--quiet\s*&&\s*((?:[A-Z_][A-Z0-9_]*=\S+\s+)*)node((?:\s+-\S+)*)\s+dist\/cli\/sealpost\.mjs$/,
    entry: 'dist/cli/sealpost.mjs',
    bundled: true,
  },
  {
    form: /^()node((?:\s+-\S+)*)\s+packages\/cli\/src\/main\.ts$/,
    entry: 'packages/cli/src/main.ts',
    bundled: false,
  },
] as const;

interface CliCommand {
  /** The environment the script sets for node (`NAME=value` before it: glibc's malloc tunables). */
  readonly env: Record<string, string>;
  /** The node flags of the script (memory flags included). */
  readonly flags: string[];
  /** The file node runs, relative to the root. */
  readonly entry: string;
}

/**
 * How `root`'s package.json "sealpost" script runs the CLI (`node scripts/build-cli.ts --quiet &&
 * [NAME=value ...] node <flags> dist/cli/sealpost.mjs`, or `node <flags> packages/cli/src/main.ts` before the
 * bundle), so that the benchmark runs it as `npm run sealpost` does, memory flags included, and a
 * checkout of another commit (`--at`) as that commit did. Builds the bundle in `root` when the
 * script runs one.
 */
export function cliCommand(root: string): CliCommand {
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as {
    scripts?: Record<string, string>;
  };
  const script = (pkg.scripts?.sealpost ?? '').trim();
  for (const { form, entry, bundled } of CLI_SCRIPTS) {
    const match = form.exec(script);
    if (match === null) continue;
    const [, assignments = '', flags = ''] = match;
    if (bundled)
      execFileSync(join(root, 'node_modules/.bin/node'), ['scripts/build-cli.ts', '--quiet'], {
        cwd: root,
        stdio: 'inherit',
      });
    const env = Object.fromEntries(
      assignments
        .split(/\s+/)
        .filter((a) => a !== '')
        .map((a) => [a.slice(0, a.indexOf('=')), a.slice(a.indexOf('=') + 1)]),
    );
    return { env, flags: flags.split(/\s+/).filter((f) => f !== ''), entry };
  }
  throw new Error(
    `package.json's "sealpost" script is neither "node scripts/build-cli.ts --quiet && [NAME=value ...] node <flags> ` +
      `dist/cli/sealpost.mjs" nor "node <flags> packages/cli/src/main.ts": ${script}`,
  );
}

export interface SealpostOptions {
  readonly root: string;
  /** Which Sealpost: "working tree" or "at <commit>". */
  readonly label: string;
  /** When set, each child writes a V8 CPU profile (`--cpu-prof`) into this directory. */
  readonly cpuProfDir?: string;
}

export function sealpost(options: SealpostOptions): Tool {
  const node = join(options.root, 'node_modules/.bin/node');
  const { env: scriptEnv, flags: nodeFlags, entry } = cliCommand(options.root);
  const env = environment({ ...scriptEnv, SEALPOST_PASSPHRASE: PASSWORD });
  const cli = (args: string[], step: string, cwd = options.root): Command => ({
    cmd: node,
    args: [
      ...nodeFlags,
      ...(options.cpuProfDir === undefined
        ? []
        : ['--cpu-prof', '--cpu-prof-dir', join(options.cpuProfDir, step)]),
      join(options.root, entry),
      'backup',
      ...args,
    ],
    cwd,
    env,
  });
  return {
    name: 'sealpost',
    version: `sealpost ${options.label} (${Object.entries(scriptEnv)
      .map(([k, v]) => `${k}=${v} `)
      .join('')}node ${firstLine(node, ['--version'])} ${nodeFlags.join(' ')} ${entry})`,
    init: (repo) => cli(['init', '--repo', repo], 'init'),
    backup: (source, repo, run) => cli(['create', source, '--repo', repo], `backup-${run}`),
    restore: (repo, target) => cli(['restore', 'latest', target, '--repo', repo], 'restore'),
    check: (repo) => cli(['check', '--read-data', '--repo', repo], 'check'),
    restoredRoot: (target) => target,
  };
}

export function restic(cache: string): Tool {
  const env = environment({
    RESTIC_PASSWORD: PASSWORD,
    RESTIC_CACHE_DIR: cache,
    GOMAXPROCS: String(availableParallelism()),
  });
  const cmd = (args: string[], cwd: string): Command => ({ cmd: 'restic', args, cwd, env });
  return {
    name: 'restic',
    version: firstLine('restic', ['version']),
    init: (repo) => cmd(['init', '--repository-version', '2', '--repo', repo], cache),
    backup: (source, repo) => cmd(['backup', '--compression', 'auto', '--repo', repo, source], cache),
    restore: (repo, target) => cmd(['restore', 'latest', '--repo', repo, '--target', target], cache),
    check: (repo) => cmd(['check', '--read-data', '--repo', repo], cache),
    // restic stores absolute paths and restores them below the target.
    restoredRoot: (target, source) => join(target, source),
  };
}

export function borg(base: string): Tool {
  const env = environment({
    BORG_PASSPHRASE: PASSWORD,
    BORG_BASE_DIR: base,
    BORG_RELOCATED_REPO_ACCESS_IS_OK: 'yes',
  });
  const cmd = (args: string[], cwd: string): Command => ({ cmd: 'borg', args, cwd, env });
  return {
    name: 'borg',
    version: firstLine('borg', ['--version']),
    init: (repo) => cmd(['init', '--encryption', 'repokey', repo], base),
    // Run from the source's parent with a relative path, so the archive holds `<name>/...`.
    backup: (source, repo, run) =>
      cmd(['create', '--compression', 'zstd,3', `${repo}::run-${run}`, basename(source)], dirname(source)),
    restore: (repo, target) => cmd(['extract', `${repo}::run-2`], target),
    check: (repo) => cmd(['check', '--verify-data', repo], base),
    restoredRoot: (target, source) => join(target, basename(source)),
  };
}
