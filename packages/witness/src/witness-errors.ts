/**
 * The witness's refusals, in the one Sealpost taxonomy (core errors.ts): each is a `SealpostError`
 * with a stable code from core's table and a `reason` naming what the directory did.
 *
 *   reason             code                        the head ...
 *   bad-signature      CRYPTO_VERIFICATION_FAILED  is not signed by the directory's key (not halting)
 *   rollback           KT_TREE_SIZE_INVALID        is smaller than the one the witness last signed
 *   split-view         KT_ROOT_MISMATCH            has the size of the last signed head, another root
 *   fork               (the proof's error's code)  does not extend the last signed head (consistency)
 *   entries-missing    KT_TREE_SIZE_INVALID        comes with entries that skip, repeat or reorder some
 *   timestamp          KT_TIMESTAMP_INVALID        comes with entry timestamps that decrease or run ahead
 *   malformed-update   (VALIDATION_FAILED, ...)    comes with leaves of the wrong size, or a key twice
 *   root-mismatch      KT_ROOT_MISMATCH            signs a root other than the one the entries produce
 *
 * Every reason but `bad-signature` concerns a head the directory signed, so it halts the witness for
 * good (`WitnessHaltedError` afterwards) and is kept as `Evidence`.
 */
import { SealpostError, toHex, type ErrorCode } from '@sealpost/core';
import type { DirectoryHead } from './feed.ts';

export type RefusalReason =
  | 'bad-signature'
  | 'rollback'
  | 'split-view'
  | 'fork'
  | 'entries-missing'
  | 'timestamp'
  | 'malformed-update'
  | 'root-mismatch';

/** What a witness keeps when it refuses a signed head: both heads, signed by the directory. */
export interface Evidence {
  readonly reason: RefusalReason;
  readonly code: ErrorCode;
  readonly message: string;
  /** The witness's clock (ms) when it refused. */
  readonly detectedAt: number;
  /** The last head the witness verified and signed; absent if it had signed none. */
  readonly signed: DirectoryHead | undefined;
  /** The head it refused. */
  readonly offending: DirectoryHead;
}

export class WitnessRefusedError extends SealpostError {
  readonly reason: RefusalReason;
  /** Set when the refusal halted the witness. */
  evidence: Evidence | undefined;
  constructor(
    reason: RefusalReason,
    code: ErrorCode,
    message: string,
    details: Record<string, string | number | boolean> = {},
  ) {
    super(code, `witness refuses the head (${reason}): ${message}`, { ...details, reason });
    this.reason = reason;
  }
}

/** The witness found a fork or rewrite earlier and signs nothing for this directory any more. */
export class WitnessHaltedError extends SealpostError {
  readonly evidence: Evidence;
  constructor(evidence: Evidence) {
    super(
      evidence.code,
      `witness halted (${evidence.reason}) at ${evidence.detectedAt}: ${evidence.message}`,
      {
        reason: evidence.reason,
        halted: true,
        offendingTreeSize: evidence.offending.treeSize,
        offendingRoot: toHex(evidence.offending.root),
      },
    );
    this.evidence = evidence;
  }
}
