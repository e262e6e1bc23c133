/**
 * The typed errors of key-transparency proofs (draft-ietf-keytrans-protocol-04), in the one Sealpost
 * taxonomy (errors.ts). Modelled on transparency-dev/merkle: a verifier says precisely what failed,
 * with the public values involved (tree sizes, hex of hashes; never a secret).
 *
 *   TreeSizeError       KT_TREE_SIZE_INVALID  a documented precondition on sizes or indices is violated
 *   ProofMalformedError KT_PROOF_MALFORMED    the proof's shape does not fit the tree it claims to prove
 *   RootMismatchError   KT_ROOT_MISMATCH      the proof recomputes a different root (or retained value)
 *   TimestampError      KT_TIMESTAMP_INVALID  timestamps decrease, or the newest is outside the clock bounds
 *   VersionMismatchError KT_VERSION_MISMATCH  a binary ladder shows another greatest version than claimed
 *                                             or expected (a monitor sees a version its owner did not make)
 *   VersionNotFoundError KT_VERSION_NOT_FOUND the label, or the searched version of it, does not exist
 */
import { CryptoVerificationError, NotFoundError, ValidationError } from '../errors.ts';
import { toHex } from '../bytes/encoding.ts';

type Details = Record<string, string | number | boolean>;

export class TreeSizeError extends ValidationError {
  constructor(message: string, details: Details = {}) {
    super('KT_TREE_SIZE_INVALID', message, details);
  }
}

export class ProofMalformedError extends CryptoVerificationError {
  constructor(message: string, details: Details = {}) {
    super('KT_PROOF_MALFORMED', message, details);
  }
}

/** `expected` is the value the verifier trusted; `calculated` the one the proof produced. */
export class RootMismatchError extends CryptoVerificationError {
  readonly expected: Uint8Array;
  readonly calculated: Uint8Array;
  constructor(what: string, expected: Uint8Array, calculated: Uint8Array, details: Details = {}) {
    super('KT_ROOT_MISMATCH', `${what}: calculated ${toHex(calculated)}, expected ${toHex(expected)}`, {
      ...details,
      expected: toHex(expected),
      calculated: toHex(calculated),
    });
    this.expected = expected.slice();
    this.calculated = calculated.slice();
  }
}

export class TimestampError extends CryptoVerificationError {
  constructor(message: string, details: Details = {}) {
    super('KT_TIMESTAMP_INVALID', message, details);
  }
}

export class VersionMismatchError extends CryptoVerificationError {
  constructor(message: string, details: Details = {}) {
    super('KT_VERSION_MISMATCH', message, details);
  }
}

export class VersionNotFoundError extends NotFoundError {
  constructor(message: string, details: Details = {}) {
    super('KT_VERSION_NOT_FOUND', message, details);
  }
}
