import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { nodeCryptoProvider as crypto } from '@sealpost/core/node';
import { blobId, openBlob, type BlobType } from '@sealpost/core/backup/blob';
import { deriveRepositoryKeys } from '@sealpost/core/backup/keys';
import { PackWriter } from '@sealpost/core/backup/pack';
import { inlinePackVerifier, type PackVerdict } from '../src/backup/pack-verifier.ts';
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

async function verdicts(pack: Uint8Array): Promise<{ worker: PackVerdict; inline: PackVerdict }> {
  const verifier = workerPackVerifiers(1)(keys());
  try {
    const inline = await inlinePackVerifier(nodeBackupDeps(), keys()).verify(new Uint8Array(pack));
    // Two at once: the first goes to the worker, the second is verified inline.
    const [worker] = await Promise.all([
      verifier.verify(new Uint8Array(pack)),
      verifier.verify(new Uint8Array(pack)),
    ]);
    return { worker: worker!, inline };
  } finally {
    await verifier.close();
  }
}

test('blobs sealed on a worker and inline open to their plaintext', async () => {
  const { pack, plaintexts } = await sealedPack();
  const { worker } = await verdicts(pack);
  assert.ok('entries' in worker);
  assert.equal(worker.entries.length, plaintexts.length);
  worker.entries.forEach((e, i) => {
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
