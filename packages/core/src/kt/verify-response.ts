/**
 * The client side of search and owner monitoring (draft-ietf-keytrans-protocol-04 §12.1 steps 2-5,
 * §12.3): replays the algorithm of search.ts or monitor.ts against the proof, checks the §11.3
 * structure, recomputes the log root and verifies the tree head's signature over it, then checks the
 * clock bounds. Returns the result and the view to retain; on any failure throws a typed error and
 * returns nothing, so a failed response never changes the user's state (§12).
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

function keysFrom(lookups: readonly LadderLookup[]): Map<number, LadderLookup> {
  return new Map(lookups.map((l) => [l.version, l]));
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
  const keys = keysFrom(response.lookups);
  const reader = new CombinedProofReader(
    crypto,
    response.proof,
    response.treeHead.treeSize,
    args.view,
    (_, v) => keys.get(v),
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
  const view = finish(crypto, config, reader, response.treeHead, args.now);
  if (absent !== undefined || result === undefined) throw absent!;
  // The target was proved included at the terminal entry, so its commitment was given and checked.
  return {
    version: response.version,
    commitment: keys.get(response.version)!.commitment!,
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
  const given = keysFrom(response.lookups);
  const keys: LookupKeys = (_, v) => (v < positions.length ? args.own(v) : given.get(v));
  const reader = new CombinedProofReader(crypto, response.proof, response.treeHead.treeSize, args.view, keys);
  updateView(reader, args.view?.size);
  const result = ownerMonitor(reader, {
    label: args.label,
    rightmost: args.rightmost,
    expectedAt: (x) => positions.filter((p) => p <= x).length - 1,
    rmw: config.reasonableMonitoringWindow,
  });
  const view = finish(crypto, config, reader, response.treeHead, args.now);
  return { ...result, view };
}
