// Tests run under Node: node:test and node:assert are the only node:* imports, and only here.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { nodeCryptoProvider as crypto } from '../../node/crypto-provider.ts';
import { BlobIndex, sortedIdsHave } from './blob-index.ts';
import type { BlobId, BlobType } from './blob.ts';
import type { PackEntry } from './pack.ts';
import { ValidationError } from '../errors.ts';
import { toHex } from '../bytes/encoding.ts';

/** Ids as HMAC outputs, as in a real repository. */
const key = new Uint8Array(32).fill(5);
const idOf = (n: number) => crypto.hmacSha256(key, new Uint8Array(new Uint32Array([n]).buffer)) as BlobId;
const entry = (n: number, type: BlobType = 'data'): PackEntry => ({
  type,
  id: idOf(n),
  offset: n * 7,
  length: 29 + (n % 1000),
  rawLength: n % 2 ** 30,
});

describe('BlobIndex', () => {
  test('finds what was added, with its pack, and nothing else (against a Map)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.nat(50_000), { maxLength: 3000 }),
        fc.array(fc.nat(60_000), { maxLength: 300 }),
        (adds, probes) => {
          const index = new BlobIndex(4);
          const packs = [
            index.addPack(new Uint8Array(32).fill(1)),
            index.addPack(new Uint8Array(32).fill(2)),
          ];
          const model = new Map<string, { n: number; pack: number }>();
          for (const n of adds) {
            const fresh = !model.has(toHex(idOf(n)));
            assert.equal(index.add(packs[n % 2]!, entry(n, n % 3 === 0 ? 'tree' : 'data')), fresh);
            if (fresh) model.set(toHex(idOf(n)), { n, pack: n % 2 });
          }
          assert.equal(index.size, model.size);
          for (const n of [...probes, ...adds.slice(0, 100)]) {
            const want = model.get(toHex(idOf(n)));
            const got = index.find(idOf(n));
            assert.equal(index.has(idOf(n)), want !== undefined);
            if (want === undefined) {
              assert.equal(got, undefined);
            } else {
              assert.deepEqual(got, {
                packId: new Uint8Array(32).fill(want.pack + 1),
                type: n % 3 === 0 ? 'tree' : 'data',
                offset: n * 7,
                length: 29 + (n % 1000),
                rawLength: n,
              });
            }
          }
        },
      ),
      { numRuns: 30 },
    );
  });

  test('sortedIdWords lists exactly the ids of the packs it is asked for, and sortedIdsHave finds them (against a Map)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.nat(20_000), { maxLength: 2000 }),
        fc.array(fc.nat(25_000), { maxLength: 200 }),
        (adds, probes) => {
          const index = new BlobIndex(4);
          const packs = [1, 2, 3].map((b) => index.addPack(new Uint8Array(32).fill(b)));
          const pack = new Map<string, number>();
          for (const n of adds) if (index.add(packs[n % 3]!, entry(n))) pack.set(toHex(idOf(n)), n % 3);
          // Pack 2 (filled with 2s) is left out, as a condemned pack is.
          const words = index.sortedIdWords((id) => id[0] !== 2);
          assert.equal(words.length / 8, [...pack.values()].filter((p) => p !== 1).length);
          for (const n of [...adds, ...probes]) {
            const p = pack.get(toHex(idOf(n)));
            assert.equal(sortedIdsHave(words, idOf(n)), p !== undefined && p !== 1, `id ${n}`);
          }
          // Still an index: adding after the copy changes neither.
          index.add(packs[0]!, entry(30_001));
          assert.equal(sortedIdsHave(words, idOf(30_001)), false);
          assert.equal(index.has(idOf(30_001)), true);
        },
      ),
      { numRuns: 30 },
    );
    assert.equal(sortedIdsHave(new Uint32Array(0), idOf(1)), false);
    assert.equal(sortedIdsHave(new Uint32Array(8), new Uint8Array(31)), false);
  });

  test('keeps every entry findable across many merges of its tail', () => {
    const index = new BlobIndex();
    const pack = index.addPack(new Uint8Array(32));
    const n = 60_000;
    for (let i = 0; i < n; i++) index.add(pack, entry(i));
    for (let i = 0; i < n; i += 1) assert.equal(index.find(idOf(i))?.offset, i * 7);
    index.compact();
    assert.ok(index.has(idOf(n - 1)) && !index.has(idOf(n)));
  });

  test('costs about 48 bytes an entry', () => {
    const n = 200_000;
    const index = new BlobIndex(n, 1);
    const pack = index.addPack(new Uint8Array(32));
    for (let i = 0; i < n; i++) index.add(pack, entry(i));
    index.compact();
    const perEntry = index.byteLength / n;
    assert.ok(perEntry < 52, `${perEntry.toFixed(1)} bytes per entry`);
  });

  test('keeps the largest raw length and both types apart', () => {
    const index = new BlobIndex();
    const pack = index.addPack(new Uint8Array(32));
    index.add(pack, { ...entry(1, 'tree'), rawLength: 2 ** 30 - 1, offset: 0xffffffff, length: 0xffffffff });
    assert.deepEqual(index.find(idOf(1)), {
      packId: new Uint8Array(32),
      type: 'tree',
      offset: 0xffffffff,
      length: 0xffffffff,
      rawLength: 2 ** 30 - 1,
    });
  });

  test('refuses unknown packs, bad ids and out-of-range fields', () => {
    const index = new BlobIndex();
    const pack = index.addPack(new Uint8Array(32));
    assert.throws(() => index.addPack(new Uint8Array(31)), ValidationError);
    assert.throws(() => index.add(pack + 1, entry(1)), ValidationError);
    assert.throws(() => index.add(pack, { ...entry(1), id: new Uint8Array(31) as BlobId }), ValidationError);
    assert.throws(() => index.add(pack, { ...entry(1), rawLength: 2 ** 30 }), ValidationError);
    assert.throws(() => index.add(pack, { ...entry(1), offset: -1 }), ValidationError);
    assert.throws(() => index.add(pack, { ...entry(1), type: 'x' as BlobType }), ValidationError);
    assert.throws(() => index.find(new Uint8Array(3)), ValidationError);
  });
});
