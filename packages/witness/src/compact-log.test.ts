/** CompactLog against core's LogTree: same roots and full subtrees at every size, resumable from them. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { nodeCryptoProvider as crypto } from '@sealpost/core/node';
import { SealpostError } from '@sealpost/core';
import { LogTree } from '@sealpost/core/kt/log-tree';
import { CompactLog } from './compact-log.ts';

test('roots and full subtrees equal LogTree for sizes 1..70, also when resumed at every size', () => {
  const tree = new LogTree(crypto);
  const compact = new CompactLog(crypto);
  for (let i = 0; i < 70; i++) {
    const leaf = crypto.sha256(new Uint8Array([i]));
    tree.appendLeafValue(leaf);
    compact.append(leaf);
    assert.deepEqual(compact.root(), tree.root());
    assert.deepEqual(compact.fullSubtrees(), tree.fullSubtrees());
    const resumed = new CompactLog(crypto, tree.size, tree.fullSubtrees());
    const next = crypto.sha256(new Uint8Array([i, 1]));
    resumed.append(next);
    const copy = new LogTree(crypto);
    for (let j = 0; j <= i; j++) copy.appendLeafValue(crypto.sha256(new Uint8Array([j])));
    copy.appendLeafValue(next);
    assert.deepEqual(resumed.root(), copy.root());
  }
});

test('full subtrees that do not fit the size are KT_TREE_SIZE_INVALID', () => {
  assert.throws(
    () => new CompactLog(crypto, 3, [new Uint8Array(32)]),
    (e) => e instanceof SealpostError && e.code === 'KT_TREE_SIZE_INVALID',
  );
});
