/**
 * The key-transparency cipher suite Sealpost uses: KT_128_SHA256_Ed25519.
 *
 * Pinned revision: draft-ietf-keytrans-protocol-04 (ietf-wg-keytrans/draft-protocol, folder
 * `draft-ietf-keytrans-protocol-04/`, dated 17 April 2026). Every `§` in packages/core/src/kt is a
 * section of that revision; docs/key-transparency.md lists what is implemented and every deviation.
 *
 * Inside: the suite's identifier and sizes (§10.1, §15.1), the fixed commitment key Kc (§15.1), and
 * the all-zero stand-in value for a missing prefix-tree child (§10.9).
 */

/** The draft revision this folder implements. Written into test vectors and docs. */
export const KT_DRAFT = 'draft-ietf-keytrans-protocol-04';

/** §15.1 Table 1: `CipherSuite KT_128_SHA256_Ed25519 = 0x0002`. */
export const KT_128_SHA256_ED25519 = 0x0002;

/** §10.1 parameters of KT_128_SHA256_Ed25519 (§15.1). */
export const KT_SUITE = {
  id: KT_128_SHA256_ED25519,
  /** Hash.Nh: SHA-256 output. */
  hashBytes: 32,
  /** VRF.Nh: ECVRF-EDWARDS25519-SHA512-TAI output "truncated to 32 bytes" (§15.1). */
  vrfOutputBytes: 32,
  /** VRF.Np: RFC 9381 §5.5 proof pi = Gamma (32) || c (16) || s (32). */
  vrfProofBytes: 80,
  /** Nc: size of a commitment opening. */
  openingBytes: 16,
  /** Ed25519 public keys and signatures (RFC 8032 §5.1.5, §5.1.6). */
  publicKeyBytes: 32,
  signatureBytes: 64,
} as const;

/** §15.1: "Kc: The byte sequence equal to the hex-encoded string d821f8790d97709796b4d7903357c3f5". */
export const KT_COMMITMENT_KEY: Uint8Array = new Uint8Array([
  0xd8, 0x21, 0xf8, 0x79, 0x0d, 0x97, 0x70, 0x97, 0x96, 0xb4, 0xd7, 0x90, 0x33, 0x57, 0xc3, 0xf5,
]);

/** §10.9: "If one of the children does not exist, an all-zero byte string of length Hash.Nh is used". */
export const KT_ZERO_HASH: Uint8Array = new Uint8Array(KT_SUITE.hashBytes);
