/**
 * Owner monitoring (draft-ietf-keytrans-protocol-04 §8.3 second algorithm, §11.3.6): the label owner
 * checks, in every distinguished log entry it has not yet verified, that the greatest version of its
 * label is exactly the one its own updates put there. A version the owner did not make shows up as a
 * ladder ending "greater" and is VersionMismatchError. Written once against `CombinedProofSource`.
 *
 * The recursion starts at the root of the implicit binary search tree with the timestamps 0 and that
 * of the rightmost entry; an entry is distinguished when its right bound minus its left bound is at
 * least the Reasonable Monitoring Window (§6.1), and the recursion stops below an entry that is not.
 *
 * Interpretation: §8.3 step 4 lets the Transparency Log stop at any point and the user stop "having
 * consumed all of the response". Both sides here stop after `LIMITS.ktMonitorMaxLadders` ladders, so
 * the number of ladders is fixed by the tree (docs/key-transparency.md). Contact monitoring (§8.2) and
 * owner initialization (§8.3 first algorithm) are not implemented yet.
 */
import { LIMITS } from '../limits.ts';
import type { CombinedProofSource } from './combined-proof.ts';
import { bstHasLeft, bstHasRight, bstLeft, bstRight, bstRoot } from './implicit-bst.ts';
import { VersionMismatchError } from './proof-errors.ts';

export interface OwnerMonitorArgs {
  readonly label: Uint8Array;
  /** The rightmost distinguished entry the owner already verified (MonitorLabel.rightmost, §12.3). */
  readonly rightmost?: number | undefined;
  /** The greatest version the owner expects in entry `index`'s prefix tree; -1 when none. */
  readonly expectedAt: (index: number) => number;
  /** Configuration.reasonable_monitoring_window, ms. */
  readonly rmw: number;
}

/**
 * Runs §8.3's owner-monitoring recursion. Returns the distinguished entries checked, left to right,
 * and the rightmost distinguished entry of the tree visited (what the owner advertises next time).
 * Throws VersionMismatchError at the first entry whose ladder contradicts `expectedAt`.
 */
export function ownerMonitor(
  source: CombinedProofSource,
  args: OwnerMonitorArgs,
): { checked: number[]; rightmost: number | undefined } {
  const n = source.size;
  const checked: number[] = [];
  let rightmost = args.rightmost;
  let full = false;
  const visit = (x: number, lo: number, hi: number): void => {
    if (full || hi - lo < args.rmw) return; // step 1
    if (args.rightmost !== undefined && x <= args.rightmost) {
      // step 2
      if (bstHasRight(x, n)) visit(bstRight(x, n), source.timestamp(x), hi);
      return;
    }
    if (bstHasLeft(x)) visit(bstLeft(x), lo, source.timestamp(x)); // step 3
    if (full || checked.length >= LIMITS.ktMonitorMaxLadders) {
      full = true; // step 4
      return;
    }
    const expected = args.expectedAt(x); // step 5
    const outcome = source.searchLadder(x, args.label, Math.max(expected, 0));
    if (outcome !== (expected < 0 ? 'less' : 'equal')) {
      throw new VersionMismatchError(
        `log entry ${x}: greatest version is ${outcome} than the expected ${expected}`,
        { index: x, expected },
      );
    }
    checked.push(x);
    rightmost = Math.max(rightmost ?? x, x);
    if (bstHasRight(x, n)) visit(bstRight(x, n), source.timestamp(x), hi); // step 6
  };
  visit(bstRoot(n), 0, source.timestamp(n - 1));
  return { checked, rightmost };
}
