import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Username } from '@sealpost/core';
import type { DevicePk } from '../store/store.ts';
import { RecipientCache } from './recipient-cache.ts';

const key = (n: number) => RecipientCache.key('alice' as Username, Uint8Array.of(0, 0, 0, 0, 0, 0, 0, n));

test('remembers an address and forgets it when its device is evicted', () => {
  const c = new RecipientCache(10);
  c.set(key(1), 7 as DevicePk);
  c.set(key(2), 8 as DevicePk);
  assert.equal(c.get(key(1)), 7);
  c.evict(new Set([7 as DevicePk]));
  assert.equal(c.get(key(1)), undefined);
  assert.equal(c.get(key(2)), 8);
});

test('keeps at most max entries, dropping the oldest', () => {
  const c = new RecipientCache(3);
  for (let i = 1; i <= 5; i++) c.set(key(i), i as DevicePk);
  assert.equal(c.size, 3);
  assert.equal(c.get(key(1)), undefined);
  assert.equal(c.get(key(5)), 5);
});
