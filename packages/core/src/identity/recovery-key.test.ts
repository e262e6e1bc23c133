import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { nodeCryptoProvider as crypto } from '../../node/crypto-provider.ts';
import { ValidationError } from '../errors.ts';
import {
  generateRecoverySecret,
  parseRecoveryCode,
  recoveryCodeOf,
  recoverySigningKey,
} from './recovery-key.ts';

const isCodeInvalid = (e: unknown) =>
  e instanceof ValidationError && e.code === 'IDENTITY_RECOVERY_CODE_INVALID';

describe('recovery codes', () => {
  test('are 14 groups of 4 Crockford base32 characters and parse back to the secret', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 32, maxLength: 32 }), (secret) => {
        const code = recoveryCodeOf(crypto, secret);
        assert.match(code, /^[0-9A-HJKMNP-TV-Z]{4}(-[0-9A-HJKMNP-TV-Z]{4}){13}$/);
        assert.deepEqual(parseRecoveryCode(crypto, code), secret);
      }),
      { numRuns: 300 },
    );
  });

  test('accept what a human changes: case, spaces, O for 0, I and L for 1', () => {
    const secret = generateRecoverySecret(crypto);
    const code = recoveryCodeOf(crypto, secret);
    const human = code.toLowerCase().replaceAll('-', ' ').replaceAll('0', 'o').replaceAll('1', 'l');
    assert.deepEqual(parseRecoveryCode(crypto, `  ${human}\n`), secret);
  });

  test('catch every single-character substitution', () => {
    const code = recoveryCodeOf(crypto, new Uint8Array(32).fill(0x5a));
    fc.assert(
      fc.property(
        fc.nat({ max: code.length - 1 }),
        fc.constantFrom(...'0123456789ABCDEFGHJKMNPQRSTVWXYZ'),
        (i, c) => {
          fc.pre(code[i] !== '-' && code[i] !== c);
          assert.throws(
            () => parseRecoveryCode(crypto, code.slice(0, i) + c + code.slice(i + 1)),
            isCodeInvalid,
          );
        },
      ),
      { numRuns: 300 },
    );
  });

  test('random strings give a secret or IDENTITY_RECOVERY_CODE_INVALID', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 80 }), (s) => {
        try {
          parseRecoveryCode(crypto, s);
        } catch (e) {
          assert.ok(isCodeInvalid(e), String(e));
        }
      }),
      { numRuns: 2000 },
    );
  });

  test('error messages never quote the code', () => {
    const code = recoveryCodeOf(crypto, new Uint8Array(32).fill(1));
    const bad = 'Z' + code.slice(1);
    assert.throws(
      () => parseRecoveryCode(crypto, bad),
      (e: unknown) => isCodeInvalid(e) && !(e as Error).message.includes(bad.slice(5, 14)),
    );
  });
});

describe('recoverySigningKey', () => {
  test('is deterministic, differs per secret, and signs', () => {
    const a = recoverySigningKey(crypto, new Uint8Array(32).fill(1));
    assert.deepEqual(recoverySigningKey(crypto, new Uint8Array(32).fill(1)).publicKey, a.publicKey);
    assert.notDeepEqual(recoverySigningKey(crypto, new Uint8Array(32).fill(2)).publicKey, a.publicKey);
    const msg = new Uint8Array([1, 2, 3]);
    assert.ok(crypto.ed25519.verify(a.publicKey, msg, crypto.ed25519.sign(a.seed, msg)));
  });

  test('is not the secret used directly as an Ed25519 seed', () => {
    const secret = new Uint8Array(32).fill(3);
    assert.notDeepEqual(recoverySigningKey(crypto, secret).publicKey, crypto.ed25519.publicKey(secret));
  });
});
