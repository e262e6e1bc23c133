/**
 * What a witness reads from the directory it follows (docs/witness.md), as an injected interface: the
 * witness core never does I/O. The server will serve these over HTTP; tests feed them in process.
 *
 * A witness needs, per log entry, only what changes the prefix tree: the new leaves' VRF outputs and
 * commitments (§10.9 PrefixLeaf) and the entry's timestamp. Never a label (username) or a value: a
 * VRF output hides the label (RFC 9381), a commitment hides the value (§10.6).
 */
import type { PrefixLeaf } from '@sealpost/core/kt/prefix-proof';

/**
 * A signed tree head with the root it signs. The draft's `TreeHead` (§10.2) leaves the root out since
 * users recompute it from proofs; the witness keeps it so that a head it refuses is evidence a third
 * party can check against the directory's key (two signed heads that cannot both be true).
 */
export interface DirectoryHead {
  readonly treeSize: number;
  /** The log tree's root at `treeSize` (§10.2 TreeHeadTBS.root). */
  readonly root: Uint8Array;
  /** Ed25519 over TreeHeadTBS by `Configuration.signature_public_key`. */
  readonly signature: Uint8Array;
}

/** Log entry `index` (§10.8 LogEntry): its timestamp (ms) and the prefix-tree leaves it added. */
export interface EntryUpdate {
  readonly index: number;
  readonly timestamp: number;
  readonly added: readonly PrefixLeaf[];
}

type MaybePromise<T> = T | Promise<T>;

export interface DirectoryFeed {
  /**
   * The directory's newest signed head. `atLeast`: the size the witness already holds, so that an
   * instance behind its peers catches up first instead of answering an older head (a hint: the
   * witness still refuses an older head).
   */
  treeHead(atLeast?: number): MaybePromise<DirectoryHead>;
  /** Log entries `from` .. `to - 1`, in order; at most `WITNESS_LIMITS.entriesPerRequest` of them. */
  updates(from: number, to: number): MaybePromise<readonly EntryUpdate[]>;
  /** The log-tree consistency proof from `size1` to `size2` (§3.2, §11.1). Requires 0 < size1 <= size2. */
  consistencyProof(size1: number, size2: number): MaybePromise<readonly Uint8Array[]>;
}
