/**
 * Account-key rotation. A device list may carry a new account key only with a rotation statement
 * signed by the previous account key (a planned rotation from a device that still holds it) or by the
 * recovery key (every device lost; recovery-key.ts). The statement binds the username, the hash of the
 * list it replaces and both keys, so it cannot be replayed onto another account or another point of
 * the chain. docs/identity.md "Account-key rotation".
 *
 *   struct {
 *     string label = "sealpost/v1/account-key-rotation";
 *     uint8  signer;                 // 0: previous account key, 1: recovery key
 *     string username;
 *     opaque previousListHash[32];
 *     opaque previousAccountKey[32];
 *     opaque newAccountKey[32];
 *   } RotationStatement;              // the bytes signed; never sent
 *
 *   struct { uint8 signer; opaque signature[64]; } AccountKeyRotation;   // sent inside the device list
 */
import { Writer } from '../codec/writer.ts';
import { Reader } from '../codec/reader.ts';
import { CodecError, CryptoVerificationError, ValidationError } from '../errors.ts';
import { exactBytesArg } from '../crypto/arguments.ts';
import type { CryptoProvider } from '../crypto/provider.ts';
import { parseUsername } from '../account/username.ts';
import { equalPublicBytes } from '../bytes/encoding.ts';
import { LIMITS } from '../limits.ts';

export const ROTATION_LABEL = 'sealpost/v1/account-key-rotation';
/** Who signed a rotation. */
export const ROTATION_SIGNER = { previousAccountKey: 0, recoveryKey: 1 } as const;
export type RotationSigner = (typeof ROTATION_SIGNER)[keyof typeof ROTATION_SIGNER];

/** SHA-256 output: the hash that links a device list to the one it replaces. */
export const LIST_HASH_BYTES = 32;

export interface AccountKeyRotation {
  readonly signer: RotationSigner;
  readonly signature: Uint8Array;
}

/** What a rotation is about: the list it continues and the keys before and after. */
export interface RotationContext {
  readonly username: string;
  readonly previousListHash: Uint8Array;
  readonly previousAccountKey: Uint8Array;
  readonly newAccountKey: Uint8Array;
}

function objectArg<T extends object>(value: T, what: string): T {
  if (typeof value !== 'object' || value === null) {
    throw new ValidationError('VALIDATION_FAILED', `${what} must be an object`);
  }
  return value;
}

function checkSigner(value: unknown): RotationSigner {
  if (value !== ROTATION_SIGNER.previousAccountKey && value !== ROTATION_SIGNER.recoveryKey) {
    throw new ValidationError(
      'VALIDATION_FAILED',
      'rotation signer must be 0 (previous account key) or 1 (recovery key)',
    );
  }
  return value;
}

/** The bytes a rotation signs (never sent: both sides rebuild them from the device lists). */
export function rotationStatement(context: RotationContext, signer: RotationSigner): Uint8Array {
  objectArg(context, 'rotation context');
  return new Writer()
    .string(ROTATION_LABEL)
    .u8(checkSigner(signer))
    .string(parseUsername(context.username))
    .fixed(exactBytesArg(context.previousListHash, LIST_HASH_BYTES, 'previous list hash'))
    .fixed(exactBytesArg(context.previousAccountKey, LIMITS.publicKeyBytes, 'previous account key'))
    .fixed(exactBytesArg(context.newAccountKey, LIMITS.publicKeyBytes, 'new account key'))
    .finish();
}

/**
 * Signs a rotation with the previous account key's or the recovery key's seed.
 * Precondition: `signerSeed` is the seed of the key `signer` names (checked by verification, not here).
 */
export function signRotation(
  crypto: CryptoProvider,
  context: RotationContext,
  signer: RotationSigner,
  signerSeed: Uint8Array,
): AccountKeyRotation {
  const statement = rotationStatement(context, signer);
  const seed = exactBytesArg(signerSeed, 32, 'signer seed');
  return { signer, signature: crypto.ed25519.sign(seed, statement) };
}

export function encodeRotation(w: Writer, rotation: AccountKeyRotation): void {
  if (!(w instanceof Writer)) throw new ValidationError('VALIDATION_FAILED', 'encodeRotation needs a Writer');
  objectArg(rotation, 'rotation');
  w.u8(checkSigner(rotation.signer)).fixed(
    exactBytesArg(rotation.signature, LIMITS.signatureBytes, 'rotation signature'),
  );
}

export function decodeRotation(r: Reader): AccountKeyRotation {
  if (!(r instanceof Reader)) throw new CodecError('CODEC_INVALID_VALUE', 'decodeRotation needs a Reader');
  const signer = r.u8('rotation signer');
  if (signer !== ROTATION_SIGNER.previousAccountKey && signer !== ROTATION_SIGNER.recoveryKey) {
    throw new CodecError('CODEC_INVALID_VALUE', `rotation signer: ${signer} is not 0 or 1`);
  }
  return { signer, signature: r.fixed(LIMITS.signatureBytes, 'rotation signature') };
}

/** The keys of the last accepted list a transition is checked against. */
export interface RotationAuthority {
  readonly accountKey: Uint8Array;
  readonly recoveryKey: Uint8Array;
}

/**
 * Checks the account-key step from the last accepted list to the next one:
 *   - same key: no rotation may be present;
 *   - new key: a rotation signed by `authority.accountKey` (signer 0) or `authority.recoveryKey`
 *     (signer 1) over `rotationStatement(context, signer)`.
 * Throws IDENTITY_ROTATION_UNAUTHORIZED otherwise.
 */
export function verifyAccountKeyTransition(
  crypto: CryptoProvider,
  authority: RotationAuthority,
  context: RotationContext,
  rotation: AccountKeyRotation | undefined,
): void {
  objectArg(authority, 'rotation authority');
  objectArg(context, 'rotation context');
  if (rotation !== undefined) objectArg(rotation, 'rotation');
  const previousKey = exactBytesArg(authority.accountKey, LIMITS.publicKeyBytes, 'previous account key');
  const recoveryKey = exactBytesArg(authority.recoveryKey, LIMITS.publicKeyBytes, 'recovery key');
  if (
    !equalPublicBytes(
      previousKey,
      exactBytesArg(context.previousAccountKey, LIMITS.publicKeyBytes, 'previous account key'),
    )
  ) {
    throw new ValidationError('VALIDATION_FAILED', 'rotation context names another previous account key');
  }
  const newKey = exactBytesArg(context.newAccountKey, LIMITS.publicKeyBytes, 'new account key');
  if (equalPublicBytes(previousKey, newKey)) {
    if (rotation !== undefined) {
      throw new CryptoVerificationError(
        'IDENTITY_ROTATION_UNAUTHORIZED',
        'a rotation is present but the account key did not change',
      );
    }
    return;
  }
  if (rotation === undefined) {
    throw new CryptoVerificationError(
      'IDENTITY_ROTATION_UNAUTHORIZED',
      'the account key changed without a rotation statement',
    );
  }
  const signer = checkSigner(rotation.signer);
  const signerKey = signer === ROTATION_SIGNER.previousAccountKey ? previousKey : recoveryKey;
  const signature = exactBytesArg(rotation.signature, LIMITS.signatureBytes, 'rotation signature');
  if (!crypto.ed25519.verify(signerKey, rotationStatement(context, signer), signature)) {
    throw new CryptoVerificationError(
      'IDENTITY_ROTATION_UNAUTHORIZED',
      `the rotation is not signed by the ${signer === 0 ? 'previous account key' : 'recovery key'}`,
      { signer },
    );
  }
}
