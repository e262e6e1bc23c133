/**
 * `sealpost backup create`'s exclude options, restic's (`restic backup --help`):
 *
 *   -e, --exclude <pattern>          leave out what matches (repeatable)
 *   --iexclude <pattern>             the same, ignoring case
 *   --exclude-file <file>            patterns from a file, one a line (repeatable)
 *   --iexclude-file <file>           the same, ignoring case
 *   --exclude-caches                 directories with a CACHEDIR.TAG keep only the tag
 *   --exclude-larger-than <size>     leave out files larger than this (1k, 2M, 3G, 1T: powers of 1024)
 *   -x, --one-file-system            do not cross into other file systems (mount points kept empty)
 *
 * Pattern syntax and matching: packages/client/src/backup/exclude.ts. As in restic, the patterns of
 * the command line come before those of the files (order matters for `!` patterns), and a file's
 * lines are trimmed, with blank lines and lines starting with `#` ignored. Unlike restic, `$VAR` in
 * a file is not expanded. Every file is read, and every pattern checked, before the repository is
 * opened: a file that cannot be read is a ValidationError naming it.
 */
import * as fs from 'node:fs/promises';
import type { Command } from 'commander';
import { ValidationError } from '@sealpost/core';
import { Excludes, parseSize, type ExcludeRules } from '@sealpost/client/node/backup-api';

/** The options `excludeOptions` adds, as commander parses them. */
export interface ExcludeOptions {
  readonly exclude?: string[];
  readonly iexclude?: string[];
  readonly excludeFile?: string[];
  readonly iexcludeFile?: string[];
  readonly excludeCaches?: boolean;
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
      '--exclude-larger-than <size>',
      'leave out files larger than this (bytes, or with k, M, G, T: powers of 1024)',
      parseSize,
    )
    .option('-x, --one-file-system', 'do not cross into other file systems (mount points are kept, empty)');
}

/** The patterns of an exclude file: lines trimmed, blank ones and `#` comments dropped. */
function patternsOf(text: string): string[] {
  return text
    .replace(/^\uFEFF/, '')
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('#'));
}

async function readPatterns(files: readonly string[] | undefined, flag: string): Promise<string[]> {
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
    out.push(...patternsOf(text));
  }
  return out;
}

/** The ExcludeRules `options` ask for (undefined if none), exclude files read. */
export async function excludeRules(options: ExcludeOptions): Promise<ExcludeRules | undefined> {
  const patterns = [
    ...(options.exclude ?? []),
    ...(await readPatterns(options.excludeFile, '--exclude-file')),
  ];
  const caseInsensitivePatterns = [
    ...(options.iexclude ?? []),
    ...(await readPatterns(options.iexcludeFile, '--iexclude-file')),
  ];
  const rules: ExcludeRules = {
    ...(patterns.length > 0 ? { patterns } : {}),
    ...(caseInsensitivePatterns.length > 0 ? { caseInsensitivePatterns } : {}),
    ...(options.excludeCaches === true ? { caches: true } : {}),
    ...(options.excludeLargerThan === undefined ? {} : { largerThanBytes: options.excludeLargerThan }),
    ...(options.oneFileSystem === true ? { oneFileSystem: true } : {}),
  };
  if (Object.keys(rules).length === 0) return undefined;
  new Excludes(rules); // a malformed pattern fails here, before a passphrase is asked for
  return rules;
}
