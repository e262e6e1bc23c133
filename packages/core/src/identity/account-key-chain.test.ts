import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { nodeCryptoProvider as crypto } from '../../node/crypto-provider.ts';
import { CryptoVerificationError } from '../errors.ts';
import {
  ROTATION_SIGNER,
  rotationStatement,
  signRotation,
  verifyAccountKeyTransition,
  type RotationContext,
} from './account-key-chain.ts';

const seed = (n: number) => new Uint8Array(32).fill(n);
const pk = (n: number) => crypto.ed25519.publicKey(seed(n));
const OLD = 1;
const RECOVERY = 2;
const NEW = 3;
const authority = { accountKey: pk(OLD), recoveryKey: pk(RECOVERY) };
const context: RotationContext = {
  username: 'alice',
  previousListHash: new Uint8Array(32).fill(9),
  previousAccountKey: pk(OLD),
  newAccountKey: pk(NEW),
};
const unauthorized = (e: unknown) =>
  e instanceof CryptoVerificationError && e.code === 'IDENTITY_ROTATION_UNAUTHORIZED';

describe('verifyAccountKeyTransition', () => {
  test('accepts a rotation signed by the previous account key', () =>
    verifyAccountKeyTransition(
      crypto,
      authority,
      context,
      signRotation(crypto, context, ROTATION_SIGNER.previousAccountKey, seed(OLD)),
    ));

  test('accepts a rotation signed by the recovery key', () =>
    verifyAccountKeyTransition(
      crypto,
      authority,
      context,
      signRotation(crypto, context, ROTATION_SIGNER.recoveryKey, seed(RECOVERY)),
    ));

  test('accepts an unchanged key without a rotation', () =>
    verifyAccountKeyTransition(crypto, authority, { ...context, newAccountKey: pk(OLD) }, undefined));

  const refused: [string, () => void][] = [
    ['a new key without a rotation', () => verifyAccountKeyTransition(crypto, authority, context, undefined)],
    [
      'a rotation when the key did not change',
      () =>
        verifyAccountKeyTransition(
          crypto,
          authority,
          { ...context, newAccountKey: pk(OLD) },
          signRotation(crypto, { ...context, newAccountKey: pk(OLD) }, 0, seed(OLD)),
        ),
    ],
    [
      'a rotation signed by the new key itself',
      () =>
        verifyAccountKeyTransition(crypto, authority, context, signRotation(crypto, context, 0, seed(NEW))),
    ],
    [
      'a rotation made for another point of the chain (replayed)',
      () =>
        verifyAccountKeyTransition(
          crypto,
          authority,
          context,
          signRotation(crypto, { ...context, previousListHash: new Uint8Array(32).fill(8) }, 0, seed(OLD)),
        ),
    ],
    [
      'a rotation made for another account',
      () =>
        verifyAccountKeyTransition(
          crypto,
          authority,
          context,
          signRotation(crypto, { ...context, username: 'bob' }, 0, seed(OLD)),
        ),
    ],
    [
      'a rotation to another new key',
      () =>
        verifyAccountKeyTransition(
          crypto,
          authority,
          context,
          signRotation(crypto, { ...context, newAccountKey: pk(4) }, 0, seed(OLD)),
        ),
    ],
    [
      'a recovery-key signature labelled as the previous account key',
      () =>
        verifyAccountKeyTransition(crypto, authority, context, {
          ...signRotation(crypto, context, ROTATION_SIGNER.recoveryKey, seed(RECOVERY)),
          signer: ROTATION_SIGNER.previousAccountKey,
        }),
    ],
  ];
  for (const [what, run] of refused) test(`refuses ${what}`, () => assert.throws(run, unauthorized));
});

describe('rotationStatement', () => {
  test('starts with its own label and binds the signer', () => {
    const label = new TextEncoder().encode('sealpost/v1/account-key-rotation');
    const s0 = rotationStatement(context, 0);
    assert.deepEqual(s0.subarray(1, 1 + label.length), label);
    assert.notDeepEqual(s0, rotationStatement(context, 1));
  });
});
