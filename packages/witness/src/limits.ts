/**
 * The witness's sizes and counts, in one table (STYLE.md rule 5). They live here rather than in
 * core's `LIMITS` because only this package reads them; docs/witness.md lists them.
 */
import { LIMITS } from '@sealpost/core';

export const WITNESS_LIMITS = {
  /** Log entries the witness asks its feed for in one request while catching up. */
  entriesPerRequest: 1_000,
  /** New prefix-tree leaves in one log entry (one epoch's batch of label versions). */
  leavesPerEntry: 100_000,
  /** Cosignatures read with one head (core's LIMITS.ktCosignaturesMax, which `verifyQuorum` applies). */
  cosignaturesMax: LIMITS.ktCosignaturesMax,
  /** Trusted witness keys a client may configure (core's LIMITS.ktWitnessKeysMax). */
  witnessKeysMax: LIMITS.ktWitnessKeysMax,
  /** Ed25519 seed of the witness's signing key (RFC 8032 §5.1.5). */
  seedBytes: 32,
  /** An HTTP answer from the followed server, in bytes (a feed page of large epochs is the biggest). */
  responseMaxBytes: 64 * 1024 * 1024,
  /** A request to the followed server gives up after this long (ms). */
  requestTimeoutMs: 30_000,
  /** An encoded Configuration (§10.2) in a head answer. */
  configurationMaxBytes: 4_096,
  /** Elements of a consistency proof (core's LIMITS.ktLogProofMaxElements). */
  proofMaxElements: 4_096,
  /** Requests for a head older than the witness's before it is refused as a rollback (core's LIMITS.ktHeadAttempts). */
  headAttempts: LIMITS.ktHeadAttempts,
  /** Pause before the second such request, doubled before each later one (core's LIMITS.ktHeadRetryMs). */
  headRetryMs: LIMITS.ktHeadRetryMs,
  /** Seconds between polls of `sealpost witness` by default. */
  pollIntervalSecs: 10,
} as const;
