/**
 * The VRF input of a label-version pair (draft-ietf-keytrans-protocol-04 §10.7): the bytes whose
 * ECVRF output (RFC 9381, truncated to 32 bytes, §15.1) is the pair's search key in the prefix tree.
 *
 *   struct { opaque label<0..2^8-1>; uint32 version; } VrfInput;
 *
 * The VRF itself lives in packages/core/src/vrf; this file only fixes its input.
 */
import { ValidationError } from '../errors.ts';
import { LIMITS } from '../limits.ts';
import { Writer } from '../codec/writer.ts';
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
