/**
 * The client's side of witnessing: `verifyQuorum` over one head, and `verifyWitnessQuorum` over the
 * newest head with earlier cosigned heads proved consistent with it. Defined in core
 * (`@sealpost/core/kt/witness-quorum`, where the directory client uses it); re-exported here.
 */
export {
  verifyEarlierHeads,
  verifyQuorum,
  verifyWitnessQuorum,
  type EarlierCosignedHead,
  type QuorumPolicy,
  type QuorumResult,
  type WitnessedHeads,
} from '@sealpost/core/kt/witness-quorum';
