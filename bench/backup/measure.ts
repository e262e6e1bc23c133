/**
 * One measured step of the backup benchmark: a child process run under GNU time (`/usr/bin/time`),
 * which reports the child's user and system CPU time and its peak resident set size (wait4's
 * rusage: the largest of the process and the children it waited for; worker threads are the same
 * process). Wall time is taken here, around the spawn.
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs/promises';
import { performance } from 'node:perf_hooks';

export const GNU_TIME = '/usr/bin/time';

export interface Command {
  readonly cmd: string;
  readonly args: readonly string[];
  readonly cwd: string;
  readonly env: Readonly<Record<string, string>>;
}

export interface Usage {
  readonly wallS: number;
  /** user + system CPU seconds of the child. */
  readonly cpuS: number;
  readonly peakRssBytes: number;
}

/** Output kept from a child for the error message when it fails. */
const TAIL_CHARS = 4000;

/** Runs `command` to completion; throws with its output's tail when it exits non-zero. */
export async function measure(command: Command, usageFile: string): Promise<Usage> {
  const t0 = performance.now();
  const child = spawn(GNU_TIME, ['-f', '%U %S %M', '-o', usageFile, command.cmd, ...command.args], {
    cwd: command.cwd,
    env: command.env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const keep = (d: Buffer) => (output = (output + d.toString()).slice(-TAIL_CHARS));
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  const status = await new Promise<number | null>((res, rej) => {
    child.once('error', rej);
    child.once('close', res);
  });
  const wallS = (performance.now() - t0) / 1000;
  if (status !== 0) {
    throw new Error(`${command.cmd} ${command.args.join(' ')} exited with ${status}:\n${output}`);
  }
  // The file's last line is "user sys maxrss-KiB" (an earlier line may note a signal).
  const last = (await fs.readFile(usageFile, 'utf8')).trim().split('\n').at(-1)!;
  const [user, sys, rssKiB] = last.split(' ').map(Number);
  return { wallS, cpuS: user! + sys!, peakRssBytes: rssKiB! * 1024 };
}
