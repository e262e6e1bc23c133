/**
 * Usernames: the only account identifier (no phone numbers, no e-mail).
 *
 * Policy (docs/usernames.md):
 *   - allowed: ASCII letters, digits and `_`; 3 to 32 characters; starts with a letter; no `__`;
 *   - case-insensitive: input is folded to lowercase, the lowercase form is canonical;
 *   - anything else, including every non-ASCII character, is refused rather than normalised:
 *     this closes the whole class of Unicode confusables (Cyrillic `а` for Latin `a`, fullwidth
 *     letters, zero-width joiners) instead of chasing it with a table;
 *   - ASCII look-alikes are closed by a *skeleton* (UTS #39 §4 idea, ASCII table here): two
 *     usernames whose skeletons are equal cannot both exist (`alice`, `a1ice`, `al_ice`).
 */
import { ValidationError } from '../errors.ts';
import { LIMITS } from '../limits.ts';

declare const usernameBrand: unique symbol;
/** A username that passed `parseUsername`: canonical lowercase form. */
export type Username = string & { readonly [usernameBrand]: true };

const SHAPE = /^[a-z][a-z0-9_]*$/;

export function parseUsername(input: unknown): Username {
  if (typeof input !== 'string') throw new ValidationError('USERNAME_INVALID', 'username must be a string');
  if (input.length < LIMITS.usernameMinLength || input.length > LIMITS.usernameMaxLength) {
    throw new ValidationError(
      'USERNAME_INVALID',
      `username must be ${LIMITS.usernameMinLength} to ${LIMITS.usernameMaxLength} characters`,
    );
  }
  // Fold ASCII only; toLowerCase() would also fold non-ASCII letters we are about to refuse.
  const folded = input.replace(/[A-Z]/g, (c) => String.fromCharCode(c.charCodeAt(0) + 32));
  if (!SHAPE.test(folded)) {
    throw new ValidationError(
      'USERNAME_INVALID',
      'username may contain only ASCII letters, digits and _ and must start with a letter',
    );
  }
  if (folded.includes('__')) throw new ValidationError('USERNAME_INVALID', 'username may not contain __');
  return folded as Username;
}

/**
 * Single characters first, then multi-character look-alikes: `c1ear` must reach `clear` before
 * `cl` -> `d` is applied, or it would escape the class of `clear` (and `r_nary` that of `rnary`).
 */
const SKELETON_SEQUENCES: ReadonlyArray<readonly [string, string]> = [
  ['rn', 'm'],
  ['vv', 'w'],
  ['cl', 'd'],
];
const SKELETON_CHARS: Readonly<Record<string, string>> = {
  '0': 'o',
  '1': 'l',
  i: 'l',
  j: 'l',
  '5': 's',
  '2': 'z',
  '8': 'b',
  '6': 'b',
  '9': 'g',
  q: 'g',
  _: '',
};

/** The look-alike class of a username; unique in the directory. */
export function usernameSkeleton(name: Username): string {
  let s = '';
  for (const c of name) s += SKELETON_CHARS[c] ?? c;
  for (const [from, to] of SKELETON_SEQUENCES) s = s.split(from).join(to);
  return s;
}
