/**
 * Commitments (draft-ietf-keytrans-protocol-04 §10.5, §10.6) and the VRF input (§10.7): the exact
 * bytes hashed, the fixed key Kc, verification failures.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { nodeCryptoProvider as crypto } from '../../node/crypto-provider.ts';
import { SealpostError, type ErrorCode } from '../errors.ts';
import { fromHex, toHex } from '../bytes/encoding.ts';
import { KT_COMMITMENT_KEY } from './cipher-suite.ts';
import {
  computeCommitment,
  encodeCommitmentValue,
  newOpening,
  verifyCommitment,
  type CommitmentInput,
} from './commitment.ts';
import { encodeVrfInput } from './vrf-input.ts';

function assertCode(fn: () => unknown, code: ErrorCode): void {
  assert.throws(fn, (e: unknown) => e instanceof SealpostError && e.code === code);
}

const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s);
const input: CommitmentInput = {
  opening: fromHex('000102030405060708090a0b0c0d0e0f', 32),
  label: utf8('alice'),
  version: 2,
  update: { value: utf8('device list') },
};

describe('CommitmentValue (§10.6)', () => {
  test('encodes opening[16] || label<0..2^8-1> || uint32 version || value<0..2^32-1>', () => {
    assert.equal(
      toHex(encodeCommitmentValue(input, 'thirdPartyAuditing')),
      '000102030405060708090a0b0c0d0e0f' +
        '05' +
        toHex(utf8('alice')) +
        '00000002' +
        '0000000b' +
        toHex(utf8('device list')),
    );
  });
  test('appends the operator signature<0..2^16-1> in thirdPartyManagement mode only', () => {
    const signed = { ...input, update: { value: utf8('x'), signature: new Uint8Array([9, 9]) } };
    assert.ok(
      toHex(encodeCommitmentValue(signed, 'thirdPartyManagement')).endsWith(
        '00000001' + '78' + '0002' + '0909',
      ),
    );
    assertCode(() => encodeCommitmentValue(signed, 'thirdPartyAuditing'), 'CODEC_INVALID_VALUE');
    assertCode(() => encodeCommitmentValue(input, 'thirdPartyManagement'), 'CODEC_INVALID_VALUE');
  });
  test('the commitment is HMAC-SHA256 keyed with Kc = d821f8790d97709796b4d7903357c3f5 (§15.1)', () => {
    assert.equal(toHex(KT_COMMITMENT_KEY), 'd821f8790d97709796b4d7903357c3f5');
    assert.deepEqual(
      computeCommitment(crypto, input, 'thirdPartyAuditing'),
      crypto.hmacSha256(KT_COMMITMENT_KEY, encodeCommitmentValue(input, 'thirdPartyAuditing')),
    );
  });
  test('verifies its own opening and refuses any other value, version, label or opening', () => {
    const c = computeCommitment(crypto, input, 'thirdPartyAuditing');
    verifyCommitment(crypto, input, 'thirdPartyAuditing', c);
    for (const other of [
      { ...input, version: 3 },
      { ...input, label: utf8('alicf') },
      { ...input, update: { value: utf8('device lisT') } },
      { ...input, opening: newOpening(crypto) },
    ]) {
      assertCode(
        () => verifyCommitment(crypto, other, 'thirdPartyAuditing', c),
        'CRYPTO_VERIFICATION_FAILED',
      );
    }
  });
  test('refuses a short opening, a long label and a version beyond uint32', () => {
    assertCode(
      () => computeCommitment(crypto, { ...input, opening: new Uint8Array(15) }, 'contactMonitoring'),
      'CODEC_INVALID_VALUE',
    );
    assertCode(
      () => computeCommitment(crypto, { ...input, label: new Uint8Array(256) }, 'contactMonitoring'),
      'VALIDATION_FAILED',
    );
    assertCode(
      () => computeCommitment(crypto, { ...input, version: 2 ** 32 }, 'contactMonitoring'),
      'VALIDATION_FAILED',
    );
  });
  test('openings are 16 random bytes', () => {
    assert.equal(newOpening(crypto).length, 16);
    assert.notDeepEqual(newOpening(crypto), newOpening(crypto));
  });
});

describe('VrfInput (§10.7)', () => {
  test('encodes label<0..2^8-1> || uint32 version', () =>
    assert.equal(toHex(encodeVrfInput(utf8('bob'), 0x01020304)), '03' + toHex(utf8('bob')) + '01020304'));
  test('refuses a label over 255 bytes and a negative version', () => {
    assertCode(() => encodeVrfInput(new Uint8Array(256), 0), 'VALIDATION_FAILED');
    assertCode(() => encodeVrfInput(utf8('bob'), -1), 'VALIDATION_FAILED');
  });
});
