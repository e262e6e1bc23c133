/**
 * A `DirectoryFeed` over core's in-memory `Directory`, in the same process: what the server will
 * serve over HTTP, without the HTTP. `publish` forwards to the directory and records, per log entry,
 * the leaves a witness needs (VRF outputs and commitments, never labels); a mirror of the log tree
 * answers consistency proofs. Heads come from the directory, so a mirror that drifted from it would
 * give roots its signatures do not verify over.
 */
import type { CryptoProvider } from '@sealpost/core';
import { CombinedTree } from '@sealpost/core/kt/combined-tree';
import { computeCommitment } from '@sealpost/core/kt/commitment';
import type { Configuration } from '@sealpost/core/kt/configuration';
import type { Directory, DirectoryUpdate } from '@sealpost/core/kt/directory';
import type { DirectoryFeed, DirectoryHead, EntryUpdate } from './feed.ts';
import { WITNESS_LIMITS } from './limits.ts';

export interface InProcessFeedOptions {
  readonly crypto: CryptoProvider;
  readonly config: Configuration;
  readonly directory: Directory;
  /** The directory's VRF (the same function it was built with). */
  readonly searchKey: (label: Uint8Array, version: number) => Uint8Array;
}

export class InProcessFeed implements DirectoryFeed {
  readonly #opts: InProcessFeedOptions;
  readonly #mirror: CombinedTree;
  readonly #entries: EntryUpdate[] = [];

  constructor(opts: InProcessFeedOptions) {
    this.#opts = opts;
    this.#mirror = new CombinedTree(opts.crypto);
  }

  /** `Directory.publish`, recording the entry's leaves. */
  publish(timestamp: number, updates: readonly DirectoryUpdate[]): { index: number; versions: number[] } {
    const { crypto, config, directory, searchKey } = this.#opts;
    const result = directory.publish(timestamp, updates);
    const added = updates.map((u, i) => {
      const version = result.versions[i]!;
      const input = { opening: u.opening, label: u.label, version, update: u.update };
      return {
        vrfOutput: searchKey(u.label, version),
        commitment: computeCommitment(crypto, input, config.mode),
      };
    });
    this.#mirror.append(timestamp, { add: added });
    this.#entries.push({ index: result.index, timestamp, added });
    return result;
  }

  treeHead(): DirectoryHead {
    const head = this.#opts.directory.treeHead;
    return { treeSize: head.treeSize, root: this.#mirror.log.root(head.treeSize), signature: head.signature };
  }

  updates(from: number, to: number): EntryUpdate[] {
    return this.#entries.slice(from, Math.min(to, from + WITNESS_LIMITS.entriesPerRequest));
  }

  consistencyProof(size1: number, size2: number): Uint8Array[] {
    return this.#mirror.log.consistencyProof(size1, size2);
  }
}
