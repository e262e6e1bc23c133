import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { nodeCryptoProvider as crypto } from '../../node/crypto-provider.ts';
import { safetyCode, safetyCodeHalf } from './safety-code.ts';

const key = (n: number) => new Uint8Array(32).fill(n);

describe('safety codes', () => {
  test('are 12 groups of 5 digits and the same whichever party computes them', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 32, maxLength: 32 }),
        fc.uint8Array({ minLength: 32, maxLength: 32 }),
        (ka, kb) => {
          const a = { username: 'alice', accountKey: ka };
          const b = { username: 'bob', accountKey: kb };
          const code = safetyCode(crypto, a, b);
          assert.match(code, /^\d{5}( \d{5}){11}$/);
          assert.equal(safetyCode(crypto, b, a), code);
        },
      ),
      { numRuns: 20 },
    );
  });

  test('change when the account key changes (a substituted key shows)', () =>
    assert.notEqual(
      safetyCode(crypto, { username: 'alice', accountKey: key(1) }, { username: 'bob', accountKey: key(2) }),
      safetyCode(crypto, { username: 'alice', accountKey: key(1) }, { username: 'bob', accountKey: key(3) }),
    ));

  test('bind the username: the same key under another name gives another half', () =>
    assert.notEqual(
      safetyCodeHalf(crypto, { username: 'alice', accountKey: key(1) }),
      safetyCodeHalf(crypto, { username: 'alicia', accountKey: key(1) }),
    ));

  test('fold the username case (the canonical form is hashed)', () =>
    assert.equal(
      safetyCodeHalf(crypto, { username: 'Alice', accountKey: key(1) }),
      safetyCodeHalf(crypto, { username: 'alice', accountKey: key(1) }),
    ));
});
