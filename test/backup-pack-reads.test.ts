/**
 * Packs read into reused buffers (packages/client/src/backup/pack-reads.ts, `Repository.getInto`):
 * the local repository reads into the caller's buffer; the pool never lends one buffer twice at
 * once, grows for a long pack and falls back to `get`; a restore and a `check --read-data` (on a
 * worker thread, which reads the shared buffer in place) through a repository that scribbles over
 * every buffer it is handed still restore byte for byte and find nothing, and no buffer is handed
 * back to the repository while a verifier holds it; a damaged pack is still reported naming it (and,
 * by restore, a file).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomFillSync } from 'node:crypto';
import * as fs from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LocalRepository } from '../packages/client/node/backup-local-repo.ts';
import { nodeBackupDeps } from '../packages/client/node/backup-node.ts';
import { backup } from '../packages/client/src/backup/backup.ts';
import { check } from '../packages/client/src/backup/check.ts';
import type { BackupDeps } from '../packages/client/src/backup/deps.ts';
import { BackupError } from '../packages/client/src/backup/errors.ts';
import { PackReadPool } from '../packages/client/src/backup/pack-reads.ts';
import { packReads } from '../packages/client/src/backup/pack-restorer.ts';
import { PackPlan } from '../packages/client/src/backup/restore-plan.ts';
import type { PackVerifier } from '../packages/client/src/backup/pack-verifier.ts';
import type {
  ByteRange,
  ObjectKind,
  ObjectName,
  Repository,
} from '../packages/client/src/backup/repository.ts';
import { restore } from '../packages/client/src/backup/restore.ts';
import { initRepository, openRepository } from '../packages/client/src/backup/session.ts';

const MiB = 1024 * 1024;
const TEST_ARGON2 = { memoryKiB: 1024, iterations: 1, parallelism: 1 };
/** Four packs or so: more than restore's and check's buffers, so they are reused. */
const FILES = 4;
const FILE_BYTES = 14 * MiB;
/** Longer than a pack's verification on a loaded machine (see trackingVerifiers). */
const VERDICT_AFTER_MS = 1000;

let work: string;
before(async () => {
  work = await fs.mkdtemp(join(tmpdir(), 'sealpost-pack-reads-'));
});
after(async () => {
  await fs.rm(work, { recursive: true, force: true });
});

function random(length: number): Uint8Array {
  const bytes = new Uint8Array(length);
  for (let o = 0; o < length; o += 65_536) randomFillSync(bytes, o, Math.min(65_536, length - o));
  return bytes;
}

const nameOf = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex') as ObjectName;

function isCorrupt(error: unknown): boolean {
  return error instanceof BackupError && error.code === 'BACKUP_DATA_CORRUPT';
}

/** An in-memory repository of packs, read with `get` only. Counts calls. */
class MemoryPacks implements Repository {
  readonly objects = new Map<string, Uint8Array>();
  gets = 0;
  add(bytes: Uint8Array): ObjectName {
    const name = nameOf(bytes);
    this.objects.set(name, bytes);
    return name;
  }
  /** The object's bytes, or `range` of them (a view). */
  object(name: ObjectName, range?: ByteRange): Uint8Array {
    const bytes = this.objects.get(name);
    if (bytes === undefined) throw new BackupError('BACKUP_DATA_CORRUPT', `packs/${name} is missing`);
    if (range === undefined) return bytes;
    if (range.offset + range.length > bytes.length)
      throw new BackupError('BACKUP_DATA_CORRUPT', `packs/${name}: range runs past the end`);
    return bytes.subarray(range.offset, range.offset + range.length);
  }
  put(): Promise<void> {
    return Promise.reject(new Error('not used'));
  }
  get(_kind: ObjectKind, name: ObjectName, range?: ByteRange): Promise<Uint8Array> {
    this.gets++;
    return Promise.resolve(this.object(name, range).slice());
  }
  list(): Promise<{ name: ObjectName; length: number }[]> {
    return Promise.resolve([]);
  }
  exists(_kind: ObjectKind, name: ObjectName): Promise<boolean> {
    return Promise.resolve(this.objects.has(name));
  }
  delete(): Promise<void> {
    return Promise.resolve();
  }
}

/** MemoryPacks that also reads into the caller's buffer. */
class MemoryPacksInto extends MemoryPacks {
  getInto(_kind: ObjectKind, name: ObjectName, target: Uint8Array, range?: ByteRange): Promise<Uint8Array> {
    const bytes = this.object(name, range);
    if (bytes.length > target.length) return Promise.resolve(bytes.slice());
    target.set(bytes);
    return Promise.resolve(target.subarray(0, bytes.length));
  }
}

describe('LocalRepository.getInto', () => {
  test('should read an object into the start of the target, or into a new array when it does not fit', async () => {
    const repo = new LocalRepository(join(work, 'local'));
    const bytes = random(100_000);
    const name = nameOf(bytes);
    await repo.put('packs', name, bytes);

    const target = new Uint8Array(new SharedArrayBuffer(200_000));
    const read = await repo.getInto('packs', name, target);
    assert.ok(read.buffer === target.buffer, 'the same buffer');
    assert.equal(read.byteOffset, 0);
    assert.deepEqual(new Uint8Array(read), bytes);

    const small = new Uint8Array(99_999);
    const fresh = await repo.getInto('packs', name, small);
    assert.ok(fresh.buffer !== small.buffer, 'another buffer');
    assert.deepEqual(fresh, bytes);

    const range = await repo.getInto('packs', name, target, { offset: 99_000, length: 1000 });
    assert.ok(range.buffer === target.buffer, 'the same buffer');
    assert.deepEqual(new Uint8Array(range), bytes.subarray(99_000));
  });

  test('should refuse a missing object and a range past the end with BACKUP_DATA_CORRUPT', async () => {
    const repo = new LocalRepository(join(work, 'local'));
    const target = new Uint8Array(1000);
    await assert.rejects(repo.getInto('packs', nameOf(random(10)), target), isCorrupt);
    const bytes = random(500);
    const name = nameOf(bytes);
    await repo.put('packs', name, bytes);
    await assert.rejects(repo.getInto('packs', name, target, { offset: 400, length: 101 }), isCorrupt);
  });
});

describe('PackReadPool', () => {
  const deps = nodeBackupDeps();

  test('should never lend one buffer twice at once, and reuse a buffer once it is released', async () => {
    const repo = new MemoryPacksInto();
    const [a, b, c] = [random(3 * MiB), random(2 * MiB), random(MiB)].map((x) => repo.add(x));
    const pool = new PackReadPool(repo, deps);
    const first = await pool.fetch(a!);
    const second = await pool.fetch(b!);
    assert.ok(first.bytes.buffer !== second.bytes.buffer, 'another buffer');
    assert.equal(nameOf(first.bytes), a);
    assert.equal(nameOf(second.bytes), b);
    const held = first.bytes.buffer;
    first.release();
    first.release(); // a second release must not put it in the free list twice
    const third = await pool.fetch(c!);
    assert.ok(third.bytes.buffer === held, 'the same buffer');
    const fourth = await pool.fetch(a!);
    assert.ok(fourth.bytes.buffer !== held, 'another buffer');
    assert.ok(fourth.bytes.buffer !== second.bytes.buffer, 'another buffer');
    assert.equal(nameOf(third.bytes), c);
    assert.equal(nameOf(second.bytes), b);
    assert.equal(repo.gets, 0);
  });

  test('should read a pack longer than its buffers into a new array, and fit the next one', async () => {
    const repo = new MemoryPacksInto();
    const long = repo.add(random(30 * MiB));
    const pool = new PackReadPool(repo, deps);
    const first = await pool.fetch(long);
    assert.equal(nameOf(first.bytes), long);
    assert.ok(!(first.bytes.buffer instanceof SharedArrayBuffer));
    first.release();
    const again = await pool.fetch(long);
    assert.ok(again.bytes.buffer instanceof SharedArrayBuffer);
    assert.equal(nameOf(again.bytes), long);
  });

  test('should use get when the repository has no getInto', async () => {
    const repo = new MemoryPacks();
    const name = repo.add(random(MiB));
    const loan = await new PackReadPool(repo, deps).fetch(name);
    assert.equal(nameOf(loan.bytes), name);
    assert.equal(repo.gets, 1);
  });

  test('should fetch a range of a pack into a reused buffer, unchecked, and refuse one past the end', async () => {
    const repo = new MemoryPacksInto();
    const bytes = random(3 * MiB);
    const name = repo.add(bytes);
    const pool = new PackReadPool(repo, deps);
    const loan = await pool.fetchRange(name, { offset: MiB + 5, length: 1000 });
    assert.deepEqual(loan.bytes, bytes.subarray(MiB + 5, MiB + 1005));
    assert.ok(loan.bytes.buffer instanceof SharedArrayBuffer);
    const held = loan.bytes.buffer;
    loan.release();
    await assert.rejects(pool.fetchRange(name, { offset: 3 * MiB - 10, length: 11 }), isCorrupt);
    assert.ok((await pool.fetchRange(name, { offset: 0, length: 1 })).bytes.buffer === held, 'lent again');
    const plain = new MemoryPacks();
    const other = plain.add(bytes);
    const got = await new PackReadPool(plain, deps).fetchRange(other, { offset: 7, length: 9 });
    assert.deepEqual(got.bytes, bytes.subarray(7, 16));
    assert.equal(repo.gets + plain.gets, 1);
  });

  test('should refuse a pack that does not match its name, and lend its buffer again', async () => {
    const repo = new MemoryPacksInto();
    const good = repo.add(random(MiB));
    const bad = repo.add(random(MiB));
    repo.objects.get(bad)![1000]! ^= 1;
    const pool = new PackReadPool(repo, deps);
    await assert.rejects(pool.fetch(bad), (error: unknown) => {
      assert.ok(isCorrupt(error));
      assert.equal((error as BackupError).details.object, `packs/${bad}`);
      return true;
    });
    const first = await pool.fetch(good);
    const second = await pool.fetch(good);
    // Only one buffer was made: the failed fetch gave it back.
    first.release();
    assert.ok((await pool.fetch(good)).bytes.buffer === first.bytes.buffer, 'the same buffer');
    assert.ok(second.bytes.buffer !== first.bytes.buffer, 'another buffer');
  });
});

/**
 * The local repository, but every buffer handed to `getInto` is first filled with junk, and the
 * pack only lands a little later: whoever still read that buffer would see junk. Records each
 * buffer it was handed and counts `violations`: a buffer handed over while lent to a verifier
 * (`lent`, kept by `trackingVerifiers`).
 */
class ScribblingRepository extends LocalRepository {
  readonly handed = new Map<ArrayBufferLike, number>();
  readonly lent = new Set<ArrayBufferLike>();
  violations = 0;
  override async getInto(
    kind: ObjectKind,
    name: ObjectName,
    target: Uint8Array,
    range?: ByteRange,
  ): Promise<Uint8Array> {
    if (this.lent.has(target.buffer)) this.violations++;
    this.handed.set(target.buffer, (this.handed.get(target.buffer) ?? 0) + 1);
    target.fill(0xa5);
    await new Promise((resolve) => setTimeout(resolve, 5));
    return super.getInto(kind, name, target, range);
  }
  /** Whether some buffer was handed over more than once (the pool reused it). */
  reused(): boolean {
    return [...this.handed.values()].some((n) => n > 1);
  }
}

/**
 * `deps` whose verifiers mark each pack's buffer lent until the verdict, and give every verdict
 * `VERDICT_AFTER_MS` after the call (or later): verdicts then come in the order of the calls, so a
 * lane whose verdict is in fetches its next pack while the other lane's is still out, and a buffer
 * given back before its verdict (the other lane's, given back last) would be handed over then.
 */
function trackingVerifiers(deps: BackupDeps, repo: ScribblingRepository): BackupDeps {
  const inner = deps.packVerifiers!;
  return {
    ...deps,
    packVerifiers: (keys) => {
      const verifier = inner(keys);
      const tracked: PackVerifier = {
        async verify(pack) {
          const buffer = pack.buffer;
          repo.lent.add(buffer);
          try {
            const start = Date.now();
            const verdict = await verifier.verify(pack);
            const wait = start + VERDICT_AFTER_MS - Date.now();
            if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
            return verdict;
          } finally {
            repo.lent.delete(buffer);
          }
        },
        close: () => verifier.close(),
      };
      return tracked;
    },
  };
}

describe('packReads', () => {
  /** A plan of blobs at [offset, length] pairs, each needed once. */
  function plan(blobs: [number, number][]): PackPlan {
    const pack = new PackPlan('ab'.repeat(32) as ObjectName);
    blobs.forEach(([offset, length], i) => {
      const id = new Uint8Array(32).fill(i) as Parameters<PackPlan['blob']>[0];
      pack.targetBlobs.push(pack.blob(id, offset, length, length));
      pack.targetFiles.push(i);
      pack.targetPositions.push(0);
    });
    return pack;
  }
  const spans = (pack: PackPlan, most: number) =>
    packReads(pack, most).map((r) => [r.range!.offset, r.range!.length, r.blobs.map((b) => pack.offsets[b])]);

  test('should read planned blobs in the order of their offsets, in runs spanning at most the limit', () => {
    // Planned out of order, with a gap (a blob the restore does not need) between 300 and 500.
    const pack = plan([
      [500, 100],
      [0, 100],
      [100, 200],
      [600, 400],
    ]);
    assert.deepEqual(spans(pack, 1000), [[0, 1000, [0, 100, 500, 600]]]);
    assert.deepEqual(spans(pack, 600), [
      [0, 600, [0, 100, 500]],
      [600, 400, [600]],
    ]);
    assert.deepEqual(spans(pack, 300), [
      [0, 300, [0, 100]],
      [500, 100, [500]],
      [600, 400, [600]],
    ]);
  });

  test('should read a blob longer than the limit alone, and plan nothing for an empty pack', () => {
    const pack = plan([
      [0, 10],
      [10, 5000],
      [5010, 10],
    ]);
    assert.deepEqual(spans(pack, 100), [
      [0, 10, [0]],
      [10, 5000, [10]],
      [5010, 10, [5010]],
    ]);
    assert.deepEqual(packReads(plan([]), 100), []);
  });
});

describe('restore and check --read-data through reused pack buffers', () => {
  let source: string;
  let repoDir: string;
  const names = Array.from({ length: FILES }, (_, i) => `file-${i}.bin`);

  before(async () => {
    source = join(work, 'src');
    await fs.mkdir(source);
    for (const name of names) await fs.writeFile(join(source, name), random(FILE_BYTES));
    await fs.writeFile(join(source, 'small.txt'), 'small\n');
    repoDir = join(work, 'repo');
    const deps = nodeBackupDeps({ workers: 1 });
    const repo = new LocalRepository(repoDir);
    await initRepository(repo, deps, 'pass', TEST_ARGON2);
    const session = await openRepository(repo, deps, 'pass');
    try {
      await backup(session, source, { hostname: 'h' });
    } finally {
      session.close();
    }
  });

  /** The file's SHA-256 (compared rather than the bytes: a failure would print megabytes). */
  const digest = async (path: string) => nameOf(await fs.readFile(path));

  async function sameAsSource(out: string, entries = [...names, 'small.txt']): Promise<void> {
    for (const name of entries) {
      assert.equal(await digest(join(out, name)), await digest(join(source, name)), name);
    }
  }

  test('should read ranges of packs from a local directory, and only whole packs from a repository that cannot read into buffers', async () => {
    /** Records each pack read: whole, or the range's length. */
    class Recording extends LocalRepository {
      readonly reads: (number | 'whole')[] = [];
      override get(kind: ObjectKind, name: ObjectName, range?: ByteRange): Promise<Uint8Array> {
        if (kind === 'packs') this.reads.push(range?.length ?? 'whole');
        return super.get(kind, name, range);
      }
      override getInto(
        kind: ObjectKind,
        name: ObjectName,
        target: Uint8Array,
        range?: ByteRange,
      ): Promise<Uint8Array> {
        if (kind === 'packs') this.reads.push(range?.length ?? 'whole');
        return super.getInto(kind, name, target, range);
      }
    }
    const local = new Recording(repoDir);
    const remote = new Recording(repoDir);
    // As the server's repository is: no getInto.
    Object.defineProperty(remote, 'getInto', { value: undefined });
    for (const [repo, label] of [
      [local, 'local'],
      [remote, 'remote'],
    ] as const) {
      const session = await openRepository(repo, nodeBackupDeps({ workers: 1 }), 'pass');
      try {
        const out = join(work, `out-reads-${label}`);
        await restore(session, 'latest', out);
        await sameAsSource(out);
      } finally {
        session.close();
      }
    }
    // Both read the trees' pack whole while planning (BlobReader); then the local restore reads
    // ranges of at most a chunk's length (and its seal), the other whole packs.
    const ranges = local.reads.filter((r) => r !== 'whole');
    assert.equal(local.reads.length - ranges.length, 1, local.reads.join(' '));
    assert.ok(
      ranges.every((r) => r <= 8 * MiB + 4096),
      ranges.join(' '),
    );
    assert.ok(ranges.reduce((a, b) => a + b, 0) >= FILES * FILE_BYTES, ranges.join(' '));
    assert.ok(
      remote.reads.every((r) => r === 'whole'),
      remote.reads.join(' '),
    );
    assert.equal(remote.reads.length, (await local.list('packs')).length + 1);
  });

  test('should restore byte for byte while every buffer handed to the repository is scribbled over', async () => {
    const repo = new ScribblingRepository(repoDir);
    const session = await openRepository(repo, nodeBackupDeps(), 'pass');
    try {
      const out = join(work, 'out-restore');
      await restore(session, 'latest', out);
      await sameAsSource(out);
      assert.ok(repo.reused(), 'the restore reused a pack buffer');
    } finally {
      session.close();
    }
  });

  test('should verify every pack on a worker and inline with none handed back while still verified', async () => {
    const repo = new ScribblingRepository(repoDir);
    const deps = trackingVerifiers(nodeBackupDeps({ workers: 1 }), repo);
    const session = await openRepository(repo, deps, 'pass');
    try {
      const report = await check(session, { readData: true });
      assert.deepEqual(report.problems, []);
      assert.ok(report.packsRead >= 4, `${report.packsRead} packs read`);
      assert.equal(repo.violations, 0);
      assert.ok(repo.reused(), 'the check reused a pack buffer');
    } finally {
      session.close();
    }
  });

  test('should report a damaged data pack naming it, and a file needing it, writing no wrong file', async () => {
    const copy = join(work, 'repo-damaged');
    await fs.cp(repoDir, copy, { recursive: true });
    const packs = await new LocalRepository(copy).list('packs');
    const largest = packs.reduce((a, b) => (b.length > a.length ? b : a));
    const path = join(copy, 'packs', largest.name.slice(0, 2), largest.name);
    const bytes = await fs.readFile(path);
    bytes[bytes.length >> 1]! ^= 0x10;
    await fs.writeFile(path, bytes);

    const repo = new ScribblingRepository(copy);
    const session = await openRepository(repo, nodeBackupDeps({ workers: 1 }), 'pass');
    try {
      const report = await check(session, { readData: true });
      assert.deepEqual(
        report.problems.map((p) => p.object),
        [`packs/${largest.name}`],
      );
      const out = join(work, 'out-damaged');
      await assert.rejects(restore(session, 'latest', out), (error: unknown) => {
        assert.ok(isCorrupt(error));
        const details = (error as BackupError).details;
        assert.equal(details.object, `packs/${largest.name}`);
        assert.ok(names.includes(String(details.path)), `path ${String(details.path)}`);
        return true;
      });
      const left = await fs.readdir(out);
      assert.ok(!left.some((entry) => entry.endsWith('.sealpost-partial')), left.join(' '));
      await sameAsSource(out, left);
    } finally {
      session.close();
    }
  });
});
