/**
 * Updating a user's view of the tree (draft-ietf-keytrans-protocol-04 §4.2, §11.3.1).
 *
 * A user that has seen no tree head gets the timestamp of every entry on the frontier. A user that
 * advertises the size `last` of its previous head gets, in the new implicit binary search tree, the
 * timestamps of the direct path of entry last-1 that lie at or after `last` (bottom up), and then of the
 * rest of the frontier from the last of them. The timestamps must not decrease from the retained
 * rightmost entry on (checked with every other timestamp in CombinedProofReader.finish), and the
 * rightmost must be within max_ahead / max_behind of the user's clock.
 *
 * Requires 0 < last <= source.size when `last` is given.
 */
import type { Configuration } from './configuration.ts';
import type { CombinedProofSource, KtView } from './combined-proof.ts';
import { bstDirectPath, bstFrontier, bstFrontierFrom } from './implicit-bst.ts';
import { TimestampError } from './proof-errors.ts';

/** Asks `source` for the timestamps of §4.2, in order. */
export function updateView(source: CombinedProofSource, last: number | undefined): void {
  const n = source.size;
  if (last === undefined) {
    for (const x of bstFrontier(n)) source.timestamp(x);
    return;
  }
  if (last === n) return;
  const above = bstDirectPath(last - 1, n).filter((x) => x >= last);
  // No ancestor at or after `last`: entry last-1 is itself on the new frontier (all its ancestors are left of it).
  const top = above.at(-1) ?? last - 1;
  for (const x of above) source.timestamp(x);
  for (const x of bstFrontierFrom(top, n).slice(1)) source.timestamp(x);
}

/** §4.2 / §11.3.1: the rightmost entry's timestamp against the user's clock (`now`, ms since the epoch). */
export function checkClock(config: Configuration, view: KtView, now: number): void {
  const rightmost = view.frontier.get(view.size - 1)!.timestamp;
  if (now - rightmost > config.maxBehind) {
    throw new TimestampError(
      `newest log entry is ${now - rightmost} ms old; max_behind is ${config.maxBehind}`,
    );
  }
  if (rightmost - now > config.maxAhead) {
    throw new TimestampError(
      `newest log entry is ${rightmost - now} ms ahead; max_ahead is ${config.maxAhead}`,
    );
  }
}
