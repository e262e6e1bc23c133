/**
 * The client's side of witnessing (DESIGN.md: "a client accepts a tree head only with a quorum of
 * witness signatures (configurable, majority by default) no older than a set lag"). Pure: the clock
 * is a parameter.
 *
 * A cosignature counts when its key is one of `witnessKeys`, its signature verifies over the head at
 * its timestamp (cosignature.ts), and that timestamp is at most `maxLagSecs` before `now`. Each
 * witness counts once however many cosignatures it has in the list.
 */
import { CryptoVerificationError, ValidationError, toHex, type CryptoProvider } from '@sealpost/core';
import { verifyCosignature, type Cosignature, type CosignedHead } from './cosignature.ts';
import { WITNESS_LIMITS } from './limits.ts';

export interface QuorumPolicy {
  /** Witnesses needed; a majority of `witnessKeys` (floor(n / 2) + 1) when omitted. */
  readonly quorum?: number | undefined;
  /** Oldest acceptable cosignature, in seconds before `now`. */
  readonly maxLagSecs: number;
  /** The client's clock, ms since the Unix epoch. */
  readonly now: number;
}

/** The outcome when the quorum is met: the witnesses (hex keys) whose cosignatures counted. */
export interface QuorumResult {
  readonly witnesses: readonly string[];
  readonly quorum: number;
}

/**
 * Returns the witnesses that vouch for `head`, or throws CRYPTO_VERIFICATION_FAILED (fewer than the
 * quorum; details count the valid, stale, forged and unknown cosignatures) or VALIDATION_FAILED (a
 * policy that cannot be met: no keys, a quorum outside 1..n, too many keys or cosignatures).
 */
export function verifyQuorum(
  crypto: CryptoProvider,
  head: CosignedHead,
  cosignatures: readonly Cosignature[],
  witnessKeys: readonly Uint8Array[],
  policy: QuorumPolicy,
): QuorumResult {
  const trusted = new Set(witnessKeys.map(toHex));
  const n = trusted.size;
  const quorum = policy.quorum ?? Math.floor(n / 2) + 1;
  if (
    n === 0 ||
    n > WITNESS_LIMITS.witnessKeysMax ||
    !Number.isSafeInteger(quorum) ||
    quorum < 1 ||
    quorum > n
  ) {
    throw new ValidationError('VALIDATION_FAILED', `quorum ${quorum} of ${n} witness keys cannot be met`);
  }
  if (cosignatures.length > WITNESS_LIMITS.cosignaturesMax) {
    throw new ValidationError('VALIDATION_FAILED', `${cosignatures.length} cosignatures is too many`);
  }
  if (!Number.isFinite(policy.maxLagSecs) || policy.maxLagSecs < 0) {
    throw new ValidationError('VALIDATION_FAILED', `max lag ${policy.maxLagSecs} s is invalid`);
  }
  const oldest = Math.floor(policy.now / 1000) - policy.maxLagSecs;
  const valid = new Set<string>();
  let stale = 0;
  let forged = 0;
  let unknown = 0;
  for (const c of cosignatures) {
    const key = toHex(c.witnessKey);
    if (!trusted.has(key)) unknown++;
    else if (!verifyCosignature(crypto, head, c)) forged++;
    else if (c.timestamp < oldest) stale++;
    else valid.add(key);
  }
  if (valid.size < quorum) {
    throw new CryptoVerificationError(
      'CRYPTO_VERIFICATION_FAILED',
      `${valid.size} of ${quorum} required witness cosignatures for tree size ${head.treeSize}`,
      { valid: valid.size, quorum, stale, forged, unknown },
    );
  }
  return { witnesses: [...valid], quorum };
}
