// restic's exclude semantics (exclude.ts) as tables: which paths each pattern leaves out, sizes as
// restic parses them, and the malformed input that must be refused before a backup starts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SealpostError } from '@sealpost/core';
import { Excludes, isCacheDirTag, parseSize, parseTagFile } from './exclude.ts';
import type { FsKind } from './fs.ts';

const PATTERN_CASES: readonly {
  patterns: string[];
  excluded: string[];
  kept: string[];
  nocase?: boolean;
}[] = [
  // Without a slash: any whole component, at any depth.
  {
    patterns: ['foo'],
    excluded: ['/src/foo', '/src/a/foo', '/src/foo/b', 'rel/foo'],
    kept: ['/src/foobar', '/src/barfoo', '/src/a/xfoo/b'],
  },
  {
    patterns: ['*.tmp'],
    excluded: ['/src/a.tmp', '/src/d/.hidden.tmp', '/src/x.tmp/inside'],
    kept: ['/src/a.tmpx', '/src/a.TMP'],
  },
  // `*` and `?` stay inside one component.
  { patterns: ['b*ash'], excluded: ['/bin/bash', '/bin/bsh/x/bash'], kept: ['/bin/b/ash'] },
  { patterns: ['a?c'], excluded: ['/s/abc'], kept: ['/s/a/c', '/s/ac'] },
  // With a slash but no leading one: a run of components anywhere.
  {
    patterns: ['foo/bar'],
    excluded: ['/src/foo/bar', '/x/y/foo/bar/z'],
    kept: ['/src/foo/xbar', '/src/foo/x/bar', '/src/bar/foo'],
  },
  // A leading slash anchors at the root; a trailing one is ignored.
  {
    patterns: ['/home/u/src/scratch/'],
    excluded: ['/home/u/src/scratch', '/home/u/src/scratch/a/b'],
    kept: ['/home/u/src/a/scratch', '/other/home/u/src/scratch'],
  },
  // `**`: any number of components, none included.
  {
    patterns: ['foo/**/bar'],
    excluded: ['/foo/bar', '/d/foo/x/y/bar', '/srv/foo/bar/file'],
    kept: ['/foo/barx', '/bar/foo'],
  },
  { patterns: ['/src/**/*.log'], excluded: ['/src/a.log', '/src/x/y/b.log'], kept: ['/other/a.log'] },
  { patterns: ['cache/**'], excluded: ['/s/cache', '/s/cache/x'], kept: ['/s/caches'] },
  { patterns: ['**'], excluded: ['/a', '/a/b'], kept: [] },
  // Character classes, Go's syntax: `^` negates, `!` is a plain character.
  { patterns: ['[a-c]x'], excluded: ['/s/bx'], kept: ['/s/dx'] },
  { patterns: ['[^a-c]x'], excluded: ['/s/dx'], kept: ['/s/bx'] },
  { patterns: ['[!]x'], excluded: ['/s/!x'], kept: ['/s/ax'] },
  // Everything else is literal: picomatch's braces, extglobs and regex characters do not apply.
  {
    patterns: ['a{b,c}', '+(x)', 'a|b', 'n$^.(m)', '\\*lit'],
    excluded: ['/s/a{b,c}', '/s/+(x)', '/s/a|b', '/s/n$^.(m)', '/s/*lit'],
    kept: ['/s/ab', '/s/x', '/s/a', '/s/nx^.(m)', '/s/xlit'],
  },
  { patterns: ['\\!keep'], excluded: ['/s/!keep'], kept: ['/s/keep'] },
  // Negation: the last pattern that matches decides.
  {
    patterns: ['/src/*', '!/src/keep', '!*.md'],
    excluded: ['/src/a', '/src/drop/x'],
    kept: ['/src/keep', '/src/keep/x', '/src/README.md', '/other/a'],
  },
  { patterns: ['!/src/keep', '/src/*'], excluded: ['/src/keep'], kept: [] },
  // Case-insensitive patterns.
  {
    patterns: ['*.JPG', '/Src/Photos'],
    nocase: true,
    excluded: ['/s/a.jpg', '/s/b.Jpg', '/src/photos', '/SRC/PHOTOS/x'],
    kept: ['/s/a.jpeg', '/x/src/photos'],
  },
];

for (const { patterns, excluded, kept, nocase } of PATTERN_CASES) {
  test(`pattern${patterns.length > 1 ? 's' : ''} ${patterns.join(' ')}${nocase === true ? ' (ignoring case)' : ''} leave${patterns.length > 1 ? '' : 's'} out exactly the paths that match`, () => {
    const rules = new Excludes(nocase === true ? { caseInsensitivePatterns: patterns } : { patterns });
    for (const path of excluded) assert.equal(rules.excludesPath(path), true, `${path} excluded`);
    for (const path of kept) assert.equal(rules.excludesPath(path), false, `${path} kept`);
  });
}

test('case-sensitive patterns do not match another case', () => {
  const rules = new Excludes({ patterns: ['*.JPG'] });
  assert.equal(rules.excludesPath('/s/a.jpg'), false);
  assert.equal(rules.excludesPath('/s/a.JPG'), true);
});

test('a negation in one list does not re-include what the other list excludes', () => {
  const rules = new Excludes({ patterns: ['*.log'], caseInsensitivePatterns: ['!keep.log'] });
  assert.equal(rules.excludesPath('/s/keep.log'), true);
});

test('no rules exclude nothing', () => {
  const rules = new Excludes({});
  assert.equal(rules.excludesPath('/a/b'), false);
  assert.equal(rules.excludesSize(Number.MAX_SAFE_INTEGER), false);
});

const BAD_PATTERNS = ['', '!', '/', 'a/[', '[]', '[a-]', 'x\\', '[a', '[-a]', 'a/[b-\\'];
for (const pattern of BAD_PATTERNS) {
  test(`malformed pattern ${JSON.stringify(pattern)} is a ValidationError`, () => {
    for (const rules of [{ patterns: [pattern] }, { caseInsensitivePatterns: [pattern] }])
      assert.throws(
        () => new Excludes(rules),
        (e: unknown) => e instanceof SealpostError && e.code === 'VALIDATION_FAILED',
      );
  });
}

const SIZES: readonly [string, number][] = [
  ['0', 0],
  ['1500', 1500],
  ['7b', 7],
  ['7B', 7],
  ['1k', 1024],
  ['1K', 1024],
  ['2M', 2 * 1024 ** 2],
  ['3g', 3 * 1024 ** 3],
  ['1T', 1024 ** 4],
];
test('sizes parse as restic parses them (powers of 1024)', () => {
  for (const [text, bytes] of SIZES) assert.equal(parseSize(text), bytes, text);
});

const BAD_SIZES = [
  '',
  'k',
  '1.5M',
  '-1',
  '+1',
  ' 1',
  '1 M',
  '1MB',
  '1KiB',
  '0x10',
  '1e3',
  '9007199254740993',
  '9000000T',
];
for (const text of BAD_SIZES) {
  test(`size ${JSON.stringify(text)} is a ValidationError`, () => {
    assert.throws(
      () => parseSize(text),
      (e: unknown) => e instanceof SealpostError && e.code === 'VALIDATION_FAILED',
    );
  });
}

test('files of more bytes than the limit are excluded, files of exactly the limit are kept', () => {
  const rules = new Excludes({ largerThanBytes: 1024 });
  assert.equal(rules.excludesSize(1024), false);
  assert.equal(rules.excludesSize(1025), true);
  for (const bad of [-1, 1.5, NaN, 2 ** 60])
    assert.throws(() => new Excludes({ largerThanBytes: bad }), /not a size/);
});

test('a CACHEDIR.TAG counts only when it starts with the signature', () => {
  const utf8 = new TextEncoder();
  assert.equal(isCacheDirTag(utf8.encode('Signature: 8a477f597d28d172789f06886806bc55\n# made by x')), true);
  assert.equal(isCacheDirTag(utf8.encode('Signature: 8a477f597d28d172789f06886806bc55')), true);
  assert.equal(isCacheDirTag(utf8.encode('Signature: 8a477f597d28d172789f06886806bc5')), false);
  assert.equal(isCacheDirTag(utf8.encode('signature: 8a477f597d28d172789f06886806bc55')), false);
  assert.equal(isCacheDirTag(new Uint8Array(0)), false);
});

const utf8 = new TextEncoder();

const TAG_SPECS: readonly [spec: string, name: string, header: string][] = [
  ['.nobackup', '.nobackup', ''],
  ['.nobackup:', '.nobackup', ''],
  [
    'CACHEDIR.TAG:Signature: 8a477f597d28d172789f06886806bc55',
    'CACHEDIR.TAG',
    'Signature: 8a477f597d28d172789f06886806bc55',
  ],
  ['tag:a:b', 'tag', 'a:b'],
  ['with space:  x', 'with space', '  x'],
];
test('--exclude-if-present specs split at the first colon into a file name and a header', () => {
  for (const [spec, name, header] of TAG_SPECS)
    assert.deepEqual(parseTagFile(spec), { name, header: utf8.encode(header) }, spec);
});

const BAD_TAG_SPECS = ['', ':', ':header', '/', 'a/b', '/abs', 'dir/:x', '.', '..', '..:x', 'a\0b'];
for (const spec of BAD_TAG_SPECS) {
  test(`--exclude-if-present ${JSON.stringify(spec)} (no file name) is a ValidationError`, () => {
    assert.throws(
      () => new Excludes({ ifPresent: [spec] }),
      (e: unknown) => e instanceof SealpostError && e.code === 'VALIDATION_FAILED',
    );
  });
}

/**
 * A directory for Excludes.tagsIn: entries by name (a kind, or `null` for an lstat that failed) and
 * the contents of its files (`null`: cannot be read); records which files were read.
 */
function directory(entries: Record<string, FsKind | null>, contents: Record<string, string | null> = {}) {
  const read: string[] = [];
  const kindOf = (name: string) => entries[name] ?? undefined;
  const readHead = async (name: string, bytes: number) => {
    read.push(name);
    const text = contents[name];
    return text === null || text === undefined ? undefined : utf8.encode(text).subarray(0, bytes);
  };
  return { kindOf, readHead, read };
}

const TAG_CASES: readonly {
  name: string;
  rules: { ifPresent?: string[]; caches?: boolean };
  entries: Record<string, FsKind | null>;
  contents?: Record<string, string | null>;
  found: string[];
}[] = [
  {
    name: 'a tag without a header counts by its presence, whatever it holds',
    rules: { ifPresent: ['.nobackup'] },
    entries: { '.nobackup': 'file', data: 'file' },
    contents: { '.nobackup': '' },
    found: ['.nobackup'],
  },
  {
    name: 'a tag without a header may be a directory (restic lstats it)',
    rules: { ifPresent: ['.git'] },
    entries: { '.git': 'dir', 'main.c': 'file' },
    found: ['.git'],
  },
  {
    name: 'a directory without the tag is not tagged',
    rules: { ifPresent: ['.nobackup'] },
    entries: { data: 'file', nobackup: 'file' },
    found: [],
  },
  {
    name: 'a tag whose lstat failed does not count',
    rules: { ifPresent: ['.nobackup'] },
    entries: { '.nobackup': null },
    found: [],
  },
  {
    name: 'a tag with a header counts when the file starts with it',
    rules: { ifPresent: ['.skip:SKIP ME'] },
    entries: { '.skip': 'file', data: 'file' },
    contents: { '.skip': 'SKIP ME\nanything after' },
    found: ['.skip'],
  },
  {
    name: 'a tag whose file does not start with the header does not count',
    rules: { ifPresent: ['.skip:SKIP ME'] },
    entries: { '.skip': 'file' },
    contents: { '.skip': 'skip me\n' },
    found: [],
  },
  {
    name: 'a tag shorter than the header does not count',
    rules: { ifPresent: ['.skip:SKIP ME'] },
    entries: { '.skip': 'file' },
    contents: { '.skip': 'SKIP' },
    found: [],
  },
  {
    name: 'a tag with a header that cannot be read does not count',
    rules: { ifPresent: ['.skip:SKIP ME'] },
    entries: { '.skip': 'file' },
    contents: { '.skip': null },
    found: [],
  },
  {
    name: 'a tag with a header must be a regular file',
    rules: { ifPresent: ['.skip:SKIP ME'] },
    entries: { '.skip': 'symlink' },
    contents: { '.skip': 'SKIP ME' },
    found: [],
  },
  {
    name: '--exclude-caches is the tag CACHEDIR.TAG with the signature',
    rules: { caches: true },
    entries: { 'CACHEDIR.TAG': 'file' },
    contents: { 'CACHEDIR.TAG': 'Signature: 8a477f597d28d172789f06886806bc55\n' },
    found: ['CACHEDIR.TAG'],
  },
  {
    name: 'several tags found in one directory are all reported',
    rules: { caches: true, ifPresent: ['.nobackup', '.skip:x'] },
    entries: { 'CACHEDIR.TAG': 'file', '.nobackup': 'file', '.skip': 'file' },
    contents: { 'CACHEDIR.TAG': 'Signature: 8a477f597d28d172789f06886806bc55', '.skip': 'y' },
    found: ['CACHEDIR.TAG', '.nobackup'],
  },
];
for (const { name, rules, entries, contents, found } of TAG_CASES) {
  test(name, async () => {
    const dir = directory(entries, contents);
    const tags = await new Excludes(rules).tagsIn(dir.kindOf, dir.readHead);
    assert.deepEqual([...tags].sort(), [...found].sort());
  });
}

test('a tag without a header is never read, one with a header is read only if it is a file', async () => {
  const dir = directory({ '.nobackup': 'file', '.skip': 'dir' }, { '.nobackup': 'x' });
  await new Excludes({ ifPresent: ['.nobackup', '.skip:x'] }).tagsIn(dir.kindOf, dir.readHead);
  assert.deepEqual(dir.read, []);
});

test('a directory holding a tag keeps only the tag; one holding two different tags keeps nothing', () => {
  const rules = new Excludes({ ifPresent: ['.nobackup', '.skip'] });
  const none = new Set<string>();
  const one = new Set(['.nobackup']);
  const two = new Set(['.nobackup', '.skip']);
  assert.equal(rules.excludesBesideTags('data', none), false);
  assert.equal(rules.excludesBesideTags('data', one), true);
  assert.equal(rules.excludesBesideTags('.nobackup', one), false);
  assert.equal(rules.excludesBesideTags('.nobackup', two), true);
  assert.equal(rules.excludesBesideTags('.skip', two), true);
});

test('no tag rules find no tags and read nothing', async () => {
  const dir = directory({ '.nobackup': 'file', 'CACHEDIR.TAG': 'file' });
  assert.equal((await new Excludes({}).tagsIn(dir.kindOf, dir.readHead)).size, 0);
  assert.deepEqual(dir.read, []);
});
