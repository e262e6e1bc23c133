/**
 * The witness's copy of the log tree (draft-ietf-keytrans-protocol-04 §3.2, §10.8): only the full
 * subtrees of the current size (§4.2 "the balanced subtrees which are as large as possible"), which
 * is all it needs to append leaves and compute the root. O(log n) hashes of state however long the log.
 *
 * Appending closes balanced subtrees the way a binary counter carries: a new leaf is a subtree of
 * size 1; two neighbours of equal size become their parent (§10.8 `hashContent`: leaves and parents
 * are hashed with distinct prefixes, so the leaf flag travels with each value).
 */
import type { CryptoProvider } from '@sealpost/core';
import { fullSubtrees, logParentValue } from '@sealpost/core/kt/log-batch';
import { rootFromFullSubtrees } from '@sealpost/core/kt/log-verify';
import { TreeSizeError } from '@sealpost/core/kt/proof-errors';

export class CompactLog {
  readonly #crypto: CryptoProvider;
  readonly #subtrees: { size: number; value: Uint8Array }[];
  #size: number;

  /** A log of `size` leaves given its full subtrees' values, left to right (as `LogTree.fullSubtrees`). */
  constructor(crypto: CryptoProvider, size = 0, values: readonly Uint8Array[] = []) {
    const shape = fullSubtrees(size);
    if (!Number.isSafeInteger(size) || size < 0 || shape.length !== values.length) {
      throw new TreeSizeError(`${values.length} full subtrees do not fit a log of size ${size}`, { size });
    }
    this.#crypto = crypto;
    this.#size = size;
    this.#subtrees = shape.map((s, i) => ({ size: s.size, value: values[i]!.slice() }));
  }

  get size(): number {
    return this.#size;
  }

  /** Appends one leaf value (Hash(LogEntry), §10.8). */
  append(leafValue: Uint8Array): void {
    let node: { size: number; value: Uint8Array } = { size: 1, value: leafValue.slice() };
    for (let top = this.#subtrees.at(-1); top !== undefined && top.size === node.size;) {
      this.#subtrees.pop();
      const value = logParentValue(
        this.#crypto,
        { leaf: top.size === 1, value: top.value },
        { leaf: node.size === 1, value: node.value },
      );
      node = { size: 2 * node.size, value };
      top = this.#subtrees.at(-1);
    }
    this.#subtrees.push(node);
    this.#size += 1;
  }

  /** The full subtrees' values, left to right. */
  fullSubtrees(): Uint8Array[] {
    return this.#subtrees.map((s) => s.value.slice());
  }

  /** The root (§3.2). Requires size > 0. */
  root(): Uint8Array {
    return rootFromFullSubtrees(this.#crypto, this.#size, this.fullSubtrees());
  }
}
