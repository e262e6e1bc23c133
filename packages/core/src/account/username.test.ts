// Tests run under Node: node:test and node:assert are the only node:* imports, and only here.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { parseUsername, usernameSkeleton } from './username.ts';
import { ValidationError } from '../errors.ts';
import { LIMITS } from '../limits.ts';

function assertRefused(input: unknown): void {
  assert.throws(
    () => parseUsername(input),
    (e: unknown) => e instanceof ValidationError && e.code === 'USERNAME_INVALID',
  );
}

describe('parseUsername policy', () => {
  const accepted: readonly [string, string, string][] = [
    ['a plain lowercase name', 'alice', 'alice'],
    ['a name with uppercase, folded to lowercase', 'Alice', 'alice'],
    ['an all-uppercase name', 'BOB', 'bob'],
    ['digits and single underscores after the first letter', 'bob_2_x', 'bob_2_x'],
    ['a trailing underscore', 'bob_', 'bob_'],
    [`exactly ${LIMITS.usernameMinLength} characters`, 'abc', 'abc'],
    [`exactly ${LIMITS.usernameMaxLength} characters`, 'a'.repeat(32), 'a'.repeat(32)],
  ];
  for (const [what, input, canonical] of accepted) {
    test(`accepts ${what}`, () => assert.equal(parseUsername(input), canonical));
  }

  const refused: readonly [string, unknown][] = [
    ['a name shorter than the minimum', 'al'],
    ['the empty string', ''],
    [`a name of ${LIMITS.usernameMaxLength + 1} characters`, 'a'.repeat(33)],
    ['a name starting with a digit', '1alice'],
    ['a name starting with an underscore', '_alice'],
    ['a double underscore', 'a__b'],
    ['a hyphen', 'al-ice'],
    ['a dot', 'al.ice'],
    ['a space', 'al ice'],
    ['surrounding whitespace (no silent trimming)', ' alice '],
    ['Cyrillic а in place of Latin a', '\u0430lice'],
    ['a fullwidth ａ', '\uff41lice'],
    ['a zero-width joiner', 'al\u200dice'],
    ['a zero-width space', 'al\u200bice'],
    ['a combining accent', 'alic\u0065\u0301'],
    ['a precomposed accented letter', 'alicé'],
    ['the Kelvin sign (folds to k under Unicode rules)', '\u212aate'],
    ['dotted capital I (folds to i̇ under Unicode rules)', '\u0130ris'],
    ['an emoji', 'alice\u{1f600}'],
    ['a NUL byte', 'ali\u0000ce'],
    ['a right-to-left override', 'ali\u202ece'],
    ['undefined', undefined],
    ['null', null],
    ['a number', 12345],
    ['an array of characters', ['a', 'l', 'i', 'c', 'e']],
    ['an object with toString', { toString: () => 'alice' }],
    ['a String object', new String('alice')],
  ];
  for (const [what, input] of refused) {
    test(`refuses ${what}`, () => assertRefused(input));
  }

  test('every accepted name is canonical: parsing it again gives the same name', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 40 }), (s) => {
        let name: string;
        try {
          name = parseUsername(s);
        } catch (e) {
          assert.ok(e instanceof ValidationError, String(e));
          return;
        }
        assert.equal(parseUsername(name), name);
        assert.match(name, /^[a-z][a-z0-9_]{2,31}$/);
        assert.ok(!name.includes('__'));
      }),
      { numRuns: 3000 },
    );
  });
});

describe('usernameSkeleton', () => {
  const skeleton = (s: string) => usernameSkeleton(parseUsername(s));

  const sameClass: readonly [string, string][] = [
    ['alice', 'a1ice'],
    ['alice', 'al_ice'],
    ['alice', 'aIice'],
    ['alice', 'ALICE'],
    ['alice', 'aiice'],
    ['mary', 'rnary'],
    ['wendy', 'vvendy'],
    ['dear', 'clear'],
    ['clear', 'c1ear'],
    ['clear', 'cIear'],
    ['rnary', 'r_nary'],
    ['bob', 'b0b'],
    ['sos', 'so5'],
    ['gig', 'q1g'],
  ];
  for (const [a, b] of sameClass) {
    test(`puts '${a}' and '${b}' in one look-alike class`, () => assert.equal(skeleton(a), skeleton(b)));
  }

  const differentClass: readonly [string, string][] = [
    ['alice', 'alicia'],
    ['bob', 'rob'],
    ['mary', 'marty'],
    ['carol', 'karol'],
  ];
  for (const [a, b] of differentClass) {
    test(`keeps '${a}' and '${b}' apart`, () => assert.notEqual(skeleton(a), skeleton(b)));
  }

  test('is a function of the canonical name only (case never changes the class)', () => {
    fc.assert(
      fc.property(fc.stringMatching(/^[a-z][a-z0-9]{2,20}$/), (name) =>
        assert.equal(skeleton(name), skeleton(name.toUpperCase())),
      ),
    );
  });
});
