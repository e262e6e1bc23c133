/**
 * A backed-up file's chunk ids are FastCDC's cuts over its whole bytes, whatever the reads: the
 * engine reads each piece of a file in place after the current chunk's bytes and moves the next
 * chunk's bytes to the front after a cut (backup.ts `file`). Checked against `chunkLengths` over
 * the file at once, for a file cut inside reads (random), one cut at the largest chunk size (zeros)
 * and a file of one small chunk.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomFillSync } from 'node:crypto';
import * as fs from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { toHex } from '@sealpost/core';
import { blobId } from '@sealpost/core/backup/blob';
import { chunkLengths } from '@sealpost/core/backup/chunker';
import { LocalRepository } from '../packages/client/node/backup-local-repo.ts';
import { nodeBackupDeps } from '../packages/client/node/backup-node.ts';
import { backup } from '../packages/client/src/backup/backup.ts';
import { BlobReader } from '../packages/client/src/backup/blob-reader.ts';
import { initRepository, openRepository, type Session } from '../packages/client/src/backup/session.ts';
import { listSnapshots, nodeName, readTree } from '../packages/client/src/backup/snapshots.ts';

const MiB = 1024 * 1024;
const TEST_ARGON2 = { memoryKiB: 1024, iterations: 1, parallelism: 1 };

let work: string;
let session: Session;
const files = new Map<string, Uint8Array>();

before(async () => {
  work = await fs.mkdtemp(join(tmpdir(), 'sealpost-chunk-ids-'));
  const random = new Uint8Array(21 * MiB + 12_345);
  for (let o = 0; o < random.length; o += 65_536)
    randomFillSync(random, o, Math.min(65_536, random.length - o));
  files.set('random.bin', random);
  files.set('zeros.bin', new Uint8Array(17 * MiB + 3));
  files.set('small.txt', new TextEncoder().encode('one small chunk\n'.repeat(100)));
  await fs.mkdir(join(work, 'src'));
  for (const [name, bytes] of files) await fs.writeFile(join(work, 'src', name), bytes);
  const repo = new LocalRepository(join(work, 'repo'));
  const deps = nodeBackupDeps({ workers: 1 });
  await initRepository(repo, deps, 'pw', TEST_ARGON2);
  session = await openRepository(repo, deps, 'pw');
});

after(async () => {
  session.close();
  await fs.rm(work, { recursive: true, force: true });
});

test("a file's chunk ids are FastCDC's chunks of its whole bytes, cut inside reads or at the largest size", async () => {
  await backup(session, join(work, 'src'), { hostname: 'h' });
  const [snapshot] = await listSnapshots(session);
  const reader = await BlobReader.load(session);
  const nodes = await readTree(reader, snapshot!.snapshot.tree, '/');
  assert.equal(nodes.length, files.size);
  for (const node of nodes) {
    assert.equal(node.kind, 'file');
    if (node.kind !== 'file') continue;
    const bytes = files.get(nodeName(node))!;
    const want: string[] = [];
    let at = 0;
    for (const length of chunkLengths(session.gear, bytes)) {
      want.push(toHex(blobId(session.deps.crypto, session.keys, 'data', bytes.subarray(at, at + length))));
      at += length;
    }
    assert.equal(node.size, bytes.length);
    assert.deepEqual(node.content.map(toHex), want, nodeName(node));
  }
  assert.ok(
    nodes.some((n) => n.kind === 'file' && n.content.length > 3),
    'a file of several chunks',
  );
});
