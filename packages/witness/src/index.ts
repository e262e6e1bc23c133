/** @sealpost/witness: follows a directory's key-transparency log, checks it, cosigns tree heads (docs/witness.md). */
export {
  Witness,
  follow,
  type Observation,
  type VerifiedHead,
  type WitnessOptions,
  type WitnessStore,
} from './witness.ts';
export type { DirectoryFeed, DirectoryHead, EntryUpdate } from './feed.ts';
export {
  COSIGNATURE_LABEL,
  cosignatureFromJson,
  directoryIdOf,
  encodeCosignatureTBS,
  signCosignature,
  verifyCosignature,
  type Cosignature,
  type CosignedHead,
} from './cosignature.ts';
export {
  verifyEarlierHeads,
  verifyQuorum,
  verifyWitnessQuorum,
  type EarlierCosignedHead,
  type QuorumPolicy,
  type QuorumResult,
  type WitnessedHeads,
} from './quorum.ts';
export { SqliteWitnessStore } from './state-sqlite.ts';
export { InProcessFeed } from './in-process-feed.ts';
export { HttpFeed, type FetchLike, type HttpFeedOptions, type ServedHead } from './http-feed.ts';
export { HttpWitness, WITNESS_STATE_FILE, type HttpWitnessOptions, type StepResult } from './http-witness.ts';
export {
  WitnessHaltedError,
  WitnessRefusedError,
  type Evidence,
  type RefusalReason,
} from './witness-errors.ts';
export { WITNESS_LIMITS } from './limits.ts';
