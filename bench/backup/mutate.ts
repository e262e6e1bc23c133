/**
 * The change between the backup benchmark's two runs, the same for every seed on every machine:
 *   - 1% of the regular files (chosen by a seeded shuffle) get 1-4,096 bytes of text inserted in
 *     the middle, which shifts the rest of the file (content-defined chunking must resynchronise);
 *   - new files, 0.5% as many as there are, beside randomly chosen existing ones, each the size of
 *     another randomly chosen file and filled with seeded pseudo-words (compressible like source).
 */
import * as fs from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { TreeEntry } from './tree.ts';

export const MODIFIED_FRACTION = 0.01;
export const NEW_FILE_FRACTION = 0.005;
const INSERT_MAX_BYTES = 4096;

/** mulberry32: a small seeded generator, uniform in [0, 2^32). Not for secrets. */
function generator(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  };
}

const WORDS = 'static int void struct return const unsigned long if else for while case break goto err'
  .concat(' ret data len size buf ptr dev lock unlock node list next prev flags mask page addr')
  .split(' ');

/** `n` bytes of seeded pseudo-words and punctuation. */
function text(next: () => number, n: number): Uint8Array {
  const out = new Uint8Array(n);
  let o = 0;
  while (o < n) {
    const r = next();
    const word = WORDS[r % WORDS.length]!;
    for (let i = 0; i < word.length && o < n; i++) out[o++] = word.charCodeAt(i);
    if (o < n) out[o++] = ' ;\n(),'.charCodeAt((r >>> 8) % 6);
  }
  return out;
}

export interface Mutation {
  readonly modified: number;
  readonly bytesInserted: number;
  readonly added: number;
  readonly bytesAdded: number;
}

/** Applies the change to the tree at `root`, whose entries are `entries` (from listTree). */
export async function mutate(root: string, entries: readonly TreeEntry[], seed: number): Promise<Mutation> {
  const next = generator(seed);
  const files = entries.filter((e) => e.kind === 'file');
  const order = files.map((_, i) => i);
  for (let i = order.length - 1; i > 0; i--) {
    const j = next() % (i + 1);
    [order[i], order[j]] = [order[j]!, order[i]!];
  }
  let bytesInserted = 0;
  const modified = Math.max(1, Math.round(files.length * MODIFIED_FRACTION));
  for (const index of order.slice(0, modified)) {
    const path = join(root, files[index]!.path);
    const old = await fs.readFile(path);
    const insert = text(next, 1 + (next() % INSERT_MAX_BYTES));
    const middle = Math.floor(old.length / 2);
    await fs.writeFile(path, Buffer.concat([old.subarray(0, middle), insert, old.subarray(middle)]));
    bytesInserted += insert.length;
  }
  let bytesAdded = 0;
  const added = Math.max(1, Math.round(files.length * NEW_FILE_FRACTION));
  for (let i = 0; i < added; i++) {
    const beside = files[next() % files.length]!;
    const size = files[next() % files.length]!.size;
    await fs.writeFile(join(root, dirname(beside.path), `bench-new-${i}.txt`), text(next, size));
    bytesAdded += size;
  }
  return { modified, bytesInserted, added, bytesAdded };
}
