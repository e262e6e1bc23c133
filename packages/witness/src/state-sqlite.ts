/**
 * The witness's state in SQLite (node:sqlite, WAL): one database file per followed directory.
 *
 *   witness_meta      key 'config'  the directory's encoded Configuration (§10.2), fixed by the first
 *                                   `open` (absent in a state made by `initKey` before any run)
 *                     key 'seed'    the witness's Ed25519 seed (32 bytes): protect the file (0600)
 *   witness_head      one row: the last verified head (size, root, the directory's signature), the
 *                     log's full subtrees at that size (32-byte values, concatenated), the newest
 *                     entry's timestamp (ms) and the last cosignature's timestamp (s)
 *   witness_leaves    the witness's copy of the prefix tree: VRF output -> commitment, and the size
 *                     of the head whose commit added it (no labels: the feed never sends them)
 *   witness_evidence  the refusals that halted it: both heads as JSON (hex), reason, code, message
 *
 * A row in witness_evidence means halted, for good: `load` returns it and the witness signs nothing.
 * `commit` writes the head and the new leaves in one transaction, so a crash leaves the old state or
 * the new one, never a head without its leaves.
 */
import { chmodSync } from 'node:fs';
import { DatabaseSync } from 'node:sqlite';
import {
  ConfigError,
  equalPublicBytes,
  fromHex,
  isErrorCode,
  toHex,
  type CryptoProvider,
} from '@sealpost/core';
import { encodeConfiguration, type Configuration } from '@sealpost/core/kt/configuration';
import type { PrefixLeaf } from '@sealpost/core/kt/prefix-proof';
import type { DirectoryHead } from './feed.ts';
import { WITNESS_LIMITS } from './limits.ts';
import type { VerifiedHead, WitnessStore } from './witness.ts';
import type { Evidence, RefusalReason } from './witness-errors.ts';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS witness_meta (key TEXT PRIMARY KEY, value BLOB NOT NULL) STRICT;
CREATE TABLE IF NOT EXISTS witness_head (
  id INTEGER PRIMARY KEY CHECK (id = 1),
  tree_size INTEGER NOT NULL,
  root BLOB NOT NULL,
  signature BLOB NOT NULL,
  full_subtrees BLOB NOT NULL,
  last_timestamp INTEGER NOT NULL,
  cosigned_at INTEGER NOT NULL
) STRICT;
CREATE TABLE IF NOT EXISTS witness_leaves (
  vrf_output BLOB PRIMARY KEY,
  commitment BLOB NOT NULL,
  head_size INTEGER NOT NULL
) STRICT;
CREATE TABLE IF NOT EXISTS witness_evidence (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  detected_at INTEGER NOT NULL,
  reason TEXT NOT NULL,
  code TEXT NOT NULL,
  message TEXT NOT NULL,
  signed_head TEXT,
  offending_head TEXT NOT NULL
) STRICT;
`;

const HASH = 32;

interface HeadJson {
  treeSize: number;
  root: string;
  signature: string;
}

const headToJson = (h: DirectoryHead): string =>
  JSON.stringify({
    treeSize: h.treeSize,
    root: toHex(h.root),
    signature: toHex(h.signature),
  } satisfies HeadJson);

function headFromJson(text: string): DirectoryHead {
  const j = JSON.parse(text) as HeadJson;
  return { treeSize: j.treeSize, root: fromHex(j.root, 2 * HASH), signature: fromHex(j.signature, 4096) };
}

export interface SqliteWitnessStoreOptions {
  readonly crypto: CryptoProvider;
  /** The directory this state follows; a file created for another one is refused (CONFIG_INVALID). */
  readonly config: Configuration;
  /**
   * The witness's Ed25519 seed for a new state (a key made beforehand, so that the server's operator
   * can configure it before the witness's first run); drawn from `crypto.randomBytes` when absent. A
   * state that already holds another seed is refused (CONFIG_INVALID).
   */
  readonly seed?: Uint8Array | undefined;
}

/** The state's database at `path`, its schema applied, readable by its owner only. */
function openDatabase(path: string): DatabaseSync {
  const db = new DatabaseSync(path);
  try {
    db.exec('PRAGMA journal_mode = WAL');
    db.exec('PRAGMA secure_delete = ON');
    db.exec(SCHEMA);
    if (path !== ':memory:') chmodSync(path, 0o600);
    return db;
  } catch (e) {
    db.close();
    throw e;
  }
}

export class SqliteWitnessStore implements WitnessStore {
  readonly #db: DatabaseSync;
  readonly #seed: Uint8Array;

  private constructor(db: DatabaseSync, seed: Uint8Array) {
    this.#db = db;
    this.#seed = seed;
  }

  /**
   * Makes the witness's key before it follows any directory (`sealpost witness --init`), so that a
   * server's operator can configure it first: creates the state at `path` with a random seed and no
   * configuration (the first `open` binds it), or keeps the seed a state already holds. Returns the
   * witness's public key; the seed never leaves the file.
   */
  static initKey(path: string, crypto: CryptoProvider): Uint8Array {
    const db = openDatabase(path);
    try {
      db.exec('BEGIN IMMEDIATE');
      try {
        const stored = db.prepare("SELECT value FROM witness_meta WHERE key = 'seed'").get() as
          { value: Uint8Array } | undefined;
        const seed = stored?.value ?? crypto.randomBytes(WITNESS_LIMITS.seedBytes);
        if (seed.length !== WITNESS_LIMITS.seedBytes)
          throw new ConfigError('the stored witness seed is malformed');
        if (stored === undefined)
          db.prepare("INSERT INTO witness_meta (key, value) VALUES ('seed', ?)").run(seed);
        db.exec('COMMIT');
        const publicKey = crypto.ed25519.publicKey(seed);
        seed.fill(0);
        return publicKey;
      } catch (e) {
        db.exec('ROLLBACK');
        throw e;
      }
    } finally {
      db.close();
    }
  }

  /**
   * Opens (creating if needed) the state at `path` (':memory:' for a private one). On creation it
   * records the directory's configuration and the witness's seed (`opts.seed`, else a random one).
   */
  static open(path: string, opts: SqliteWitnessStoreOptions): SqliteWitnessStore {
    const db = openDatabase(path);
    try {
      const config = encodeConfiguration(opts.config);
      db.exec('BEGIN IMMEDIATE');
      try {
        const get = db.prepare('SELECT value FROM witness_meta WHERE key = ?');
        const put = db.prepare('INSERT INTO witness_meta (key, value) VALUES (?, ?)');
        const stored = get.get('config') as { value: Uint8Array } | undefined;
        if (stored === undefined) put.run('config', config);
        else if (!equalPublicBytes(stored.value, config)) {
          throw new ConfigError('the witness state at this path follows another directory');
        }
        let seed = (get.get('seed') as { value: Uint8Array } | undefined)?.value;
        if (seed === undefined) {
          seed = opts.seed ?? opts.crypto.randomBytes(WITNESS_LIMITS.seedBytes);
          put.run('seed', seed);
        } else if (opts.seed !== undefined && !opts.crypto.timingSafeEqual(seed, opts.seed)) {
          throw new ConfigError('the witness state at this path holds another key than the one given');
        }
        if (seed.length !== WITNESS_LIMITS.seedBytes)
          throw new ConfigError('the stored witness seed is malformed');
        db.exec('COMMIT');
        return new SqliteWitnessStore(db, new Uint8Array(seed));
      } catch (e) {
        db.exec('ROLLBACK');
        throw e;
      }
    } catch (e) {
      db.close();
      throw e;
    }
  }

  get signingSeed(): Uint8Array {
    return this.#seed;
  }

  load(): { head: VerifiedHead | undefined; leaves: PrefixLeaf[]; evidence: Evidence | undefined } {
    const row = this.#db.prepare('SELECT * FROM witness_head WHERE id = 1').get() as
      | {
          tree_size: number;
          root: Uint8Array;
          signature: Uint8Array;
          full_subtrees: Uint8Array;
          last_timestamp: number;
          cosigned_at: number;
        }
      | undefined;
    let head: VerifiedHead | undefined;
    if (row !== undefined) {
      const fullSubtrees: Uint8Array[] = [];
      for (let at = 0; at < row.full_subtrees.length; at += HASH) {
        fullSubtrees.push(row.full_subtrees.slice(at, at + HASH));
      }
      head = {
        treeSize: row.tree_size,
        root: row.root,
        signature: row.signature,
        fullSubtrees,
        lastTimestamp: row.last_timestamp,
        cosignedAt: row.cosigned_at,
      };
    }
    const leaves = (
      this.#db.prepare('SELECT vrf_output, commitment FROM witness_leaves').all() as {
        vrf_output: Uint8Array;
        commitment: Uint8Array;
      }[]
    ).map((l) => ({ vrfOutput: l.vrf_output, commitment: l.commitment }));
    return { head, leaves, evidence: this.evidence()[0] };
  }

  /** Every recorded refusal, oldest first (the first one halted the witness). */
  evidence(): Evidence[] {
    const rows = this.#db.prepare('SELECT * FROM witness_evidence ORDER BY id').all() as {
      detected_at: number;
      reason: string;
      code: string;
      message: string;
      signed_head: string | null;
      offending_head: string;
    }[];
    return rows.map((r) => ({
      reason: r.reason as RefusalReason,
      code: isErrorCode(r.code) ? r.code : 'INTERNAL',
      message: r.message,
      detectedAt: r.detected_at,
      signed: r.signed_head === null ? undefined : headFromJson(r.signed_head),
      offending: headFromJson(r.offending_head),
    }));
  }

  commit(head: VerifiedHead, added: readonly PrefixLeaf[]): void {
    const subtrees = new Uint8Array(HASH * head.fullSubtrees.length);
    head.fullSubtrees.forEach((v, i) => subtrees.set(v, i * HASH));
    this.#db.exec('BEGIN IMMEDIATE');
    try {
      this.#db
        .prepare(
          `INSERT INTO witness_head (id, tree_size, root, signature, full_subtrees, last_timestamp, cosigned_at)
           VALUES (1, ?, ?, ?, ?, ?, ?)
           ON CONFLICT (id) DO UPDATE SET tree_size = excluded.tree_size, root = excluded.root,
             signature = excluded.signature, full_subtrees = excluded.full_subtrees,
             last_timestamp = excluded.last_timestamp, cosigned_at = excluded.cosigned_at`,
        )
        .run(head.treeSize, head.root, head.signature, subtrees, head.lastTimestamp, head.cosignedAt);
      const insert = this.#db.prepare(
        'INSERT INTO witness_leaves (vrf_output, commitment, head_size) VALUES (?, ?, ?)',
      );
      for (const leaf of added) insert.run(leaf.vrfOutput, leaf.commitment, head.treeSize);
      this.#db.exec('COMMIT');
    } catch (e) {
      this.#db.exec('ROLLBACK');
      throw e;
    }
  }

  recordEvidence(e: Evidence): void {
    this.#db
      .prepare(
        `INSERT INTO witness_evidence (detected_at, reason, code, message, signed_head, offending_head)
         VALUES (?, ?, ?, ?, ?, ?)`,
      )
      .run(
        e.detectedAt,
        e.reason,
        e.code,
        e.message,
        e.signed ? headToJson(e.signed) : null,
        headToJson(e.offending),
      );
  }

  /** Closes the database and wipes the seed held in memory. */
  close(): void {
    this.#seed.fill(0);
    if (this.#db.isOpen) this.#db.close();
  }
}
