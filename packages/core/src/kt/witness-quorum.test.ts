/**
 * `verifyWitnessQuorum` over a real log: cosignatures on the newest head and on earlier heads proved
 * consistent with it, and the cosignature decoder against hostile input.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { nodeCryptoProvider as crypto } from '../../node/crypto-provider.ts';
import { SealpostError, type ErrorCode } from '../errors.ts';
import { toBase64url } from '../bytes/encoding.ts';
import { cosignatureFromJson, signCosignature, type Cosignature } from './cosignature.ts';
import { LogTree } from './log-tree.ts';
import { verifyWitnessQuorum, type EarlierCosignedHead, type WitnessedHeads } from './witness-quorum.ts';

const seeds = [1, 2, 3].map((i) => crypto.sha256(new Uint8Array([i])));
const keys = seeds.map((s) => crypto.ed25519.publicKey(s));
const directoryId = crypto.sha256(new Uint8Array([9]));
const NOW = 1_700_000_000_000;
const T = NOW / 1000;
const policy = { maxLagSecs: 300, now: NOW };

const log = new LogTree(crypto);
for (let i = 0; i < 13; i++) log.appendLeafValue(crypto.sha256(new Uint8Array([100 + i])));
/** A fork of the same size: the same first 5 entries, then others. */
const fork = new LogTree(crypto);
for (let i = 0; i < 13; i++) fork.appendLeafValue(crypto.sha256(new Uint8Array([i < 5 ? 100 + i : 200 + i])));

const cosign = (i: number, tree: LogTree, size: number, timestamp = T - 10): Cosignature =>
  signCosignature(crypto, seeds[i]!, { directoryId, treeSize: size, root: tree.root(size) }, timestamp);

function earlierOf(tree: LogTree, size: number, cosignatures: Cosignature[]): EarlierCosignedHead {
  return {
    treeSize: size,
    root: tree.root(size),
    fullSubtrees: tree.fullSubtrees(size),
    consistency: tree.consistencyProof(size, 13),
    cosignatures,
  };
}

function heads(cosignatures: Cosignature[], earlier: EarlierCosignedHead[]): WitnessedHeads {
  return { directoryId, newest: { treeSize: 13, root: log.root() }, cosignatures, earlier };
}

function code(fn: () => unknown): ErrorCode | undefined {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof SealpostError, `untyped: ${String(e)}`);
    return e.code;
  }
  return undefined;
}

describe('verifyWitnessQuorum', () => {
  test('a quorum on an earlier head the newest extends is accepted, each witness once', () => {
    const r = verifyWitnessQuorum(
      crypto,
      heads(
        [cosign(0, log, 13)],
        [earlierOf(log, 11, [cosign(1, log, 11)]), earlierOf(log, 7, [cosign(0, log, 7), cosign(2, log, 7)])],
      ),
      keys,
      policy,
    );
    assert.deepEqual(new Set(r.witnesses).size, 3);
    assert.equal(r.smallestTreeSize, 7);
    assert.equal(r.oldestTimestamp, T - 10);
  });

  test('a witness counts by its freshest cosignature: a stale one on a newer head does not hide a fresh one', () => {
    const r = verifyWitnessQuorum(
      crypto,
      heads([cosign(0, log, 13, T - 1_000)], [earlierOf(log, 9, [cosign(0, log, 9), cosign(1, log, 9)])]),
      keys,
      policy,
    );
    assert.equal(r.witnesses.length, 2);
    assert.equal(r.smallestTreeSize, 9);
  });

  const refused: readonly { name: string; heads: () => WitnessedHeads; code: ErrorCode }[] = [
    {
      name: 'an earlier head of another history (cosigned on a fork)',
      heads: () =>
        heads(
          [],
          [
            {
              ...earlierOf(log, 8, []),
              root: fork.root(8),
              fullSubtrees: fork.fullSubtrees(8),
              cosignatures: [cosign(0, fork, 8), cosign(1, fork, 8)],
            },
          ],
        ),
      code: 'KT_ROOT_MISMATCH',
    },
    {
      name: 'an earlier head whose consistency proof lost an element',
      heads: () => {
        const e = earlierOf(log, 6, [cosign(0, log, 6), cosign(1, log, 6)]);
        return heads([], [{ ...e, consistency: e.consistency.slice(1) }]);
      },
      code: 'KT_PROOF_MALFORMED',
    },
    {
      name: 'an earlier head not below the newest',
      heads: () => heads([], [{ ...earlierOf(log, 12, [cosign(0, log, 12)]), treeSize: 13 }]),
      code: 'KT_TREE_SIZE_INVALID',
    },
    {
      name: 'the same earlier head twice',
      heads: () =>
        heads([], [earlierOf(log, 4, [cosign(0, log, 4)]), earlierOf(log, 4, [cosign(1, log, 4)])]),
      code: 'KT_TREE_SIZE_INVALID',
    },
    {
      name: 'a quorum only on an earlier head, older than the lag',
      heads: () =>
        heads(
          [],
          [
            earlierOf(
              log,
              10,
              [0, 1, 2].map((i) => cosign(i, log, 10, T - 301)),
            ),
          ],
        ),
      code: 'CRYPTO_VERIFICATION_FAILED',
    },
    {
      name: 'a cosignature moved from the head it signs to another',
      heads: () => heads([], [earlierOf(log, 10, [cosign(0, log, 10), cosign(1, log, 9)])]),
      code: 'CRYPTO_VERIFICATION_FAILED',
    },
  ];
  for (const r of refused) {
    test(`refuses ${r.name} (${r.code})`, () => {
      assert.equal(
        code(() => verifyWitnessQuorum(crypto, r.heads(), keys, policy)),
        r.code,
      );
    });
  }
});

describe('cosignatureFromJson', () => {
  test('decodes what the server sends', () => {
    const c = cosign(0, log, 13);
    const json = {
      witnessKey: toBase64url(c.witnessKey),
      timestamp: c.timestamp,
      signature: toBase64url(c.signature),
    };
    assert.deepEqual(cosignatureFromJson(JSON.parse(JSON.stringify(json))), c);
  });

  test('any JSON value is a cosignature or a CodecError, never a crash', () => {
    const base64ish = fc.string({ unit: fc.constantFrom(...'AZaz09-_=+/ '.split('')), maxLength: 100 });
    const field = fc.oneof(fc.jsonValue(), base64ish, fc.integer(), fc.double());
    fc.assert(
      fc.property(
        fc.oneof(
          fc.jsonValue(),
          fc.record({ witnessKey: field, timestamp: field, signature: field }, { requiredKeys: [] }),
        ),
        (value) => {
          try {
            const c = cosignatureFromJson(value);
            assert.equal(c.witnessKey.length, 32);
            assert.equal(c.signature.length, 64);
          } catch (e) {
            assert.ok(e instanceof SealpostError && e.kind === 'codec', String(e));
          }
        },
      ),
      { numRuns: 2000 },
    );
  });
});
