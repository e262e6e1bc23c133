import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { ClientState } from 'ts-mls';
import { mlsCiphersuite } from '../src/mls/provider.ts';
import { nodeMlsCryptoProvider } from './mls-crypto.ts';
import {
  commitUpdate,
  decodeMember,
  encodeMember,
  fillTree,
  makeGroup,
  processCommit,
  sendAndReceive,
} from './mls-test-group.ts';

const te = new TextEncoder();
const cs = await mlsCiphersuite({ provider: nodeMlsCryptoProvider });

/** Parent nodes (odd indices) that are blank or list unmerged leaves, among those with a member below. */
function unsetParents(tree: ClientState['ratchetTree'], members: number): number[] {
  const out: number[] = [];
  for (let i = 1; i < 2 * members - 1; i += 2) {
    const n = tree[i];
    if (n === undefined || (n.nodeType === 'parent' && n.parent.unmergedLeaves.length > 0)) out.push(i);
  }
  return out;
}

describe('fillTree', () => {
  test('should set every parent node of a batch-added group, with no unmerged leaf', async () => {
    for (const size of [2, 3, 8, 13]) {
      const { alice, bob, privatePackages } = await makeGroup(size, cs);
      if (size > 2) assert.notDeepEqual(unsetParents(alice.state.ratchetTree, size), []);
      await fillTree(alice, bob, privatePackages);
      assert.deepEqual(unsetParents(alice.state.ratchetTree, size), [], `size ${size}`);
      assert.deepEqual(unsetParents(bob.state.ratchetTree, size), [], `size ${size}`);
      assert.equal(alice.state.groupContext.epoch, bob.state.groupContext.epoch);
    }
  });
  test('should leave alice and bob exchanging messages and commits, with smaller UpdatePaths', async () => {
    const { alice, bob, privatePackages } = await makeGroup(13, cs);
    const before = await commitUpdate(alice);
    await processCommit(bob, before);
    await fillTree(alice, bob, privatePackages);
    const after = await commitUpdate(alice);
    await processCommit(bob, after);
    assert.ok(after.byteLength < before.byteLength, `${after.byteLength} < ${before.byteLength}`);
    assert.deepEqual(await sendAndReceive(alice, bob, te.encode('hi')), te.encode('hi'));
    assert.deepEqual(await sendAndReceive(bob, alice, te.encode('back')), te.encode('back'));
  });
});

describe('encodeMember and decodeMember', () => {
  test('should give back members that go on talking', async () => {
    const { alice, bob } = await makeGroup(4, cs);
    const a = decodeMember('alice', encodeMember(alice), cs)!;
    const b = decodeMember('bob', encodeMember(bob), cs)!;
    assert.deepEqual(await sendAndReceive(a, b, te.encode('again')), te.encode('again'));
    await processCommit(a, await commitUpdate(b));
    assert.deepEqual(await sendAndReceive(a, b, te.encode('after')), te.encode('after'));
  });
  test('should refuse truncated bytes and bytes with a tail', async () => {
    const { alice } = await makeGroup(2, cs);
    const bytes = encodeMember(alice);
    assert.equal(decodeMember('alice', bytes.subarray(0, bytes.byteLength - 1), cs), undefined);
    const tailed = new Uint8Array(bytes.byteLength + 1);
    tailed.set(bytes);
    assert.equal(decodeMember('alice', tailed, cs), undefined);
  });
});
