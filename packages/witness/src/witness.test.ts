/**
 * The witness against core's in-memory Directory through an in-process feed: honest following,
 * several independent witnesses, and a malicious directory (forged logs signed with its real key)
 * that every check must refuse, keep evidence of, and stop signing after.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { nodeCryptoProvider as crypto } from '@sealpost/core/node';
import { SealpostError } from '@sealpost/core';
import { directoryIdOf, verifyCosignature } from './cosignature.ts';
import type { DirectoryFeed, EntryUpdate } from './feed.ts';
import { verifyQuorum } from './quorum.ts';
import { SqliteWitnessStore } from './state-sqlite.ts';
import { T0, forgedFeed, honestDirectory, testDirectoryKeys } from './test-directory.ts';
import { Witness, follow } from './witness.ts';
import { WitnessHaltedError, WitnessRefusedError, type RefusalReason } from './witness-errors.ts';

const { config } = testDirectoryKeys(crypto);
const NOW = T0 + 60_000;

function newWitness(): { witness: Witness; store: SqliteWitnessStore } {
  const store = SqliteWitnessStore.open(':memory:', { crypto, config });
  return { witness: new Witness({ crypto, config, store }), store };
}

const cosigned = (treeSize: number, root: Uint8Array) => ({
  directoryId: directoryIdOf(crypto, config),
  treeSize,
  root,
});

describe('an honest directory', () => {
  test('the witness follows it epoch by epoch and cosigns each head', async () => {
    const { feed, publish } = honestDirectory(crypto);
    const { witness } = newWitness();
    for (const labels of [['alice'], ['bob', 'carol'], [], ['alice', 'dave', 'erin']]) {
      publish(labels);
      const c = await follow(witness, feed, NOW);
      const head = feed.treeHead();
      assert.ok(verifyCosignature(crypto, cosigned(head.treeSize, head.root), c));
      assert.equal(c.timestamp, NOW / 1000);
      assert.deepEqual(witness.head?.root, head.root);
    }
  });

  test('catching up on many entries at once (more than one feed request) gives the same head', async () => {
    const { feed, publish } = honestDirectory(crypto);
    for (let i = 0; i < 1_100; i++) publish(i % 7 === 0 ? [`user${i}`, `other${i}`] : [`user${i}`]);
    const { witness } = newWitness();
    const c = await follow(witness, feed, T0 + 2_000_000);
    assert.equal(witness.head?.treeSize, 1_100);
    assert.ok(verifyCosignature(crypto, cosigned(1_100, feed.treeHead().root), c));
  });

  test('an idle directory: the same head is cosigned again with a newer timestamp', async () => {
    const { feed, publish } = honestDirectory(crypto);
    const { witness } = newWitness();
    publish(['alice']);
    const first = await follow(witness, feed, NOW);
    const again = await follow(witness, feed, NOW + 30_000);
    assert.equal(again.timestamp, first.timestamp + 30);
    // A clock that went back does not make a cosignature older than the last one.
    const back = await follow(witness, feed, NOW - 100_000);
    assert.equal(back.timestamp, again.timestamp);
  });

  test('three witnesses each produce an independent cosignature; a client accepts the quorum', async () => {
    const { feed, publish } = honestDirectory(crypto);
    const witnesses = [newWitness(), newWitness(), newWitness()].map((w) => w.witness);
    assert.equal(new Set(witnesses.map((w) => Buffer.from(w.publicKey).toString('hex'))).size, 3);
    publish(['alice', 'bob']);
    publish(['carol']);
    const cosignatures = await Promise.all(witnesses.map((w) => follow(w, feed, NOW)));
    const head = feed.treeHead();
    const result = verifyQuorum(
      crypto,
      cosigned(head.treeSize, head.root),
      cosignatures,
      witnesses.map((w) => w.publicKey),
      { maxLagSecs: 600, now: NOW },
    );
    assert.equal(result.witnesses.length, 3);
    assert.equal(result.quorum, 2);
  });
});

/**
 * The witness first verifies and signs the honest head of size 3 (of five honest entries), then is
 * shown what `malicious` serves.
 */
interface Case {
  readonly name: string;
  readonly reason: RefusalReason;
  readonly code: string;
  readonly malicious: (honest: readonly EntryUpdate[], fake: Uint8Array) => DirectoryFeed;
}

const other = (e: EntryUpdate, tag: string): EntryUpdate => ({
  ...e,
  added: e.added.map((l) => ({ ...l, commitment: crypto.sha256(new TextEncoder().encode(tag)) })),
});
const reindex = (entries: readonly EntryUpdate[]): EntryUpdate[] =>
  entries.map((e, index) => ({ ...e, index }));

const cases: readonly Case[] = [
  {
    name: 'rewrites an earlier epoch (entry 1 changed, the log extended)',
    reason: 'fork',
    code: 'KT_ROOT_MISMATCH',
    malicious: (h) => forgedFeed(crypto, [h[0]!, other(h[1]!, 'rewritten'), h[2]!, h[3]!]),
  },
  {
    name: 'drops a signed epoch from its history (entry 2 gone, the log extended)',
    reason: 'fork',
    code: 'KT_ROOT_MISMATCH',
    malicious: (h) => forgedFeed(crypto, reindex([h[0]!, h[1]!, h[3]!, h[4]!])),
  },
  {
    name: 'drops an epoch from the updates it serves',
    reason: 'entries-missing',
    code: 'KT_TREE_SIZE_INVALID',
    malicious: (h) => {
      const feed = forgedFeed(crypto, h);
      return { ...feed, updates: (from, to) => h.slice(from, to).filter((e) => e.index !== 3) };
    },
  },
  {
    name: 'serves entries out of order',
    reason: 'entries-missing',
    code: 'KT_TREE_SIZE_INVALID',
    malicious: (h) => ({ ...forgedFeed(crypto, h), updates: (from, to) => h.slice(from, to).reverse() }),
  },
  {
    name: 'shows a second head for the signed size (split view)',
    reason: 'split-view',
    code: 'KT_ROOT_MISMATCH',
    malicious: (h) => forgedFeed(crypto, [h[0]!, h[1]!, other(h[2]!, 'split')]),
  },
  {
    name: 'signs a root the updates do not produce (a consistent log with a lying prefix root)',
    reason: 'root-mismatch',
    code: 'KT_ROOT_MISMATCH',
    malicious: (h, fake) => forgedFeed(crypto, h.slice(0, 4), [undefined, undefined, undefined, fake]),
  },
  {
    name: 'replays an old head',
    reason: 'rollback',
    code: 'KT_TREE_SIZE_INVALID',
    malicious: (h) => forgedFeed(crypto, h.slice(0, 2)),
  },
  {
    name: 'publishes an entry timestamped before the previous one',
    reason: 'timestamp',
    code: 'KT_TIMESTAMP_INVALID',
    malicious: (h) => forgedFeed(crypto, [...h.slice(0, 3), { ...h[3]!, timestamp: h[2]!.timestamp - 1 }]),
  },
  {
    name: 'publishes an entry timestamped beyond max_ahead of the witness clock',
    reason: 'timestamp',
    code: 'KT_TIMESTAMP_INVALID',
    malicious: (h) =>
      forgedFeed(crypto, [...h.slice(0, 3), { ...h[3]!, timestamp: NOW + config.maxAhead + 1 }]),
  },
  {
    name: 'adds a leaf whose VRF output is not 32 bytes',
    reason: 'malformed-update',
    code: 'VALIDATION_FAILED',
    malicious: (h, fake) =>
      forgedFeed(
        crypto,
        [...h.slice(0, 3), { ...h[3]!, added: [{ vrfOutput: new Uint8Array(31), commitment: fake }] }],
        [undefined, undefined, undefined, fake],
      ),
  },
  {
    name: 'adds a key already in the prefix tree (a version replaced)',
    reason: 'malformed-update',
    code: 'KT_PREFIX_KEY_EXISTS',
    malicious: (h, fake) =>
      forgedFeed(
        crypto,
        [...h.slice(0, 3), { ...h[3]!, added: [{ ...h[0]!.added[0]!, commitment: fake }] }],
        [undefined, undefined, undefined, fake],
      ),
  },
];

describe('an instance behind its peers', () => {
  test('an older head is asked for again with atLeast, and the caught-up head is cosigned without evidence', async () => {
    const { feed, publish } = honestDirectory(crypto);
    for (const labels of [['alice'], ['bob'], ['carol']]) publish(labels);
    const { witness, store } = newWitness();
    await follow(witness, feed, NOW);
    const lagging = forgedFeed(crypto, feed.updates(0, 2)); // the same log, one epoch behind
    publish(['dave']);
    const asked: Array<number | undefined> = [];
    let calls = 0;
    const balanced: DirectoryFeed = {
      treeHead: (atLeast) => {
        asked.push(atLeast);
        return calls++ === 0 ? lagging.treeHead() : feed.treeHead();
      },
      updates: (from, to) => feed.updates(from, to),
      consistencyProof: (n1, n2) => feed.consistencyProof(n1, n2),
    };
    const c = await follow(witness, balanced, NOW);
    assert.deepEqual(asked, [3, 3]);
    assert.equal(witness.head?.treeSize, 4);
    assert.ok(verifyCosignature(crypto, cosigned(4, feed.treeHead().root), c));
    assert.deepEqual(store.evidence(), []);
  });
});

describe('a malicious directory', () => {
  for (const c of cases) {
    test(`${c.name}: refused (${c.reason}), evidence kept, signing stopped for good`, async () => {
      const { feed, publish } = honestDirectory(crypto);
      for (const labels of [['alice', 'bob'], ['carol'], ['alice'], ['dave'], ['bob', 'erin']])
        publish(labels);
      const honest = feed.updates(0, 5);
      const signed = forgedFeed(crypto, honest.slice(0, 3)); // the honest log at size 3
      const { witness, store } = newWitness();
      await follow(witness, signed, NOW);
      assert.equal(witness.head?.treeSize, 3);

      const bad = c.malicious(honest, crypto.sha256(new TextEncoder().encode('fake')));
      const offending = await bad.treeHead();
      const err = await follow(witness, bad, NOW).then(
        () => assert.fail('the witness signed'),
        (e: unknown) => e,
      );
      assert.ok(err instanceof WitnessRefusedError, String(err));
      assert.equal(err.reason, c.reason);
      assert.equal(err.code, c.code);
      const [evidence, ...more] = store.evidence();
      assert.equal(more.length, 0);
      assert.equal(evidence?.reason, c.reason);
      assert.deepEqual(evidence?.signed, signed.head);
      assert.deepEqual(evidence?.offending, offending);
      assert.equal(witness.head?.treeSize, 3, 'the state stays at the last good head');
      // Halted: not even the honest directory's next head is signed.
      await assert.rejects(follow(witness, feed, NOW), WitnessHaltedError);
      await assert.rejects(
        follow(witness, signed, NOW),
        (e) => e instanceof WitnessHaltedError && e.evidence.reason === c.reason,
      );
    });
  }

  test('split view: a witness signs at most one of two heads of the same size, whichever it sees first', async () => {
    const { feed, publish } = honestDirectory(crypto);
    for (const labels of [['alice'], ['bob'], ['carol']]) publish(labels);
    const honest = feed.updates(0, 3);
    const a = forgedFeed(crypto, honest);
    const b = forgedFeed(crypto, [honest[0]!, honest[1]!, other(honest[2]!, 'split')]);
    const w1 = newWitness().witness;
    const w2 = newWitness().witness;
    const c1 = await follow(w1, a, NOW);
    const c2 = await follow(w2, b, NOW);
    await assert.rejects(
      follow(w1, b, NOW),
      (e) => e instanceof WitnessRefusedError && e.reason === 'split-view',
    );
    await assert.rejects(
      follow(w2, a, NOW),
      (e) => e instanceof WitnessRefusedError && e.reason === 'split-view',
    );
    // Neither head reaches a majority of two witnesses.
    for (const [head, sigs] of [
      [a.head, [c1, c2]],
      [b.head, [c1, c2]],
    ] as const) {
      assert.throws(
        () =>
          verifyQuorum(crypto, cosigned(head.treeSize, head.root), sigs, [w1.publicKey, w2.publicKey], {
            maxLagSecs: 600,
            now: NOW,
          }),
        (e) => e instanceof SealpostError && e.code === 'CRYPTO_VERIFICATION_FAILED',
      );
    }
  });

  test('a head not signed by the directory key is refused without halting', async () => {
    const { feed, publish } = honestDirectory(crypto);
    publish(['alice']);
    const { witness, store } = newWitness();
    const head = feed.treeHead();
    const bound: DirectoryFeed = {
      treeHead: () => ({ ...head, signature: new Uint8Array(64) }),
      updates: (f, t) => feed.updates(f, t),
      consistencyProof: (s1, s2) => feed.consistencyProof(s1, s2),
    };
    await assert.rejects(
      follow(witness, bound, NOW),
      (e) =>
        e instanceof WitnessRefusedError &&
        e.reason === 'bad-signature' &&
        e.code === 'CRYPTO_VERIFICATION_FAILED',
    );
    assert.equal(store.evidence().length, 0);
    await follow(witness, feed, NOW);
    assert.equal(witness.head?.treeSize, 1);
  });
});
