import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { LIMITS } from '@sealpost/core';
import { nodeCryptoProvider as crypto } from '@sealpost/core/node';
import { blobId, openBlob, type BlobType, type SealedBlob } from '@sealpost/core/backup/blob';
import { BlobIndex } from '@sealpost/core/backup/blob-index';
import { chunkLengths, deriveGearTable } from '@sealpost/core/backup/chunker';
import { deriveRepositoryKeys } from '@sealpost/core/backup/keys';
import { PackWriter, readPack } from '@sealpost/core/backup/pack';
import { inlinePackVerifier, packEntriesDigest, type PackVerdict } from '../src/backup/pack-verifier.ts';
import { BACKUP_ENGINE_LIMITS } from '../src/backup/limits.ts';
import { FileSourceError } from '../src/backup/sealer.ts';
import { nodeBackupDeps } from './backup-node.ts';
import { workerPackVerifiers, workerSealers } from './backup-workers.ts';
import { zstdDecompress } from './backup-zstd.ts';

const keys = () => deriveRepositoryKeys(crypto, new Uint8Array(32).fill(1), new Uint8Array(32).fill(2));
const text = (n: number, seed: number) =>
  new TextEncoder().encode(Array.from({ length: n }, (_, i) => `line ${seed} ${i}\n`).join(''));

/** 24 blobs sealed at once (more than the worker takes: the rest are sealed inline), in one pack. */
async function sealedPack(): Promise<{ pack: Uint8Array; plaintexts: Uint8Array[] }> {
  const sealer = workerSealers(1)(keys());
  try {
    const plaintexts = Array.from({ length: 24 }, (_, i) =>
      i % 3 === 0 ? randomBytes(5000) : text(2000, i),
    );
    const blobs = await Promise.all(
      plaintexts.map((p) => sealer.seal('data', p, blobId(crypto, keys(), 'data', p))),
    );
    const writer = new PackWriter(crypto, keys());
    const parts = blobs.map((b) => writer.add(b));
    const { tail } = writer.finish();
    return { pack: Buffer.concat([...parts, tail]), plaintexts };
  } finally {
    await sealer.close();
  }
}

async function verdicts(
  pack: Uint8Array,
  name?: string,
): Promise<{ worker: PackVerdict; inline: PackVerdict; caller: PackVerdict }> {
  const verifier = workerPackVerifiers(1)(keys());
  try {
    const inline = await inlinePackVerifier(nodeBackupDeps(), keys()).verify(new Uint8Array(pack), name);
    // Three at once: the first two go to the worker, the third is verified on this thread.
    const [worker, , caller] = await Promise.all([
      verifier.verify(new Uint8Array(pack), name),
      verifier.verify(new Uint8Array(pack), name),
      verifier.verify(new Uint8Array(pack), name),
    ]);
    return { worker: worker!, inline, caller: caller! };
  } finally {
    await verifier.close();
  }
}

test('blobs sealed on a worker and inline open to their plaintext', async () => {
  const { pack, plaintexts } = await sealedPack();
  const { worker } = await verdicts(pack);
  const entries = readPack(crypto, keys(), pack);
  assert.deepEqual(worker, { entriesDigest: packEntriesDigest(crypto, entries) });
  assert.equal(entries.length, plaintexts.length);
  entries.forEach((e, i) => {
    const sealed = pack.subarray(e.offset, e.offset + e.length);
    const plain = openBlob(crypto, keys(), e.type as BlobType, e.id, sealed, zstdDecompress, e.rawLength);
    assert.ok(Buffer.from(plain).equals(plaintexts[i]!), `blob ${i}`);
  });
});

test('a worker and the calling thread give the same verdict on an intact pack', async () => {
  const { pack } = await sealedPack();
  const { worker, inline } = await verdicts(pack);
  assert.deepEqual(worker, inline);
});

test('a pack with one flipped bit in a blob is reported with its error code, by a worker as inline', async () => {
  const { pack } = await sealedPack();
  pack[100]! ^= 0x10;
  const { worker, inline } = await verdicts(pack);
  assert.ok('problem' in worker, JSON.stringify(worker));
  assert.match(worker.problem, /^[A-Z_]+: /);
  assert.deepEqual(worker, inline);
});

test('a truncated pack is reported, not thrown, by a worker', async () => {
  const { pack } = await sealedPack();
  const { worker } = await verdicts(pack.subarray(0, pack.length - 7));
  assert.ok('problem' in worker, JSON.stringify(worker));
  assert.match(worker.problem, /^CODEC_|^CRYPTO_/);
});

test('a pack that does not hash to the name it was fetched by is reported, by a worker as inline', async () => {
  const { pack } = await sealedPack();
  const name = crypto.sha256(pack);
  const right = await verdicts(pack, Buffer.from(name).toString('hex'));
  for (const v of [right.worker, right.inline, right.caller])
    assert.ok('entriesDigest' in v, JSON.stringify(v));
  name[0]! ^= 1;
  const wrong = Buffer.from(name).toString('hex');
  const { worker, inline, caller } = await verdicts(pack, wrong);
  for (const v of [worker, inline, caller]) {
    assert.deepEqual(v, { problem: `BACKUP_DATA_CORRUPT: packs/${wrong} does not match its name` });
  }
});

test(
  'worker threads run at a nice value BACKUP_ENGINE_LIMITS.workerNiceIncrement above the engine thread (Linux)',
  { skip: process.platform !== 'linux' ? 'threads have their own nice value on Linux only' : false },
  async () => {
    const niceOf = (task: string) =>
      Number(readFileSync(`/proc/self/task/${task}/stat`, 'utf8').split(') ')[1]!.split(' ')[16]);
    const sealer = workerSealers(2)(keys());
    try {
      // A job on each worker: both have started (and set their priority) once they answer.
      const p = text(100, 1);
      await Promise.all([0, 1].map(() => sealer.seal('data', p, blobId(crypto, keys(), 'data', p))));
      const workers = readdirSync('/proc/self/task').filter(
        (t) => readFileSync(`/proc/self/task/${t}/comm`, 'utf8').trim() === 'WorkerThread',
      );
      assert.ok(workers.length >= 2, `worker threads: ${workers.length}`);
      const engine = niceOf(String(process.pid));
      for (const t of workers)
        assert.equal(niceOf(t), Math.min(19, engine + BACKUP_ENGINE_LIMITS.workerNiceIncrement));
    } finally {
      await sealer.close();
    }
  },
);

describe('whole files sealed on workers (sealFile)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'sealpost-seal-file-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const file = (name: string, bytes: Uint8Array) => {
    const path = join(dir, name);
    writeFileSync(path, bytes);
    return path;
  };
  /** The chunks FastCDC cuts from `bytes` under `k` (what the engine thread would store). */
  const chunksOf = (k: ReturnType<typeof keys>, bytes: Uint8Array) => {
    const lengths = chunkLengths(deriveGearTable(crypto, k.chunker), bytes);
    let at = 0;
    return lengths.map((n) => bytes.subarray(at, (at += n)));
  };

  test('a file of several chunks comes back in order, as the blobs the engine thread would seal', async () => {
    const k = keys();
    const bytes = new Uint8Array(Buffer.concat([randomBytes(3 << 20), text(200_000, 7)]));
    const path = file('several.bin', bytes);
    const sealer = workerSealers(2)(k);
    const got: SealedBlob[] = [];
    const reads: number[] = [];
    try {
      const size = await sealer.sealFile!(path, bytes.length, async (part) => {
        // A slow consumer: the worker waits for its credit instead of piling parts up.
        await new Promise((resolve) => setTimeout(resolve, 5));
        // The bytes are the worker's again once this resolves (its ring): copied.
        got.push(...part.blobs.map((b) => ({ ...b, sealed: b.sealed.slice() })));
        reads.push(part.bytesRead);
      });
      assert.equal(size, bytes.length);
    } finally {
      await sealer.close();
    }
    const chunks = chunksOf(k, bytes);
    assert.ok(chunks.length > 2);
    assert.equal(got.length, chunks.length);
    chunks.forEach((chunk, i) => {
      const blob = got[i]!;
      assert.deepEqual(blob.id, blobId(crypto, k, 'data', chunk));
      assert.equal(blob.rawLength, chunk.length);
      const plain = openBlob(crypto, k, 'data', blob.id, blob.sealed, zstdDecompress, chunk.length);
      assert.ok(Buffer.from(plain).equals(chunk), `chunk ${i}`);
    });
    assert.deepEqual(
      reads,
      [...reads].sort((a, b) => a - b),
    );
    assert.equal(reads.at(-1), bytes.length);
  });

  // A worker that never learns its ring was released waits for ever: the timeout makes that a failure.
  test(
    'files many times the ring, in chunks up to the largest, come back whole to a slow consumer',
    { timeout: 60_000 },
    async () => {
      const k = keys();
      // Zeros never cut before LIMITS.backupChunkMaxBytes: each such chunk needs the ring's largest
      // stretch, so the worker wraps around and waits for the parts it sent to be released. The
      // second file starts with one right after the first's random tail: the ring's end is skipped
      // before that file has a part to carry it (the engine thread must still be told to release it).
      // Each largest chunk holds a few marks of its own near its start (where FastCDC never cuts, and
      // 64 bytes after which the rolling hash is a run of zeros' again), so no chunk repeats: a
      // repeat would be claimed, sent unsealed and take no room in the ring.
      const files = [
        new Uint8Array(Buffer.concat([new Uint8Array(40 << 20), randomBytes(6 << 20)])),
        new Uint8Array(Buffer.concat([new Uint8Array(20 << 20), randomBytes(5 << 20), text(100_000, 3)])),
      ];
      const zeros = [40 << 20, 20 << 20];
      files.forEach((bytes, f) => {
        for (let at = 0; at < zeros[f]!; at += LIMITS.backupChunkMaxBytes)
          bytes.set([f + 1, at >>> 20], at + 1000);
      });
      const sealer = workerSealers(1)(k);
      const opened = files.map(() => [] as Uint8Array[]);
      try {
        await Promise.all(
          files.map(async (bytes, f) => {
            const size = await sealer.sealFile!(file(`large-${f}.bin`, bytes), bytes.length, async (part) => {
              await new Promise((resolve) => setTimeout(resolve, 20));
              for (const b of part.blobs) {
                opened[f]!.push(openBlob(crypto, k, 'data', b.id, b.sealed, zstdDecompress, b.rawLength));
              }
            });
            assert.equal(size, bytes.length);
          }),
        );
      } finally {
        await sealer.close();
      }
      files.forEach((bytes, f) => {
        const chunks = chunksOf(k, bytes);
        assert.ok(chunks.some((c) => c.length === LIMITS.backupChunkMaxBytes));
        assert.equal(opened[f]!.length, chunks.length);
        chunks.forEach((chunk, i) =>
          assert.ok(Buffer.from(opened[f]![i]!).equals(chunk), `file ${f} chunk ${i}`),
        );
      });
    },
  );

  test('chunks whose ids the repository holds come back unsealed (no bytes), the others sealed', async () => {
    const k = keys();
    const bytes = new Uint8Array(Buffer.concat([randomBytes(3 << 20), text(200_000, 9)]));
    const chunks = chunksOf(k, bytes);
    assert.ok(chunks.length > 2);
    // The repository holds every other chunk (and an unrelated id).
    const index = new BlobIndex();
    const pack = index.addPack(new Uint8Array(32).fill(7));
    const held = new Set<number>();
    chunks.forEach((chunk, i) => {
      if (i % 2 === 1) return;
      held.add(i);
      index.add(pack, {
        type: 'data',
        id: blobId(crypto, k, 'data', chunk),
        offset: i,
        length: 40,
        rawLength: 1,
      });
    });
    index.add(pack, {
      type: 'data',
      id: blobId(crypto, k, 'data', text(3, 3)),
      offset: 0,
      length: 40,
      rawLength: 1,
    });
    const sealer = workerSealers(2)(
      k,
      'fast',
      index.sortedIdWords(() => true),
    );
    const got: SealedBlob[] = [];
    try {
      const size = await sealer.sealFile!(file('half-known.bin', bytes), bytes.length, async (part) => {
        got.push(...part.blobs.map((b) => ({ ...b, sealed: b.sealed.slice() })));
      });
      assert.equal(size, bytes.length);
    } finally {
      await sealer.close();
    }
    assert.equal(got.length, chunks.length);
    chunks.forEach((chunk, i) => {
      const blob = got[i]!;
      assert.deepEqual(blob.id, blobId(crypto, k, 'data', chunk));
      assert.equal(blob.rawLength, chunk.length);
      if (held.has(i)) {
        assert.equal(blob.sealed.length, 0, `chunk ${i} is held: not sealed`);
      } else {
        const plain = openBlob(crypto, k, 'data', blob.id, blob.sealed, zstdDecompress, chunk.length);
        assert.ok(Buffer.from(plain).equals(chunk), `chunk ${i}`);
      }
    });
  });

  test('a chunk in two files sealed at once on two workers is sealed once, sent unsealed to the other', async () => {
    const k = keys();
    const bytes = new Uint8Array(Buffer.concat([randomBytes(4 << 20), text(150_000, 4)]));
    const chunks = chunksOf(k, bytes);
    assert.ok(chunks.length > 2);
    const sealer = workerSealers(2)(k);
    const got: SealedBlob[][] = [[], [], []];
    try {
      const seal = (f: number) =>
        sealer.sealFile!(file(`twin-${f}.bin`, bytes), bytes.length, async (part) => {
          got[f]!.push(...part.blobs.map((b) => ({ ...b, sealed: b.sealed.slice() })));
        });
      // The first two go to the two workers at once; the third comes after both.
      assert.deepEqual(await Promise.all([seal(0), seal(1)]), [bytes.length, bytes.length]);
      assert.equal(await seal(2), bytes.length);
    } finally {
      await sealer.close();
    }
    chunks.forEach((chunk, i) => {
      const id = blobId(crypto, k, 'data', chunk);
      const copies = got.map((blobs) => blobs[i]!);
      for (const blob of copies) {
        assert.deepEqual(blob.id, id);
        assert.equal(blob.rawLength, chunk.length);
      }
      const sealed = copies.filter((b) => b.sealed.length > 0);
      assert.equal(sealed.length, 1, `chunk ${i} sealed once`);
      const plain = openBlob(crypto, k, 'data', id, sealed[0]!.sealed, zstdDecompress, chunk.length);
      assert.ok(Buffer.from(plain).equals(chunk), `chunk ${i}`);
    });
    assert.ok(
      got[2]!.every((b) => b.sealed.length === 0),
      'the third file is all repeats',
    );
  });

  test('an empty file has no blob and size 0', async () => {
    const sealer = workerSealers(1)(keys());
    try {
      const parts: number[] = [];
      assert.equal(
        await sealer.sealFile!(
          file('empty', new Uint8Array(0)),
          0,
          async (p) => void parts.push(p.blobs.length),
        ),
        0,
      );
      assert.equal(
        parts.reduce((a, b) => a + b, 0),
        0,
      );
    } finally {
      await sealer.close();
    }
  });

  test('a file that cannot be opened is a FileSourceError naming the cause, and the worker goes on', async () => {
    const sealer = workerSealers(1)(keys());
    try {
      await assert.rejects(
        sealer.sealFile!(join(dir, 'no-such-file'), 10, async () => undefined),
        (e: unknown) => e instanceof FileSourceError && /ENOENT/.test(e.message),
      );
      const ok = file('after.txt', text(100, 1));
      assert.equal(await sealer.sealFile!(ok, 0, async () => undefined), text(100, 1).length);
    } finally {
      await sealer.close();
    }
  });

  test('a failure to handle a part fails that file, and the worker is not left waiting', async () => {
    const sealer = workerSealers(1)(keys());
    try {
      const big = file('big.bin', new Uint8Array(randomBytes(6 << 20)));
      await assert.rejects(
        sealer.sealFile!(big, 6 << 20, async () => {
          throw new Error('the pack could not be stored');
        }),
        /the pack could not be stored/,
      );
      const ok = file('next.txt', text(100, 2));
      assert.equal(await sealer.sealFile!(ok, 0, async () => undefined), text(100, 2).length);
    } finally {
      await sealer.close();
    }
  });

  test('an aborted signal stops a file being read with the signal reason', async () => {
    const sealer = workerSealers(1)(keys());
    const controller = new AbortController();
    try {
      const big = file('abort.bin', new Uint8Array(randomBytes(12 << 20)));
      await assert.rejects(
        sealer.sealFile!(
          big,
          12 << 20,
          async () => controller.abort(new Error('stopped by the test')),
          controller.signal,
        ),
        /stopped by the test/,
      );
    } finally {
      await sealer.close();
    }
  });
});
