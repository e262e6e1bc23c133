/**
 * Searching the combined tree (draft-ietf-keytrans-protocol-04 §6, §7, §11.3.2, §11.3.3): the
 * greatest-version and the fixed-version search, written once against `CombinedProofSource` so the
 * Directory runs them to build a proof and the client runs them to verify it (combined-proof.ts).
 *
 * Both omit redundant lookups (§6.2 second optimisation, §6.3 step 1, §7.2 step 2). Not implemented
 * yet (docs/key-transparency.md): the maximum lifetime (§7.1; entries never expire here).
 */
import type { CombinedProofSource } from './combined-proof.ts';
import { bstFrontier, bstHasLeft, bstHasRight, bstLeft, bstRight, bstRoot } from './implicit-bst.ts';
import { VersionMismatchError, VersionNotFoundError } from './proof-errors.ts';

/**
 * §6.1 on the frontier: the distinguished entries there are a prefix of it (the recursion down the
 * right edge stops at the first entry that is not), so only frontier timestamps are needed.
 * Returns the position in `bstFrontier(n)` of the rightmost distinguished entry, -1 if none.
 */
export function rightmostDistinguishedOnFrontier(source: CombinedProofSource, rmw: number): number {
  const frontier = bstFrontier(source.size);
  const right = source.timestamp(source.size - 1);
  let left = 0;
  let found = -1;
  for (let j = 0; j < frontier.length; j++) {
    if (right - left < rmw) break; // §6.1 step 2: "less than", so an RMW of zero makes all distinguished
    found = j;
    left = source.timestamp(frontier[j]!);
  }
  return found;
}

/**
 * §6.3: a search ladder for `version` (the claimed greatest) from the rightmost distinguished frontier
 * entry (or the root) to the rightmost entry. No entry may hold a greater version; the rightmost must
 * hold exactly `version`. Returns the terminal entry: the leftmost inspected that holds `version`.
 * Throws VersionMismatchError.
 */
export function greatestVersionSearch(
  source: CombinedProofSource,
  label: Uint8Array,
  version: number,
  rmw: number,
): { terminal: number } {
  const frontier = bstFrontier(source.size);
  const start = Math.max(0, rightmostDistinguishedOnFrontier(source, rmw));
  let terminal: number | undefined;
  for (let j = start; j < frontier.length; j++) {
    const x = frontier[j]!;
    const outcome = source.searchLadder(x, label, version, true);
    if (outcome === 'greater' || (j === frontier.length - 1 && outcome !== 'equal')) {
      throw new VersionMismatchError(`log entry ${x} holds a greatest version ${outcome} than ${version}`, {
        index: x,
        version,
      });
    }
    if (outcome === 'equal') terminal ??= x;
  }
  return { terminal: terminal! };
}

/**
 * §7.2 without expiry: a binary search down the implicit tree for the first entry whose greatest
 * version is `version`; failing that (step 6), one lookup of `version` in the leftmost inspected entry
 * that holds a greater one. Returns the terminal entry, where `version` was proved included.
 * Throws VersionNotFoundError.
 */
export function fixedVersionSearch(
  source: CombinedProofSource,
  label: Uint8Array,
  version: number,
): { terminal: number } {
  const n = source.size;
  let x = bstRoot(n);
  let leftmostGreater: number | undefined;
  for (;;) {
    const outcome = source.searchLadder(x, label, version, true);
    if (outcome === 'equal') return { terminal: x }; // step 5.1
    if (outcome === 'less' && bstHasRight(x, n))
      x = bstRight(x, n); // step 3
    else if (outcome === 'greater') {
      leftmostGreater = x; // every later step goes left of x
      if (!bstHasLeft(x)) break;
      x = bstLeft(x); // step 4
    } else break;
  }
  // Step 6.
  if (leftmostGreater === undefined || !source.lookup(leftmostGreater, label, version)) {
    throw new VersionNotFoundError(`version ${version} of the label does not exist`, { version });
  }
  return { terminal: leftmostGreater };
}
