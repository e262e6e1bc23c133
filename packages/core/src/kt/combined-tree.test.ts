/**
 * The combined tree (draft-ietf-keytrans-protocol-04 §3.4, §10.8): random insert sequences published
 * as log entries; every search proof verifies against its own entry's prefix root, every entry is
 * included in every later log root, and consistency proofs verify between every pair of sizes.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { nodeCryptoProvider as crypto } from '../../node/crypto-provider.ts';
import { SealpostError } from '../errors.ts';
import { toHex } from '../bytes/encoding.ts';
import { CombinedTree } from './combined-tree.ts';
import { logLeafValue } from './log-tree.ts';
import { verifyLogConsistency, verifyLogInclusion } from './log-verify.ts';
import { verifyPrefixProof } from './prefix-proof.ts';
import {
  decodeInclusionProof,
  decodePrefixProof,
  encodeInclusionProof,
  encodePrefixProof,
} from './proof-codec.ts';

const commitmentOf = (key: Uint8Array): Uint8Array => crypto.sha256(key);

describe('CombinedTree', () => {
  test('refuses a timestamp earlier than the previous entry (§4)', () => {
    const t = new CombinedTree(crypto);
    t.append(10, {});
    assert.throws(
      () => t.append(9, {}),
      (e: unknown) => e instanceof SealpostError && e.code === 'VALIDATION_FAILED',
    );
    assert.equal(t.size, 1);
  });
  test('an entry outside the log is KT_TREE_SIZE_INVALID', () =>
    assert.throws(
      () => new CombinedTree(crypto).entry(0),
      (e: unknown) => e instanceof SealpostError && e.code === 'KT_TREE_SIZE_INVALID',
    ));

  test('random insert sequences: every proof verifies against its epoch, through the codecs', () => {
    const key = fc.uint8Array({ minLength: 32, maxLength: 32 });
    const epochs = fc.array(fc.uniqueArray(key, { maxLength: 8, selector: toHex }), {
      minLength: 1,
      maxLength: 12,
    });
    fc.assert(
      fc.property(epochs, fc.array(key, { maxLength: 3 }), (batches, absent) => {
        const t = new CombinedTree(crypto);
        const seen = new Map<string, Uint8Array>();
        const present: Uint8Array[][] = [];
        let time = 1_700_000_000_000;
        for (const batch of batches) {
          const fresh = batch.filter((k) => !seen.has(toHex(k)));
          fresh.forEach((k) => seen.set(toHex(k), k));
          time += 1000;
          t.append(time, { add: fresh.map((k) => ({ vrfOutput: k, commitment: commitmentOf(k) })) });
          present.push([...seen.values()]);
        }
        const n = t.size;
        for (let i = 0; i < n; i++) {
          const entry = t.entry(i);
          // Search in the prefix tree of entry i: its keys are included, later and random keys are not.
          const probes = [
            ...new Map([...present[i]!, ...present[n - 1]!, ...absent].map((k) => [toHex(k), k])).values(),
          ];
          const { proof, commitments } = t.searchProof(i, probes);
          const searches = probes.map((vrfOutput, j) => ({ vrfOutput, commitment: commitments[j] }));
          verifyPrefixProof(crypto, searches, decodePrefixProof(encodePrefixProof(proof)), entry.prefixRoot);
          assert.equal(commitments.filter((c) => c !== undefined).length, present[i]!.length);
          // Entry i is in the log at every size after it.
          for (let size = i + 1; size <= n; size++) {
            const elements = decodeInclusionProof(
              encodeInclusionProof({ elements: t.log.inclusionProof(i, size) }),
            ).elements;
            verifyLogInclusion(crypto, {
              index: i,
              size,
              leaf: logLeafValue(crypto, entry),
              elements,
              root: t.log.root(size),
            });
          }
        }
        // The log only grows: consistency between every pair of sizes.
        for (let m = 1; m <= n; m++) {
          for (let k = m; k <= n; k++) {
            verifyLogConsistency(crypto, {
              size1: m,
              root1: t.log.root(m),
              fullSubtrees1: t.log.fullSubtrees(m),
              size2: k,
              root2: t.log.root(k),
              elements: t.log.consistencyProof(m, k),
            });
          }
        }
      }),
      { numRuns: 40 },
    );
  });
});
