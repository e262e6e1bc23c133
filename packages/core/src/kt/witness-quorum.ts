/**
 * The client's witness check (DESIGN.md: "a client accepts a tree head only with a quorum of witness
 * signatures (configurable, majority by default) no older than a set lag"), including the heads the
 * witnesses have not reached yet. Pure: the clock is a parameter.
 *
 * A new head has no cosignatures until the witnesses' next poll. As draft-ietf-keytrans-protocol-04
 * §10.3 serves a `FullTreeHead` with the auditor's older tree head and bounds the auditor's lag
 * (`max_auditor_lag`, §10.4), the server serves its newest head with the newest earlier heads that
 * carry cosignatures, each with the log's full subtrees at its size and a consistency proof to the
 * newest head (§3.2, log-verify.ts). A witness counts toward the quorum for the newest head when:
 *
 *   1. its key is one of `witnessKeys`;
 *   2. it cosigned the newest head, or an earlier head proved consistent with the newest (every
 *      earlier head served must be: one that is not shows the witnesses another history than the
 *      client, and the whole answer is refused with the proof's error);
 *   3. its signature verifies over (directory id, that head's size and root, its timestamp);
 *   4. that timestamp is at most `maxLagSecs` before `now`.
 *
 * The lag reads the cosignature's time, not the cosigned head's own timestamp: the cosignature time
 * is signed by the witness the client trusts (the head's timestamp is the directory's word, bound in
 * the root but not shown without an inclusion proof), and it is the statement that bounds a split
 * view: "at that time, the log I verified was a prefix of yours". A directory that shows a client a
 * fork after the witnesses' last cosignatures is caught once the lag runs out, when only cosignatures
 * of the fork would count and no witness gives them.
 *
 * Each witness counts once, by its freshest counting cosignature, whichever head it is on.
 */
import type { CryptoProvider } from '../crypto/provider.ts';
import { toHex } from '../bytes/encoding.ts';
import { CryptoVerificationError, ValidationError } from '../errors.ts';
import { LIMITS } from '../limits.ts';
import { verifyCosignature, type Cosignature, type CosignedHead } from './cosignature.ts';
import { verifyLogConsistency } from './log-verify.ts';
import { TreeSizeError } from './proof-errors.ts';

export interface QuorumPolicy {
  /** Witnesses needed; a majority of `witnessKeys` (floor(n / 2) + 1) when omitted. */
  readonly quorum?: number | undefined;
  /** Oldest acceptable cosignature, in seconds before `now`. */
  readonly maxLagSecs: number;
  /** The client's clock, ms since the Unix epoch. */
  readonly now: number;
}

/** An earlier head served with the newest, with what proves the newest extends it. */
export interface EarlierCosignedHead {
  readonly treeSize: number;
  readonly root: Uint8Array;
  /** The log's full subtrees at `treeSize` (§4.2), checked against `root`. */
  readonly fullSubtrees: readonly Uint8Array[];
  /** Consistency proof from `treeSize` to the newest head (§11.1 batch proof with retained subtrees). */
  readonly consistency: readonly Uint8Array[];
  readonly cosignatures: readonly Cosignature[];
}

export interface WitnessedHeads {
  readonly directoryId: Uint8Array;
  /** The newest head: its root is the one the directory's signature was verified over. */
  readonly newest: { readonly treeSize: number; readonly root: Uint8Array };
  readonly cosignatures: readonly Cosignature[];
  readonly earlier?: readonly EarlierCosignedHead[] | undefined;
}

/** The outcome when the quorum is met. */
export interface QuorumResult {
  /** The witnesses (hex keys) that counted. */
  readonly witnesses: readonly string[];
  readonly quorum: number;
  /** The oldest counted cosignature's time, seconds since the Unix epoch. */
  readonly oldestTimestamp: number;
  /** The smallest head a counted cosignature is on (the newest head's size when all are on it). */
  readonly smallestTreeSize: number;
}

function checkPolicy(n: number, quorum: number, policy: QuorumPolicy): void {
  if (n === 0 || n > LIMITS.ktWitnessKeysMax || !Number.isSafeInteger(quorum) || quorum < 1 || quorum > n) {
    throw new ValidationError('VALIDATION_FAILED', `quorum ${quorum} of ${n} witness keys cannot be met`);
  }
  if (!Number.isFinite(policy.maxLagSecs) || policy.maxLagSecs < 0) {
    throw new ValidationError('VALIDATION_FAILED', `max lag ${policy.maxLagSecs} s is invalid`);
  }
}

/**
 * Requires every earlier head to be smaller than the newest, their sizes distinct, at most
 * LIMITS.ktCosignedHeadsMax of them. Throws TreeSizeError, or what verifyLogConsistency throws
 * (ProofMalformedError, RootMismatchError) for an earlier head the newest does not extend.
 */
export function verifyEarlierHeads(crypto: CryptoProvider, heads: WitnessedHeads): void {
  const earlier = heads.earlier ?? [];
  if (earlier.length > LIMITS.ktCosignedHeadsMax) {
    throw new TreeSizeError(`${earlier.length} earlier cosigned heads, over ${LIMITS.ktCosignedHeadsMax}`);
  }
  const seen = new Set<number>();
  for (const h of earlier) {
    if (seen.has(h.treeSize) || !(h.treeSize < heads.newest.treeSize)) {
      throw new TreeSizeError(
        `earlier cosigned head of size ${h.treeSize} is not below the newest ${heads.newest.treeSize}, or repeated`,
        { treeSize: h.treeSize, newest: heads.newest.treeSize },
      );
    }
    seen.add(h.treeSize);
    verifyLogConsistency(crypto, {
      size1: h.treeSize,
      root1: h.root,
      fullSubtrees1: h.fullSubtrees,
      size2: heads.newest.treeSize,
      root2: heads.newest.root,
      elements: h.consistency,
    });
  }
}

/**
 * Returns the witnesses that vouch for `heads.newest`, or throws CRYPTO_VERIFICATION_FAILED (fewer
 * than the quorum; details count the valid, stale, forged and unknown cosignatures), VALIDATION_FAILED
 * (a policy that cannot be met: no keys, a quorum outside 1..n, too many keys or cosignatures), or
 * `verifyEarlierHeads`' errors.
 */
export function verifyWitnessQuorum(
  crypto: CryptoProvider,
  heads: WitnessedHeads,
  witnessKeys: readonly Uint8Array[],
  policy: QuorumPolicy,
): QuorumResult {
  const trusted = new Set(witnessKeys.map(toHex));
  const n = trusted.size;
  const quorum = policy.quorum ?? Math.floor(n / 2) + 1;
  checkPolicy(n, quorum, policy);
  const lists: { head: CosignedHead; cosignatures: readonly Cosignature[] }[] = [
    { head: { directoryId: heads.directoryId, ...heads.newest }, cosignatures: heads.cosignatures },
    ...(heads.earlier ?? []).map((h) => ({
      head: { directoryId: heads.directoryId, treeSize: h.treeSize, root: h.root },
      cosignatures: h.cosignatures,
    })),
  ];
  for (const l of lists) {
    if (l.cosignatures.length > LIMITS.ktCosignaturesMax) {
      throw new ValidationError('VALIDATION_FAILED', `${l.cosignatures.length} cosignatures is too many`);
    }
  }
  verifyEarlierHeads(crypto, heads);
  const oldest = Math.floor(policy.now / 1000) - policy.maxLagSecs;
  /** hex key -> its freshest counting cosignature's time and head size. */
  const valid = new Map<string, { timestamp: number; treeSize: number }>();
  let stale = 0;
  let forged = 0;
  let unknown = 0;
  for (const { head, cosignatures } of lists) {
    for (const c of cosignatures) {
      const key = toHex(c.witnessKey);
      if (!trusted.has(key)) unknown++;
      else if (!verifyCosignature(crypto, head, c)) forged++;
      else if (c.timestamp < oldest) stale++;
      else if ((valid.get(key)?.timestamp ?? -1) < c.timestamp) {
        valid.set(key, { timestamp: c.timestamp, treeSize: head.treeSize });
      }
    }
  }
  if (valid.size < quorum) {
    throw new CryptoVerificationError(
      'CRYPTO_VERIFICATION_FAILED',
      `${valid.size} of ${quorum} required witness cosignatures for tree size ${heads.newest.treeSize}`,
      { valid: valid.size, quorum, stale, forged, unknown },
    );
  }
  const counted = [...valid.values()];
  return {
    witnesses: [...valid.keys()],
    quorum,
    oldestTimestamp: Math.min(...counted.map((v) => v.timestamp)),
    smallestTreeSize: Math.min(...counted.map((v) => v.treeSize)),
  };
}

/** `verifyWitnessQuorum` for one head and its own cosignatures. */
export function verifyQuorum(
  crypto: CryptoProvider,
  head: CosignedHead,
  cosignatures: readonly Cosignature[],
  witnessKeys: readonly Uint8Array[],
  policy: QuorumPolicy,
): QuorumResult {
  return verifyWitnessQuorum(
    crypto,
    { directoryId: head.directoryId, newest: head, cosignatures },
    witnessKeys,
    policy,
  );
}
