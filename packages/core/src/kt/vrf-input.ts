/**
 * The VRF of a label-version pair (draft-ietf-keytrans-protocol-04 §10.7, §15.1): the `VrfInput`
 * bytes, and the search key in the prefix tree, which is their ECVRF output (RFC 9381,
 * ECVRF-EDWARDS25519-SHA512-TAI) truncated to VRF.Nh = 32 bytes.
 *
 *   struct { opaque label<0..2^8-1>; uint32 version; } VrfInput;
 *
 * The directory proves (`proveSearchKey`); a user checks each proof it is given against the VRF
 * public key of the Configuration before it uses the search key (`searchKeyFromProof`, §12.1 step 2).
 * The VRF itself lives in packages/core/src/vrf.
 */
import { ValidationError } from '../errors.ts';
import { LIMITS } from '../limits.ts';
import { Writer } from '../codec/writer.ts';
import { ecvrfProofToHash, ecvrfProve, ecvrfVerify } from '../vrf/ecvrf.ts';
import { KT_SUITE } from './cipher-suite.ts';
import { writeOpaque } from './tls.ts';

/** Requires label.length <= 255 and 0 <= version < 2^32 (VALIDATION_FAILED otherwise). */
export function encodeVrfInput(label: Uint8Array, version: number): Uint8Array {
  if (!(label instanceof Uint8Array) || label.length > LIMITS.ktLabelMaxBytes) {
    throw new ValidationError('VALIDATION_FAILED', `label must be at most ${LIMITS.ktLabelMaxBytes} bytes`);
  }
  if (!Number.isInteger(version) || version < 0 || version > 0xffffffff) {
    throw new ValidationError('VALIDATION_FAILED', `version ${version} is not a uint32`);
  }
  const w = new Writer(5 + label.length);
  writeOpaque(w, 1, label, 'VrfInput.label');
  w.u32(version);
  return w.finish();
}

/** The directory's side: the VRF proof (VRF.Np = 80 bytes) and the search key of (label, version). */
export function proveSearchKey(
  vrfSecret: Uint8Array,
  label: Uint8Array,
  version: number,
): { proof: Uint8Array; searchKey: Uint8Array } {
  const proof = ecvrfProve(vrfSecret, encodeVrfInput(label, version));
  return { proof, searchKey: ecvrfProofToHash(proof).slice(0, KT_SUITE.vrfOutputBytes) };
}

/**
 * The user's side: the search key of (label, version), once `proof` verifies under the directory's
 * VRF public key (`Configuration.vrf_public_key`). Throws CRYPTO_VERIFICATION_FAILED for a proof of
 * any other pair, key or length.
 */
export function searchKeyFromProof(
  vrfPublicKey: Uint8Array,
  label: Uint8Array,
  version: number,
  proof: Uint8Array,
): Uint8Array {
  return ecvrfVerify(vrfPublicKey, proof, encodeVrfInput(label, version)).slice(0, KT_SUITE.vrfOutputBytes);
}
