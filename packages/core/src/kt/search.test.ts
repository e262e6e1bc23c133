/**
 * Search and owner monitoring (draft-ietf-keytrans-protocol-04 §4-§8, §11.3): the implicit binary
 * search tree and binary ladders against the draft's examples and Appendix code, then scenarios and
 * properties through `Directory` (prover) and `verifySearch` / `verifyOwnerMonitor` (verifier).
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { nodeCryptoProvider as crypto } from '../../node/crypto-provider.ts';
import { concatBytes, toHex } from '../bytes/encoding.ts';
import { CodecError, SealpostError } from '../errors.ts';
import { KT_128_SHA256_ED25519 } from './cipher-suite.ts';
import { SearchLadder, monitorLadder } from './binary-ladder.ts';
import { computeCommitment } from './commitment.ts';
import type { Configuration } from './configuration.ts';
import { Directory } from './directory.ts';
import { bstDirectPath, bstFrontier, bstLeft, bstLevel, bstRight, bstRoot } from './implicit-bst.ts';
import {
  decodeOwnerMonitorProof,
  decodeSearchProof,
  encodeOwnerMonitorProof,
  encodeSearchProof,
} from './response-codec.ts';
import { verifyOwnerMonitor, verifySearch } from './verify-response.ts';
import { encodeVrfInput, proveSearchKey } from './vrf-input.ts';
import { ecvrfPublicKey } from '../vrf/ecvrf.ts';

const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s);
const code = (c: string) => (e: unknown) => e instanceof SealpostError && e.code === c;

// Appendix A, transcribed literally (bit operations) to check the arithmetic versions.
const a = {
  log2: (x: number) => {
    if (x === 0) return 0;
    let k = 0;
    while (x >> k > 0) k++;
    return k - 1;
  },
  level: (x: number) => {
    if ((x & 1) === 0) return 0;
    let k = 0;
    while (((x >> k) & 1) === 1) k++;
    return k;
  },
  root: (n: number) => (1 << a.log2(n)) - 1,
  left: (x: number) => x ^ (1 << (a.level(x) - 1)),
  right: (x: number, n: number) => {
    let r = x ^ (3 << (a.level(x) - 1));
    while (r >= n) r = a.left(r);
    return r;
  },
};

describe('implicit binary search tree (§4.1, Appendix A)', () => {
  test('50 entries: root 31, frontier 31, 47, 49', () => {
    assert.equal(bstRoot(50), 31);
    assert.deepEqual(bstFrontier(50), [31, 47, 49]);
  });
  test('14 entries (Figure 8): root 7, frontier 7, 11, 13; direct path of 12 is 13, 11, 7', () => {
    assert.deepEqual(bstFrontier(14), [7, 11, 13]);
    assert.deepEqual(bstDirectPath(12, 14), [13, 11, 7]);
    assert.deepEqual(bstDirectPath(7, 14), []);
  });
  test('agrees with the Appendix A code for every node of logs up to 300 entries', () => {
    for (let n = 1; n <= 300; n++) {
      assert.equal(bstRoot(n), a.root(n));
      for (let x = 0; x < n; x++) {
        assert.equal(bstLevel(x), a.level(x));
        if (a.level(x) > 0) {
          assert.equal(bstLeft(x), a.left(x));
          if (x + 1 < n) assert.equal(bstRight(x, n), a.right(x, n));
        }
      }
    }
  });
});

describe('binary ladder (§5, §6.2, §8.1, Appendix B)', () => {
  test('greatest version 6 is established by 0, 1, 3, 7, 5, 6 (§5 example)', () => {
    const l = SearchLadder.against(6, 6);
    assert.deepEqual(
      l.lookups.map((x) => x.version),
      [0, 1, 3, 7, 5, 6],
    );
    assert.equal(l.outcome, 'equal');
  });
  test('stops at the first inclusion above the target and the first non-inclusion at or below it', () => {
    assert.equal(SearchLadder.against(2, 6).outcome, 'greater');
    assert.deepEqual(
      SearchLadder.against(2, 6).lookups.map((x) => x.version),
      [0, 1, 3],
    );
    assert.equal(SearchLadder.against(5, 2).outcome, 'less');
    assert.equal(SearchLadder.against(0, -1).outcome, 'less');
  });
  test('outcome matches the comparison for every target and greatest version below 70', () => {
    for (let t = 0; t < 70; t++) {
      for (let n = -1; n < 70; n++) {
        assert.equal(SearchLadder.against(t, n).outcome, n < t ? 'less' : n > t ? 'greater' : 'equal');
      }
    }
  });
  test('monitoring ladder leaves out versions above the target', () => {
    assert.deepEqual(monitorLadder(6), [0, 1, 3, 5, 6]);
    assert.deepEqual(monitorLadder(0), [0]);
  });
});

// --- a small directory

const seed = crypto.sha256(utf8('search test operator')).slice();
const vrfSecret = crypto.sha256(utf8('search test VRF key')).slice();
const vrf = new Map<string, { proof: Uint8Array; searchKey: Uint8Array }>();
/** The real ECVRF (RFC 9381), memoised: tests look the same pairs up many times. */
function proved(label: Uint8Array, version: number): { proof: Uint8Array; searchKey: Uint8Array } {
  const id = `${toHex(label)}/${version}`;
  let out = vrf.get(id);
  if (out === undefined) vrf.set(id, (out = proveSearchKey(vrfSecret, label, version)));
  return out;
}
const config = (rmw: number): Configuration => ({
  ciphersuite: KT_128_SHA256_ED25519,
  mode: 'contactMonitoring',
  signaturePublicKey: crypto.ed25519.publicKey(seed),
  vrfPublicKey: ecvrfPublicKey(vrfSecret),
  leafPublicKey: new Uint8Array(32),
  maxAhead: 10_000,
  maxBehind: 86_400_000,
  reasonableMonitoringWindow: rmw,
});
const searchKey = (label: Uint8Array, version: number): Uint8Array => proved(label, version).searchKey;
const vrfProof = (label: Uint8Array, version: number): Uint8Array => proved(label, version).proof;
const opening = (label: Uint8Array, version: number): Uint8Array =>
  crypto.sha256(concatBytes(utf8('opening'), encodeVrfInput(label, version))).subarray(0, 16);
const T0 = 1_700_000_000_000;

function build(
  epochs: readonly (readonly string[])[],
  rmw = 5_000,
): { dir: Directory; cfg: Configuration; now: number } {
  const cfg = config(rmw);
  const dir = new Directory({ crypto, config: cfg, signingSeed: seed, searchKey, vrfProof });
  const counts = new Map<string, number>();
  epochs.forEach((labels, i) => {
    dir.publish(
      T0 + 1000 * i,
      labels.map((l) => {
        const v = counts.get(l) ?? 0;
        counts.set(l, v + 1);
        return { label: utf8(l), update: { value: utf8(`${l} v${v}`) }, opening: opening(utf8(l), v) };
      }),
    );
  });
  return { dir, cfg, now: T0 + 1000 * epochs.length };
}
const commitmentOf = (label: string, version: number): Uint8Array =>
  computeCommitment(
    crypto,
    {
      opening: opening(utf8(label), version),
      label: utf8(label),
      version,
      update: { value: utf8(`${label} v${version}`) },
    },
    'contactMonitoring',
  );

const EPOCHS = [
  ['alice', 'bob'],
  ['carol'],
  ['alice'],
  [],
  ['bob', 'bob'],
  ['dave'],
  ['alice'],
  ['erin'],
  ['alice'],
];

describe('search (§6, §7, §12.1)', () => {
  const { dir, cfg, now } = build(EPOCHS);
  test('greatest-version search verifies and returns the commitment of the newest version', () => {
    for (const [label, greatest] of [
      ['alice', 3],
      ['bob', 2],
      ['carol', 0],
    ] as const) {
      const response = decodeSearchProof(encodeSearchProof(dir.search(utf8(label))));
      const r = verifySearch(crypto, cfg, { label: utf8(label), now, response });
      assert.equal(r.version, greatest);
      assert.deepEqual(r.commitment, commitmentOf(label, greatest));
      assert.equal(r.view.size, EPOCHS.length);
    }
  });
  test('omits lookups an earlier entry of the response implies (§6.2): an inclusion is proved once', () => {
    // alice has only version 0, from entry 0; the frontier of 13 entries is 7, 11, 12 (RMW: none
    // distinguished). Version 0 is proved included at entry 7 only; version 1 absent at all three.
    const epochs = [['alice'], ...Array.from({ length: 12 }, (_, i) => [`user${i}`])];
    const { dir, cfg, now } = build(epochs, 1e15);
    const response = dir.search(utf8('alice'));
    const lookups = response.proof.prefixProofs.map((p) => p.results.map((r) => r.type === 'inclusion'));
    assert.deepEqual(lookups, [[true, false], [false], [false]]);
    assert.equal(verifySearch(crypto, cfg, { label: utf8('alice'), now, response }).version, 0);
  });

  test('fixed-version search finds every version of every label', () => {
    for (const [label, n] of [
      ['alice', 4],
      ['bob', 3],
      ['dave', 1],
      ['erin', 1],
    ] as const) {
      for (let v = 0; v < n; v++) {
        const response = dir.search(utf8(label), { version: v });
        const r = verifySearch(crypto, cfg, { label: utf8(label), version: v, now, response });
        assert.deepEqual(r.commitment, commitmentOf(label, v));
      }
    }
  });
  test('a version that does not exist is KT_VERSION_NOT_FOUND, after the proof verifies', () => {
    for (const [label, v] of [
      ['alice', 4],
      ['carol', 7],
      ['zoe', 0],
    ] as const) {
      const response = dir.search(utf8(label), { version: v });
      assert.throws(
        () => verifySearch(crypto, cfg, { label: utf8(label), version: v, now, response }),
        code('KT_VERSION_NOT_FOUND'),
      );
    }
    assert.throws(() => dir.search(utf8('zoe')), code('KT_VERSION_NOT_FOUND'));
  });
  test('a view from an earlier head is updated (§4.2) and a smaller head is refused', () => {
    const small = build(EPOCHS.slice(0, 4));
    const first = verifySearch(crypto, cfg, {
      label: utf8('alice'),
      now: small.now,
      response: small.dir.search(utf8('alice')),
    });
    const response = dir.search(utf8('alice'), { last: 4 });
    const r = verifySearch(crypto, cfg, { label: utf8('alice'), view: first.view, now, response });
    assert.equal(r.view.size, EPOCHS.length);
    const again = verifySearch(crypto, cfg, {
      label: utf8('alice'),
      view: r.view,
      now,
      response: dir.search(utf8('alice'), { last: EPOCHS.length }),
    });
    assert.equal(again.version, 3);
    assert.equal(again.view.size, EPOCHS.length);
    assert.throws(
      () =>
        verifySearch(crypto, cfg, {
          label: utf8('alice'),
          view: r.view,
          now,
          response: small.dir.search(utf8('alice')),
        }),
      code('KT_TREE_SIZE_INVALID'),
    );
  });
  test('a head outside max_behind or max_ahead is KT_TIMESTAMP_INVALID', () => {
    const response = dir.search(utf8('alice'));
    assert.throws(
      () => verifySearch(crypto, cfg, { label: utf8('alice'), now: now + 100_000_000, response }),
      code('KT_TIMESTAMP_INVALID'),
    );
    assert.throws(
      () => verifySearch(crypto, cfg, { label: utf8('alice'), now: T0 - 100_000, response }),
      code('KT_TIMESTAMP_INVALID'),
    );
  });
  test('a claimed greatest version other than the real one is KT_VERSION_MISMATCH', () => {
    const response = dir.search(utf8('alice'));
    for (const version of [2, 4]) {
      assert.throws(
        () => verifySearch(crypto, cfg, { label: utf8('alice'), now, response: { ...response, version } }),
        (e: unknown) =>
          e instanceof SealpostError && ['KT_VERSION_MISMATCH', 'KT_PROOF_MALFORMED'].includes(e.code),
      );
    }
  });
});

/** The owner's state: where each of its versions was added. */
function ownerOf(label: string, epochs: readonly (readonly string[])[]): number[] {
  const positions: number[] = [];
  epochs.forEach((ls, i) => ls.forEach((l) => l === label && positions.push(i)));
  return positions;
}
const own = (label: string) => (v: number) => ({
  vrfOutput: searchKey(utf8(label), v),
  commitment: commitmentOf(label, v),
});

describe('owner monitoring (§8.3)', () => {
  for (const rmw of [0, 1_500, 5_000, 1e15]) {
    test(`an honest log passes, RMW ${rmw} ms`, () => {
      const { dir, cfg, now } = build(EPOCHS, rmw);
      const positions = ownerOf('alice', EPOCHS);
      const response = decodeOwnerMonitorProof(
        encodeOwnerMonitorProof(dir.monitorOwner(utf8('alice'), { greatest: positions.length - 1 })),
      );
      const r = verifyOwnerMonitor(crypto, cfg, {
        label: utf8('alice'),
        positions,
        own: own('alice'),
        now,
        response,
      });
      if (rmw === 0) assert.equal(r.checked.length, EPOCHS.length);
      if (rmw === 1e15) assert.equal(r.checked.length, 0);
    });
  }
  test('detects a version of its label it did not make (KT_VERSION_MISMATCH)', () => {
    const epochs = [...EPOCHS, ['alice'], ['frank']]; // the log adds alice v4 on its own
    const { dir, cfg, now } = build(epochs, 0);
    const positions = ownerOf('alice', EPOCHS); // the owner made v0..v3
    const response = dir.monitorOwner(utf8('alice'), { greatest: positions.length - 1 });
    assert.throws(
      () =>
        verifyOwnerMonitor(crypto, cfg, {
          label: utf8('alice'),
          positions,
          own: own('alice'),
          now,
          response,
        }),
      code('KT_VERSION_MISMATCH'),
    );
  });
  test('resumes from the rightmost verified entry', () => {
    const { dir, cfg, now } = build(EPOCHS, 0);
    const positions = ownerOf('alice', EPOCHS);
    const response = dir.monitorOwner(utf8('alice'), { greatest: 3, rightmost: 5 });
    const r = verifyOwnerMonitor(crypto, cfg, {
      label: utf8('alice'),
      positions,
      own: own('alice'),
      rightmost: 5,
      now,
      response,
    });
    assert.ok(r.checked.every((x) => x > 5));
  });
});

describe('properties', () => {
  test('random insert sequences: every search and monitor proof verifies against its tree head', () => {
    const labels = ['a', 'b', 'c'];
    fc.assert(
      fc.property(
        fc.array(fc.array(fc.constantFrom(...labels), { maxLength: 3 }), { minLength: 1, maxLength: 10 }),
        fc.constantFrom(0, 1_000, 3_000),
        fc.nat(),
        (epochs, rmw, lastSeed) => {
          const { dir, cfg, now } = build(epochs, rmw);
          // A view from an earlier head of the same log (the build is deterministic).
          const last = 1 + (lastSeed % epochs.length);
          const earlier = build(epochs.slice(0, last), rmw);
          const anyLabel = labels.find((l) => earlier.dir.greatestVersion(utf8(l)) >= 0);
          const view =
            anyLabel === undefined
              ? undefined
              : verifySearch(crypto, cfg, {
                  label: utf8(anyLabel),
                  now: earlier.now,
                  response: earlier.dir.search(utf8(anyLabel)),
                }).view;
          const lastSize = view?.size;
          for (const l of labels) {
            const label = utf8(l);
            const greatest = dir.greatestVersion(label);
            for (let v = 0; v <= greatest + 1; v++) {
              const response = dir.search(label, { version: v, last: lastSize });
              const run = () => verifySearch(crypto, cfg, { label, version: v, view, now, response });
              if (v > greatest) assert.throws(run, code('KT_VERSION_NOT_FOUND'));
              else assert.deepEqual(run().commitment, commitmentOf(l, v));
            }
            if (greatest < 0) continue;
            const r = verifySearch(crypto, cfg, {
              label,
              view,
              now,
              response: dir.search(label, { last: lastSize }),
            });
            assert.equal(r.version, greatest);
            const positions = ownerOf(l, epochs);
            verifyOwnerMonitor(crypto, cfg, {
              label,
              positions,
              own: own(l),
              view,
              now,
              response: dir.monitorOwner(label, { greatest, last: lastSize }),
            });
          }
        },
      ),
      { numRuns: 40 },
    );
  });
  test('random bytes into the new decoders give a value that re-encodes, or a CodecError', () => {
    const pairs = [
      [decodeSearchProof, encodeSearchProof],
      [decodeOwnerMonitorProof, encodeOwnerMonitorProof],
    ] as const;
    const { dir } = build(EPOCHS);
    const seeds = [
      encodeSearchProof(dir.search(utf8('alice'))),
      encodeOwnerMonitorProof(dir.monitorOwner(utf8('alice'), { greatest: 3 })),
    ];
    fc.assert(
      fc.property(
        fc.oneof(
          fc.uint8Array({ maxLength: 300 }),
          fc.tuple(fc.constantFrom(...seeds), fc.nat(), fc.nat(255)).map(([b, i, x]) => {
            const out = b.slice();
            out[i % out.length]! ^= x;
            return out;
          }),
        ),
        (bytes) => {
          for (const [decode, encode] of pairs) {
            try {
              // eslint-disable-next-line @typescript-eslint/no-explicit-any -- both pairs round-trip their own type
              const value = decode(bytes) as any;
              assert.deepEqual(encode(value), bytes);
            } catch (e) {
              if (!(e instanceof CodecError)) throw e;
            }
          }
        },
      ),
      { numRuns: 2000 },
    );
  });
});
