/**
 * Length padding: Padmé (Nikitin et al., "Reducing Metadata Leakage from Encrypted Files and
 * Communication with PURBs", PoPETs 2019 (4), §4). A length L is rounded up so that only its top
 * ~log2(log2 L) + 1 bits stay free: the padded length leaks O(log log L) bits of L, and the overhead
 * is at most 11.1% (less as L grows; 3% at 16 MiB).
 *
 *   E = floor(log2 L), S = floor(log2 E) + 1, z = E - S, padme(L) = ceil(L / 2^z) * 2^z
 *
 * Every stored backup object is padded so (pack.ts, index-file.ts, snapshot.ts); packs also have a
 * floor (`LIMITS.backupPackMinBytes`) below which all sizes look the same.
 */
import { ValidationError } from '../errors.ts';

/** Padmé length of `length` (an integer in [0, 2^52]); lengths below 2 are returned unchanged. */
export function padme(length: number): number {
  if (!Number.isInteger(length) || length < 0 || length > 2 ** 52) {
    throw new ValidationError('VALIDATION_FAILED', 'length to pad must be an integer from 0 to 2^52');
  }
  if (length < 2) return length;
  const e = Math.floor(Math.log2(length));
  const s = Math.floor(Math.log2(e)) + 1;
  const unit = 2 ** (e - s);
  return Math.ceil(length / unit) * unit;
}
