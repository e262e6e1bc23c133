/**
 * Negative search and owner-monitoring vectors (draft-ietf-keytrans-protocol-04 §6-§8, §11.3, §12):
 * the example's six labels published through `Directory` in contact-monitoring mode, then one edit per
 * file of a valid `SearchProof` or `OwnerMonitorProof`, each case with the error it must raise.
 * Also writes the positive `search.json`. Written by generate.ts.
 *
 * Unlike the tree vectors, these use the real ECVRF (a fixed VRF key below): every lookup carries its
 * VRF proof, which the verifier checks under the Configuration's `vrf_public_key` (§12.1 step 2).
 */

import { encodeConfiguration, type Configuration } from '../../../src/kt/configuration.ts';
import { KT_DRAFT } from '../../../src/kt/cipher-suite.ts';
import type { KtView } from '../../../src/kt/combined-proof.ts';
import { Directory } from '../../../src/kt/directory.ts';
import type { CombinedTreeProof } from '../../../src/kt/proof-codec.ts';
import {
  encodeOwnerMonitorProof,
  encodeSearchProof,
  type OwnerMonitorProof,
  type SearchProof,
} from '../../../src/kt/response-codec.ts';
import { verifySearch } from '../../../src/kt/verify-response.ts';
import { proveSearchKey } from '../../../src/kt/vrf-input.ts';
import { ecvrfPublicKey } from '../../../src/vrf/ecvrf.ts';
import {
  config as auditing,
  crypto,
  epochs,
  flip,
  hex,
  negative,
  operatorSeed,
  SOURCE,
  T0,
  utf8,
  write,
} from './example.ts';

/** The directory's VRF key (RFC 9381 SK), fixed so the vectors are reproducible. */
const vrfSecret = crypto.sha256(utf8('sealpost kt vector VRF key')).slice();
const vrf = new Map<string, { proof: Uint8Array; searchKey: Uint8Array }>();
function proved(label: Uint8Array, version: number): { proof: Uint8Array; searchKey: Uint8Array } {
  const id = `${hex(label)}/${version}`;
  let out = vrf.get(id);
  if (out === undefined) vrf.set(id, (out = proveSearchKey(vrfSecret, label, version)));
  return out;
}

const config: Configuration = {
  ciphersuite: auditing.ciphersuite,
  mode: 'contactMonitoring',
  signaturePublicKey: auditing.signaturePublicKey,
  vrfPublicKey: ecvrfPublicKey(vrfSecret),
  leafPublicKey: new Uint8Array(32),
  maxAhead: 10_000,
  maxBehind: 86_400_000,
  reasonableMonitoringWindow: 3_000,
};

/** Owner monitoring runs with an RMW of zero: every entry is distinguished, so every one is checked. */
const ownerConfig: Configuration = { ...config, reasonableMonitoringWindow: 0 };

function directory(upTo: number, cfg: Configuration = config): Directory {
  const dir = new Directory({
    crypto,
    config: cfg,
    signingSeed: operatorSeed,
    searchKey: (label, version) => proved(label, version).searchKey,
    vrfProof: (label, version) => proved(label, version).proof,
  });
  for (const e of epochs.slice(0, upTo)) {
    dir.publish(
      e.timestamp,
      e.added.map((v) => ({ label: utf8(v.label), update: { value: utf8(v.value) }, opening: v.opening })),
    );
  }
  return dir;
}

const encView = (v: KtView) => ({
  size: v.size,
  fullSubtrees: v.fullSubtrees.map(hex),
  frontier: [...v.frontier].map(([index, e]) => ({
    index,
    timestamp: e.timestamp,
    prefixRoot: hex(e.prefixRoot),
  })),
});

/** A proof whose scalar s is the group order q (RFC 9381 §5.4.4: s >= q is INVALID). */
function withS(proof: Uint8Array): Uint8Array {
  const q = 2n ** 252n + 27742317777372353535851937790883648493n;
  const out = proof.slice();
  for (let i = 0; i < 32; i++) out[48 + i] = Number((q >> BigInt(8 * i)) & 0xffn);
  return out;
}

/** Bit 0 of a uint64 timestamp flipped (numbers above 2^32: no `^`). */
const flipLow = (t: number): number => (t % 2 === 0 ? t + 1 : t - 1);

export function writeNegativeSearchVectors(): void {
  const full = directory(epochs.length);
  const now = epochs.at(-1)!.timestamp + 1_000;
  const configuration = hex(encodeConfiguration(config));
  const earlier = directory(6);
  const view = verifySearch(crypto, config, {
    label: utf8('alice'),
    now: epochs[5]!.timestamp,
    response: earlier.search(utf8('alice')),
  }).view;

  const label = 'alice';
  const greatest = full.greatestVersion(utf8(label));
  const base = { kind: 'search', configuration, label, now, view: null, version: null };
  const withView = { ...base, view: encView(view) };
  const g = full.search(utf8(label));
  const gv = full.search(utf8(label), { last: view.size });
  const fixed = full.search(utf8(label), { version: 1 });
  const enc = (p: SearchProof) => hex(encodeSearchProof(p));
  const withProof = (p: SearchProof, proof: Partial<CombinedTreeProof>): SearchProof => ({
    ...p,
    proof: { ...p.proof, ...proof },
  });

  write('search.json', {
    description: 'Search responses that verify, with the version and commitment they prove (§6, §7, §12.1).',
    draft: KT_DRAFT,
    source: SOURCE,
    cases: [
      { name: 'greatest version, no view', input: { ...base, response: enc(g) }, want: greatest },
      {
        name: `greatest version, view of size ${view.size}`,
        input: { ...withView, response: enc(gv) },
        want: greatest,
      },
      { name: 'version 1', input: { ...base, version: 1, response: enc(fixed) }, want: 1 },
    ].map((c) => ({
      ...c,
      want: {
        version: c.want,
        commitment: hex(
          full.search(utf8(label), { version: c.want }).lookups.find((l) => l.version === c.want)!
            .commitment!,
        ),
      },
    })),
  });

  const sig = 'CRYPTO_VERIFICATION_FAILED';
  negative(
    'search-modified-timestamp@1-bit',
    'One bit of one timestamp flipped: the log leaf, so the signed root, changes.',
    sig,
    g.proof.timestamps.map((t, i) => ({
      name: `timestamp ${i} bit 0`,
      input: {
        ...base,
        response: enc(
          withProof(g, { timestamps: g.proof.timestamps.map((x, j) => (j === i ? flipLow(x) : x)) }),
        ),
      },
    })),
  );
  negative(
    'search-modified-prefix-element@1-bit',
    'One bit of one prefix-proof element flipped: the prefix root, so the log leaf, changes.',
    sig,
    g.proof.prefixProofs.flatMap((pp, i) =>
      pp.elements.map((_, k) => ({
        name: `prefix proof ${i} element ${k}`,
        input: {
          ...base,
          response: enc(
            withProof(g, {
              prefixProofs: g.proof.prefixProofs.map((q, j) =>
                j !== i ? q : { ...q, elements: q.elements.map((e, m) => (m === k ? flip(e, 7, 2) : e)) },
              ),
            }),
          ),
        },
      })),
    ),
  );
  const withReuse = (i: number, reuse: Uint8Array | undefined): SearchProof =>
    withProof(g, { prefixProofs: g.proof.prefixProofs.map((q, j) => (j !== i ? q : { ...q, reuse })) });
  negative(
    'search-modified-reuse-bitmap',
    'The bitmap of copath values repeated from earlier prefix proofs (a Sealpost deviation) with one bit flipped, a padding bit set, a byte added or removed: the elements no longer match the nodes to fill.',
    'KT_PROOF_MALFORMED',
    g.proof.prefixProofs.flatMap((pp, i) => {
      const bits = pp.reuse ?? new Uint8Array(0);
      const cases = [
        { name: `prefix proof ${i}: a byte added`, p: withReuse(i, new Uint8Array([...bits, 0])) },
      ];
      if (bits.length > 0) {
        cases.push(
          { name: `prefix proof ${i}: bit 0 flipped`, p: withReuse(i, flip(bits, 0, 7)) },
          { name: `prefix proof ${i}: last byte removed`, p: withReuse(i, bits.subarray(0, -1)) },
          {
            name: `prefix proof ${i}: last bit of the last byte flipped`,
            p: withReuse(i, flip(bits, bits.length - 1, 0)),
          },
        );
      }
      return cases.map((c) => ({ name: c.name, input: { ...base, response: enc(c.p) } }));
    }),
  );
  negative(
    'search-modified-prefix-root@1-bit',
    'One bit of one prefix root flipped.',
    sig,
    g.proof.prefixRoots.map((_, i) => ({
      name: `prefix root ${i}`,
      input: {
        ...base,
        response: enc(
          withProof(g, { prefixRoots: g.proof.prefixRoots.map((r, j) => (j === i ? flip(r, 0, 0) : r)) }),
        ),
      },
    })),
  );
  negative(
    'search-modified-inclusion@1-bit',
    'One bit of one log inclusion element flipped.',
    sig,
    g.proof.inclusion.elements.map((_, i) => ({
      name: `inclusion element ${i}`,
      input: {
        ...base,
        response: enc(
          withProof(g, {
            inclusion: { elements: g.proof.inclusion.elements.map((e, j) => (j === i ? flip(e, 31, 7) : e)) },
          }),
        ),
      },
    })),
  );
  negative(
    'search-modified-commitment@1-bit',
    'One bit of the commitment of one included version flipped.',
    sig,
    g.lookups
      .filter((l) => l.commitment !== undefined)
      .map((l) => ({
        name: `commitment of version ${l.version}`,
        input: {
          ...base,
          response: enc({
            ...g,
            lookups: g.lookups.map((m) => (m === l ? { ...m, commitment: flip(m.commitment!, 3, 1) } : m)),
          }),
        },
      })),
  );
  negative(
    'search-modified-vrf-proof@1-bit',
    'One bit of the VRF proof of one looked-up version flipped (in Gamma, c or s): the proof does not verify under the VRF public key, for absent versions too.',
    sig,
    g.lookups.flatMap((l) =>
      [0, 40, 79].map((b) => ({
        name: `proof of version ${l.version}, byte ${b}`,
        input: {
          ...base,
          response: enc({
            ...g,
            lookups: g.lookups.map((m) => (m === l ? { ...m, vrfProof: flip(m.vrfProof, b, 2) } : m)),
          }),
        },
      })),
    ),
  );
  negative(
    'search-vrf-proof-of-another-version',
    'Two lookups swap their VRF proofs: each is a valid proof, of the other version.',
    sig,
    [
      {
        name: `versions ${g.lookups[0]!.version} and ${g.lookups.at(-1)!.version}`,
        input: {
          ...base,
          response: enc({
            ...g,
            lookups: g.lookups.map((m, i, all) =>
              i === 0
                ? { ...m, vrfProof: all.at(-1)!.vrfProof }
                : i === all.length - 1
                  ? { ...m, vrfProof: all[0]!.vrfProof }
                  : m,
            ),
          }),
        },
      },
    ],
  );
  negative(
    'search-vrf-proof-extra-lookup',
    'A lookup (with a valid VRF proof) of a version no ladder asks for.',
    'KT_PROOF_MALFORMED',
    [
      {
        name: 'version 200',
        input: {
          ...base,
          response: enc({
            ...g,
            lookups: [...g.lookups, { version: 200, vrfProof: proved(utf8(label), 200).proof }],
          }),
        },
      },
    ],
  );
  const oneProof = g.lookups[0]!;
  const vrfBase = {
    kind: 'vrf-search-key',
    vrfPublicKey: hex(config.vrfPublicKey),
    label,
    version: oneProof.version,
  };
  negative(
    'vrf-proof-malformed',
    'A VRF proof that is truncated, has trailing bytes, is empty or has one bit flipped is refused (RFC 9381 §5.3) before its search key is used.',
    sig,
    [
      { name: 'truncated to 79 bytes', proof: oneProof.vrfProof.subarray(0, 79) },
      { name: 'one trailing byte', proof: new Uint8Array([...oneProof.vrfProof, 0]) },
      { name: 'empty', proof: new Uint8Array(0) },
      { name: 'bit 0 of c flipped', proof: flip(oneProof.vrfProof, 32, 0) },
      { name: 's replaced by q (not reduced)', proof: withS(oneProof.vrfProof) },
    ].map((c) => ({ name: c.name, input: { ...vrfBase, proof: hex(c.proof) } })),
  );
  negative(
    'search-modified-signature@1-bit',
    'One bit of the tree head signature flipped.',
    sig,
    [0, 63].map((b) => ({
      name: `signature byte ${b}`,
      input: {
        ...base,
        response: enc({ ...g, treeHead: { ...g.treeHead, signature: flip(g.treeHead.signature, b, 0) } }),
      },
    })),
  );
  negative(
    'search-modified-retained@1-bit',
    'One bit of one retained full subtree flipped: no proved leaf lies under it, so the root the proof computes, and the signature over it, fail.',
    sig,
    view.fullSubtrees.map((_, i) => ({
      name: `retained subtree ${i}`,
      input: {
        ...withView,
        view: {
          ...encView(view),
          fullSubtrees: view.fullSubtrees.map((f, j) => hex(j === i ? flip(f, 0, 0) : f)),
        },
        response: enc(gv),
      },
    })),
  );
  const bytes = encodeSearchProof(g);
  negative(
    'search-truncated',
    'Encoded response cut short.',
    'CODEC_TRUNCATED',
    [0, 1, 50, bytes.length - 1].map((n) => ({
      name: `first ${n} bytes`,
      input: { ...base, response: hex(bytes.subarray(0, n)) },
    })),
  );
  negative(
    'search-trailing-garbage',
    'Encoded response followed by extra bytes.',
    'CODEC_TRAILING_BYTES',
    [1, 32].map((n) => ({
      name: `${n} extra bytes`,
      input: { ...base, response: hex(new Uint8Array([...bytes, ...new Uint8Array(n)])) },
    })),
  );
  const swap = <T>(xs: readonly T[], i: number, j: number): T[] =>
    xs.map((x, k) => (k === i ? xs[j]! : k === j ? xs[i]! : x));
  negative(
    'search-reordered-timestamps',
    'Two timestamps of a fixed-version search swapped (its path does not depend on them): they decrease from left to right.',
    'KT_TIMESTAMP_INVALID',
    [
      [0, 1],
      [0, fixed.proof.timestamps.length - 1],
    ].map(([i, j]) => ({
      name: `timestamps ${i} and ${j}`,
      input: {
        ...base,
        version: 1,
        response: enc(withProof(fixed, { timestamps: swap(fixed.proof.timestamps, i!, j!) })),
      },
    })),
  );
  negative(
    'search-count-mismatch',
    'A timestamp, prefix proof or prefix root missing or added (§11.3: "exactly the expected number").',
    'KT_PROOF_MALFORMED',
    [
      {
        name: 'timestamp missing',
        input: { ...base, response: enc(withProof(g, { timestamps: g.proof.timestamps.slice(0, -1) })) },
      },
      {
        name: 'timestamp added',
        input: { ...base, response: enc(withProof(g, { timestamps: [...g.proof.timestamps, now] })) },
      },
      {
        name: 'prefix proof missing',
        input: { ...base, response: enc(withProof(g, { prefixProofs: g.proof.prefixProofs.slice(0, -1) })) },
      },
      {
        name: 'prefix proof added',
        input: {
          ...base,
          response: enc(withProof(g, { prefixProofs: [...g.proof.prefixProofs, g.proof.prefixProofs[0]!] })),
        },
      },
      {
        name: 'prefix root missing',
        input: { ...base, response: enc(withProof(g, { prefixRoots: g.proof.prefixRoots.slice(0, -1) })) },
      },
      {
        name: 'prefix root added',
        input: {
          ...base,
          response: enc(withProof(g, { prefixRoots: [...g.proof.prefixRoots, new Uint8Array(32)] })),
        },
      },
      {
        name: 'empty proof',
        input: {
          ...base,
          response: enc(
            withProof(g, { timestamps: [], prefixProofs: [], prefixRoots: [], inclusion: { elements: [] } }),
          ),
        },
      },
      {
        name: 'lookup of an included version missing',
        input: { ...base, response: enc({ ...g, lookups: g.lookups.slice(1) }) },
      },
    ],
  );
  negative(
    'search-smaller-tree-size',
    'The tree head claims one entry fewer: the frontier then ends at an entry whose ladder (from the proof for the real size) shows a lesser greatest version than claimed.',
    'KT_VERSION_MISMATCH',
    [-1].map((d) => ({
      name: `size ${g.treeHead.treeSize + d}`,
      input: {
        ...base,
        response: enc({ ...g, treeHead: { ...g.treeHead, treeSize: g.treeHead.treeSize + d } }),
      },
    })),
  );
  negative(
    'search-wrong-tree-size',
    'The tree head claims more entries than the proof was made for.',
    'KT_PROOF_MALFORMED',
    [1, 1000].map((d) => ({
      name: `size ${g.treeHead.treeSize + d}`,
      input: {
        ...base,
        response: enc({ ...g, treeHead: { ...g.treeHead, treeSize: g.treeHead.treeSize + d } }),
      },
    })),
  );
  negative(
    'search-view-larger-than-head',
    'A response whose head is smaller than the retained view.',
    'KT_TREE_SIZE_INVALID',
    [
      {
        name: `head of size 6 for a view of size ${epochs.length}`,
        input: {
          ...base,
          view: encView(verifySearch(crypto, config, { label: utf8(label), now, response: g }).view),
          response: enc(earlier.search(utf8(label))),
          now: epochs[5]!.timestamp,
        },
      },
    ],
  );
  negative(
    'search-stale-tree-head',
    'The newest log entry is outside max_behind / max_ahead of the clock.',
    'KT_TIMESTAMP_INVALID',
    [
      { name: 'a day and a second late', input: { ...base, now: now + config.maxBehind, response: enc(g) } },
      { name: 'from the future', input: { ...base, now: T0, response: enc(g) } },
    ],
  );
  negative(
    'search-version-absent',
    'A fixed-version search for a version proved not to exist.',
    'KT_VERSION_NOT_FOUND',
    [7, 100].map((v) => ({
      name: `version ${v}`,
      input: { ...base, version: v, response: enc(full.search(utf8(label), { version: v })) },
    })),
  );

  // Owner monitoring: alice made every version but the last; the log added that one itself.
  const positions = epochs.flatMap((e, i) => e.added.filter((v) => v.label === label).map(() => i));
  const own = positions.map((_, v) => {
    const l =
      g.lookups.find((x) => x.version === v) ??
      full.search(utf8(label), { version: v }).lookups.find((x) => x.version === v)!;
    return { vrfOutput: hex(proved(utf8(label), v).searchKey), commitment: hex(l.commitment!) };
  });
  const owner = directory(epochs.length, ownerConfig);
  const mbase = {
    kind: 'owner-monitor',
    configuration: hex(encodeConfiguration(ownerConfig)),
    label,
    now,
    view: null,
    rightmost: null,
    positions,
    own,
  };
  const m = owner.monitorOwner(utf8(label), { greatest });
  const menc = (p: OwnerMonitorProof) => hex(encodeOwnerMonitorProof(p));
  write('owner-monitor.json', {
    description: 'Owner-monitoring responses that verify (§8.3), with the distinguished entries they check.',
    draft: KT_DRAFT,
    source: SOURCE,
    cases: [{ name: `alice, versions 0..${greatest}`, input: { ...mbase, response: menc(m) } }],
  });
  negative(
    'owner-monitor-unexpected-version',
    'The log holds a version of the label its owner did not make.',
    'KT_VERSION_MISMATCH',
    [
      {
        name: `owner knows versions 0..${greatest - 1}`,
        input: {
          ...mbase,
          positions: positions.slice(0, -1),
          own: own.slice(0, -1),
          response: menc(owner.monitorOwner(utf8(label), { greatest: greatest - 1 })),
        },
      },
    ],
  );
  negative(
    'owner-monitor-modified-prefix-element@1-bit',
    'One bit of one prefix-proof element flipped.',
    sig,
    m.proof.prefixProofs
      .flatMap((pp, i) => (pp.elements.length === 0 ? [] : [i]))
      .map((i) => ({
        name: `prefix proof ${i} element 0`,
        input: {
          ...mbase,
          response: menc({
            ...m,
            proof: {
              ...m.proof,
              prefixProofs: m.proof.prefixProofs.map((q, j) =>
                j !== i ? q : { ...q, elements: q.elements.map((e, k) => (k === 0 ? flip(e, 0, 0) : e)) },
              ),
            },
          }),
        },
      })),
  );
  negative(
    'owner-monitor-modified-timestamp@1-bit',
    'One bit of one timestamp flipped.',
    sig,
    m.proof.timestamps.map((_, i) => ({
      name: `timestamp ${i}`,
      input: {
        ...mbase,
        response: menc({
          ...m,
          proof: { ...m.proof, timestamps: m.proof.timestamps.map((t, j) => (j === i ? flipLow(t) : t)) },
        }),
      },
    })),
  );
  const mbytes = encodeOwnerMonitorProof(m);
  negative(
    'owner-monitor-truncated',
    'Encoded response cut short.',
    'CODEC_TRUNCATED',
    [0, 40, mbytes.length - 1].map((n) => ({
      name: `first ${n} bytes`,
      input: { ...mbase, response: hex(mbytes.subarray(0, n)) },
    })),
  );
  negative(
    'owner-monitor-trailing-garbage',
    'Encoded response followed by extra bytes.',
    'CODEC_TRAILING_BYTES',
    [
      {
        name: '1 extra byte',
        input: { ...mbase, response: hex(new Uint8Array([...mbytes, 0])) },
      },
    ],
  );
  negative(
    'owner-monitor-count-mismatch',
    'A prefix proof or timestamp missing or added.',
    'KT_PROOF_MALFORMED',
    [
      {
        name: 'prefix proof missing',
        input: {
          ...mbase,
          response: menc({ ...m, proof: { ...m.proof, prefixProofs: m.proof.prefixProofs.slice(0, -1) } }),
        },
      },
      {
        name: 'prefix proof added',
        input: {
          ...mbase,
          response: menc({
            ...m,
            proof: { ...m.proof, prefixProofs: [...m.proof.prefixProofs, m.proof.prefixProofs[0]!] },
          }),
        },
      },
      {
        name: 'timestamp added',
        input: {
          ...mbase,
          response: menc({ ...m, proof: { ...m.proof, timestamps: [...m.proof.timestamps, now] } }),
        },
      },
    ],
  );
  negative(
    'owner-monitor-smaller-tree-size',
    'The tree head claims one entry fewer: the recursion reaches an entry whose ladder (from the proof for the real size) shows a lesser version than the owner expects there.',
    'KT_VERSION_MISMATCH',
    [-1].map((d) => ({
      name: `size ${m.treeHead.treeSize + d}`,
      input: {
        ...mbase,
        response: menc({ ...m, treeHead: { ...m.treeHead, treeSize: m.treeHead.treeSize + d } }),
      },
    })),
  );
  negative(
    'owner-monitor-wrong-tree-size',
    'The tree head claims more entries than the proof was made for.',
    'KT_PROOF_MALFORMED',
    [1, 1000].map((d) => ({
      name: `size ${m.treeHead.treeSize + d}`,
      input: {
        ...mbase,
        response: menc({ ...m, treeHead: { ...m.treeHead, treeSize: m.treeHead.treeSize + d } }),
      },
    })),
  );
}
