/**
 * Test support (not used by the witness itself): a directory configuration, honest directories built
 * on core's `Directory`, and a forger that signs heads over any entries it is given, with the
 * directory's real key, to play a malicious directory.
 */
import { concatBytes, type CryptoProvider } from '@sealpost/core';
import { KT_128_SHA256_ED25519 } from '@sealpost/core/kt/cipher-suite';
import type { Configuration } from '@sealpost/core/kt/configuration';
import { Directory, type DirectoryUpdate } from '@sealpost/core/kt/directory';
import { LogTree } from '@sealpost/core/kt/log-tree';
import { PrefixTree } from '@sealpost/core/kt/prefix-tree';
import { signTreeHead } from '@sealpost/core/kt/tree-head';
import { encodeVrfInput } from '@sealpost/core/kt/vrf-input';
import type { DirectoryFeed, DirectoryHead, EntryUpdate } from './feed.ts';
import { InProcessFeed } from './in-process-feed.ts';

const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s);
export const T0 = 1_700_000_000_000;

export function testDirectoryKeys(crypto: CryptoProvider): { seed: Uint8Array; config: Configuration } {
  const seed = crypto.sha256(utf8('directory signing seed'));
  const config: Configuration = {
    ciphersuite: KT_128_SHA256_ED25519,
    mode: 'thirdPartyAuditing',
    signaturePublicKey: crypto.ed25519.publicKey(seed),
    vrfPublicKey: crypto.sha256(utf8('stand-in VRF key')),
    maxAuditorLag: 60_000,
    auditorStartPos: 0,
    auditorPublicKey: crypto.ed25519.publicKey(crypto.sha256(utf8('auditor seed'))),
    maxAhead: 10_000,
    maxBehind: 86_400_000,
    reasonableMonitoringWindow: 5_000,
  };
  return { seed, config };
}

/** An honest directory and its feed. `publish(['alice', 'bob'])` adds the next version of each label. */
export function honestDirectory(crypto: CryptoProvider): {
  feed: InProcessFeed;
  publish: (labels: readonly string[], timestamp?: number) => void;
} {
  const { seed, config } = testDirectoryKeys(crypto);
  const searchKey = (label: Uint8Array, version: number): Uint8Array =>
    crypto.sha256(concatBytes(utf8('stand-in VRF'), encodeVrfInput(label, version)));
  const directory = new Directory({ crypto, config, signingSeed: seed, searchKey });
  const feed = new InProcessFeed({ crypto, config, directory, searchKey });
  const versions = new Map<string, number>();
  const publish = (labels: readonly string[], timestamp = T0 + 1000 * directory.size): void => {
    const updates: DirectoryUpdate[] = labels.map((l) => {
      const v = versions.get(l) ?? 0;
      versions.set(l, v + 1);
      const opening = crypto.sha256(utf8(`opening ${l} ${v}`)).subarray(0, 16);
      return { label: utf8(l), update: { value: utf8(`${l} v${v}`) }, opening };
    });
    feed.publish(timestamp, updates);
  };
  return { feed, publish };
}

/**
 * A malicious directory: signs, with the directory's key, the log of exactly the `entries` given.
 * `prefixRoots[i]`, when set, replaces the prefix root entry i's leaves produce (a root that lies).
 */
export function forgedFeed(
  crypto: CryptoProvider,
  entries: readonly EntryUpdate[],
  prefixRoots: readonly (Uint8Array | undefined)[] = [],
): DirectoryFeed & { head: DirectoryHead } {
  const { seed, config } = testDirectoryKeys(crypto);
  const log = new LogTree(crypto);
  let prefix = PrefixTree.empty(crypto);
  entries.forEach((e, i) => {
    const forged = prefixRoots[i];
    if (forged === undefined) prefix = prefix.update({ add: e.added });
    log.append({ timestamp: e.timestamp, prefixRoot: forged ?? prefix.root });
  });
  const root = log.root();
  const head = {
    treeSize: log.size,
    root,
    signature: signTreeHead(crypto, seed, config, log.size, root).signature,
  };
  return {
    head,
    treeHead: () => head,
    updates: (from, to) => entries.slice(from, to),
    consistencyProof: (size1, size2) => log.consistencyProof(size1, size2),
  };
}
