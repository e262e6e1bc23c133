/**
 * `sealpost backup create`'s exclude options, restic's (`restic backup --help`):
 *
 *   -e, --exclude <pattern>          leave out what matches (repeatable)
 *   --iexclude <pattern>             the same, ignoring case
 *   --exclude-file <file>            patterns from a file, one a line (repeatable)
 *   --iexclude-file <file>           the same, ignoring case
 *   --exclude-caches                 directories with a CACHEDIR.TAG keep only the tag
 *   --exclude-if-present <f[:hdr]>   directories holding file f (starting with hdr) keep only f (repeatable)
 *   --exclude-larger-than <size>     leave out files larger than this (1k, 2M, 3G, 1T: powers of 1024)
 *   -x, --one-file-system            do not cross into other file systems (mount points kept empty)
 *
 * Pattern syntax and matching: packages/client/src/backup/exclude.ts. As in restic, the patterns of
 * the command line come before those of the files (order matters for `!` patterns), and a file's
 * lines are trimmed, with blank lines and lines starting with `#` ignored. Then, as in restic
 * (cmd/restic/exclude.go, readPatternsFromFiles), environment variables in a file's lines are
 * expanded (`expandEnv`: `$HOME`, `${HOME}`; `$$` is a literal "$"), and a line that expands to
 * nothing is dropped (restic ignores empty patterns). The command line's patterns are not expanded:
 * the shell has done that. Every file is read, and every pattern and tag file checked, before the
 * repository is opened: a file that cannot be read is a ValidationError naming it.
 */
import * as fs from 'node:fs/promises';
import type { Command } from 'commander';
import { ValidationError } from '@sealpost/core';
import { Excludes, parseSize, type ExcludeRules } from '@sealpost/client/node/backup-api';

/** The environment exclude files are expanded with (the CLI's `io.env`). */
export type Environment = Readonly<Record<string, string | undefined>>;

/** The options `excludeOptions` adds, as commander parses them. */
export interface ExcludeOptions {
  readonly exclude?: string[];
  readonly iexclude?: string[];
  readonly excludeFile?: string[];
  readonly iexcludeFile?: string[];
  readonly excludeCaches?: boolean;
  readonly excludeIfPresent?: string[];
  readonly excludeLargerThan?: number;
  readonly oneFileSystem?: boolean;
}

const collect = (value: string, previous: string[] | undefined) => [...(previous ?? []), value];

/** Adds the exclude options to `command` (backup create). */
export function excludeOptions(command: Command): Command {
  return command
    .option('-e, --exclude <pattern>', 'leave out files and directories that match (repeatable)', collect)
    .option('--iexclude <pattern>', 'the same as --exclude, ignoring case (repeatable)', collect)
    .option(
      '--exclude-file <file>',
      'read --exclude patterns from a file, one a line; # starts a comment (repeatable)',
      collect,
    )
    .option('--iexclude-file <file>', 'the same as --exclude-file, ignoring case (repeatable)', collect)
    .option(
      '--exclude-caches',
      'leave out the contents of directories tagged with a CACHEDIR.TAG file (the tag itself is kept)',
    )
    .option(
      '--exclude-if-present <filename[:header]>',
      'leave out the contents of directories holding this file (the file itself is kept); with a ' +
        'header, only if the file starts with it (repeatable)',
      collect,
    )
    .option(
      '--exclude-larger-than <size>',
      'leave out files larger than this (bytes, or with k, M, G, T: powers of 1024)',
      parseSize,
    )
    .option('-x, --one-file-system', 'do not cross into other file systems (mount points are kept, empty)');
}

/** Go's isShellSpecialVar: the one-character names `$*`, `$#`, `$$`, `$@`, `$!`, `$?`, `$-`, `$0`-`$9`. */
const SPECIAL_NAME = /^[*#$@!?\-0-9]$/;
/** Go's isAlphaNum: the characters of a `$name`. */
const NAME_CHAR = /^[A-Za-z0-9_]$/;

/**
 * The name after a "$" at `at` in `s`, and how many characters it takes (Go's os.getShellName):
 * `{name}` (anything up to the first "}"), a special character, or a run of [A-Za-z0-9_]. A name ""
 * with a width > 0 is bad syntax (`{}`, or a "{" never closed) that Go eats; with width 0 there was
 * no name and the "$" stays.
 */
function shellName(s: string, at: number): readonly [name: string, width: number] {
  if (s[at] === '{') {
    if (at + 2 < s.length && SPECIAL_NAME.test(s[at + 1]!) && s[at + 2] === '}') return [s[at + 1]!, 3];
    const close = s.indexOf('}', at + 1);
    if (close === at + 1) return ['', 2];
    if (close === -1) return ['', 1];
    return [s.slice(at + 1, close), close - at + 1];
  }
  if (SPECIAL_NAME.test(s[at]!)) return [s[at]!, 1];
  let end = at;
  while (end < s.length && NAME_CHAR.test(s[end]!)) end++;
  return [s.slice(at, end), end - at];
}

/**
 * `line` with its variables replaced as restic replaces them in exclude files: Go's
 * `os.Expand(line, getenvOrDollar)`, where `$$` is "$" and any other name its value in `env`, or
 * "" if unset (so `$1` or `$?` are "" too). A "$" that ends the line or is followed by no name
 * (`$/`, `$.`) stays; `${}` and an unclosed `${` are dropped, as Go drops them.
 */
export function expandEnv(line: string, env: Environment): string {
  let out = '';
  for (let j = 0; j < line.length; j++) {
    if (line[j] !== '$' || j + 1 === line.length) {
      out += line[j];
      continue;
    }
    const [name, width] = shellName(line, j + 1);
    if (name !== '') out += name === '$' ? '$' : (env[name] ?? '');
    else if (width === 0) out += '$';
    j += width;
  }
  return out;
}

/**
 * The patterns of an exclude file: lines trimmed, blank ones and `#` comments dropped, variables
 * expanded, and what expands to nothing dropped.
 */
function patternsOf(text: string, env: Environment): string[] {
  return text
    .replace(/^\uFEFF/, '')
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('#'))
    .map((line) => expandEnv(line, env))
    .filter((pattern) => pattern !== '');
}

async function readPatterns(
  files: readonly string[] | undefined,
  flag: string,
  env: Environment,
): Promise<string[]> {
  const out: string[] = [];
  for (const file of files ?? []) {
    let text: string;
    try {
      text = await fs.readFile(file, 'utf8');
    } catch (error) {
      throw new ValidationError(
        'VALIDATION_FAILED',
        `${flag}: cannot read ${file}: ${error instanceof Error ? error.message : String(error)}`,
        { file },
      );
    }
    out.push(...patternsOf(text, env));
  }
  return out;
}

/**
 * The ExcludeRules `options` ask for (undefined if none), exclude files read and their variables
 * expanded from `env`.
 */
export async function excludeRules(
  options: ExcludeOptions,
  env: Environment,
): Promise<ExcludeRules | undefined> {
  const patterns = [
    ...(options.exclude ?? []),
    ...(await readPatterns(options.excludeFile, '--exclude-file', env)),
  ];
  const caseInsensitivePatterns = [
    ...(options.iexclude ?? []),
    ...(await readPatterns(options.iexcludeFile, '--iexclude-file', env)),
  ];
  const rules: ExcludeRules = {
    ...(patterns.length > 0 ? { patterns } : {}),
    ...(caseInsensitivePatterns.length > 0 ? { caseInsensitivePatterns } : {}),
    ...(options.excludeCaches === true ? { caches: true } : {}),
    ...(options.excludeIfPresent === undefined ? {} : { ifPresent: options.excludeIfPresent }),
    ...(options.excludeLargerThan === undefined ? {} : { largerThanBytes: options.excludeLargerThan }),
    ...(options.oneFileSystem === true ? { oneFileSystem: true } : {}),
  };
  if (Object.keys(rules).length === 0) return undefined;
  new Excludes(rules); // a malformed pattern or tag file fails here, before a passphrase is asked for
  return rules;
}
