/**
 * What the directory client refuses on top of core's own errors (docs/key-transparency.md "Client").
 * Core's KT_*, IDENTITY_*, CODEC_* and CRYPTO_VERIFICATION_FAILED errors pass through unchanged;
 * these add the client's own trust decisions, each with a `reason` to match on. The codes are core's
 * (the error table is owned there), so a caller that only looks at `code` still sees the right class.
 */
import { CryptoVerificationError } from '@sealpost/core';

/** Why a directory answer was refused by the client's own rules. */
export type DirectoryTrustReason =
  /** The head is signed by a key other than the configured directory key. */
  | 'directory-key'
  /** The head is smaller than one already accepted from this server. */
  | 'rollback'
  /** The head has the size of one already accepted, with another root. */
  | 'fork'
  /** The served list names an account key other than the one the caller expects. */
  | 'account-key'
  /** Witness keys are configured and their quorum was not met. */
  | 'witness-quorum'
  /**
   * An earlier head served as cosigned is not one the newest head extends (its consistency proof
   * fails): the witnesses were shown another history than this client.
   */
  | 'cosigned-fork'
  /**
   * The directory proves (or claims) another search key or commitment for a version of the owner's
   * label than the device verified when it first saw it, or no longer shows that version
   * (own-version-records.ts).
   */
  | 'own-version-changed';

export class DirectoryTrustError extends CryptoVerificationError {
  readonly reason: DirectoryTrustReason;
  constructor(reason: DirectoryTrustReason, message: string, details: Record<string, number> = {}) {
    super(reason === 'account-key' ? 'IDENTITY_SIGNATURE_INVALID' : 'CRYPTO_VERIFICATION_FAILED', message, {
      ...details,
      reason,
    });
    this.reason = reason;
  }
}

/**
 * Owner monitoring found versions of the owner's label that this device did not make: someone
 * (the server, or a holder of the account key) published device lists behind its back.
 */
export class UnexpectedVersionAlert extends CryptoVerificationError {
  readonly username: string;
  /** The label versions the directory holds that this device has no record of making. */
  readonly versions: readonly number[];
  constructor(username: string, versions: readonly number[]) {
    super(
      'KT_VERSION_MISMATCH',
      `the directory holds versions this device did not make: ${versions.join(', ')}`,
      {
        count: versions.length,
        first: versions[0] ?? -1,
      },
    );
    this.username = username;
    this.versions = versions;
  }
}
