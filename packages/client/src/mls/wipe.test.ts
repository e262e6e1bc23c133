import { test } from 'node:test';
import assert from 'node:assert/strict';
import { wipeSecrets } from './wipe.ts';

test('should zero every byte of each secret, views included, and nothing around a view', () => {
  const backing = Uint8Array.from({ length: 48 }, (_, i) => i + 1);
  const view = backing.subarray(8, 16);
  const whole = Uint8Array.from({ length: 32 }, () => 0xff);
  wipeSecrets([view, whole]);
  assert.deepEqual(view, new Uint8Array(8));
  assert.deepEqual(whole, new Uint8Array(32));
  assert.equal(backing[7], 8);
  assert.equal(backing[16], 17);
});
