/**
 * The client of the key directory (docs/key-transparency.md "Client"; docs/protocol.md
 * "Key transparency"): looks a user up and monitors this device's own label over `/v1/kt`, and
 * believes nothing the server says that core cannot verify.
 *
 *   lookup(user)      GET /v1/kt/head?atLeast=A, then GET /v1/kt/search/:user?last=N&atLeast=S (A: the
 *                     size of the head last accepted from this server; S: the head just served; an
 *                     instance behind either replays the store before it answers). Checked in order: the
 *                     head's configuration names the configured directory key and its signature
 *                     verifies over the served root; the head is not older than (and, at the same
 *                     size, not different from) the last one accepted from this server (a smaller
 *                     head is asked for again, LIMITS.ktHeadAttempts times in all, before it is refused
 *                     as `rollback`: an instance of the server that did not know `atLeast` may be one
 *                     poll behind another); the witness
 *                     quorum when witness keys are configured (core `verifyWitnessQuorum`: on this
 *                     head, or on earlier heads served with consistency proofs to it, so that a head
 *                     published since the witnesses' last poll is accepted); the search proof against that head
 *                     (core `verifySearch`, draft-ietf-keytrans-protocol-04 §12.1); the served device
 *                     list's signature, devices and chain after the last list accepted for the user
 *                     (core `acceptDeviceList`); then the commitment opening binds that list to the
 *                     proved version (§10.6). Only then is anything remembered (§12: a failed
 *                     response changes nothing).
 *                     With the account key, the version's search key and commitment are checked
 *                     against, or else added to, the records of the user's own versions
 *                     (own-version-records.ts).
 *   monitorOwn(user)  GET /v1/kt/monitor/:user (§8.3): verified against the same head rules, and
 *                     with the recorded search keys and commitments of own versions already
 *                     verified (§12.3); every version the directory holds that this device did not
 *                     record as its own is an `UnexpectedVersionAlert`.
 *
 * State (accepted heads and views per server, accepted lists per user, own versions' records per
 * directory key) lives in a `DirectoryMemory` the caller owns (directory-memory.ts turns it into
 * text to keep between runs).
 */
import {
  CodecError,
  CryptoVerificationError,
  LIMITS,
  SealpostError,
  UnavailableError,
  equalPublicBytes,
  errorFromWire,
  parseUsername,
  type CryptoProvider,
  type Username,
} from '@sealpost/core';
import type { KtView } from '@sealpost/core/kt/combined-proof';
import { verifyCommitment } from '@sealpost/core/kt/commitment';
import { directoryIdOf } from '@sealpost/core/kt/cosignature';
import { ProofMalformedError } from '@sealpost/core/kt/proof-errors';
import { decodeOwnerMonitorProof, decodeSearchProof } from '@sealpost/core/kt/response-codec';
import { verifyTreeHead } from '@sealpost/core/kt/tree-head';
import { verifyOwnerMonitor, verifySearch } from '@sealpost/core/kt/verify-response';
import { searchKeyFromProof } from '@sealpost/core/kt/vrf-input';
import { verifyWitnessQuorum, type QuorumResult } from '@sealpost/core/kt/witness-quorum';
import {
  acceptDeviceList,
  deviceListHash,
  type AcceptedDeviceList,
  type DeviceList,
} from '@sealpost/core/identity/device-list';
import type { FetchLike } from '../account-api.ts';
import { readJsonBody } from '../json-body.ts';
import { parseServerUrl, type ServerUrl } from '../server-url.ts';
import { DirectoryTrustError, UnexpectedVersionAlert } from './directory-errors.ts';
import { asObject, bytesField, decodeHeadAnswer, type HeadAnswer } from './head-answer.ts';
import { checkRecord, recordsKeyOf, type VersionRecord, type VersionRecords } from './own-version-records.ts';

/** Attempts when an epoch is published between the head and the proof (their sizes differ). */
const HEAD_RACE_ATTEMPTS = 3;
/** A client gives up on an HTTP answer after this long. */
const DIRECTORY_TIMEOUT_MS = 15_000;
/** Errors of an earlier cosigned head the newest head does not extend (core verifyEarlierHeads). */
const INCONSISTENT_CODES: ReadonlySet<string> = new Set([
  'KT_TREE_SIZE_INVALID',
  'KT_PROOF_MALFORMED',
  'KT_ROOT_MISMATCH',
]);

/** A head this client accepted from one server. */
export interface AcceptedHead {
  readonly treeSize: number;
  readonly root: Uint8Array;
  /** Timestamp of the newest log entry, ms (as the verified proof carries it when it does). */
  readonly timestamp: number;
  readonly view: KtView | undefined;
}

/** What the client remembers between calls; share one per device. */
export interface DirectoryMemory {
  /** server URL -> last accepted head. */
  readonly heads: Map<string, AcceptedHead>;
  /** `${server} ${username}` -> last accepted device list. */
  readonly lists: Map<string, AcceptedDeviceList>;
  /** Own versions' search keys and commitments as first verified, per directory key and username. */
  readonly versions: VersionRecords;
}

export function newDirectoryMemory(): DirectoryMemory {
  return { heads: new Map(), lists: new Map(), versions: new Map() };
}

export interface WitnessConfig {
  /** The witnesses this client trusts (Ed25519 public keys), configured out of band. */
  readonly keys: readonly Uint8Array[];
  /** Witnesses needed; a majority when omitted. */
  readonly quorum?: number | undefined;
  /**
   * Oldest cosignature that counts, in seconds before now (by the witness's own signed time): a head
   * frozen longer is refused, and so is a newer head whose witnesses last cosigned longer ago.
   */
  readonly maxLagSecs: number;
}

/** How far witnesses vouch for the head: never "verified" when nobody was asked. */
export type WitnessStatus =
  | { readonly kind: 'none-configured' }
  | {
      readonly kind: 'quorum';
      readonly count: number;
      readonly quorum: number;
      readonly of: number;
      /** Seconds since the oldest cosignature that counted (how stale the quorum is). */
      readonly ageSecs: number;
      /** The smallest head a counted cosignature is on: below `treeSize` when witnesses are behind. */
      readonly cosignedTreeSize: number;
    };

export interface DirectoryHeadStatus {
  readonly treeSize: number;
  readonly timestamp: number;
  readonly witnesses: WitnessStatus;
}

export interface VerifiedDeviceList {
  readonly username: Username;
  /** The label version (0 for the first list). */
  readonly version: number;
  readonly list: DeviceList;
  readonly head: DirectoryHeadStatus;
}

export interface DirectoryClientOptions {
  readonly crypto: CryptoProvider;
  readonly serverUrl: string;
  /** The directory's Ed25519 head signing key, configured out of band. */
  readonly directoryKey: Uint8Array;
  readonly memory?: DirectoryMemory | undefined;
  readonly witnesses?: WitnessConfig | undefined;
  readonly fetch?: FetchLike | undefined;
  readonly now?: (() => number) | undefined;
}

const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s);

export class DirectoryClient {
  readonly serverUrl: ServerUrl;
  readonly memory: DirectoryMemory;
  readonly #opts: DirectoryClientOptions;
  readonly #fetch: FetchLike;
  readonly #now: () => number;

  constructor(opts: DirectoryClientOptions) {
    this.serverUrl = parseServerUrl(opts.serverUrl);
    this.memory = opts.memory ?? newDirectoryMemory();
    this.#opts = opts;
    this.#fetch = opts.fetch ?? ((input, init) => fetch(input, init));
    this.#now = opts.now ?? Date.now;
  }

  /**
   * The verified newest device list of `username`. `accountKey`, when the caller holds one for the
   * user (its own, or one compared by safety code), must be the key the list names and is signed by;
   * the proved version's search key and commitment must then equal those recorded for it, and are
   * recorded when it is new (own-version-records.ts).
   * Throws DirectoryTrustError, core's KT_*, IDENTITY_*, CODEC_* errors, or UnavailableError.
   */
  async lookup(usernameArg: string, opts: { accountKey?: Uint8Array } = {}): Promise<VerifiedDeviceList> {
    const username = parseUsername(usernameArg);
    const { crypto } = this.#opts;
    const label = utf8(username);
    for (let attempt = 1; ; attempt++) {
      const head = await this.#head();
      const last = this.#lastHead();
      const body = await this.#get(`/v1/kt/search/${username}?${proofQuery(last, head)}`);
      const response = decodeSearchProof(bytesField(body, 'proof', LIMITS.ktProofMaxBytes));
      if (response.treeHead.treeSize !== head.treeSize) {
        if (attempt < HEAD_RACE_ATTEMPTS) continue; // a new epoch between the two requests
        throw new ProofMalformedError(`proof for size ${response.treeHead.treeSize}, head ${head.treeSize}`);
      }
      const now = this.#now();
      const verified = verifySearch(crypto, head.config, { label, view: last?.view, now, response });
      const deviceList = bytesField(body, 'deviceList', LIMITS.ktUpdateValueMaxBytes);
      const accepted = this.#acceptList(username, deviceList, opts.accountKey);
      verifyCommitment(
        crypto,
        {
          opening: bytesField(body, 'opening', 64),
          label,
          version: verified.version,
          update: { value: deviceList },
        },
        head.config.mode,
        verified.commitment,
      );
      const witnesses = this.#witness(head);
      let record: VersionRecord | undefined;
      if (opts.accountKey !== undefined) {
        const lookup = response.lookups.find((l) => l.version === verified.version)!;
        const vrfOutput = searchKeyFromProof(
          head.config.vrfPublicKey,
          label,
          verified.version,
          lookup.vrfProof,
        );
        record = { vrfOutput, commitment: verified.commitment };
        checkRecord(username, verified.version, this.#records(username)?.get(verified.version), record);
      }
      const status = this.#remember(head, verified.view, witnesses);
      this.memory.lists.set(this.#listKey(username), accepted);
      if (record !== undefined) this.#record(username, new Map([[verified.version, record]]));
      return { username, version: verified.version, list: accepted.list, head: status };
    }
  }

  /**
   * Owner monitoring of this device's own label. `ownVersions` are the label versions this device
   * (or the user's other devices it trusts) recorded as its own. Resolves to the head status when
   * every version the directory holds is one of them; throws UnexpectedVersionAlert otherwise, and
   * core's KT_* errors when the proof does not verify. Own versions verified before are replayed with
   * their recorded search keys and commitments (§12.3): a response that proves or claims others, or
   * no longer shows a recorded version, is DirectoryTrustError `own-version-changed`. Own versions
   * seen for the first time are recorded once the whole response verified.
   */
  async monitorOwn(usernameArg: string, ownVersions: ReadonlySet<number>): Promise<DirectoryHeadStatus> {
    const username = parseUsername(usernameArg);
    const { crypto } = this.#opts;
    const label = utf8(username);
    for (let attempt = 1; ; attempt++) {
      const head = await this.#head();
      const last = this.#lastHead();
      const body = await this.#get(`/v1/kt/monitor/${username}?${proofQuery(last, head)}`);
      const response = decodeOwnerMonitorProof(bytesField(body, 'proof', LIMITS.ktProofMaxBytes));
      if (response.treeHead.treeSize !== head.treeSize) {
        if (attempt < HEAD_RACE_ATTEMPTS) continue;
        throw new ProofMalformedError(`proof for size ${response.treeHead.treeSize}, head ${head.treeSize}`);
      }
      const positions = positionsField(body, head.treeSize);
      const records = this.#records(username) ?? new Map<number, VersionRecord>();
      const dropped = [...records.keys()].find((v) => v >= positions.length);
      if (dropped !== undefined) {
        throw new DirectoryTrustError(
          'own-version-changed',
          `the directory no longer shows version ${dropped} of ${username}, which this device verified`,
          { version: dropped },
        );
      }
      // Recorded own versions are replayed with what the device verified before; other versions
      // with the search keys the directory's VRF key proves and the commitments it gives: this
      // checks that the versions it admits are the ones its log holds; which of them are ours is
      // decided below.
      const given = new Map(response.lookups.map((l) => [l.version, l]));
      const firstSeen = new Map<number, VersionRecord>();
      const own = (v: number): VersionRecord => {
        const l = given.get(v);
        const recorded = ownVersions.has(v) ? records.get(v) : undefined;
        if (recorded !== undefined && l === undefined) return recorded; // §12.3: the owner has them
        if (l?.commitment === undefined) throw new ProofMalformedError(`no lookup of version ${v}`);
        const proved = {
          vrfOutput: searchKeyFromProof(head.config.vrfPublicKey, label, v, l.vrfProof),
          commitment: l.commitment,
        };
        if (recorded !== undefined) {
          checkRecord(username, v, recorded, proved);
          return recorded;
        }
        if (ownVersions.has(v)) firstSeen.set(v, proved);
        return proved;
      };
      const verified = verifyOwnerMonitor(crypto, head.config, {
        label,
        positions,
        own,
        view: last?.view,
        now: this.#now(),
        response,
      });
      const foreign = positions.map((_, v) => v).filter((v) => !ownVersions.has(v));
      const witnesses = this.#witness(head);
      const status = this.#remember(head, verified.view, witnesses);
      this.#record(username, firstSeen);
      if (foreign.length > 0) throw new UnexpectedVersionAlert(username, foreign);
      return status;
    }
  }

  #lastHead(): AcceptedHead | undefined {
    return this.memory.heads.get(this.serverUrl);
  }

  #listKey(username: Username): string {
    return `${this.serverUrl} ${username}`;
  }

  #records(username: Username): Map<number, VersionRecord> | undefined {
    return this.memory.versions.get(recordsKeyOf(this.#opts.directoryKey, username));
  }

  /** Adds first-verified own versions (never replaces a record). */
  #record(username: Username, seen: ReadonlyMap<number, VersionRecord>): void {
    if (seen.size === 0) return;
    const key = recordsKeyOf(this.#opts.directoryKey, username);
    const records = this.memory.versions.get(key) ?? new Map<number, VersionRecord>();
    for (const [v, r] of seen) if (!records.has(v)) records.set(v, r);
    this.memory.versions.set(key, records);
  }

  /**
   * GET /v1/kt/head?atLeast=<accepted size>: directory key, signature, then no rollback and no fork.
   * A head smaller than the accepted one is asked for again (LIMITS.ktHeadAttempts in all, pausing
   * LIMITS.ktHeadRetryMs, doubled each time) before it is refused as `rollback`: a server whose
   * instances do not catch up on `atLeast` may answer from one that has not yet replayed the head
   * another showed. A server that keeps showing it is refused as before; nothing is remembered.
   */
  async #head(): Promise<HeadAnswer> {
    const last = this.#lastHead();
    const path = last === undefined ? '/v1/kt/head' : `/v1/kt/head?atLeast=${last.treeSize}`;
    for (let attempt = 1, pause = LIMITS.ktHeadRetryMs; ; attempt++, pause *= 2) {
      try {
        return await this.#headOnce(path, last);
      } catch (e) {
        const lagging = e instanceof DirectoryTrustError && e.reason === 'rollback';
        if (!lagging || attempt >= LIMITS.ktHeadAttempts) throw e;
      }
      await new Promise((resolve) => setTimeout(resolve, pause));
    }
  }

  async #headOnce(path: string, last: AcceptedHead | undefined): Promise<HeadAnswer> {
    const { crypto, directoryKey } = this.#opts;
    const head = decodeHeadAnswer(await this.#get(path));
    const { treeSize, root, config } = head;
    if (!equalPublicBytes(config.signaturePublicKey, directoryKey)) {
      throw new DirectoryTrustError(
        'directory-key',
        'the head is not signed by the configured directory key',
      );
    }
    verifyTreeHead(crypto, config, { treeSize, signature: head.signature }, root);
    if (last !== undefined && treeSize < last.treeSize) {
      throw new DirectoryTrustError(
        'rollback',
        `head of size ${treeSize} is older than the accepted ${last.treeSize}`,
        {
          treeSize,
          accepted: last.treeSize,
        },
      );
    }
    if (last !== undefined && treeSize === last.treeSize && !equalPublicBytes(root, last.root)) {
      throw new DirectoryTrustError('fork', `head of size ${treeSize} differs from the one accepted`, {
        treeSize,
      });
    }
    return head;
  }

  /**
   * The witness quorum over `head` (core witness-quorum.ts): its own cosignatures and those of the
   * earlier heads served with it, each proved consistent with it. Throws DirectoryTrustError
   * `cosigned-fork` when an earlier cosigned head is not one this head extends (the witnesses were
   * shown another history), `witness-quorum` when too few trusted witnesses count.
   */
  #witness(head: HeadAnswer): WitnessStatus {
    const w = this.#opts.witnesses;
    if (w === undefined || w.keys.length === 0) return { kind: 'none-configured' };
    const { crypto } = this.#opts;
    const now = this.#now();
    let result: QuorumResult;
    try {
      result = verifyWitnessQuorum(
        crypto,
        {
          directoryId: directoryIdOf(crypto, head.config),
          newest: { treeSize: head.treeSize, root: head.root },
          cosignatures: head.cosignatures,
          earlier: head.earlier,
        },
        w.keys,
        { quorum: w.quorum, maxLagSecs: w.maxLagSecs, now },
      );
    } catch (e) {
      if (e instanceof SealpostError && INCONSISTENT_CODES.has(e.code)) {
        throw new DirectoryTrustError(
          'cosigned-fork',
          `a head the witnesses cosigned is not consistent with head ${head.treeSize}: ${e.message}`,
          { treeSize: head.treeSize },
        );
      }
      if (e instanceof CryptoVerificationError) {
        const counts: Record<string, number> = { treeSize: head.treeSize };
        for (const k of ['valid', 'quorum', 'stale', 'forged', 'unknown']) {
          const v = e.details[k];
          if (typeof v === 'number') counts[k] = v;
        }
        throw new DirectoryTrustError(
          'witness-quorum',
          `witness quorum not met for head ${head.treeSize}: ${e.message}`,
          counts,
        );
      }
      throw e;
    }
    return {
      kind: 'quorum',
      count: result.witnesses.length,
      quorum: result.quorum,
      of: w.keys.length,
      ageSecs: Math.max(0, Math.floor(now / 1000) - result.oldestTimestamp),
      cosignedTreeSize: result.smallestTreeSize,
    };
  }

  /** After everything verified: the head and view become this server's accepted state. */
  #remember(head: HeadAnswer, view: KtView, witnesses: WitnessStatus): DirectoryHeadStatus {
    const timestamp = view.frontier.get(head.treeSize - 1)?.timestamp ?? head.timestamp;
    this.memory.heads.set(this.serverUrl, { treeSize: head.treeSize, root: head.root, timestamp, view });
    return { treeSize: head.treeSize, timestamp, witnesses };
  }

  /** Signature, devices and chain after the last list accepted for the user; the expected key. */
  #acceptList(
    username: Username,
    deviceList: Uint8Array,
    accountKey: Uint8Array | undefined,
  ): AcceptedDeviceList {
    const { crypto } = this.#opts;
    const previous = this.memory.lists.get(this.#listKey(username));
    const accepted =
      previous !== undefined && equalPublicBytes(previous.hash, deviceListHash(crypto, deviceList))
        ? previous
        : acceptDeviceList(crypto, previous, deviceList);
    if (accepted.list.username !== username) {
      throw new CryptoVerificationError(
        'IDENTITY_CHAIN_BROKEN',
        'the served device list is for another username',
      );
    }
    if (accountKey !== undefined && !equalPublicBytes(accepted.list.accountKey, accountKey)) {
      throw new DirectoryTrustError(
        'account-key',
        'the served device list is not signed by the expected account key',
      );
    }
    return accepted;
  }

  async #get(path: string): Promise<Record<string, unknown>> {
    let response: Response;
    try {
      response = await this.#fetch(this.serverUrl + path, {
        method: 'GET',
        headers: { accept: 'application/json' },
        signal: AbortSignal.timeout(DIRECTORY_TIMEOUT_MS),
        redirect: 'error',
      });
    } catch (error) {
      throw new UnavailableError('NOT_READY', `server ${this.serverUrl} did not answer GET ${path}`, {
        cause: error instanceof Error ? error.name : 'unknown',
      });
    }
    const body = await readJsonBody(response, LIMITS.httpBodyMaxBytes);
    if (response.status !== 200) {
      const e = errorFromWire(body);
      throw e instanceof SealpostError ? e : new UnavailableError('NOT_READY', `HTTP ${response.status}`);
    }
    return asObject(body, 'answer');
  }
}

/**
 * The query of a search or monitor request: `last`, the size of the view last verified (§12.1), and
 * `atLeast`, the head just served, which the answering instance catches up to when it is behind.
 */
function proofQuery(last: AcceptedHead | undefined, head: HeadAnswer): string {
  const lastSize = last?.view === undefined ? '' : `last=${last.view.size}&`;
  return `${lastSize}atLeast=${head.treeSize}`;
}

function positionsField(body: Record<string, unknown>, treeSize: number): number[] {
  const value = body['positions'];
  if (
    !Array.isArray(value) ||
    value.length > treeSize * LIMITS.ktPrefixProofMaxResults ||
    !value.every(
      (p): p is number => typeof p === 'number' && Number.isSafeInteger(p) && p >= 0 && p < treeSize,
    )
  ) {
    throw new CodecError('CODEC_INVALID_VALUE', 'server answer: positions are not log entries');
  }
  return value;
}
