/**
 * ECVRF-EDWARDS25519-SHA512-TAI (RFC 9381 §5, suite_string 0x03): the verifiable random function the
 * key-transparency directory uses to hide labels (DESIGN.md "Identity and the key directory").
 *
 * Inside: prove (§5.1), proof_to_hash (§5.2), verify (§5.3, always with validate_key = TRUE), and the
 * helpers of §5.4: encode_to_curve by try-and-increment (§5.4.1.1), nonce generation as in RFC 8032
 * (§5.4.2.2), challenge generation (§5.4.3), decode_proof (§5.4.4) and validate_key (§5.4.5).
 * Suite parameters are those of §5.5: edwards25519 with cofactor 8, cLen = 16, qLen = ptLen = 32,
 * little-endian integers, RFC 8032 §5.1.2/§5.1.3 point encodings, SHA-512, encode_to_curve_salt =
 * PK_string, keys as in RFC 8032 §5.1.5.
 *
 * Point arithmetic is @noble/curves' edwards25519 and hashing @noble/hashes' SHA-512 (both audited,
 * both run in the browser); nothing here does field or curve arithmetic by hand. The CryptoProvider
 * interface has no point operations, so, like noble-provider.ts, this module names noble directly.
 *
 * Errors: an argument of the wrong type, or an alpha over `LIMITS.vrfAlphaMaxBytes`, is a
 * ValidationError; bytes that do not make a valid key or proof (any length, any content) are a
 * CryptoVerificationError (CRYPTO_VERIFICATION_FAILED). No library exception escapes.
 *
 * Secrets: the SHA-512 of the secret key, its clamped half and the nonce string are wiped here. The
 * scalars x and k are JavaScript bigints, which cannot be wiped; that is a limit of the language.
 * Timing: try-and-increment runs in time that depends on alpha (RFC 9381 §7.4); alpha is a label the
 * directory already knows, never a secret of the prover.
 */
import { ed25519 } from '@noble/curves/ed25519.js';
import { bytesToNumberLE, numberToBytesLE } from '@noble/curves/utils.js';
import { sha512 } from '@noble/hashes/sha2.js';
import { CryptoVerificationError, InternalError, ValidationError } from '../errors.ts';
import { LIMITS } from '../limits.ts';
import { bytesArg, exactBytesArg } from '../crypto/arguments.ts';

type EdPoint = InstanceType<typeof ed25519.Point>;

const Point = ed25519.Point;
/** The scalar field: integers mod q, the prime order of the edwards25519 base point (RFC 8032 §5.1 `L`). */
const Fn = Point.Fn;

/** RFC 9381 §5.5: "suite_string = 0x03". */
const SUITE_STRING = 0x03;
/** Domain separators, RFC 9381 §5.4.1.1, §5.4.3 and §5.2. */
const ENCODE_TO_CURVE_FRONT = 0x01;
const CHALLENGE_FRONT = 0x02;
const PROOF_TO_HASH_FRONT = 0x03;
const DOMAIN_SEPARATOR_BACK = 0x00;
/** `int_to_string(ctr, 1)` cannot encode more (§5.4.1.1); each try fails with probability about 1/2. */
const TRY_AND_INCREMENT_MAX_CTR = 255;

/** Lengths fixed by the suite (RFC 9381 §5.5; RFC 8032 §5.1.5). */
export const ECVRF_SIZES = {
  secretKey: 32,
  publicKey: 32,
  /** ptLen: an encoded point. */
  point: 32,
  /** cLen: the challenge. */
  challenge: 16,
  /** qLen: the scalar s. */
  scalar: 32,
  /** ptLen + cLen + qLen. */
  proof: 80,
  /** hLen of SHA-512: beta. */
  output: 64,
} as const;

function verificationFailed(message: string, details?: Record<string, string | number | boolean>): never {
  throw new CryptoVerificationError('CRYPTO_VERIFICATION_FAILED', `ECVRF: ${message}`, details);
}

function alphaArg(alpha: unknown): Uint8Array {
  const bytes = bytesArg(alpha, 'ECVRF alpha');
  if (bytes.length > LIMITS.vrfAlphaMaxBytes) {
    throw new ValidationError(
      'VALIDATION_FAILED',
      `ECVRF alpha of ${bytes.length} bytes exceeds ${LIMITS.vrfAlphaMaxBytes}`,
      { length: bytes.length, max: LIMITS.vrfAlphaMaxBytes },
    );
  }
  return bytes;
}

/** RFC 9381 §5.5 string_to_point: RFC 8032 §5.1.3 decoding (canonical y < p; x = 0 with sign 1 refused). */
function stringToPoint(bytes: Uint8Array): EdPoint | undefined {
  try {
    return Point.fromBytes(bytes, false);
  } catch {
    return undefined; // "INVALID"
  }
}

/** RFC 9381 §5.5 int_to_string / string_to_int: little-endian (RFC 8032 §5.1.2). */
const intToString = (n: bigint, length: number): Uint8Array => numberToBytesLE(n, length);
const stringToInt = (bytes: Uint8Array): bigint => bytesToNumberLE(bytes);

interface SecretKey {
  /** The secret scalar x, reduced mod q (x*P is unchanged for P in the prime-order subgroup). */
  readonly x: bigint;
  /** SHA-512(SK)[32..63], the nonce key of RFC 8032; the caller wipes it. */
  readonly prefix: Uint8Array;
  /** Y = x*B. */
  readonly Y: EdPoint;
  readonly publicKey: Uint8Array;
}

/** RFC 9381 §5.5: "The secret scalar x and the public key Y are derived as in Section 5.1.5 of [RFC8032]". */
function expandSecretKey(sk: Uint8Array): SecretKey {
  // RFC 8032 §5.1.5 step 1: "Hash the 32-byte private key using SHA-512, storing the digest in a
  // 64-octet large buffer, denoted h."
  const h = sha512(sk);
  const head = clampedHead(h);
  // Step 3: "Interpret the buffer as the little-endian integer, forming a secret scalar s."
  // A clamped scalar lies in [2^254, 2^255) and is a multiple of 8: never a multiple of q, so x != 0.
  const x = Fn.create(stringToInt(head));
  head.fill(0);
  const prefix = h.slice(32, 64);
  h.fill(0);
  // Step 3 (cont.): "Perform a fixed-base scalar multiplication [s]B."
  const Y = Point.BASE.multiply(x);
  return { x, prefix, Y, publicKey: Y.toBytes() };
}

/**
 * RFC 8032 §5.1.5 step 2: "Prune the buffer: The lowest three bits of the first octet are cleared, the
 * highest bit of the last octet is cleared, and the second highest bit of the last octet is set."
 * Returns a copy of the first half of `h`; the caller wipes it.
 */
function clampedHead(h: Uint8Array): Uint8Array {
  const head = h.slice(0, 32);
  head[0]! &= 0xf8;
  head[31]! &= 0x7f;
  head[31]! |= 0x40;
  return head;
}

/**
 * RFC 9381 §5.4.1.1 ECVRF_encode_to_curve_try_and_increment(encode_to_curve_salt, alpha_string).
 * Returns undefined when 256 tries all fail (probability about 2^-256).
 */
function encodeToCurve(salt: Uint8Array, alpha: Uint8Array): EdPoint | undefined {
  // 1. ctr = 0 ... 4. H = "INVALID"
  // 5. While H is "INVALID" or H is the identity element of the elliptic curve group:
  for (let ctr = 0; ctr <= TRY_AND_INCREMENT_MAX_CTR; ctr++) {
    // A. ctr_string = int_to_string(ctr, 1)
    // B. hash_string = Hash(suite_string || encode_to_curve_domain_separator_front ||
    //    encode_to_curve_salt || alpha_string || ctr_string || encode_to_curve_domain_separator_back)
    const hashString = sha512
      .create()
      .update(Uint8Array.of(SUITE_STRING, ENCODE_TO_CURVE_FRONT))
      .update(salt)
      .update(alpha)
      .update(Uint8Array.of(ctr, DOMAIN_SEPARATOR_BACK))
      .digest();
    // C. H = interpret_hash_value_as_a_point(hash_string), which §5.5 defines as
    //    string_to_point(hash_string[0]...hash_string[31])
    const candidate = stringToPoint(hashString.subarray(0, ECVRF_SIZES.point));
    if (candidate === undefined) continue;
    // D. If H is not "INVALID" and cofactor > 1, set H = cofactor * H
    const H = candidate.clearCofactor();
    if (!H.is0()) return H; // 6. Output H
  }
  return undefined;
}

/**
 * RFC 9381 §5.4.2.2 ECVRF_nonce_generation_RFC8032(SK, h_string), with Hash(SK) already split into
 * its prefix (`hashed_sk_string[32..63]`). Returns k mod q and k_string; the caller wipes k_string.
 */
function nonceGeneration(prefix: Uint8Array, hString: Uint8Array): { k: bigint; kString: Uint8Array } {
  // 1. hashed_sk_string = Hash(SK)
  // 2. truncated_hashed_sk_string = hashed_sk_string[32]...hashed_sk_string[63]
  // 3. k_string = Hash(truncated_hashed_sk_string || h_string)
  const kString = sha512.create().update(prefix).update(hString).digest();
  // 4. k = string_to_int(k_string) mod q
  return { k: Fn.create(stringToInt(kString)), kString };
}

/** RFC 9381 §5.4.3 ECVRF_challenge_generation(P1, P2, P3, P4, P5), points given encoded. */
function challengeGeneration(points: readonly Uint8Array[]): bigint {
  // 1. challenge_generation_domain_separator_front = 0x02
  // 2. Initialize str = suite_string || challenge_generation_domain_separator_front
  const str = sha512.create().update(Uint8Array.of(SUITE_STRING, CHALLENGE_FRONT));
  // 3. for PJ in [P1, P2, P3, P4, P5]: str = str || point_to_string(PJ)
  for (const p of points) str.update(p);
  // 4.-5. str = str || challenge_generation_domain_separator_back
  str.update(Uint8Array.of(DOMAIN_SEPARATOR_BACK));
  // 6. c_string = Hash(str)
  const cString = str.digest();
  // 7. truncated_c_string = c_string[0]...c_string[cLen-1]
  // 8. c = string_to_int(truncated_c_string)
  return stringToInt(cString.subarray(0, ECVRF_SIZES.challenge));
}

interface DecodedProof {
  readonly Gamma: EdPoint;
  readonly c: bigint;
  readonly s: bigint;
}

/** RFC 9381 §5.4.4 ECVRF_decode_proof(pi_string); a length other than 80 is "INVALID" too. */
function decodeProof(pi: Uint8Array): DecodedProof {
  if (pi.length !== ECVRF_SIZES.proof) {
    verificationFailed(`proof must be ${ECVRF_SIZES.proof} bytes, got ${pi.length}`, { length: pi.length });
  }
  const { point: ptLen, challenge: cLen, scalar: qLen } = ECVRF_SIZES;
  // 1. let gamma_string = pi_string[0]...pi_string[ptLen-1]
  // 2. let c_string = pi_string[ptLen]...pi_string[ptLen+cLen-1]
  // 3. let s_string = pi_string[ptLen+cLen]...pi_string[ptLen+cLen+qLen-1]
  const gammaString = pi.subarray(0, ptLen);
  const cString = pi.subarray(ptLen, ptLen + cLen);
  const sString = pi.subarray(ptLen + cLen, ptLen + cLen + qLen);
  // 4. Gamma = string_to_point(gamma_string)
  // 5. if Gamma = "INVALID" output "INVALID" and stop
  const Gamma = stringToPoint(gammaString);
  if (Gamma === undefined) verificationFailed('Gamma is not a point on edwards25519');
  // 6. c = string_to_int(c_string)
  // 7. s = string_to_int(s_string)
  const c = stringToInt(cString);
  const s = stringToInt(sString);
  // 8. if s >= q output "INVALID" and stop
  if (s >= Fn.ORDER) verificationFailed('s is not below the group order (non-canonical scalar)');
  // 9. Output Gamma, c, and s
  return { Gamma, c, s };
}

/** RFC 9381 §5.2 steps 4-7 for a decoded proof. */
function gammaToHash(Gamma: EdPoint): Uint8Array {
  // 6. beta_string = Hash(suite_string || proof_to_hash_domain_separator_front ||
  //    point_to_string(cofactor * Gamma) || proof_to_hash_domain_separator_back)
  return sha512
    .create()
    .update(Uint8Array.of(SUITE_STRING, PROOF_TO_HASH_FRONT))
    .update(Gamma.clearCofactor().toBytes())
    .update(Uint8Array.of(DOMAIN_SEPARATOR_BACK))
    .digest();
}

/** RFC 9381 §5.4.5 ECVRF_validate_key(PK_string): a point, and not of small order. */
function validateKey(publicKey: Uint8Array): EdPoint {
  if (publicKey.length !== ECVRF_SIZES.publicKey) {
    verificationFailed(`public key must be ${ECVRF_SIZES.publicKey} bytes, got ${publicKey.length}`, {
      length: publicKey.length,
    });
  }
  // 1. Y = string_to_point(PK_string)
  // 2. If Y is "INVALID", output "INVALID" and stop
  const Y = stringToPoint(publicKey);
  if (Y === undefined) verificationFailed('public key is not a point on edwards25519');
  // 3. If cofactor*Y is the identity element of the elliptic curve group, output "INVALID" and stop
  if (Y.isSmallOrder()) verificationFailed('public key is of small order');
  return Y;
}

/** The RFC 8032 public key of a 32-byte VRF secret key (RFC 9381 §5.5). */
export function ecvrfPublicKey(secretKey: Uint8Array): Uint8Array {
  const sk = exactBytesArg(secretKey, ECVRF_SIZES.secretKey, 'ECVRF secret key');
  const { prefix, publicKey } = expandSecretKey(sk);
  prefix.fill(0);
  return publicKey;
}

/**
 * ECVRF_prove(SK, alpha_string), RFC 9381 §5.1: the 80-byte proof pi that beta is the VRF output
 * of alpha under the key. Deterministic. Precondition: `alpha.length <= LIMITS.vrfAlphaMaxBytes`.
 */
export function ecvrfProve(secretKey: Uint8Array, alpha: Uint8Array): Uint8Array {
  const sk = exactBytesArg(secretKey, ECVRF_SIZES.secretKey, 'ECVRF secret key');
  const alphaString = alphaArg(alpha);
  // 1. Use SK to derive the VRF secret scalar x and the VRF public key Y = x*B
  const { x, prefix, Y, publicKey } = expandSecretKey(sk);
  try {
    // 2. H = ECVRF_encode_to_curve(encode_to_curve_salt, alpha_string), salt = PK_string (§5.5)
    const H = encodeToCurve(publicKey, alphaString);
    if (H === undefined) throw new InternalError('ECVRF: try-and-increment found no point in 256 tries');
    // 3. h_string = point_to_string(H)
    const hString = H.toBytes();
    // 4. Gamma = x*H
    const Gamma = H.multiply(x);
    // 5. k = ECVRF_nonce_generation(SK, h_string)
    const { k, kString } = nonceGeneration(prefix, hString);
    kString.fill(0);
    // k = 0 would need SHA-512 to output a multiple of q (probability 2^-252); noble refuses 0.
    if (k === 0n) throw new InternalError('ECVRF: nonce is zero');
    // 6. c = ECVRF_challenge_generation(Y, H, Gamma, k*B, k*H)
    const c = challengeGeneration([
      Y.toBytes(),
      hString,
      Gamma.toBytes(),
      Point.BASE.multiply(k).toBytes(),
      H.multiply(k).toBytes(),
    ]);
    // 7. s = (k + c*x) mod q
    const s = Fn.add(k, Fn.mul(c, x));
    // 8. pi_string = point_to_string(Gamma) || int_to_string(c, cLen) || int_to_string(s, qLen)
    const pi = new Uint8Array(ECVRF_SIZES.proof);
    pi.set(Gamma.toBytes(), 0);
    pi.set(intToString(c, ECVRF_SIZES.challenge), ECVRF_SIZES.point);
    pi.set(intToString(s, ECVRF_SIZES.scalar), ECVRF_SIZES.point + ECVRF_SIZES.challenge);
    // 9. Output pi_string
    return pi;
  } finally {
    prefix.fill(0);
  }
}

/**
 * ECVRF_proof_to_hash(pi_string), RFC 9381 §5.2: the 64-byte output beta of a proof. It does not
 * verify the proof: "ECVRF_proof_to_hash should be run only on pi_string that is known to have been
 * produced by ECVRF_prove, or from within ECVRF_verify" (§5.2). Throws CryptoVerificationError when
 * pi does not decode (§5.4.4).
 */
export function ecvrfProofToHash(proof: Uint8Array): Uint8Array {
  const pi = bytesArg(proof, 'ECVRF proof');
  // 1. D = ECVRF_decode_proof(pi_string)
  // 2. If D is "INVALID", output "INVALID" and stop
  // 3. (Gamma, c, s) = D
  const { Gamma } = decodeProof(pi);
  return gammaToHash(Gamma);
}

/**
 * ECVRF_verify(PK_string, alpha_string, pi_string), RFC 9381 §5.3, with validate_key = TRUE (§5.4.5):
 * returns beta when pi proves it for alpha under the public key, and throws CryptoVerificationError
 * for anything else (a key of any other length, not on the curve or of small order; a proof of any
 * other length, with Gamma off the curve, s >= q, or a challenge that does not match).
 */
export function ecvrfVerify(publicKey: Uint8Array, proof: Uint8Array, alpha: Uint8Array): Uint8Array {
  const pkString = bytesArg(publicKey, 'ECVRF public key');
  const pi = bytesArg(proof, 'ECVRF proof');
  const alphaString = alphaArg(alpha);
  // 1. Y = string_to_point(PK_string)
  // 2. If Y is "INVALID", output "INVALID" and stop
  // 3. If validate_key, run ECVRF_validate_key(PK_string) (Section 5.4.5); if its output is "INVALID",
  //    output "INVALID" and stop
  const Y = validateKey(pkString);
  // 4. D = ECVRF_decode_proof(pi_string)
  // 5. If D is "INVALID", output "INVALID" and stop
  // 6. (Gamma, c, s) = D
  const { Gamma, c, s } = decodeProof(pi);
  // 7. H = ECVRF_encode_to_curve(encode_to_curve_salt, alpha_string), salt = PK_string (§5.5)
  const H = encodeToCurve(pkString, alphaString);
  if (H === undefined) verificationFailed('try-and-increment found no point in 256 tries');
  // All scalars are public here, so the faster variable-time multiplication is fine; s < q was
  // checked by decode_proof and c < 2^128 < q, as multiplyUnsafe requires.
  // 8. U = s*B - c*Y
  const U = Point.BASE.multiplyUnsafe(s).subtract(Y.multiplyUnsafe(c));
  // 9. V = s*H - c*Gamma
  const V = H.multiplyUnsafe(s).subtract(Gamma.multiplyUnsafe(c));
  // 10. c' = ECVRF_challenge_generation(Y, H, Gamma, U, V)
  // Y and Gamma decoded canonically (y < p), so point_to_string gives back the input bytes.
  const cPrime = challengeGeneration([pkString, H.toBytes(), Gamma.toBytes(), U.toBytes(), V.toBytes()]);
  // 11. If c and c' are equal, output ("VALID", ECVRF_proof_to_hash(pi_string)); else output "INVALID"
  if (c !== cPrime) verificationFailed('the challenge does not match: the proof is not valid');
  return gammaToHash(Gamma);
}

/**
 * The RFC 9381 Appendix B.3 intermediate values (x, H, k, U, V) of one prove, for the vector tests.
 * Not part of the API: the package index does not export it.
 */
export function ecvrfIntermediatesForTests(
  secretKey: Uint8Array,
  alpha: Uint8Array,
): { x: Uint8Array; H: Uint8Array; kString: Uint8Array; k: Uint8Array; U: Uint8Array; V: Uint8Array } {
  const sk = exactBytesArg(secretKey, ECVRF_SIZES.secretKey, 'ECVRF secret key');
  const h = sha512(sk);
  const x = clampedHead(h);
  h.fill(0);
  const { prefix, publicKey } = expandSecretKey(sk);
  const H = encodeToCurve(publicKey, alphaArg(alpha));
  if (H === undefined) throw new InternalError('ECVRF: try-and-increment found no point in 256 tries');
  const { k, kString } = nonceGeneration(prefix, H.toBytes());
  prefix.fill(0);
  return {
    x,
    H: H.toBytes(),
    kString,
    k: intToString(k, ECVRF_SIZES.scalar),
    U: Point.BASE.multiply(k).toBytes(),
    V: H.multiply(k).toBytes(),
  };
}
