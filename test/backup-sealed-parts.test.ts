// Parts of files sealed elsewhere (BlobSealer.sealFile) go into packs as they come: each part's
// bytes are copied before it is released (the sealer reuses them at once, as a worker's ring
// does), and packs are stored one after another however fast parts come.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { blobId, sealBlob, type SealedBlob } from '@sealpost/core/backup/blob';
import { chunkLengths } from '@sealpost/core/backup/chunker';
import { backup } from '../packages/client/src/backup/backup.ts';
import { check } from '../packages/client/src/backup/check.ts';
import type { Repository } from '../packages/client/src/backup/repository.ts';
import type { SealerFactory } from '../packages/client/src/backup/sealer.ts';
import { nodeBackupDeps } from '../packages/client/node/backup-node.ts';
import {
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
  work = await fs.mkdtemp(join(tmpdir(), 'sealpost-sealed-parts-'));
});
after(async () => {
  await fs.rm(work, { recursive: true, force: true });
});

test("a part's blobs are in packs before it is released, and packs are stored one at a time", async () => {
  const deps = nodeBackupDeps({ now: clock.now });
  const run: { gear?: Uint32Array } = {};
  let released = 0;
  // Seals each file here in parts of two blobs, and scribbles over a part's sealed bytes as soon
  // as it is released: a blob copied late would then fail check --read-data.
  const sealers: SealerFactory = (keys) => ({
    seal: (type, plaintext, id) =>
      Promise.resolve(sealBlob(deps.crypto, keys, type, plaintext, deps.compress, id)),
    async sealFile(path, _expected, onPart) {
      const bytes = new Uint8Array(await fs.readFile(path));
      const blobs: SealedBlob[] = [];
      let at = 0;
      for (const n of chunkLengths(run.gear!, bytes)) {
        const chunk = bytes.subarray(at, (at += n));
        const id = blobId(deps.crypto, keys, 'data', chunk);
        const sealed = sealBlob(deps.crypto, keys, 'data', chunk, deps.compress, id);
        blobs.push({ ...sealed, sealed: new Uint8Array(sealed.sealed) });
      }
      for (let i = 0; i < blobs.length; i += 2) {
        const part = blobs.slice(i, i + 2);
        await onPart({ blobs: part, bytesRead: Math.min(bytes.length, at) });
        for (const b of part) b.sealed.fill(0xee);
        released++;
      }
      return bytes.length;
    },
    close: () => Promise.resolve(),
  });
  let storing = 0;
  let mostStoring = 0;
  let packsPut = 0;
  /** The repository, each pack put taking 30 ms more. */
  class Slow implements Repository {
    readonly inner: Repository;
    constructor(inner: Repository) {
      this.inner = inner;
    }
    async put(...args: Parameters<Repository['put']>): Promise<void> {
      if (args[0] !== 'packs') return this.inner.put(...args);
      storing++;
      mostStoring = Math.max(mostStoring, storing);
      try {
        await new Promise((resolve) => setTimeout(resolve, 30));
        await this.inner.put(...args);
        packsPut++;
      } finally {
        storing--;
      }
    }
    get: Repository['get'] = (...args) => this.inner.get(...args);
    list: Repository['list'] = (...args) => this.inner.list(...args);
    exists: Repository['exists'] = (...args) => this.inner.exists(...args);
    delete: Repository['delete'] = (...args) => this.inner.delete(...args);
  }
  const source = join(work, 'src');
  // Random data (no compression) across several 16 MiB packs, plus small files.
  const files: Record<string, Uint8Array | string> = {};
  for (let i = 0; i < 6; i++) files[`big-${i}.bin`] = randomData(9 * MiB);
  for (let i = 0; i < 40; i++) files[`small/${i}.txt`] = `file ${i}\n`.repeat(50 + i);
  await writeTree(source, files);
  const { session } = await newRepository(join(work, 'repo'), { ...deps, sealers }, (r) => new Slow(r));
  run.gear = session.gear;
  try {
    const result = await backup(session, source, { hostname: 'h' });
    assert.ok(released > 20, `parts released: ${released}`);
    assert.ok(packsPut >= 4, `packs stored: ${packsPut}`);
    assert.equal(mostStoring, 1, 'one pack stored at a time (BACKUP_ENGINE_LIMITS.packsStoringMax)');
    assert.equal((await check(session, { readData: true })).ok, true);
    assert.deepEqual(
      await restoredDigest(session, result.snapshotId, join(work, 'out')),
      await digestTree(source),
    );
  } finally {
    session.close();
  }
});
