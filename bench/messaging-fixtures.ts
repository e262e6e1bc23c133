/**
 * Full-tree MLS groups for bench/messaging.ts, kept in bench/.cache/mls/ (ignored by git).
 *
 * A group whose members have all committed once (`fillTree`) takes about size / 2 commits to
 * make: minutes at 1,000 members. The two measured members' states are stored once per suite and
 * size and read back on later runs. A file that does not decode is rebuilt. The states hold
 * private keys of throwaway bench identities, nothing else.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { MlsCryptoOptions } from '../packages/client/src/mls/provider.ts';
import {
  decodeMember,
  encodeMember,
  fillTree,
  makeGroup,
  type Member,
} from '../packages/client/node/mls-test-group.ts';

type CiphersuiteImpl = Parameters<typeof makeGroup>[1];
type CiphersuiteName = NonNullable<MlsCryptoOptions['suite']>;

const DIR = join(import.meta.dirname, '.cache', 'mls');
// Bump when the fixture's shape changes; the ts-mls version is part of the name too.
const FORMAT = 'v1-ts-mls-1.6.4';

function frame(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + 4 + p.byteLength, 0));
  const view = new DataView(out.buffer);
  let at = 0;
  for (const p of parts) {
    view.setUint32(at, p.byteLength);
    out.set(p, at + 4);
    at += 4 + p.byteLength;
  }
  return out;
}

function unframe(bytes: Uint8Array, count: number): Uint8Array[] | undefined {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const parts: Uint8Array[] = [];
  let at = 0;
  for (let i = 0; i < count; i++) {
    if (at + 4 > bytes.byteLength) return undefined;
    const n = view.getUint32(at);
    if (at + 4 + n > bytes.byteLength) return undefined;
    parts.push(bytes.subarray(at + 4, at + 4 + n));
    at += 4 + n;
  }
  return at === bytes.byteLength ? parts : undefined;
}

/**
 * Alice and bob in a group of `size` whose tree is full (every parent node set, no unmerged
 * leaf), from the cache or made now. `built` says whether it was made in this run (and how long
 * it took), so the report can say so.
 */
export async function fullTreeGroup(
  suite: CiphersuiteName,
  size: number,
  cs: CiphersuiteImpl,
): Promise<{ alice: Member; bob: Member; builtMs?: number }> {
  const file = join(DIR, `full-tree-${suite}-${size}-${FORMAT}.bin`);
  try {
    const parts = unframe(new Uint8Array(readFileSync(file)), 2);
    const alice = parts && decodeMember('alice', parts[0]!, cs);
    const bob = parts && decodeMember('bob', parts[1]!, cs);
    if (alice !== undefined && bob !== undefined) return { alice, bob };
  } catch {
    // absent or unreadable: build it
  }
  const t0 = performance.now();
  const { alice, bob, privatePackages } = await makeGroup(size, cs);
  await fillTree(alice, bob, privatePackages);
  const builtMs = performance.now() - t0;
  mkdirSync(DIR, { recursive: true });
  writeFileSync(file, frame([encodeMember(alice), encodeMember(bob)]));
  return { alice, bob, builtMs };
}
