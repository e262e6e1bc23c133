/**
 * What a backup leaves out: restic's exclude options (`restic backup --exclude`, `--iexclude`,
 * `--exclude-caches`, `--exclude-larger-than`, `--one-file-system`), compiled once into the tests
 * backup.ts applies to every entry before it is read.
 *
 * Patterns are restic's (internal/filter): Go's `filepath.Match` syntax per path component (`*`
 * and `?` never match "/", `[a-z]`, `[^a-z]`, `\` escapes), matched against whole components of
 * the entry's path as the walk names it (the source as given, absolute from the CLI, joined with
 * "/"):
 *   - a pattern not starting with "/" matches at any depth: `foo` matches `/a/foo` and `/a/foo/b`
 *     but not `/a/foobar`; `foo/bar` matches `/x/foo/bar`;
 *   - a leading "/" anchors it at the root of the file system: `/home/u/tmp` matches that path only;
 *   - a component `**` matches any number of components (none included): `foo/**\/bar` matches
 *     `/foo/bar` and `/x/foo/y/z/bar`;
 *   - a trailing "/" is ignored (restic cleans patterns with `filepath.Clean`);
 *   - a leading `!` re-includes what an earlier pattern of the same list excluded: the last pattern
 *     that matches decides (restic >= 0.16). A directory left out is not walked, so nothing below
 *     it can be re-included: write `/a/*` and `!/a/keep`, not `/a` and `!/a/keep`.
 * Case-insensitive patterns are a second list, evaluated on its own like restic's `--iexclude`.
 *
 * Matching is picomatch's (a pure JS glob library) on a translation of each pattern: every
 * character outside `*`, `?`, `[...]` and `\x` is escaped, so that picomatch's own extensions
 * (braces, extglobs, `!` negation) never apply.
 */
import { ValidationError } from '@sealpost/core';
import picomatch from 'picomatch/posix.js';

/** The exclude options of one backup, as given (validated by `compileExcludes`). */
export interface ExcludeRules {
  /** restic `--exclude` / `--exclude-file`, in order. */
  readonly patterns?: readonly string[];
  /** restic `--iexclude` / `--iexclude-file`: the same, ignoring case. */
  readonly caseInsensitivePatterns?: readonly string[];
  /**
   * restic `--exclude-caches`: a directory holding a CACHEDIR.TAG file that starts with the
   * signature keeps only that file.
   */
  readonly caches?: boolean;
  /** restic `--exclude-larger-than`: files (only) of more bytes are left out. */
  readonly largerThanBytes?: number;
  /**
   * restic `--one-file-system`: entries on another device than the source directory are left out,
   * except directories, kept empty (mount points; FsStat.device).
   */
  readonly oneFileSystem?: boolean;
}

/** The tag file of the Cache Directory Tagging Specification (bford.info/cachedir). */
export const CACHEDIR_TAG_NAME = 'CACHEDIR.TAG';
/** "The tag file must begin with the following 43 octets" (the spec): restic compares just those. */
export const CACHEDIR_TAG_SIGNATURE = new TextEncoder().encode('Signature: 8a477f597d28d172789f06886806bc55');

/** Whether `head` (the first bytes of a CACHEDIR.TAG file) starts with the signature. */
export function isCacheDirTag(head: Uint8Array): boolean {
  if (head.length < CACHEDIR_TAG_SIGNATURE.length) return false;
  return CACHEDIR_TAG_SIGNATURE.every((byte, i) => head[i] === byte);
}

/** restic's size suffixes (ui.ParseBytes): powers of 1024; none or b/B is bytes. */
const SIZE_UNITS: Readonly<Record<string, number>> = {
  b: 1,
  k: 1024,
  m: 1024 ** 2,
  g: 1024 ** 3,
  t: 1024 ** 4,
};

/**
 * A size as restic's `--exclude-larger-than` takes it: a decimal integer with an optional suffix
 * k/K, m/M, g/G, t/T (powers of 1024) or b/B. Anything else, and sizes past 2^53, throw.
 */
export function parseSize(text: string): number {
  const m = /^(\d+)([bkmgt]?)$/i.exec(text);
  const bytes = m === null ? NaN : Number(m[1]) * SIZE_UNITS[(m[2] || 'b').toLowerCase()]!;
  if (!Number.isSafeInteger(bytes))
    throw new ValidationError(
      'VALIDATION_FAILED',
      `not a size: ${JSON.stringify(text)} (a whole number of bytes, or with k, M, G or T)`,
      { size: text },
    );
  return bytes;
}

/** One pattern, compiled: `negated` ones re-include. */
interface Compiled {
  readonly negated: boolean;
  readonly test: (path: string) => boolean;
}

/** Characters picomatch reads as syntax in some option or other; anything but these is kept. */
const PLAIN = /[A-Za-z0-9_]/;

function invalid(pattern: string, why: string): ValidationError {
  return new ValidationError('VALIDATION_FAILED', `bad exclude pattern ${JSON.stringify(pattern)}: ${why}`, {
    pattern,
  });
}

/**
 * One path component of a Go `filepath.Match` pattern as a picomatch glob. Go's grammar:
 *   term = '*' | '?' | '[' [ '^' ] { character-range } ']' | c | '\\' c
 *   character-range = c [ '-' c ],  c = any but '\\', '-', ']' (or escaped)
 */
function componentGlob(part: string, pattern: string): string {
  let out = '';
  for (let i = 0; i < part.length; i++) {
    const c = part[i]!;
    if (c === '*') {
      // Go's `**` inside a component is two `*`, i.e. one; picomatch would read `**` as globstar.
      if (!out.endsWith('*') || out.endsWith('\\*')) out += '*';
    } else if (c === '?') {
      out += '?';
    } else if (c === '\\') {
      const next = part[++i];
      if (next === undefined) throw invalid(pattern, 'ends in an escape');
      out += PLAIN.test(next) ? next : `\\${next}`;
    } else if (c === '[') {
      let cls = '[';
      i++;
      if (part[i] === '^') {
        cls += '^';
        i++;
      }
      let ranges = 0;
      for (;;) {
        let x = part[i];
        if (x === undefined) throw invalid(pattern, 'unclosed [');
        if (x === ']' && ranges > 0) break;
        if (x === '-' || x === ']') throw invalid(pattern, `unexpected ${x} in [...]`);
        if (x === '\\') x = part[++i];
        if (x === undefined) throw invalid(pattern, 'ends in an escape');
        cls += PLAIN.test(x) ? x : `\\${x}`;
        i++;
        if (part[i] === '-') {
          let y = part[++i];
          if (y === '\\') y = part[++i];
          if (y === undefined || y === ']') throw invalid(pattern, 'unfinished range in [...]');
          cls += `-${PLAIN.test(y) ? y : `\\${y}`}`;
          i++;
        }
        ranges++;
      }
      out += `${cls}]`;
    } else {
      out += PLAIN.test(c) ? c : `\\${c}`;
    }
  }
  return out;
}

/** Compiles one restic pattern (see the module comment). */
function compilePattern(pattern: string, nocase: boolean): Compiled {
  const negated = pattern.startsWith('!');
  const body = negated ? pattern.slice(1) : pattern;
  const anchored = body.startsWith('/');
  // filepath.Clean: empty and "." components go, a trailing "/" too.
  const parts = body.split('/').filter((p) => p !== '' && p !== '.');
  // Trailing `**` adds nothing: a match of a path's leading components already covers what is below.
  while (parts.at(-1) === '**') parts.pop();
  if (parts.length === 0) {
    if (body.includes('**')) return { negated, test: () => true };
    throw invalid(pattern, 'empty');
  }
  const glob = parts.map((p) => (p === '**' ? '**' : componentGlob(p, pattern))).join('/');
  const rooted = anchored ? glob : `**/${glob}`;
  // The pattern matches the path's leading components (anchored) or any run of them; the path may
  // go on below: restic tests a window of components, not the whole path.
  const test = picomatch([rooted, `${rooted}/**`], {
    dot: true,
    nocase,
    nobrace: true,
    noextglob: true,
    nonegate: true,
    strictSlashes: true,
  });
  return { negated, test: (path) => test(path.replace(/^\/+/, '')) };
}

/** Whether the last pattern of `list` that matches `path` excludes it. */
function decide(list: readonly Compiled[], path: string): boolean {
  let excluded = false;
  for (const p of list) {
    // A negated pattern can only change an exclusion, a plain one only a non-exclusion.
    if (p.negated === excluded && p.test(path)) excluded = !p.negated;
  }
  return excluded;
}

/** ExcludeRules, checked and compiled. */
export class Excludes {
  readonly #plain: readonly Compiled[];
  readonly #nocase: readonly Compiled[];
  readonly caches: boolean;
  readonly largerThanBytes: number | undefined;
  readonly oneFileSystem: boolean;

  /** Throws ValidationError for a malformed pattern or a size that is not a whole number of bytes. */
  constructor(rules: ExcludeRules) {
    this.#plain = (rules.patterns ?? []).map((p) => compilePattern(p, false));
    this.#nocase = (rules.caseInsensitivePatterns ?? []).map((p) => compilePattern(p, true));
    this.caches = rules.caches === true;
    const limit = rules.largerThanBytes;
    if (limit !== undefined && !(Number.isSafeInteger(limit) && limit >= 0))
      throw new ValidationError('VALIDATION_FAILED', `not a size in bytes: ${limit}`);
    this.largerThanBytes = limit;
    this.oneFileSystem = rules.oneFileSystem === true;
  }

  /** Whether the patterns leave out the entry at `path` (a path as the walk names it). */
  excludesPath(path: string): boolean {
    return decide(this.#plain, path) || decide(this.#nocase, path);
  }

  /** Whether a file of `size` bytes is too large to be backed up. */
  excludesSize(size: number): boolean {
    return this.largerThanBytes !== undefined && size > this.largerThanBytes;
  }
}
