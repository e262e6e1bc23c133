/**
 * The client side of search and owner monitoring (draft-ietf-keytrans-protocol-04 §12.1 steps 2-5,
 * §12.3): replays the algorithm of search.ts or monitor.ts against the proof, checks the §11.3
 * structure, recomputes the log root and verifies the tree head's signature over it, then checks the
 * clock bounds. Returns the result and the view to retain; on any failure throws a typed error and
 * returns nothing, so a failed response never changes the user's state (§12).
 *
 * Search keys come only from VRF proofs: each lookup's ECVRF proof is verified under the
 * Configuration's `vrf_public_key` before its key is used (§12.1 step 2), and every lookup the
 * response carries must be one the replayed algorithm asked for.
 */
import type { CryptoProvider } from '../crypto/provider.ts';
import { CombinedProofReader, type KtView, type LookupKeys } from './combined-proof.ts';
import type { Configuration } from './configuration.ts';
import { ownerMonitor } from './monitor.ts';
import { ProofMalformedError, VersionNotFoundError } from './proof-errors.ts';
import type { LadderLookup, OwnerMonitorProof, SearchProof } from './response-codec.ts';
import { fixedVersionSearch, greatestVersionSearch } from './search.ts';
import { verifyTreeHead, type TreeHead } from './tree-head.ts';
import { checkClock, updateView } from './view.ts';
import { searchKeyFromProof } from './vrf-input.ts';

/**
 * The response's lookups as `LookupKeys`: a version's search key is computed from its VRF proof the
 * first time an algorithm asks for it. `unused()` lists the lookups nobody asked for.
 */
function provedKeys(
  config: Configuration,
  label: Uint8Array,
  lookups: readonly LadderLookup[],
): { keys: LookupKeys; unused: () => number[]; commitment: (version: number) => Uint8Array | undefined } {
  const given = new Map(lookups.map((l) => [l.version, l]));
  const proved = new Map<number, { vrfOutput: Uint8Array; commitment?: Uint8Array | undefined }>();
  const keys: LookupKeys = (_, version) => {
    let out = proved.get(version);
    if (out === undefined) {
      const l = given.get(version);
      if (l === undefined) return undefined;
      const vrfOutput = searchKeyFromProof(config.vrfPublicKey, label, version, l.vrfProof);
      out = { vrfOutput, commitment: l.commitment };
      proved.set(version, out);
    }
    return out;
  };
  return {
    keys,
    unused: () => [...given.keys()].filter((v) => !proved.has(v)),
    commitment: (v) => given.get(v)?.commitment,
  };
}

function checkAllUsed(unused: number[]): void {
  if (unused.length > 0) {
    throw new ProofMalformedError(`lookups of versions ${unused.join(', ')} are not part of any ladder`, {
      version: unused[0]!,
    });
  }
}

function finish(
  crypto: CryptoProvider,
  config: Configuration,
  reader: CombinedProofReader,
  head: TreeHead,
  now: number,
): KtView {
  const { root, view } = reader.finish();
  verifyTreeHead(crypto, config, head, root);
  checkClock(config, view, now);
  return view;
}

/**
 * Verifies a search response for `label`: for `version` when given, else for the greatest version.
 * Returns the version, its commitment (open it with commitment.ts), the terminal log entry and the new
 * view. Throws KT_VERSION_NOT_FOUND (proved absent), KT_VERSION_MISMATCH, KT_PROOF_MALFORMED,
 * KT_ROOT_MISMATCH, KT_TIMESTAMP_INVALID, KT_TREE_SIZE_INVALID or CRYPTO_VERIFICATION_FAILED.
 */
export function verifySearch(
  crypto: CryptoProvider,
  config: Configuration,
  args: {
    readonly label: Uint8Array;
    readonly version?: number | undefined;
    readonly view?: KtView | undefined;
    readonly now: number;
    readonly response: SearchProof;
  },
): { version: number; commitment: Uint8Array; terminal: number; view: KtView } {
  const { response } = args;
  if (args.version !== undefined && response.version !== args.version) {
    throw new ProofMalformedError(`response is for version ${response.version}, not ${args.version}`);
  }
  const lookups = provedKeys(config, args.label, response.lookups);
  const reader = new CombinedProofReader(
    crypto,
    response.proof,
    response.treeHead.treeSize,
    args.view,
    lookups.keys,
  );
  updateView(reader, args.view?.size);
  let result: { terminal: number } | undefined;
  let absent: VersionNotFoundError | undefined;
  try {
    result =
      args.version === undefined
        ? greatestVersionSearch(reader, args.label, response.version, config.reasonableMonitoringWindow)
        : fixedVersionSearch(reader, args.label, response.version);
  } catch (e) {
    if (!(e instanceof VersionNotFoundError)) throw e;
    absent = e; // trusted only once the whole proof verifies
  }
  checkAllUsed(lookups.unused());
  const view = finish(crypto, config, reader, response.treeHead, args.now);
  if (absent !== undefined || result === undefined) throw absent!;
  // The target was proved included at the terminal entry, so its commitment was given and checked.
  return {
    version: response.version,
    commitment: lookups.commitment(response.version)!,
    terminal: result.terminal,
    view,
  };
}

/**
 * Verifies an owner-monitoring response (§8.3). `positions[v]` is the log entry where the owner's
 * version v was added; `own` gives the owner's search keys and commitments for those versions (the
 * response's lookups are used only for versions the owner does not know). Returns the distinguished
 * entries checked, the rightmost one verified, and the new view. A version the owner did not make is
 * KT_VERSION_MISMATCH.
 */
export function verifyOwnerMonitor(
  crypto: CryptoProvider,
  config: Configuration,
  args: {
    readonly label: Uint8Array;
    readonly positions: readonly number[];
    readonly own: (version: number) => { vrfOutput: Uint8Array; commitment: Uint8Array };
    readonly rightmost?: number | undefined;
    readonly view?: KtView | undefined;
    readonly now: number;
    readonly response: OwnerMonitorProof;
  },
): { checked: number[]; rightmost: number | undefined; view: KtView } {
  const { response, positions } = args;
  const given = provedKeys(config, args.label, response.lookups);
  const keys: LookupKeys = (label, v) => (v < positions.length ? args.own(v) : given.keys(label, v));
  const reader = new CombinedProofReader(crypto, response.proof, response.treeHead.treeSize, args.view, keys);
  updateView(reader, args.view?.size);
  const result = ownerMonitor(reader, {
    label: args.label,
    rightmost: args.rightmost,
    expectedAt: (x) => positions.filter((p) => p <= x).length - 1,
    rmw: config.reasonableMonitoringWindow,
  });
  // The owner's own versions may travel with proofs it does not need (§12.3 leaves them out).
  checkAllUsed(given.unused().filter((v) => v >= positions.length));
  const view = finish(crypto, config, reader, response.treeHead, args.now);
  return { ...result, view };
}
