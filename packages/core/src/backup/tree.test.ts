// Tests run under Node: node:test and node:assert are the only node:* imports, and only here.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { decodeTree, encodeTree, sortTreeNodes, type TreeNode } from './tree.ts';
import type { BlobId } from './blob.ts';
import { CodecError, ValidationError } from '../errors.ts';
import { LIMITS } from '../limits.ts';

const id = fc.uint8Array({ minLength: 32, maxLength: 32 }).map((b) => b as BlobId);
const name = fc
  .uint8Array({ minLength: 1, maxLength: 40 })
  .map((b) => b.map((x) => (x === 0 || x === 0x2f ? 0x41 : x)))
  .filter((b) => !(b[0] === 0x2e && (b.length === 1 || (b.length === 2 && b[1] === 0x2e))));
const common = {
  name,
  mode: fc.integer({ min: 0, max: 0o7777 }),
  mtimeNs: fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }),
};
const node: fc.Arbitrary<TreeNode> = fc.oneof(
  fc.record({
    ...common,
    kind: fc.constant('file' as const),
    size: fc.maxSafeNat(),
    content: fc.array(id, { maxLength: 5 }),
  }),
  fc.record({
    ...common,
    kind: fc.constant('file' as const),
    size: fc.maxSafeNat(),
    content: fc.array(id, { maxLength: 5 }),
    inode: fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }),
    ctimeNs: fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }),
  }),
  fc.record({ ...common, kind: fc.constant('dir' as const), subtree: id }),
  fc.record({
    ...common,
    kind: fc.constant('symlink' as const),
    target: fc.uint8Array({ minLength: 1, maxLength: 100 }),
  }),
);
const tree = fc
  .uniqueArray(node, { maxLength: 20, selector: (n) => Array.from(n.name).join(',') })
  .map(sortTreeNodes);
const plain = <T>(x: T): T => structuredClone(x);
const utf8 = new TextEncoder();
const base = { mode: 0o644, mtimeNs: 0n };

describe('trees', () => {
  test('round trip: every sorted tree decodes to itself', () => {
    fc.assert(
      fc.property(tree, (nodes) => assert.deepEqual(decodeTree(encodeTree(nodes)), plain(nodes))),
      {
        numRuns: 300,
      },
    );
  });

  test('a file with inode and ctime is wire kind 0x81, one without is kind 1', () => {
    const content = [new Uint8Array(32).fill(9) as BlobId];
    const plainFile: TreeNode = { ...base, kind: 'file', name: utf8.encode('a'), size: 3, content };
    const statFile: TreeNode = { ...plainFile, inode: 2n ** 64n - 1n, ctimeNs: -5n };
    const kindAt = 1 + 1 + 1 + 1; // version, count, name length, name
    assert.equal(encodeTree([plainFile])[kindAt], 1);
    const bytes = encodeTree([statFile]);
    assert.equal(bytes[kindAt], 0x81);
    assert.deepEqual(decodeTree(bytes), [plain(statFile)]);
    assert.throws(() => encodeTree([{ ...plainFile, inode: 1n }]), ValidationError);
    assert.throws(() => encodeTree([{ ...statFile, inode: -1n }]), ValidationError);
  });

  test('an empty directory is the empty tree', () => {
    assert.deepEqual(encodeTree([]), new Uint8Array([1, 0]));
    assert.deepEqual(decodeTree(new Uint8Array([1, 0])), []);
  });

  test('keeps times before 1970 and names that are not UTF-8', () => {
    const nodes: TreeNode[] = [
      {
        kind: 'dir',
        name: new Uint8Array([0xff, 0xfe]),
        mode: 0o755,
        mtimeNs: -1n,
        subtree: new Uint8Array(32) as BlobId,
      },
    ];
    assert.deepEqual(decodeTree(encodeTree(nodes)), nodes);
  });

  const badNodes: readonly [string, TreeNode[]][] = [
    ['an empty name', [{ ...base, kind: 'symlink', name: new Uint8Array(0), target: utf8.encode('x') }]],
    ['a name with /', [{ ...base, kind: 'symlink', name: utf8.encode('a/b'), target: utf8.encode('x') }]],
    [
      'a name with NUL',
      [{ ...base, kind: 'symlink', name: new Uint8Array([0x61, 0]), target: utf8.encode('x') }],
    ],
    ['the name .', [{ ...base, kind: 'symlink', name: utf8.encode('.'), target: utf8.encode('x') }]],
    ['the name ..', [{ ...base, kind: 'symlink', name: utf8.encode('..'), target: utf8.encode('x') }]],
    [
      'a name too long',
      [
        {
          ...base,
          kind: 'symlink',
          name: new Uint8Array(LIMITS.backupNameMaxBytes + 1).fill(0x61),
          target: utf8.encode('x'),
        },
      ],
    ],
    [
      'a mode above 0o7777',
      [{ ...base, mode: 0o10000, kind: 'symlink', name: utf8.encode('a'), target: utf8.encode('x') }],
    ],
    [
      'an mtime past i64',
      [{ ...base, mtimeNs: 2n ** 63n, kind: 'symlink', name: utf8.encode('a'), target: utf8.encode('x') }],
    ],
    [
      'an empty link target',
      [{ ...base, kind: 'symlink', name: utf8.encode('a'), target: new Uint8Array(0) }],
    ],
    [
      'a short subtree id',
      [{ ...base, kind: 'dir', name: utf8.encode('a'), subtree: new Uint8Array(31) as BlobId }],
    ],
    [
      'a short chunk id',
      [{ ...base, kind: 'file', name: utf8.encode('a'), size: 1, content: [new Uint8Array(1) as BlobId] }],
    ],
    [
      'names out of order',
      [
        { ...base, kind: 'symlink', name: utf8.encode('b'), target: utf8.encode('x') },
        { ...base, kind: 'symlink', name: utf8.encode('a'), target: utf8.encode('x') },
      ],
    ],
    [
      'a repeated name',
      [
        { ...base, kind: 'symlink', name: utf8.encode('a'), target: utf8.encode('x') },
        { ...base, kind: 'symlink', name: utf8.encode('a'), target: utf8.encode('y') },
      ],
    ],
  ];
  for (const [what, nodes] of badNodes) {
    test(`refuses to encode ${what}`, () => assert.throws(() => encodeTree(nodes), ValidationError));
  }

  test('random bytes give a tree or a CodecError', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 300 }).map((b) => (b.length > 0 ? b.with(0, 1) : b)),
        (bytes) => {
          try {
            decodeTree(bytes);
          } catch (e) {
            assert.ok(e instanceof CodecError, String(e));
          }
        },
      ),
      { numRuns: 3000 },
    );
  });

  test('mutated valid trees give a tree or a CodecError', () => {
    fc.assert(
      fc.property(tree, fc.nat(), fc.nat(255), (nodes, at, value) => {
        const bytes = encodeTree(nodes);
        const mutated = bytes.with(at % bytes.length, value);
        try {
          decodeTree(mutated);
        } catch (e) {
          assert.ok(e instanceof CodecError, String(e));
        }
      }),
      { numRuns: 2000 },
    );
  });
});
