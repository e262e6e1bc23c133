import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { ValidationError } from '../errors.ts';
import { toHex } from '../bytes/encoding.ts';
import { IdSet } from './id-set.ts';

const hex = (id: Uint8Array) => toHex(id);

test('holds what was added, once, and nothing else', () => {
  const set = new IdSet(4);
  const a = new Uint8Array(32).fill(1);
  const b = new Uint8Array(32).fill(2);
  assert.equal(set.has(a), false);
  assert.equal(set.add(a), true);
  assert.equal(set.add(new Uint8Array(a)), false, 'by value');
  assert.equal(set.has(a), true);
  assert.equal(set.has(b), false);
  assert.equal(set.size, 1);
});

test('ids that agree on all but their last byte, or share a slot, are told apart', () => {
  const set = new IdSet(2);
  const base = new Uint8Array(32);
  const ids = Array.from({ length: 40 }, (_, i) => {
    const id = new Uint8Array(base);
    id[31] = i; // the same first word: the same slot, probed on
    return id;
  });
  for (const id of ids) assert.equal(set.add(id), true);
  for (const id of ids) assert.equal(set.has(id), true);
  const other = new Uint8Array(base);
  other[31] = 200;
  assert.equal(set.has(other), false);
  assert.equal(set.size, 40);
});

test('agrees with a Set of hex ids over random adds and lookups, through many growths', () => {
  fc.assert(
    fc.property(
      fc.array(fc.tuple(fc.boolean(), fc.uint8Array({ minLength: 32, maxLength: 32 })), { maxLength: 300 }),
      fc.integer({ min: 1, max: 64 }),
      (ops, capacity) => {
        const set = new IdSet(capacity);
        const want = new Set<string>();
        for (const [adding, id] of ops) {
          // Some ids again, so that repeats are tried.
          if (adding) assert.equal(set.add(id), !want.has(hex(id)));
          if (adding) want.add(hex(id));
          assert.equal(set.has(id), want.has(hex(id)));
        }
        assert.equal(set.size, want.size);
        for (const [, id] of ops) assert.equal(set.has(id), want.has(hex(id)));
      },
    ),
  );
});

test('refuses an id that is not 32 bytes, and is unchanged by it', () => {
  const set = new IdSet();
  set.add(new Uint8Array(32).fill(9));
  for (const bad of [
    new Uint8Array(31),
    new Uint8Array(33),
    new Uint8Array(0),
    'id' as unknown as Uint8Array,
  ]) {
    assert.throws(() => set.add(bad), ValidationError);
    assert.throws(() => set.has(bad), ValidationError);
  }
  assert.equal(set.size, 1);
  assert.equal(set.has(new Uint8Array(32).fill(9)), true);
});
