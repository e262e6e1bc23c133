/**
 * What a backup leaves out: restic's exclude options (`restic backup --exclude`, `--iexclude`,
 * `--exclude-caches`, `--exclude-if-present`, `--exclude-larger-than`, `--one-file-system`),
 * compiled once into the tests backup.ts applies to every entry before it is read.
 *
 * Patterns are restic's (internal/filter): Go's `filepath.Match` syntax per path component (`*`
 * and `?` never match "/", `[a-z]`, `[^a-z]`, `\` escapes), matched against whole components of
 * the entry's path as the walk names it (the source as given, absolute from the CLI, joined with
 * "/"):
 *   - a pattern not starting with "/" matches at any depth: `foo` matches `/a/foo` and `/a/foo/b`
 *     but not `/a/foobar`; `foo/bar` matches `/x/foo/bar`;
 *   - a leading "/" anchors it at the root of the file system: `/home/u/scratch` matches that path only;
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
 *
 * Tag files (restic's RejectIfPresent, internal/archiver/exclude.go): `--exclude-if-present
 * name[:header]` leaves out every entry of a directory that holds an entry `name` (and, with a
 * header, `name` is a file starting with those bytes), except `name` itself: the directory stays,
 * holding only its tag ("exclude contents of directories containing filename (except filename
 * itself)", `restic backup --help`). `--exclude-caches` is the same rule for `CACHEDIR.TAG` with the
 * specification's signature. Each tag rule spares only its own tag, so a directory holding two
 * different tags keeps nothing (as in restic, where every rule is asked on its own).
 */
import { ValidationError } from '@sealpost/core';
import picomatch from 'picomatch/posix.js';
import type { FsKind } from './fs.ts';

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
  /**
   * restic `--exclude-if-present`, in restic's form `name[:header]` (split at the first ":"): a
   * directory holding an entry `name` (a file starting with `header`, if one is given) keeps only
   * that entry. `name` is a file name, not a path or pattern.
   */
  readonly ifPresent?: readonly string[];
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
  return startsWith(head, CACHEDIR_TAG_SIGNATURE);
}

function startsWith(head: Uint8Array, header: Uint8Array): boolean {
  if (head.length < header.length) return false;
  return header.every((byte, i) => head[i] === byte);
}

/** A tag file: a directory holding it keeps only it (see the module comment). */
export interface TagFile {
  /** A file name (no "/"). */
  readonly name: string;
  /** What the file must start with; empty: an entry of that name, of any kind, is enough. */
  readonly header: Uint8Array;
}

/** `--exclude-caches` as a tag file (restic: `--exclude-if-present CACHEDIR.TAG:Signature: 8a47...`). */
const CACHEDIR_TAG: TagFile = { name: CACHEDIR_TAG_NAME, header: CACHEDIR_TAG_SIGNATURE };

/**
 * A tag file as restic's `--exclude-if-present` takes it: `name` or `name:header`, split at the first
 * ":" (so the header may hold more). Throws ValidationError for an empty name (restic: "no name for
 * exclusion tagfile provided") and, unlike restic, which would look for such a name and never find
 * it, for one that is not a file name: ".", "..", or with "/" or NUL. The header is compared as its
 * UTF-8 bytes; reading that many bytes of a tag needs no limit of its own, as the user typed them.
 */
export function parseTagFile(spec: string): TagFile {
  const colon = spec.indexOf(':');
  const name = colon === -1 ? spec : spec.slice(0, colon);
  const header = colon === -1 ? '' : spec.slice(colon + 1);
  if (name === '' || name === '.' || name === '..' || /[/\0]/.test(name)) {
    const why = name === '' ? 'no file name' : `${JSON.stringify(name)} is not a file name`;
    throw new ValidationError(
      'VALIDATION_FAILED',
      `bad --exclude-if-present ${JSON.stringify(spec)}: ${why} (filename[:header])`,
      { spec },
    );
  }
  return { name, header: new TextEncoder().encode(header) };
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
  /** `caches` (as CACHEDIR.TAG) and `ifPresent`, in that order. */
  readonly tagFiles: readonly TagFile[];
  readonly largerThanBytes: number | undefined;
  readonly oneFileSystem: boolean;

  /**
   * Throws ValidationError for a malformed pattern or tag file, or a size that is not a whole
   * number of bytes.
   */
  constructor(rules: ExcludeRules) {
    this.#plain = (rules.patterns ?? []).map((p) => compilePattern(p, false));
    this.#nocase = (rules.caseInsensitivePatterns ?? []).map((p) => compilePattern(p, true));
    this.tagFiles = [
      ...(rules.caches === true ? [CACHEDIR_TAG] : []),
      ...(rules.ifPresent ?? []).map(parseTagFile),
    ];
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

  /**
   * The names of the tag files a directory holds (for `excludesBesideTags`). `kindOf(name)`: the
   * kind of its entry `name`, undefined if it has none or its lstat failed (restic: a tag it cannot
   * lstat does not count). `readHead(name, bytes)`: the first `bytes` bytes of that file (fewer if
   * it is shorter), undefined if it cannot be read; asked only when the tag has a header, and only
   * of a regular file: restic opens whatever has the name, following a symlink, but opening a FIFO
   * would block the walk.
   */
  async tagsIn(
    kindOf: (name: string) => FsKind | undefined,
    readHead: (name: string, bytes: number) => Promise<Uint8Array | undefined>,
  ): Promise<ReadonlySet<string>> {
    const found = new Set<string>();
    for (const { name, header } of this.tagFiles) {
      if (found.has(name)) continue;
      const kind = kindOf(name);
      if (kind === undefined) continue;
      if (header.length === 0) {
        found.add(name);
      } else if (kind === 'file') {
        const head = await readHead(name, header.length);
        if (head !== undefined && startsWith(head, header)) found.add(name);
      }
    }
    return found;
  }

  /**
   * Whether the tag files `found` in a directory (`tagsIn`) leave out its entry `name`: every tag
   * rule leaves out all but its own tag file (restic's isExcludedByFile: "do not exclude the
   * tagfile itself").
   */
  excludesBesideTags(name: string, found: ReadonlySet<string>): boolean {
    for (const tag of found) if (tag !== name) return true;
    return false;
  }
}
