/**
 * Witness cosignatures (docs/witness.md "Cosignature format"). The format has one definition, in
 * core (`@sealpost/core/kt/cosignature`), so that the server, which may import only core, checks
 * what it keeps with the same code the witness signs with; this module re-exports it.
 */
export {
  COSIGNATURE_LABEL,
  cosignatureFromJson,
  directoryIdOf,
  encodeCosignatureTBS,
  signCosignature,
  verifyCosignature,
  type Cosignature,
  type CosignedHead,
} from '@sealpost/core/kt/cosignature';
