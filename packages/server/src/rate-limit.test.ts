import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { RateLimiter } from './rate-limit.ts';

describe('RateLimiter', () => {
  test('allows a burst, then asks to wait', () => {
    const now = 0;
    const r = new RateLimiter({ burst: 3, perSec: 1 }, () => now, 100);
    assert.deepEqual([r.take('a'), r.take('a'), r.take('a')], [0, 0, 0]);
    assert.equal(r.take('a'), 1);
  });

  test('refills at the configured rate', () => {
    let now = 0;
    const r = new RateLimiter({ burst: 2, perSec: 2 }, () => now, 100);
    r.take('a');
    r.take('a');
    assert.ok(r.take('a') > 0);
    now += 500;
    assert.equal(r.take('a'), 0);
    assert.ok(r.take('a') > 0);
  });

  test('the retry delay grows with the deficit and is whole seconds', () => {
    const now = 0;
    const r = new RateLimiter({ burst: 1, perSec: 0.25 }, () => now, 100);
    r.take('a');
    assert.equal(r.take('a'), 4);
  });

  test('takes several tokens at once, all or none, and says how long until they are there', () => {
    let now = 0;
    const r = new RateLimiter({ burst: 10, perSec: 2 }, () => now, 100);
    assert.equal(r.take('a', 8), 0);
    assert.equal(r.take('a', 4), 1, 'two missing at 2 per second');
    assert.equal(r.take('a', 2), 0, 'the refused take took nothing');
    now += 2_000;
    assert.equal(r.take('a', 4), 0);
  });

  test('keys are independent', () => {
    const r = new RateLimiter({ burst: 1, perSec: 1 }, () => 0, 100);
    assert.equal(r.take('a'), 0);
    assert.equal(r.take('b'), 0);
    assert.ok(r.take('a') > 0);
  });

  test('keeps at most maxKeys buckets', () => {
    let now = 0;
    const r = new RateLimiter({ burst: 1, perSec: 1 }, () => now, 10);
    for (let i = 0; i < 1000; i++) {
      r.take(`k${i}`);
      now += 1;
    }
    assert.ok(r.size <= 10, `size ${r.size}`);
  });
});
