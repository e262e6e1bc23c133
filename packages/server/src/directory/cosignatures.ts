/**
 * Witness cosignatures collected by the directory and served with its heads (docs/witness.md
 * "Server"). A witness that verified a head POSTs its cosignature; clients read them with the head
 * and count a quorum of the witnesses they trust (core `verifyWitnessQuorum`).
 *
 * Only witnesses the operator configured (config `witnessKeys`) are kept: a head holds a bounded
 * number of cosignatures, and anyone could otherwise fill its slots under fresh keys before the real
 * witnesses post ("crowding"). A configured witness's cosignature is kept only when valid (its Ed25519
 * signature verifies under the key it names over the head of that size as this directory signed it:
 * directory id, size and root), and only up to `perHead` (DIRECTORY_LIMITS.cosignaturesPerHead)
 * witness keys per head. A witness's newer cosignature replaces its older ones (store.ts
 * `putKtCosignature`). Storing a cosignature vouches for nothing: it is the client that checks keys,
 * signatures and freshness against the witnesses it trusts, which need not be the operator's.
 */
import {
  AuthError,
  CryptoVerificationError,
  ValidationError,
  toHex,
  type CryptoProvider,
} from '@sealpost/core';
import { verifyCosignature } from '@sealpost/core/kt/cosignature';
import type { KtCosignature, Store } from '../store/store.ts';

/** Ed25519 public key and signature sizes (RFC 8032). */
const KEY_BYTES = 32;
const SIGNATURE_BYTES = 64;

export interface CosignatureCollectorOptions {
  readonly store: Store;
  readonly crypto: CryptoProvider;
  /** The witnesses whose cosignatures are kept (config `witnessKeys`); none are kept when empty. */
  readonly witnessKeys: readonly Uint8Array[];
  /** Distinct witness keys one head keeps. */
  readonly perHead: number;
  /** The directory's root at a size and its encoded configuration; throws for a head it never signed. */
  readonly signedRoot: (treeSize: number) => Promise<{ root: Uint8Array; configuration: Uint8Array }>;
}

export class CosignatureCollector {
  readonly #opts: CosignatureCollectorOptions;
  /** Hex of the configured witness keys. */
  readonly #configured: ReadonlySet<string>;

  constructor(opts: CosignatureCollectorOptions) {
    this.#opts = opts;
    this.#configured = new Set(opts.witnessKeys.map(toHex));
  }

  /**
   * Keeps `c` if it is a configured witness's valid cosignature of a head this directory signed.
   * Throws VALIDATION_FAILED (sizes), KT_WITNESS_NOT_CONFIGURED (a key the operator did not
   * configure), KT_TREE_SIZE_INVALID (no such head), CRYPTO_VERIFICATION_FAILED (the signature does
   * not verify over that head) or KT_COSIGNATURES_FULL; nothing is stored then.
   */
  async add(c: KtCosignature): Promise<void> {
    if (c.witnessKey.length !== KEY_BYTES || c.signature.length !== SIGNATURE_BYTES) {
      throw new ValidationError('VALIDATION_FAILED', 'a witness key is 32 bytes and a signature 64');
    }
    if (!Number.isSafeInteger(c.timestamp) || c.timestamp < 0) {
      throw new ValidationError('VALIDATION_FAILED', 'a cosignature timestamp is seconds since 1970');
    }
    if (!this.#configured.has(toHex(c.witnessKey))) {
      throw new AuthError(
        'KT_WITNESS_NOT_CONFIGURED',
        "this server's operator did not configure the witness key (config witnessKeys)",
      );
    }
    const { store, crypto, perHead, signedRoot } = this.#opts;
    const signed = await signedRoot(c.treeSize);
    const head = {
      directoryId: crypto.sha256(signed.configuration),
      treeSize: c.treeSize,
      root: signed.root,
    };
    if (!verifyCosignature(crypto, head, c)) {
      throw new CryptoVerificationError(
        'CRYPTO_VERIFICATION_FAILED',
        `the cosignature does not verify over this directory's head of size ${c.treeSize}`,
        { treeSize: c.treeSize },
      );
    }
    await store.putKtCosignature(c, perHead);
  }

  /** The cosignatures kept for the head of `treeSize`. */
  forHead(treeSize: number): Promise<KtCosignature[]> {
    return this.#opts.store.ktCosignatures(treeSize);
  }

  /** The cosignatures of the `heads` greatest cosigned heads below `treeSize`, by head (greatest first). */
  async below(treeSize: number, heads: number): Promise<Map<number, KtCosignature[]>> {
    const byHead = new Map<number, KtCosignature[]>();
    for (const c of await this.#opts.store.ktCosignaturesBelow(treeSize, heads)) {
      const list = byHead.get(c.treeSize) ?? [];
      list.push(c);
      byHead.set(c.treeSize, list);
    }
    return byHead;
  }
}
