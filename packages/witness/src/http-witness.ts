/**
 * A witness following one Sealpost server over HTTP (what `sealpost witness` runs): its state in
 * SQLite under a directory of its own, the server's feed (http-feed.ts), and one `step` per poll:
 * follow the log to the newest head, verify it (witness.ts), cosign it and hand the cosignature to
 * the server, which serves it to clients with the head.
 *
 * The directory is known by the configuration of its first head (trust on first use, unless the
 * caller pins the directory key); the state file then belongs to that directory and refuses another
 * (state-sqlite.ts). A refusal that halts the witness is final: `step` throws it, and every later
 * start of the same state throws WitnessHaltedError with the kept evidence.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError, equalPublicBytes, type CryptoProvider } from '@sealpost/core';
import type { Cosignature } from './cosignature.ts';
import { HttpFeed, type FetchLike } from './http-feed.ts';
import { SqliteWitnessStore } from './state-sqlite.ts';
import { Witness, follow } from './witness.ts';
import { WitnessHaltedError } from './witness-errors.ts';

/** The state file inside the witness's state directory. */
export const WITNESS_STATE_FILE = 'witness.sqlite';

export interface HttpWitnessOptions {
  readonly crypto: CryptoProvider;
  readonly serverUrl: string;
  /** Directory holding the state (created 0700 if missing); `undefined` keeps it in memory. */
  readonly stateDir: string | undefined;
  /** The directory's head signing key, when known out of band: a server with another key is refused. */
  readonly directoryKey?: Uint8Array | undefined;
  /** The signing seed of a new state (state-sqlite.ts `seed`); random when absent. */
  readonly seed?: Uint8Array | undefined;
  readonly fetch?: FetchLike | undefined;
  /** ms since the Unix epoch. */
  readonly now?: (() => number) | undefined;
}

export interface StepResult {
  readonly treeSize: number;
  readonly cosignature: Cosignature;
}

export class HttpWitness {
  readonly feed: HttpFeed;
  readonly witness: Witness;
  readonly #store: SqliteWitnessStore;
  readonly #now: () => number;

  private constructor(feed: HttpFeed, witness: Witness, store: SqliteWitnessStore, now: () => number) {
    this.feed = feed;
    this.witness = witness;
    this.#store = store;
    this.#now = now;
  }

  /**
   * Reads the server's head for its configuration and opens (or creates) the state. Throws what the
   * feed throws (KT_VERSION_NOT_FOUND before the directory's first epoch: try again later),
   * CONFIG_INVALID for a pinned key the server does not sign with or a state of another directory,
   * and WitnessHaltedError when this state halted before.
   */
  static async open(opts: HttpWitnessOptions): Promise<HttpWitness> {
    const feed = new HttpFeed({ serverUrl: opts.serverUrl, fetch: opts.fetch });
    const { configuration } = await feed.servedHead();
    if (
      opts.directoryKey !== undefined &&
      !equalPublicBytes(configuration.signaturePublicKey, opts.directoryKey)
    ) {
      throw new ConfigError('the server signs its heads with another key than the pinned directory key');
    }
    let path = ':memory:';
    if (opts.stateDir !== undefined) {
      mkdirSync(opts.stateDir, { recursive: true, mode: 0o700 });
      path = join(opts.stateDir, WITNESS_STATE_FILE);
    }
    const store = SqliteWitnessStore.open(path, {
      crypto: opts.crypto,
      config: configuration,
      seed: opts.seed,
    });
    const witness = new Witness({ crypto: opts.crypto, config: configuration, store });
    if (witness.evidence !== undefined) {
      store.close();
      throw new WitnessHaltedError(witness.evidence);
    }
    return new HttpWitness(feed, witness, store, opts.now ?? Date.now);
  }

  /**
   * Creates the state in `stateDir` with the witness's key only, or reads the key of the state there
   * (state-sqlite.ts `initKey`), without contacting any server. Returns the public key.
   */
  static initKey(stateDir: string, crypto: CryptoProvider): Uint8Array {
    mkdirSync(stateDir, { recursive: true, mode: 0o700 });
    return SqliteWitnessStore.initKey(join(stateDir, WITNESS_STATE_FILE), crypto);
  }

  get publicKey(): Uint8Array {
    return this.witness.publicKey;
  }

  /**
   * Follows the log to the newest head, verifies and cosigns it, and posts the cosignature. Throws
   * WitnessRefusedError (halting, with `evidence`, unless its reason is bad-signature),
   * WitnessHaltedError, or the feed's errors (nothing was signed then).
   */
  async step(): Promise<StepResult> {
    const cosignature = await follow(this.witness, this.feed, this.#now());
    const treeSize = this.witness.head!.treeSize;
    await this.feed.postCosignature(treeSize, cosignature);
    return { treeSize, cosignature };
  }

  /** Closes the state and wipes the seed held in memory. */
  close(): void {
    this.#store.close();
  }
}
