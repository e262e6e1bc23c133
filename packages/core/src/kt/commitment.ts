/**
 * Commitments to a label's value at a version (draft-ietf-keytrans-protocol-04 §10.5, §10.6): what the
 * prefix tree stores in its leaves instead of the value itself, so the tree reveals nothing to anyone
 * who lacks the opening.
 *
 *   struct { select (Configuration.mode) { case thirdPartyManagement: opaque signature<0..2^16-1>; }; } UpdateSuffix;
 *   struct { opaque value<0..2^32-1>; UpdateSuffix suffix; } UpdateValue;
 *   struct { opaque opening[Nc]; opaque label<0..2^8-1>; uint32 version; UpdateValue update; } CommitmentValue;
 *
 *   commitment = HMAC(Kc, CommitmentValue)          (§10.6, Kc and Nc from §15.1)
 *
 * The opening is a secret for whoever may not read the label: callers keep it in a Uint8Array and wipe
 * it when done; it never enters an error or a log.
 */
import type { CryptoProvider } from '../crypto/provider.ts';
import { CodecError, CryptoVerificationError, ValidationError } from '../errors.ts';
import { LIMITS } from '../limits.ts';
import type { Reader } from '../codec/reader.ts';
import { Writer } from '../codec/writer.ts';
import { KT_COMMITMENT_KEY, KT_SUITE } from './cipher-suite.ts';
import type { DeploymentMode } from './configuration.ts';
import { readOpaque, writeFixed, writeOpaque } from './tls.ts';

/** §10.5 UpdateValue; `signature` is present exactly in thirdPartyManagement mode. */
export interface UpdateValue {
  readonly value: Uint8Array;
  readonly signature?: Uint8Array | undefined;
}

/** The inputs of §10.6 CommitmentValue. */
export interface CommitmentInput {
  readonly opening: Uint8Array;
  readonly label: Uint8Array;
  readonly version: number;
  readonly update: UpdateValue;
}

export function writeUpdateValue(w: Writer, v: UpdateValue, mode: DeploymentMode): void {
  if (v.value.length > LIMITS.ktUpdateValueMaxBytes) {
    throw new CodecError(
      'CODEC_LENGTH_LIMIT',
      `UpdateValue.value: ${v.value.length} bytes exceeds ${LIMITS.ktUpdateValueMaxBytes}`,
    );
  }
  writeOpaque(w, 4, v.value, 'UpdateValue.value');
  if (mode === 'thirdPartyManagement') {
    if (v.signature === undefined) {
      throw new CodecError('CODEC_INVALID_VALUE', 'UpdateSuffix: thirdPartyManagement requires a signature');
    }
    writeOpaque(w, 2, v.signature, 'UpdateSuffix.signature');
  } else if (v.signature !== undefined) {
    throw new CodecError('CODEC_INVALID_VALUE', `UpdateSuffix: no signature in ${mode} mode`);
  }
}

export function readUpdateValue(r: Reader, mode: DeploymentMode): UpdateValue {
  const value = readOpaque(r, 4, LIMITS.ktUpdateValueMaxBytes, 'UpdateValue.value');
  if (mode !== 'thirdPartyManagement') return { value };
  return { value, signature: readOpaque(r, 2, LIMITS.ktKeyOrSignatureMaxBytes, 'UpdateSuffix.signature') };
}

/** §10.6 CommitmentValue, the exact bytes the HMAC covers. */
export function encodeCommitmentValue(input: CommitmentInput, mode: DeploymentMode): Uint8Array {
  if (!Number.isInteger(input.version) || input.version < 0 || input.version > 0xffffffff) {
    throw new ValidationError('VALIDATION_FAILED', `version ${input.version} is not a uint32`);
  }
  if (input.label.length > LIMITS.ktLabelMaxBytes) {
    throw new ValidationError(
      'VALIDATION_FAILED',
      `label of ${input.label.length} bytes exceeds ${LIMITS.ktLabelMaxBytes}`,
    );
  }
  const w = new Writer(64 + input.label.length + input.update.value.length);
  writeFixed(w, input.opening, KT_SUITE.openingBytes, 'CommitmentValue.opening');
  writeOpaque(w, 1, input.label, 'CommitmentValue.label');
  w.u32(input.version);
  writeUpdateValue(w, input.update, mode);
  return w.finish();
}

/** §10.6: `commitment = HMAC(Kc, CommitmentValue)`. */
export function computeCommitment(
  crypto: CryptoProvider,
  input: CommitmentInput,
  mode: DeploymentMode,
): Uint8Array {
  const encoded = encodeCommitmentValue(input, mode);
  try {
    return crypto.hmacSha256(KT_COMMITMENT_KEY, encoded);
  } finally {
    encoded.fill(0); // it holds the opening
  }
}

/** Throws CRYPTO_VERIFICATION_FAILED unless `commitment` opens to `input`. */
export function verifyCommitment(
  crypto: CryptoProvider,
  input: CommitmentInput,
  mode: DeploymentMode,
  commitment: Uint8Array,
): void {
  if (!crypto.timingSafeEqual(computeCommitment(crypto, input, mode), commitment)) {
    throw new CryptoVerificationError(
      'CRYPTO_VERIFICATION_FAILED',
      'commitment does not open to this value',
      {
        version: input.version,
      },
    );
  }
}

/** §10.6: "the application generates a random Nc-byte value called opening". */
export function newOpening(crypto: CryptoProvider): Uint8Array {
  return crypto.randomBytes(KT_SUITE.openingBytes);
}
