/**
 * `sealpost` as a user runs it, for scenario tests: a child process of the repository's Node 24
 * with `scratch` as HOME, its own `--home`, and of the SEALPOST_* variables only those given
 * (SEALPOST_PASSPHRASE unless told otherwise); `sealpost` for one command with stdin closed,
 * `interactive` for `chat` (lines written to stdin, output read as it comes).
 */
import assert from 'node:assert/strict';
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { join, resolve } from 'node:path';

const root = resolve(import.meta.dirname, '../..');
export const PASSPHRASE = 'a passphrase for tests';

export interface Run {
  readonly status: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/**
 * `home` undefined: no `--home`, so the command uses its default home below `scratch`. `env`: the
 * SEALPOST_* variables the command sees, instead of SEALPOST_PASSPHRASE = PASSPHRASE; every other
 * SEALPOST_* variable of this process is left out.
 */
interface Options {
  readonly env?: Readonly<Record<string, string>>;
}

function start(
  scratch: string,
  home: string | undefined,
  args: readonly string[],
  { env = { SEALPOST_PASSPHRASE: PASSPHRASE } }: Options,
): ChildProcessWithoutNullStreams {
  const inherited: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env))
    if (!k.startsWith('SEALPOST_') && v !== undefined) inherited[k] = v;
  return spawn(
    join(root, 'node_modules/.bin/node'),
    [join(root, 'packages/cli/src/main.ts'), ...(home === undefined ? [] : ['--home', home]), ...args],
    { cwd: root, env: { ...inherited, HOME: scratch, ...env }, stdio: ['pipe', 'pipe', 'pipe'] },
  );
}

export function sealpost(
  scratch: string,
  home: string | undefined,
  args: readonly string[],
  options: Options = {},
): Promise<Run> {
  const child = start(scratch, home, args, options);
  child.stdin.end();
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  return new Promise((res) => child.once('close', (status) => res({ status, stdout, stderr })));
}

/** Runs `sealpost <args>` and answers its stdout; fails the test on a non-zero status. */
export async function ok(
  scratch: string,
  home: string | undefined,
  args: readonly string[],
  options: Options = {},
): Promise<string> {
  const run = await sealpost(scratch, home, args, options);
  assert.equal(run.status, 0, `sealpost ${args.join(' ')}: ${run.stderr}`);
  return run.stdout;
}

/**
 * `sealpost account create <username> --server <serverUrl>` on `home`; answers the recovery code
 * it prints (once: no later command shows it again).
 */
export async function createAccount(
  scratch: string,
  home: string,
  username: string,
  serverUrl: string,
): Promise<string> {
  const created = await ok(scratch, home, ['account', 'create', username, '--server', serverUrl]);
  const code = /recovery code\s+([0-9A-Z-]+)/.exec(created)?.[1];
  assert.ok(code !== undefined, 'account create prints the recovery code');
  return code;
}

export interface Interactive {
  /** Writes one line to the command's stdin. */
  line(text: string): void;
  /** Resolves once stdout holds a line matching `pattern` (rejects after `ms`). */
  waitFor(pattern: RegExp | string, ms?: number): Promise<void>;
  readonly stdout: () => string;
  readonly stderr: () => string;
  /** Closes stdin (Ctrl-D) and resolves with how the command ended. */
  end(): Promise<Run>;
}

export function interactive(scratch: string, home: string, args: readonly string[]): Interactive {
  const child = start(scratch, home, args, {});
  let stdout = '';
  let stderr = '';
  const waiters: Array<() => void> = [];
  const wake = () => {
    for (const w of waiters.splice(0)) w();
  };
  child.stdout.on('data', (d: Buffer) => {
    stdout += d.toString();
    wake();
  });
  child.stderr.on('data', (d: Buffer) => {
    stderr += d.toString();
    wake();
  });
  const closed = new Promise<number | null>((res) => child.once('close', (status) => res(status)));
  return {
    line: (text) => void child.stdin.write(`${text}\n`),
    stdout: () => stdout,
    stderr: () => stderr,
    waitFor(pattern, ms = 20_000) {
      const found = () =>
        typeof pattern === 'string' ? stdout.split('\n').includes(pattern) : pattern.test(stdout);
      return new Promise((res, rej) => {
        const timer = setTimeout(
          () =>
            rej(new Error(`waited ${ms} ms for ${String(pattern)}; stdout: ${stdout}; stderr: ${stderr}`)),
          ms,
        );
        const check = () => {
          if (found()) {
            clearTimeout(timer);
            res();
          } else waiters.push(check);
        };
        check();
      });
    },
    async end() {
      child.stdin.end();
      const status = await closed;
      return { status, stdout, stderr };
    },
  };
}

/**
 * Links a new device to `username` as a user does: `devices link` on `newHome` prints a link
 * code, `devices approve <code>` on `existingHome` approves it (the fingerprints must match);
 * resolves to the new device's id once both commands ended well.
 */
export async function linkDevice(
  scratch: string,
  existingHome: string,
  newHome: string,
  username: string,
  serverUrl: string,
): Promise<string> {
  const linking = interactive(scratch, newHome, ['devices', 'link', username, '--server', serverUrl]);
  await linking.waitFor(/^device fingerprint .+$/m);
  const code = /^link code +(\S+)$/m.exec(linking.stdout())![1]!;
  const fingerprint = /^device fingerprint +(.+)$/m.exec(linking.stdout())![1]!;
  const approved = await ok(scratch, existingHome, ['devices', 'approve', code]);
  assert.ok(approved.includes(`fingerprint ${fingerprint}`), approved);
  const linked = await linking.end();
  assert.equal(linked.status, 0, linked.stderr);
  return /^approved: this device is (\S+)$/m.exec(linked.stdout)![1]!;
}

/**
 * `sealpost backup <args> --repo <repo>` with HOME `scratch` and no `--home` (`run`), and its
 * `--json` form, which requires status 0 and parses stdout (`json`). `where` is read at each call,
 * so a test file can make its directories in `before`.
 */
export function backupCommands(where: () => { readonly scratch: string; readonly repo: string }): {
  run: (args: readonly string[]) => Promise<Run>;
  json: <T>(args: readonly string[]) => Promise<T>;
} {
  const run = (args: readonly string[]) => {
    const { scratch, repo } = where();
    return sealpost(scratch, undefined, ['backup', ...args, '--repo', repo]);
  };
  const json = async <T>(args: readonly string[]): Promise<T> => {
    const result = await run([...args, '--json']);
    assert.equal(result.status, 0, `${args.join(' ')}: ${result.stderr}`);
    return JSON.parse(result.stdout) as T;
  };
  return { run, json };
}
