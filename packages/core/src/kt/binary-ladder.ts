/**
 * Binary ladders (draft-ietf-keytrans-protocol-04 §5, §6.2, §8.1, Appendix B): the series of version
 * lookups in one log entry's prefix tree that bounds the greatest version of a label there.
 *
 * §5: look up 0, 1, 3, 7, ... (2^k - 1) until the first non-inclusion, then binary-search between the
 * greatest included and the first non-included version. Each next version depends on the previous
 * outcomes, so the ladder is a walk: the prover feeds it outcomes from its tree (`version <= greatest`),
 * the verifier the outcomes a `PrefixProof` shows; both see the same versions in the same order, which
 * is why one `PrefixProof` can answer a ladder without naming its versions (§11.2).
 *
 * A *search* ladder for target t (§6.2) stops after the first inclusion of a version > t or the first
 * non-inclusion of a version <= t, and continues past the inclusion of t itself. Its outcome says
 * whether the entry's greatest version is less than, equal to or greater than t. A *monitoring* ladder
 * (§8.1) is the §5 ladder for t with every version > t left out: every lookup must be an inclusion.
 *
 * §6.2 second optimisation (`RedundantLookups`, `walkLadder`): in a search ladder, a version whose
 * inclusion the same response already proved in an entry to the left, or whose non-inclusion it
 * proved in an entry to the right, is not looked up again: prefix trees only grow, so the outcome
 * is implied. Prover and verifier walk the same ladder with the same knowledge, so both know which
 * lookups a `PrefixProof` leaves out. Owner monitoring never omits (§8.3 step 5).
 *
 * Interpretation (docs/key-transparency.md): Appendix B's fixed-version ladder ends at an inclusion of
 * a version >= t, the §6.2 prose only at one > t; we follow the prose, which is what lets §7.2 step 5
 * recognise "equal".
 */

export type LadderOutcome = 'less' | 'equal' | 'greater';

/** The §5 walk with the §6.2 stopping rule for target `target` (a uint32). */
export class SearchLadder {
  readonly target: number;
  /** Versions looked up so far, in order, with their outcomes. */
  readonly lookups: { readonly version: number; readonly included: boolean }[] = [];
  #lower = -1; // greatest version proved included
  #upper: number | undefined; // least version proved absent
  #outcome: LadderOutcome | undefined;

  constructor(target: number) {
    this.target = target;
  }

  /** The next version to look up, or undefined when the ladder is complete. */
  next(): number | undefined {
    if (this.#outcome !== undefined) return undefined;
    if (this.#upper === undefined) return 2 ** this.lookups.length - 1; // 0, 1, 3, 7, ...
    if (this.#lower + 1 >= this.#upper) return undefined;
    return Math.floor((this.#lower + this.#upper) / 2);
  }

  /** Records the outcome of the lookup `next()` returned. */
  record(included: boolean): void {
    const v = this.next();
    if (v === undefined) throw new RangeError('binary ladder is complete');
    this.lookups.push({ version: v, included });
    if (included) this.#lower = Math.max(this.#lower, v);
    else this.#upper = Math.min(this.#upper ?? v, v);
    if (included && v > this.target) this.#outcome = 'greater';
    else if (!included && v <= this.target) this.#outcome = 'less';
  }

  /** Less, equal or greater than the target; complete ladders only. */
  get outcome(): LadderOutcome {
    // Not stopped early: the search ended with upper = lower + 1, upper > t, lower <= t, so lower = t.
    return this.#outcome ?? 'equal';
  }

  /** Runs the whole ladder against a known greatest version (-1: the label does not exist). */
  static against(target: number, greatest: number): SearchLadder {
    const ladder = new SearchLadder(target);
    for (let v = ladder.next(); v !== undefined; v = ladder.next()) ladder.record(v <= greatest);
    return ladder;
  }
}

/** Appendix B `monitor_binary_ladder(t)`: the §5 ladder for t, versions > t left out (§8.1). */
export function monitorLadder(target: number): number[] {
  return SearchLadder.against(target, target)
    .lookups.map((l) => l.version)
    .filter((v) => v <= target);
}

/**
 * What the lookups of one response prove about versions of a label in other entries (§6.2): an
 * inclusion in entry i implies inclusion in every entry right of i; a non-inclusion in entry i,
 * non-inclusion in every entry left of i.
 */
export class RedundantLookups {
  readonly #includedFrom = new Map<string, number>(); // leftmost entry proving inclusion
  readonly #absentUpTo = new Map<string, number>(); // rightmost entry proving non-inclusion

  /** The outcome of looking `version` of `label` (hex) up in entry `index`, if already implied. */
  implied(label: string, version: number, index: number): boolean | undefined {
    const id = `${label}/${version}`;
    if ((this.#includedFrom.get(id) ?? Infinity) < index) return true;
    if ((this.#absentUpTo.get(id) ?? -1) > index) return false;
    return undefined;
  }

  /** Records a lookup the response proves. */
  record(label: string, version: number, index: number, included: boolean): void {
    const id = `${label}/${version}`;
    if (included) this.#includedFrom.set(id, Math.min(this.#includedFrom.get(id) ?? index, index));
    else this.#absentUpTo.set(id, Math.max(this.#absentUpTo.get(id) ?? index, index));
  }
}

/**
 * Walks `ladder` to completion: a version whose outcome is `implied` is recorded without a lookup;
 * any other is looked up with `lookup`. Returns the versions looked up, in order.
 */
export function walkLadder(
  ladder: SearchLadder,
  implied: (version: number) => boolean | undefined,
  lookup: (version: number) => boolean,
): number[] {
  const looked: number[] = [];
  for (let v = ladder.next(); v !== undefined; v = ladder.next()) {
    const known = implied(v);
    if (known !== undefined) {
      ladder.record(known);
    } else {
      looked.push(v);
      ladder.record(lookup(v));
    }
  }
  return looked;
}
