// Tests run under Node: node:test and node:assert are the only node:* imports, and only here.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { nodeCryptoProvider as crypto } from '../../node/crypto-provider.ts';
import { ENVELOPE_OVERHEAD_BYTES, openEnvelope, sealEnvelope } from './envelope.ts';
import { CodecError, CryptoVerificationError, ValidationError } from '../errors.ts';

const key = new Uint8Array(32).fill(9);
const aad = new TextEncoder().encode('test');

/** An envelope built by hand, with any plaintext (a key holder could write this). */
function forge(plaintext: Uint8Array): Uint8Array {
  const nonce = crypto.randomBytes(12);
  return new Uint8Array([...nonce, ...crypto.aes256gcm.seal(key, nonce, plaintext, aad)]);
}

describe('padded envelopes', () => {
  test('round trip at exactly the requested length', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 500 }), fc.nat(300), (content, extra) => {
        const total = content.length + ENVELOPE_OVERHEAD_BYTES + extra;
        const env = sealEnvelope(crypto, key, aad, content, total);
        assert.equal(env.length, total);
        assert.deepEqual(openEnvelope(crypto, key, aad, env, 10_000, 'test'), content);
      }),
      { numRuns: 300 },
    );
  });

  test('refuses a length too small for the content', () =>
    assert.throws(
      () => sealEnvelope(crypto, key, aad, new Uint8Array(10), 10 + ENVELOPE_OVERHEAD_BYTES - 1),
      ValidationError,
    ));

  test('another key or aad fails the tag', () => {
    const env = sealEnvelope(crypto, key, aad, new Uint8Array(5), 64);
    assert.throws(
      () => openEnvelope(crypto, new Uint8Array(32), aad, env, 1000, 't'),
      CryptoVerificationError,
    );
    assert.throws(
      () => openEnvelope(crypto, key, new Uint8Array(0), env, 1000, 't'),
      CryptoVerificationError,
    );
  });

  const bad: readonly [string, Uint8Array, string][] = [
    ['non-zero padding', new Uint8Array([0, 0, 0, 1, 0xaa, 0, 1]), 'CODEC_INVALID_VALUE'],
    ['a content length past the end', new Uint8Array([0, 0, 0, 9, 1, 2]), 'CODEC_INVALID_VALUE'],
  ];
  for (const [what, plaintext, code] of bad) {
    test(`refuses ${what}`, () =>
      assert.throws(
        () => openEnvelope(crypto, key, aad, forge(plaintext), 1000, 't'),
        (e: unknown) => e instanceof CodecError && e.code === code,
      ));
  }

  test('refuses envelopes shorter than the overhead or longer than the bound before decrypting', () => {
    assert.throws(
      () => openEnvelope(crypto, key, aad, new Uint8Array(ENVELOPE_OVERHEAD_BYTES - 1), 1000, 't'),
      (e: unknown) => e instanceof CodecError && e.code === 'CODEC_TRUNCATED',
    );
    assert.throws(
      () => openEnvelope(crypto, key, aad, new Uint8Array(1001), 1000, 't'),
      (e: unknown) => e instanceof CodecError && e.code === 'CODEC_LENGTH_LIMIT',
    );
  });
});
