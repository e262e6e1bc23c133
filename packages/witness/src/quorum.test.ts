/** `verifyQuorum`: what a client accepts, as a table over one head and four witnesses. */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { nodeCryptoProvider as crypto } from '@sealpost/core/node';
import { SealpostError } from '@sealpost/core';
import { signCosignature, type Cosignature } from './cosignature.ts';
import { verifyQuorum, type QuorumPolicy } from './quorum.ts';

const seeds = [1, 2, 3, 4].map((i) => crypto.sha256(new Uint8Array([i])));
const keys = seeds.map((s) => crypto.ed25519.publicKey(s));
const head = {
  directoryId: crypto.sha256(new Uint8Array([9])),
  treeSize: 42,
  root: crypto.sha256(new Uint8Array([7])),
};
const NOW = 1_700_000_000_000;
const T = NOW / 1000;
const sign = (i: number, timestamp = T - 10): Cosignature =>
  signCosignature(crypto, seeds[i]!, head, timestamp);
const policy: QuorumPolicy = { maxLagSecs: 300, now: NOW };

describe('verifyQuorum', () => {
  test('a majority (3 of 4) of fresh valid cosignatures is accepted', () => {
    const r = verifyQuorum(crypto, head, [sign(0), sign(1), sign(2)], keys, policy);
    assert.equal(r.quorum, 3);
    assert.equal(r.witnesses.length, 3);
  });

  test('an explicit quorum replaces the majority', () => {
    assert.equal(verifyQuorum(crypto, head, [sign(3)], keys, { ...policy, quorum: 1 }).witnesses.length, 1);
  });

  const refused: readonly {
    name: string;
    cosignatures: () => Cosignature[];
    counted: Record<string, number>;
  }[] = [
    { name: 'too few', cosignatures: () => [sign(0), sign(1)], counted: { valid: 2 } },
    {
      name: 'a forged one (signature over another root)',
      cosignatures: () => [
        sign(0),
        sign(1),
        signCosignature(crypto, seeds[2]!, { ...head, root: new Uint8Array(32) }, T - 10),
      ],
      counted: { valid: 2, forged: 1 },
    },
    {
      name: 'a forged one (timestamp changed after signing)',
      cosignatures: () => [sign(0), sign(1), { ...sign(2), timestamp: T - 5 }],
      counted: { valid: 2, forged: 1 },
    },
    {
      name: 'a stale one (older than the lag)',
      cosignatures: () => [sign(0), sign(1), sign(2, T - 301)],
      counted: { valid: 2, stale: 1 },
    },
    {
      name: 'duplicates from one witness count once',
      cosignatures: () => [sign(0), sign(0, T - 1), sign(0, T - 2), sign(1)],
      counted: { valid: 2 },
    },
    {
      name: 'a witness the client does not trust',
      cosignatures: () => [
        sign(0),
        sign(1),
        signCosignature(crypto, crypto.sha256(new Uint8Array([99])), head, T - 10),
      ],
      counted: { valid: 2, unknown: 1 },
    },
  ];
  for (const r of refused) {
    test(`refused: ${r.name}`, () => {
      assert.throws(
        () => verifyQuorum(crypto, head, r.cosignatures(), keys, policy),
        (e) =>
          e instanceof SealpostError &&
          e.code === 'CRYPTO_VERIFICATION_FAILED' &&
          Object.entries(r.counted).every(([k, v]) => e.details[k] === v),
      );
    });
  }

  test('the head a cosignature covers is exact: another size is not vouched for', () => {
    assert.throws(() =>
      verifyQuorum(crypto, { ...head, treeSize: 43 }, [sign(0), sign(1), sign(2)], keys, policy),
    );
  });

  test('duplicate trusted keys count once in the majority', () => {
    const r = verifyQuorum(crypto, head, [sign(0), sign(1)], [keys[0]!, keys[0]!, keys[1]!], policy);
    assert.equal(r.quorum, 2);
  });

  for (const [name, k, q] of [
    ['no witness keys', [], undefined],
    ['a quorum above the number of witnesses', keys, 5],
    ['a quorum of zero', keys, 0],
  ] as const) {
    test(`an impossible policy is VALIDATION_FAILED: ${name}`, () => {
      assert.throws(
        () => verifyQuorum(crypto, head, [sign(0)], k, { ...policy, quorum: q }),
        (e) => e instanceof SealpostError && e.code === 'VALIDATION_FAILED',
      );
    });
  }
});
