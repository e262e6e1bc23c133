/**
 * Runs the key-transparency vectors (packages/core/test/vectors/kt, draft-ietf-keytrans-protocol-04)
 * with both crypto providers: the positive ones must be reproduced and verify, every negative case
 * must be rejected with exactly the typed error it names.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { nodeCryptoProvider } from '../../node/crypto-provider.ts';
import { nobleCryptoProvider } from '../crypto/noble-provider.ts';
import type { CryptoProvider } from '../crypto/provider.ts';
import { SealpostError } from '../errors.ts';
import { fromHex, toHex } from '../bytes/encoding.ts';
import { KT_DRAFT } from './cipher-suite.ts';
import { CombinedTree } from './combined-tree.ts';
import { computeCommitment, encodeCommitmentValue } from './commitment.ts';
import { decodeConfiguration, type DeploymentMode } from './configuration.ts';
import { LogTree, encodeLogEntry, logLeafValue } from './log-tree.ts';
import { verifyLogConsistency, verifyLogInclusion } from './log-verify.ts';
import { verifyPrefixProof } from './prefix-proof.ts';
import {
  decodeInclusionProof,
  decodePrefixProof,
  encodeInclusionProof,
  encodePrefixProof,
} from './proof-codec.ts';
import {
  decodeFullTreeHead,
  encodeFullTreeHead,
  encodeTreeHeadTBS,
  signAuditorTreeHead,
  signTreeHead,
  verifyAuditorTreeHead,
  verifyTreeHead,
} from './tree-head.ts';
import { encodeVrfInput, searchKeyFromProof } from './vrf-input.ts';
import type { KtView } from './combined-proof.ts';
import { decodeOwnerMonitorProof, decodeSearchProof } from './response-codec.ts';
import { verifyOwnerMonitor, verifySearch } from './verify-response.ts';

const DIR = new URL('../../test/vectors/kt/', import.meta.url);
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- vectors are JSON data, checked by use
const load = (name: string): any => JSON.parse(readFileSync(new URL(name, DIR), 'utf8'));
const hex = (s: string): Uint8Array => fromHex(s, s.length);
const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s);
const PROVIDERS: readonly CryptoProvider[] = [nodeCryptoProvider, nobleCryptoProvider];

const combined = load('combined-tree.json');
const logVectors = load('log-tree.json');
const prefixVectors = load('prefix-tree.json');
const commitments = load('commitment.json');
const heads = load('tree-head.json');

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- JSON input
function viewOf(v: any): KtView | undefined {
  if (v === null) return undefined;
  return {
    size: v.size,
    fullSubtrees: v.fullSubtrees.map(hex),
    frontier: new Map(
      v.frontier.map((e: { index: number; timestamp: number; prefixRoot: string }) => [
        e.index,
        { timestamp: e.timestamp, prefixRoot: hex(e.prefixRoot) },
      ]),
    ),
  };
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- JSON input
function searchArgs(input: any): Parameters<typeof verifySearch>[2] {
  return {
    label: utf8(input.label),
    version: input.version ?? undefined,
    view: viewOf(input.view),
    now: input.now,
    response: decodeSearchProof(hex(input.response)),
  };
}

/** Verifies one vector input as its `kind` says; throws whatever the verifier throws. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- JSON input
function runVector(crypto: CryptoProvider, input: any): void {
  switch (input.kind) {
    case 'log-inclusion':
      verifyLogInclusion(crypto, {
        index: input.index,
        size: input.size,
        leaf: hex(input.leaf),
        elements: decodeInclusionProof(hex(input.proof)).elements,
        root: hex(input.root),
      });
      return;
    case 'log-consistency':
      verifyLogConsistency(crypto, {
        size1: input.size1,
        root1: hex(input.root1),
        fullSubtrees1: input.fullSubtrees1.map(hex),
        size2: input.size2,
        root2: hex(input.root2),
        elements: decodeInclusionProof(hex(input.proof)).elements,
      });
      return;
    case 'prefix-proof': {
      const searches = input.searches.map((s: { vrfOutput: string; commitment: string | null }) => ({
        vrfOutput: hex(s.vrfOutput),
        commitment: s.commitment === null ? undefined : hex(s.commitment),
      }));
      verifyPrefixProof(crypto, searches, decodePrefixProof(hex(input.proof)), hex(input.root));
      return;
    }
    case 'tree-head':
      verifyTreeHead(
        crypto,
        decodeConfiguration(hex(input.configuration)),
        { treeSize: input.treeSize, signature: hex(input.signature) },
        hex(input.root),
      );
      return;
    case 'search':
      verifySearch(crypto, decodeConfiguration(hex(input.configuration)), searchArgs(input));
      return;
    case 'owner-monitor': {
      const own = input.own.map((o: { vrfOutput: string; commitment: string }) => ({
        vrfOutput: hex(o.vrfOutput),
        commitment: hex(o.commitment),
      }));
      verifyOwnerMonitor(crypto, decodeConfiguration(hex(input.configuration)), {
        label: utf8(input.label),
        positions: input.positions,
        own: (v: number) => own[v],
        rightmost: input.rightmost ?? undefined,
        view: viewOf(input.view),
        now: input.now,
        response: decodeOwnerMonitorProof(hex(input.response)),
      });
      return;
    }
    case 'vrf-search-key':
      searchKeyFromProof(hex(input.vrfPublicKey), utf8(input.label), input.version, hex(input.proof));
      return;
    default:
      throw new Error(`unknown vector kind ${String(input.kind)}`);
  }
}

test(`every vector file names the pinned draft (${KT_DRAFT})`, () => {
  for (const name of readdirSync(DIR).filter((f) => f.endsWith('.json')))
    assert.equal(load(name).draft, KT_DRAFT, name);
});

for (const crypto of PROVIDERS) {
  describe(`positive vectors with the ${crypto.name} provider`, () => {
    test('combined-tree.json: commitments, prefix roots, log entries, leaves and roots are reproduced', () => {
      const tree = new CombinedTree(crypto);
      const byKey = new Map<string, { vrfOutput: Uint8Array; commitment: Uint8Array }>();
      for (const v of combined.versions) {
        assert.equal(toHex(encodeVrfInput(utf8(v.label), v.version)), v.vrfInput);
        const input = {
          opening: hex(v.opening),
          label: utf8(v.label),
          version: v.version,
          update: { value: utf8(v.value) },
        };
        assert.equal(toHex(computeCommitment(crypto, input, 'thirdPartyAuditing')), v.commitment);
        byKey.set(v.vrfOutput, { vrfOutput: hex(v.vrfOutput), commitment: hex(v.commitment) });
      }
      for (const e of combined.epochs) {
        tree.append(e.timestamp, { add: e.added.map((k: string) => byKey.get(k)!) });
        const entry = tree.entry(e.index);
        assert.equal(toHex(entry.prefixRoot), e.prefixRoot);
        assert.equal(toHex(encodeLogEntry(entry)), e.logEntry);
        assert.equal(toHex(logLeafValue(crypto, entry)), e.logLeaf);
        assert.equal(toHex(tree.log.root()), e.logRoot);
      }
    });

    test('commitment.json: CommitmentValue bytes and HMAC', () => {
      for (const c of commitments.cases) {
        const input = {
          opening: hex(c.opening),
          label: hex(c.label),
          version: c.version,
          update: { value: hex(c.value), signature: c.signature === null ? undefined : hex(c.signature) },
        };
        assert.equal(
          toHex(encodeCommitmentValue(input, c.mode as DeploymentMode)),
          c.commitmentValue,
          c.name,
        );
        assert.equal(toHex(computeCommitment(crypto, input, c.mode as DeploymentMode)), c.commitment, c.name);
      }
    });

    test('log-tree.json: every inclusion and consistency proof is reproduced and verifies', () => {
      const log = new LogTree(crypto);
      for (const e of combined.epochs) log.appendLeafValue(hex(e.logLeaf));
      const root = (size: number) => hex(combined.epochs[size - 1].logRoot);
      for (const v of logVectors.inclusion) {
        assert.equal(toHex(encodeInclusionProof({ elements: log.inclusionProof(v.index, v.size) })), v.proof);
        const elements = decodeInclusionProof(hex(v.proof)).elements;
        const leaf = hex(combined.epochs[v.index].logLeaf);
        verifyLogInclusion(crypto, { index: v.index, size: v.size, leaf, elements, root: root(v.size) });
      }
      for (const v of logVectors.consistency) {
        assert.equal(
          toHex(encodeInclusionProof({ elements: log.consistencyProof(v.size1, v.size2) })),
          v.proof,
        );
        assert.deepEqual(log.fullSubtrees(v.size1).map(toHex), v.fullSubtrees1);
        verifyLogConsistency(crypto, {
          size1: v.size1,
          root1: root(v.size1),
          fullSubtrees1: v.fullSubtrees1.map(hex),
          size2: v.size2,
          root2: root(v.size2),
          elements: decodeInclusionProof(hex(v.proof)).elements,
        });
      }
    });

    test('prefix-tree.json: every batch search proof is reproduced and verifies', () => {
      const tree = new CombinedTree(crypto);
      const byKey = new Map<string, { vrfOutput: Uint8Array; commitment: Uint8Array }>();
      for (const v of combined.versions)
        byKey.set(v.vrfOutput, { vrfOutput: hex(v.vrfOutput), commitment: hex(v.commitment) });
      for (const e of combined.epochs)
        tree.append(e.timestamp, { add: e.added.map((k: string) => byKey.get(k)!) });
      for (const c of prefixVectors.cases) {
        const keys = c.searches.map((s: { vrfOutput: string }) => hex(s.vrfOutput));
        const { proof } = tree.searchProof(c.epoch, keys);
        assert.equal(toHex(encodePrefixProof(proof)), c.proof);
        assert.deepEqual(
          proof.results.map((r) => `${r.type}@${r.depth}`),
          c.results,
        );
        runVector(crypto, { kind: 'prefix-proof', ...c });
      }
    });

    test('tree-head.json: TBS bytes, operator and auditor signatures, FullTreeHead', () => {
      const config = decodeConfiguration(hex(heads.configuration));
      assert.equal(toHex(encodeTreeHeadTBS(config, heads.treeSize, hex(heads.root))), heads.treeHeadTBS);
      const treeHead = signTreeHead(crypto, hex(heads.operatorSeed), config, heads.treeSize, hex(heads.root));
      assert.equal(toHex(treeHead.signature), heads.signature);
      verifyTreeHead(crypto, config, treeHead, hex(heads.root));
      const auditorTreeHead = signAuditorTreeHead(
        crypto,
        hex(heads.auditorSeed),
        config,
        heads.auditorTimestamp,
        heads.auditorTreeSize,
        hex(heads.auditorRoot),
      );
      assert.equal(toHex(auditorTreeHead.signature), heads.auditorSignature);
      verifyAuditorTreeHead(crypto, config, auditorTreeHead, heads.treeSize, hex(heads.auditorRoot));
      const full = decodeFullTreeHead(hex(heads.fullTreeHead), config);
      assert.deepEqual(full, { type: 'updated', treeHead, auditorTreeHead });
      assert.equal(toHex(encodeFullTreeHead(full, config)), heads.fullTreeHead);
    });
  });
}

for (const crypto of PROVIDERS) {
  describe(`search vectors with the ${crypto.name} provider`, () => {
    for (const c of load('search.json').cases) {
      test(`search.json: ${c.name} proves version ${c.want.version}`, () => {
        const r = verifySearch(crypto, decodeConfiguration(hex(c.input.configuration)), searchArgs(c.input));
        assert.equal(r.version, c.want.version);
        assert.equal(toHex(r.commitment), c.want.commitment);
      });
    }
    for (const c of load('owner-monitor.json').cases) {
      test(`owner-monitor.json: ${c.name} verifies`, () => runVector(crypto, c.input));
    }
  });
}

const NEGATIVE = new URL('negative/', DIR);
const negativeFiles = readdirSync(NEGATIVE)
  .filter((f) => f.endsWith('.json'))
  .sort();

describe('negative vectors', () => {
  test('cover every proof type with the required defects', () => {
    const required = [
      ...['log-inclusion', 'log-consistency', 'prefix-proof'].flatMap((k) =>
        ['modified-element@1-bit', 'truncated', 'trailing-garbage', 'reordered-elements', 'empty-proof'].map(
          (d) => `${k}-${d}`,
        ),
      ),
      'log-inclusion-wrong-size',
      'log-consistency-wrong-size',
      'log-consistency-size1-greater-than-size2',
      'prefix-proof-modified-result@1-bit',
      ...['search', 'owner-monitor'].flatMap((k) =>
        [
          'modified-timestamp@1-bit',
          'modified-prefix-element@1-bit',
          'truncated',
          'trailing-garbage',
          'count-mismatch',
          'wrong-tree-size',
        ].map((d) => `${k}-${d}`),
      ),
      'search-reordered-timestamps',
      'owner-monitor-unexpected-version',
    ];
    for (const name of required) assert.ok(negativeFiles.includes(`${name}.json`), name);
  });
  for (const file of negativeFiles) {
    const v = JSON.parse(readFileSync(new URL(file, NEGATIVE), 'utf8'));
    for (const c of v.cases) {
      for (const crypto of PROVIDERS) {
        test(`${file}: ${c.name} is rejected with ${c.wantErr} (${crypto.name})`, () => {
          assert.equal(c.wantErr, v.wantErr);
          assert.throws(
            () => runVector(crypto, c.input),
            (e: unknown) => {
              assert.ok(e instanceof SealpostError, `untyped error: ${String(e)}`);
              assert.equal(e.code, c.wantErr, e.message);
              return true;
            },
          );
        });
      }
    }
  }
});
