// Tests run under Node: node:test and node:assert are the only node:* imports, and only here.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { nodeCryptoProvider as crypto } from '../../node/crypto-provider.ts';
import { BlobIndex } from './blob-index.ts';
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
