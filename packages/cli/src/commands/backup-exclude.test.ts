// Environment variables in exclude files, as restic expands them: Go's os.Expand with `$$` as a
// literal "$" (cmd/restic/exclude.go, readPatternsFromFiles). Each expected value follows Go's
// os.Expand and getShellName (src/os/env.go) by hand; no Go toolchain was at hand to run them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { expandEnv } from './backup-exclude.ts';

const ENV = { HOME: '/home/u', A: 'a', EMPTY: '' };

const CASES: readonly [line: string, expanded: string, why: string][] = [
  ['plain/*.tmp', 'plain/*.tmp', 'no "$": unchanged'],
  ['$HOME/x', '/home/u/x', '$NAME'],
  ['${HOME}/x', '/home/u/x', '${NAME}'],
  ['${HOME}x', '/home/ux', 'braces end the name'],
  ['$HOMEx', '', 'the name is every [A-Za-z0-9_] that follows: HOMEx, unset'],
  ['$A.b', 'a.b', 'the name stops at a character outside [A-Za-z0-9_]'],
  ['$UNSET/x', '/x', 'an unset variable is ""'],
  ['$EMPTY!', '!', 'an empty variable is ""'],
  ['$_A', '', '"_" is a name character'],
  ['${A}${A}', 'aa', 'one after another'],
  ['$$', '$', '$$ is a literal dollar (restic)'],
  ['a$$b', 'a$b', '$$ inside a line'],
  ['$$HOME', '$HOME', 'what follows $$ is literal'],
  ['${$}', '$', '${$} is $$ too'],
  ['$', '$', 'a "$" that ends the line stays'],
  ['a$', 'a$', 'a "$" that ends the line stays'],
  ['$/x', '$/x', 'a "$" followed by no name stays'],
  ['$.x', '$.x', 'a "$" followed by no name stays'],
  ['${}', '', 'bad syntax: Go drops "${}"'],
  ['a${}b', 'ab', 'bad syntax: Go drops "${}"'],
  ['${HOME', 'HOME', 'bad syntax: Go drops an unclosed "${"'],
  ['$1x', 'x', 'a digit is a one-character name (unset)'],
  ['$!', '', 'shell special characters are one-character names (unset)'],
  ['${*}', '', 'a special character in braces'],
  ['${a b}', '', 'anything up to "}" is a name in braces'],
  ['é$A', 'éa', 'non-ASCII text is copied'],
];

for (const [line, expanded, why] of CASES) {
  test(`exclude file line ${JSON.stringify(line)} expands to ${JSON.stringify(expanded)} (${why})`, () => {
    assert.equal(expandEnv(line, ENV), expanded);
  });
}

test('only the environment given is read', () => {
  assert.equal(expandEnv('$HOME', {}), '');
  assert.equal(expandEnv('$HOME', { HOME: '/elsewhere' }), '/elsewhere');
});
