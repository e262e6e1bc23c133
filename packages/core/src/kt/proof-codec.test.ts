/**
 * Encodings of the proof structures (draft-ietf-keytrans-protocol-04 §11) and of every other KT
 * structure with a decoder: round trips, exact bytes, limits checked before reading, and fast-check
 * properties (random and mutated bytes into every decoder give a value that re-encodes to the same
 * bytes, or a CodecError; nothing else).
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { nodeCryptoProvider as crypto } from '../../node/crypto-provider.ts';
import { CodecError, SealpostError, type ErrorCode } from '../errors.ts';
import { LIMITS } from '../limits.ts';
import { toHex } from '../bytes/encoding.ts';
import { KT_128_SHA256_ED25519 } from './cipher-suite.ts';
import { decodeConfiguration, encodeConfiguration, type Configuration } from './configuration.ts';
import { decodeLogEntry, encodeLogEntry } from './log-tree.ts';
import { PrefixTree } from './prefix-tree.ts';
import { decodeFullTreeHead, encodeFullTreeHead, signAuditorTreeHead, signTreeHead } from './tree-head.ts';
import {
  decodeCombinedTreeProof,
  decodeInclusionProof,
  decodePrefixProof,
  encodeCombinedTreeProof,
  encodeInclusionProof,
  encodePrefixProof,
  type CombinedTreeProof,
} from './proof-codec.ts';

function assertCode(fn: () => unknown, code: ErrorCode): void {
  assert.throws(fn, (e: unknown) => e instanceof SealpostError && e.code === code);
}

const h = (b: number): Uint8Array => new Uint8Array(32).fill(b);
const key = (b: number): Uint8Array => {
  const k = new Uint8Array(32);
  k[0] = b;
  return k;
};
const tree = PrefixTree.empty(crypto).insert(
  [0x10, 0x30, 0x90, 0xc0].map((b) => ({ vrfOutput: key(b), commitment: h(b) })),
);
const prefixProof = tree.prove([key(0x10), key(0x20), key(0x50), key(0xf0)]).proof;
const combined: CombinedTreeProof = {
  timestamps: [1_700_000_000_000, 1_700_000_000_500],
  prefixProofs: [prefixProof, prefixProof],
  prefixRoots: [h(7)],
  inclusion: { elements: [h(1), h(2), h(3)] },
};
const config: Configuration = {
  ciphersuite: KT_128_SHA256_ED25519,
  mode: 'thirdPartyAuditing',
  signaturePublicKey: h(1),
  vrfPublicKey: h(2),
  maxAuditorLag: 1,
  auditorStartPos: 2,
  auditorPublicKey: h(3),
  maxAhead: 4,
  maxBehind: 5,
  reasonableMonitoringWindow: 6,
  maximumLifetime: 7,
};
const fullTreeHead = {
  type: 'updated' as const,
  treeHead: signTreeHead(crypto, h(9), config, 3, h(4)),
  auditorTreeHead: signAuditorTreeHead(crypto, h(8), config, 10, 2, h(5)),
};

describe('InclusionProof (§11.1)', () => {
  test('is a uint16 count of elements, then the 32-byte elements', () => {
    assert.equal(toHex(encodeInclusionProof({ elements: [h(1), h(2)] })), '0002' + toHex(h(1)) + toHex(h(2)));
    assert.deepEqual(decodeInclusionProof(encodeInclusionProof({ elements: [h(1), h(2)] })), {
      elements: [h(1), h(2)],
    });
    assert.equal(toHex(encodeInclusionProof({ elements: [] })), '0000');
  });
  test('refuses a count over the limit before reading any element', () =>
    assertCode(() => decodeInclusionProof(new Uint8Array([0xff, 0xff])), 'CODEC_LENGTH_LIMIT'));
  test('refuses truncation and trailing bytes', () => {
    const bytes = encodeInclusionProof({ elements: [h(1)] });
    assertCode(() => decodeInclusionProof(bytes.subarray(0, 33)), 'CODEC_TRUNCATED');
    assertCode(() => decodeInclusionProof(new Uint8Array([...bytes, 0])), 'CODEC_TRAILING_BYTES');
  });
});

describe('PrefixProof (§11.2)', () => {
  test('round trips, with all three result types', () => {
    const types = new Set(prefixProof.results.map((r) => r.type));
    assert.deepEqual([...types].sort(), ['inclusion', 'nonInclusionLeaf', 'nonInclusionParent']);
    assert.deepEqual(decodePrefixProof(encodePrefixProof(prefixProof)), prefixProof);
  });
  test('encodes results as type, [leaf,] depth', () => {
    const bytes = toHex(
      encodePrefixProof({ results: [{ type: 'nonInclusionParent', depth: 4 }], elements: [] }),
    );
    assert.equal(bytes, '01' + '03' + '04' + '0000');
  });
  test('refuses result types 0 and 4', () => {
    assertCode(() => decodePrefixProof(new Uint8Array([1, 0, 0, 0, 0])), 'CODEC_INVALID_VALUE');
    assertCode(() => decodePrefixProof(new Uint8Array([1, 4, 0, 0, 0])), 'CODEC_INVALID_VALUE');
  });
  test('refuses more elements than LIMITS.ktPrefixProofMaxElements before reading them', () => {
    const n = LIMITS.ktPrefixProofMaxElements + 1;
    assertCode(() => decodePrefixProof(new Uint8Array([0, n >> 8, n & 0xff])), 'CODEC_LENGTH_LIMIT');
  });
});

describe('CombinedTreeProof (§11.3)', () => {
  test('round trips', () =>
    assert.deepEqual(decodeCombinedTreeProof(encodeCombinedTreeProof(combined)), combined));
  test('timestamps are uint64 behind a one-byte count', () =>
    assert.ok(
      toHex(encodeCombinedTreeProof(combined)).startsWith(
        '02' + (1_700_000_000_000).toString(16).padStart(16, '0'),
      ),
    ));
  test('refuses a timestamp beyond 2^53-1 as CODEC_INVALID_VALUE', () =>
    assertCode(
      () => decodeCombinedTreeProof(new Uint8Array([1, 0xff, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0])),
      'CODEC_INVALID_VALUE',
    ));
});

/** Every decoder with a canonical encoder, and valid samples to mutate. */
const DECODERS: readonly {
  name: string;
  decode: (b: Uint8Array) => unknown;
  encode: (v: never) => Uint8Array;
  sample: Uint8Array;
}[] = [
  {
    name: 'InclusionProof',
    decode: decodeInclusionProof,
    encode: encodeInclusionProof,
    sample: encodeInclusionProof(combined.inclusion),
  },
  {
    name: 'PrefixProof',
    decode: decodePrefixProof,
    encode: encodePrefixProof,
    sample: encodePrefixProof(prefixProof),
  },
  {
    name: 'CombinedTreeProof',
    decode: decodeCombinedTreeProof,
    encode: encodeCombinedTreeProof,
    sample: encodeCombinedTreeProof(combined),
  },
  {
    name: 'LogEntry',
    decode: decodeLogEntry,
    encode: encodeLogEntry,
    sample: encodeLogEntry({ timestamp: 9, prefixRoot: h(1) }),
  },
  {
    name: 'Configuration',
    decode: decodeConfiguration,
    encode: encodeConfiguration,
    sample: encodeConfiguration(config),
  },
  {
    name: 'FullTreeHead',
    decode: (b) => decodeFullTreeHead(b, config),
    encode: (v: never) => encodeFullTreeHead(v, config),
    sample: encodeFullTreeHead(fullTreeHead, config),
  },
];

describe('every decoder is total', () => {
  const check = (d: (typeof DECODERS)[number], bytes: Uint8Array): void => {
    let value: unknown;
    try {
      value = d.decode(bytes);
    } catch (e) {
      assert.ok(e instanceof CodecError, `${d.name} threw ${String(e)}`);
      return;
    }
    assert.deepEqual(d.encode(value as never), bytes, `${d.name} re-encodes what it decoded`);
  };
  for (const d of DECODERS) {
    test(`${d.name}: random bytes give a value or a CodecError`, () =>
      fc.assert(
        fc.property(fc.uint8Array({ maxLength: 400 }), (bytes) => check(d, bytes)),
        { numRuns: 300 },
      ));
    test(`${d.name}: mutated, truncated and extended valid encodings give a value or a CodecError`, () =>
      fc.assert(
        fc.property(
          fc.array(fc.tuple(fc.nat(), fc.nat(255)), { maxLength: 4 }),
          fc.nat(),
          fc.uint8Array({ maxLength: 3 }),
          (flips, cut, tail) => {
            const bytes = d.sample.slice();
            for (const [at, v] of flips) bytes[at % bytes.length] = v;
            check(d, bytes);
            check(d, bytes.subarray(0, cut % (bytes.length + 1)));
            check(d, new Uint8Array([...bytes, ...tail]));
          },
        ),
        { numRuns: 300 },
      ));
    test(`${d.name}: the sample round trips and every strict prefix is CODEC_TRUNCATED`, () => {
      check(d, d.sample);
      for (let n = 0; n < d.sample.length; n++) {
        assert.throws(
          () => d.decode(d.sample.subarray(0, n)),
          (e: unknown) => e instanceof CodecError,
          `${d.name} prefix of ${n}`,
        );
      }
    });
  }
});
