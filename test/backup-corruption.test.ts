/**
 * Acceptance "Corruption": 1,000 seeded random bit flips and truncations of stored packs and index
 * files are all found by `check --read-data` (and index damage by the structural check alone), and
 * `restore` never leaves a wrong byte under a file's name: it stops with BACKUP_DATA_CORRUPT naming
 * the object (and the file, when a data blob is damaged).
 *
 * Each mutation is applied to one object of a tiny repository (two packs, one index file) and undone
 * after its check, so the test is deterministic and fast. Half the mutations damage an object in
 * place (a bad disk, or a server that alters bytes); the other half store the damaged bytes under
 * their own SHA-256 and remove the original, which is what a server that knows the format would do
 * to get past the name check.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { after, before, test } from 'node:test';
import { nodeBackupDeps } from '../packages/client/node/backup-node.ts';
import { backup } from '../packages/client/src/backup/backup.ts';
import { check } from '../packages/client/src/backup/check.ts';
import { BackupError } from '../packages/client/src/backup/errors.ts';
import type {
  ByteRange,
  ObjectKind,
  ObjectName,
  Repository,
} from '../packages/client/src/backup/repository.ts';
import { PARTIAL_SUFFIX, restore } from '../packages/client/src/backup/restore.ts';
import { initRepository, openRepository, type Session } from '../packages/client/src/backup/session.ts';

const MUTATIONS = 1_000;
/** Every RESTORE_EVERY-th mutation is also restored (a restore costs more than a check). */
const RESTORE_EVERY = 10;
const SEED = 0x5ea1_9057;
const TEST_ARGON2 = { memoryKiB: 1024, iterations: 1, parallelism: 1 };
const deps = nodeBackupDeps();

/** mulberry32: a small seeded PRNG, so every run applies the same 1,000 mutations. */
function prng(seed: number): (n: number) => number {
  let a = seed >>> 0;
  return (n) => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return Math.floor((((t ^ (t >>> 14)) >>> 0) / 4294967296) * n);
  };
}

const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex') as ObjectName;

/** A repository in memory: the objects are the test's to damage and repair. */
class MemoryRepository implements Repository {
  readonly objects = new Map<string, Uint8Array>();
  async put(kind: ObjectKind, name: ObjectName, bytes: Uint8Array): Promise<void> {
    if (sha256(bytes) !== name)
      throw new BackupError('BACKUP_OBJECT_NAME_INVALID', 'bytes do not hash to the name');
    this.objects.set(`${kind}/${name}`, bytes.slice());
  }
  async get(kind: ObjectKind, name: ObjectName, range?: ByteRange): Promise<Uint8Array> {
    const bytes = this.objects.get(`${kind}/${name}`);
    const object = `${kind}/${name}`;
    if (bytes === undefined) throw new BackupError('BACKUP_DATA_CORRUPT', `${object} is missing`, { object });
    if (range === undefined) return bytes.slice();
    if (range.offset + range.length > bytes.length) {
      throw new BackupError('BACKUP_DATA_CORRUPT', `${object}: range runs past the end`, { object });
    }
    return bytes.slice(range.offset, range.offset + range.length);
  }
  async list(kind: ObjectKind): Promise<{ name: ObjectName; length: number }[]> {
    return [...this.objects]
      .filter(([key]) => key.startsWith(`${kind}/`))
      .map(([key, b]) => ({ name: key.slice(kind.length + 1) as ObjectName, length: b.length }));
  }
  async exists(kind: ObjectKind, name: ObjectName): Promise<boolean> {
    return this.objects.has(`${kind}/${name}`);
  }
  async delete(kind: ObjectKind, name: ObjectName): Promise<void> {
    this.objects.delete(`${kind}/${name}`);
  }
}

let work: string;
let source: string;
let repo: MemoryRepository;
let session: Session;
const sourceFiles = new Map<string, Buffer>();

before(async () => {
  work = await fs.mkdtemp(join(tmpdir(), 'sealpost-corruption-'));
  source = join(work, 'source');
  await fs.mkdir(join(source, 'sub'), { recursive: true });
  const next = prng(SEED ^ 1);
  for (let i = 0; i < 6; i++) {
    const bytes = Buffer.alloc(1_000 + next(20_000));
    for (let j = 0; j < bytes.length; j++) bytes[j] = next(256);
    const path = join(source, i % 2 === 0 ? 'sub' : '', `file-${i}.bin`);
    await fs.writeFile(path, bytes);
    sourceFiles.set(relative(source, path), bytes);
  }
  repo = new MemoryRepository();
  await initRepository(repo, deps, 'passphrase', TEST_ARGON2);
  session = await openRepository(repo, deps, 'passphrase');
  await backup(session, source, { hostname: 'h' });
});
after(async () => {
  session.close();
  await fs.rm(work, { recursive: true, force: true });
});

/** Every regular file under `dir` holds exactly the source's bytes for its path; no partial file. */
async function assertNoWrongBytes(dir: string): Promise<void> {
  for (const entry of await fs.readdir(dir, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile()) continue;
    const path = relative(dir, join(entry.parentPath, entry.name));
    assert.ok(!path.endsWith(PARTIAL_SUFFIX), `partial file left: ${path}`);
    const want = sourceFiles.get(path);
    assert.ok(want !== undefined, `unexpected file ${path}`);
    assert.ok(want.equals(await fs.readFile(join(dir, path))), `wrong bytes under ${path}`);
  }
}

test(`${MUTATIONS} seeded bit flips and truncations of packs and index files are all detected`, async () => {
  assert.equal((await check(session, { readData: true })).ok, true, 'the undamaged repository checks');
  const packs = (await repo.list('packs')).map((o) => o.name);
  const indexes = (await repo.list('index')).map((o) => o.name);
  // A small run: one pack holding its data and tree blobs (docs/backup-format.md §Packs).
  assert.ok(packs.length >= 1 && indexes.length === 1);
  const next = prng(SEED);
  const seen = { flip: 0, truncate: 0, renamed: 0, restores: 0 };

  for (let i = 0; i < MUTATIONS; i++) {
    const kind: ObjectKind = i % 2 === 0 ? 'packs' : 'index';
    const names = kind === 'packs' ? packs : indexes;
    const name = names[next(names.length)]!;
    const original = repo.objects.get(`${kind}/${name}`)!;
    let bytes: Uint8Array;
    let what: string;
    if (next(2) === 0) {
      const bit = next(original.length * 8);
      bytes = original.slice();
      bytes[bit >>> 3]! ^= 1 << (bit & 7);
      what = `bit ${bit} of ${kind}/${name} flipped`;
      seen.flip++;
    } else {
      const length = next(original.length); // 0 .. length - 1
      bytes = original.slice(0, length);
      what = `${kind}/${name} truncated to ${length} of ${original.length} bytes`;
      seen.truncate++;
    }
    // Odd rounds of each kind: the damaged bytes under their own name, the original gone.
    const renamed = (i >> 1) % 2 === 1;
    const storedAs = renamed ? `${kind}/${sha256(bytes)}` : `${kind}/${name}`;
    repo.objects.delete(`${kind}/${name}`);
    repo.objects.set(storedAs, bytes);
    if (renamed) seen.renamed++;
    try {
      const report = await check(session, { readData: true });
      assert.equal(report.ok, false, `not detected: ${what}${renamed ? ' (renamed)' : ''}`);
      const named = report.problems.map((p) => p.object);
      assert.ok(
        named.includes(storedAs) || named.includes(`${kind}/${name}`),
        `${what}: the report names ${named.join(', ')}`,
      );
      if (kind === 'index') {
        const structural = await check(session);
        assert.equal(structural.ok, false, `structural check missed: ${what}`);
      }
      if (i % RESTORE_EVERY === 0) {
        seen.restores++;
        const target = join(work, `restore-${i}`);
        await assert.rejects(restore(session, 'latest', target), (e: unknown) => {
          assert.ok(e instanceof BackupError && e.code === 'BACKUP_DATA_CORRUPT', `${what}: ${String(e)}`);
          assert.match(String(e.details['object'] ?? e.details['path'] ?? ''), /\S/, 'names the damage');
          return true;
        });
        await fs.mkdir(target, { recursive: true });
        await assertNoWrongBytes(target);
        await fs.rm(target, { recursive: true, force: true });
      }
    } finally {
      repo.objects.delete(storedAs);
      repo.objects.set(`${kind}/${name}`, original);
    }
  }
  assert.equal(seen.flip + seen.truncate, MUTATIONS);
  assert.ok(seen.flip > 400 && seen.truncate > 400 && seen.renamed === MUTATIONS / 2);
  assert.equal(seen.restores, MUTATIONS / RESTORE_EVERY);
  assert.equal((await check(session, { readData: true })).ok, true, 'every mutation was undone');
});
