// A chunk met more than once in one run (copies of a file, not hard links) is sealed once by the
// workers, whichever of them meets it first; every copy restores to its bytes.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { nodeCryptoProvider as crypto } from '@sealpost/core/node';
import { blobId } from '@sealpost/core/backup/blob';
import { chunkLengths } from '@sealpost/core/backup/chunker';
import { backup } from '../packages/client/src/backup/backup.ts';
import { check } from '../packages/client/src/backup/check.ts';
import type { SealedFilePart, SealerFactory } from '../packages/client/src/backup/sealer.ts';
import { nodeBackupDeps } from '../packages/client/node/backup-node.ts';
import {
  count,
  digestTree,
  MiB,
  newRepository,
  randomData,
  restoredDigest,
  TestClock,
  writeTree,
} from './support/backup-fixtures.ts';

const clock = new TestClock();
let work: string;
before(async () => {
  work = await fs.mkdtemp(join(tmpdir(), 'sealpost-backup-repeats-'));
});
after(async () => {
  await fs.rm(work, { recursive: true, force: true });
});

/** `factory`, with every part its file jobs send passed through `map` on its way to the caller. */
function mappingParts(factory: SealerFactory, map: (part: SealedFilePart) => SealedFilePart): SealerFactory {
  return (keys, effort, known) => {
    const sealer = factory(keys, effort, known);
    return {
      seal: (type, plaintext, id) => sealer.seal(type, plaintext, id),
      sealFile: (path, expected, onPart, signal) =>
        sealer.sealFile!(path, expected, (part) => onPart(map(part)), signal),
      close: () => sealer.close(),
    };
  };
}

/** `factory`, counting the blobs its file jobs send sealed (with bytes) and unsealed. */
function counting(factory: SealerFactory): { factory: SealerFactory; sealed: number; unsealed: number } {
  const counts = { sealed: 0, unsealed: 0 };
  const wrapped = mappingParts(factory, (part) => {
    for (const b of part.blobs) {
      if (b.sealed.length > 0) counts.sealed++;
      else counts.unsealed++;
    }
    return part;
  });
  return {
    factory: wrapped,
    get sealed() {
      return counts.sealed;
    },
    get unsealed() {
      return counts.unsealed;
    },
  };
}

test('copies of a file in one run are sealed once across two workers, and all restore', async () => {
  const deps = nodeBackupDeps({ now: clock.now, workers: 2 });
  const sealers = counting(deps.sealers!);
  const source = join(work, 'src');
  const copied = randomData(5 * MiB);
  const other = randomData(700_000);
  const copies = 8;
  const files: Record<string, Uint8Array> = { 'unique/other.bin': other };
  for (let i = 0; i < copies; i++) files[`copy-${i}/data.bin`] = copied;
  await writeTree(source, files);
  const want = await digestTree(source);
  const { session } = await newRepository(join(work, 'repo'), { ...deps, sealers: sealers.factory });
  try {
    const distinct = new Set<string>();
    const chunksOf = (bytes: Uint8Array) => {
      let at = 0;
      return chunkLengths(session.gear, bytes).map((n) => bytes.subarray(at, (at += n)));
    };
    const copiedChunks = chunksOf(copied);
    assert.ok(copiedChunks.length >= 2, 'the copied file has several chunks');
    for (const c of [...copiedChunks, ...chunksOf(other)])
      distinct.add(Buffer.from(blobId(crypto, session.keys, 'data', c)).toString('hex'));

    const result = await backup(session, source, { hostname: 'h' });
    assert.equal(result.files, copies + 1);
    assert.equal(result.bytesRead, copies * copied.length + other.length);
    // Each distinct chunk sealed once; every other copy of a chunk sent without bytes.
    assert.equal(sealers.sealed, distinct.size);
    assert.equal(sealers.unsealed, (copies - 1) * copiedChunks.length);
    assert.equal(result.blobsDeduplicated, (copies - 1) * copiedChunks.length);
    assert.deepEqual(await restoredDigest(session, result.snapshotId, join(work, 'out')), want);
    assert.equal((await check(session, { readData: true })).ok, true);
  } finally {
    session.close();
  }
});

test('a run whose sealer sends a chunk unsealed and never sealed fails, and stores no snapshot', async () => {
  const deps = nodeBackupDeps({ now: clock.now, workers: 1 });
  // A sealer that drops the sealed bytes of one chunk: it claims to have sealed it for another file.
  let dropped = false;
  const broken = mappingParts(deps.sealers!, (part) => ({
    ...part,
    blobs: part.blobs.map((b) => {
      if (dropped || b.sealed.length === 0) return b;
      dropped = true;
      return { ...b, sealed: new Uint8Array(0) };
    }),
  }));
  const source = join(work, 'src-broken');
  await writeTree(source, { 'a.bin': randomData(300_000), 'b.txt': 'text' });
  const { session, local } = await newRepository(join(work, 'repo-broken'), { ...deps, sealers: broken });
  try {
    await assert.rejects(backup(session, source, { hostname: 'h' }), /unsealed that were never sent sealed/);
    assert.equal(await count(local, 'snapshots'), 0);
  } finally {
    session.close();
  }
});
