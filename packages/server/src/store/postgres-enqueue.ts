/**
 * Group commit of `Store.enqueue` for PostgreSQL: calls share transactions yet commit in call order,
 * which is what lets `PostgresStore.writesInOrder` be true.
 *
 * Calls queue up; one batch runs at a time, oldest calls first (batch k+1 starts once batch k has
 * committed or failed), at most ENQUEUE_BATCH_MAX calls and, past the first call, at most
 * ENQUEUE_BATCH_MAX_PAYLOAD_BYTES of payload. A batch is one transaction with the same statements
 * whatever its size:
 *   1. lock the device rows of every sender and recipient in increasing pk order (FOR NO KEY UPDATE,
 *      which does not conflict with the KEY SHARE locks foreign-key checks take), so batches of
 *      several instances sharing devices cannot deadlock; a row not returned is a removed device;
 *   2. read the idempotency records of the batch's (sender, messageId) pairs. Only this file writes
 *      `sent`, always holding the sender's row lock, and each statement of a READ COMMITTED
 *      transaction takes a fresh snapshot, so after step 1 every record that could conflict is seen;
 *   3. count the mailboxes that could fill: acks leave gaps but never add entries, so
 *      next_seq - min(seq) bounds what a mailbox holds, and only a mailbox whose bound plus this
 *      batch's copies to it exceeds the limit is counted exactly (a count taken after step 1, for
 *      the same reason as in step 2);
 *   4. decide every call in call order, as if the calls ran one after another (`decide`);
 *   5. in one statement, draw the sequence numbers (next_seq += copies, per device), insert the
 *      idempotency records, each call's payload once (none for a call without recipients) and the
 *      mailbox rows naming it; each payload crosses the network once and is stored once.
 * A call that fails writes nothing. If the transaction itself fails (a lost connection), every call
 * of the batch rejects with that typed error (STORE_UNAVAILABLE, ...) and nothing is stored.
 * While calls keep coming, the batcher keeps one pooled connection, so a batch never queues behind
 * the pool's other work; it releases it when the queue is empty or after a failed batch.
 */
import type { QueryResultRow } from 'pg';
import { deviceNotFound, mailboxFull, messageIdReused } from './contract.ts';
import type { EnqueueInput, EnqueueResult } from './store.ts';

/** Calls per batch: bounds the arrays one statement carries. */
const ENQUEUE_BATCH_MAX = 512;
/**
 * Payload bytes per batch (a single larger call still runs, alone): pg sends `bytea[]` as hex text,
 * so this bounds the statement at about twice as much.
 */
const ENQUEUE_BATCH_MAX_PAYLOAD_BYTES = 4 * 1024 * 1024;

/** Runs one statement on the batch's connection (named, so prepared once per connection). */
export type Query = <R extends QueryResultRow>(text: string, values: unknown[]) => Promise<R[]>;

/** A database connection the batcher keeps while calls keep coming, so batches never queue for one. */
export interface BatchConnection {
  /** Runs `fn` in one transaction; rejects with a typed error if it fails. */
  transaction<T>(fn: (query: Query) => Promise<T>): Promise<T>;
  release(): void;
}

const LOCK_DEVICES = 'SELECT pk FROM devices WHERE pk = ANY($1::bigint[]) ORDER BY pk FOR NO KEY UPDATE';

const READ_RECORDS = `
  SELECT k.ord, s.digest
  FROM unnest($1::bigint[], $2::bytea[]) WITH ORDINALITY AS k (sender, message_id, ord)
  JOIN sent AS s ON s.sender_device_pk = k.sender AND s.message_id = k.message_id`;

/** $1 recipients, $2 copies of this batch to each, $3 the limit. Returns only mailboxes that could fill. */
const COUNT_FILLING = `
  SELECT r.pk, (SELECT count(*) FROM (SELECT 1 FROM mailbox AS m WHERE m.device_pk = r.pk LIMIT $3) AS x) AS held
  FROM unnest($1::bigint[], $2::bigint[]) AS r (pk, copies)
  JOIN devices AS d ON d.pk = r.pk
  WHERE d.next_seq - coalesce((SELECT min(m.seq) FROM mailbox AS m WHERE m.device_pk = r.pk), d.next_seq)
        + r.copies > $3`;

/**
 * $1, $2: devices and how many copies each receives; $3..$7: the calls to store (sender,
 * message_id, digest, payload or NULL when the call has no recipients, expires_at_secs);
 * $8..$10: one row per copy (device, its rank among the device's copies in call order, 1-based
 * index of its call). Returns each device's first seq. Payload ids are drawn with nextval first
 * (`calls` is materialized: it is read more than once), so the copies can name them in the same
 * statement; the mailbox rows' foreign key is checked at its end, once the payloads are in.
 */
const WRITE_BATCH = `
  WITH drawn AS (
    UPDATE devices AS d SET next_seq = d.next_seq + n.copies
    FROM unnest($1::bigint[], $2::bigint[]) AS n (pk, copies)
    WHERE d.pk = n.pk
    RETURNING d.pk, d.next_seq - n.copies AS first_seq
  ), calls AS (
    SELECT c.*,
           CASE WHEN c.payload IS NOT NULL THEN nextval(pg_get_serial_sequence('payloads', 'id')) END AS payload_id
    FROM unnest($3::bigint[], $4::bytea[], $5::bytea[], $6::bytea[], $7::bigint[])
      WITH ORDINALITY AS c (sender, message_id, digest, payload, expires_at_secs, ord)
  ), records AS (
    INSERT INTO sent (sender_device_pk, message_id, digest, expires_at_secs)
    SELECT sender, message_id, digest, expires_at_secs FROM calls
  ), stored_payloads AS (
    INSERT INTO payloads (id, payload)
    SELECT payload_id, payload FROM calls WHERE payload_id IS NOT NULL
  ), copies AS (
    INSERT INTO mailbox (device_pk, seq, message_id, expires_at_secs, payload_id)
    SELECT k.pk, drawn.first_seq + k.rank, calls.message_id, calls.expires_at_secs, calls.payload_id
    FROM unnest($8::bigint[], $9::bigint[], $10::bigint[]) AS k (pk, rank, call)
    JOIN drawn ON drawn.pk = k.pk
    JOIN calls ON calls.ord = k.call
  )
  SELECT pk, first_seq FROM drawn`;

/** What the database says about a batch, read under its locks. */
interface BatchState {
  /** Devices that exist (and are locked). */
  readonly devices: ReadonlySet<number>;
  /** Digest of each (sender, messageId) already recorded, by `recordKey`. */
  readonly recorded: ReadonlyMap<string, Uint8Array>;
  /** Entries held by each mailbox that could fill during the batch; one absent cannot. */
  readonly held: ReadonlyMap<number, number>;
  readonly mailboxMaxMessages: number;
}

/** One call's outcome: an error, a duplicate, or the rank of each copy among its device's copies. */
type Decision =
  { readonly error: Error } | { readonly duplicate: true } | { readonly ranks: readonly number[] };

interface Pending {
  readonly input: EnqueueInput;
  resolve(result: EnqueueResult): void;
  reject(error: unknown): void;
}

function recordKey(sender: number, messageId: Uint8Array): string {
  return `${sender}/${Buffer.from(messageId.buffer, messageId.byteOffset, messageId.byteLength).toString('hex')}`;
}

/**
 * Decides each call in order exactly as `Store.enqueue` called one after another would: a recorded
 * id answers first (duplicate or MESSAGE_ID_REUSED), then a missing sender, a missing recipient,
 * a full mailbox; otherwise the call is stored, and later calls see its record and its copies.
 */
function decide(inputs: readonly EnqueueInput[], state: BatchState): Decision[] {
  const recorded = new Map(state.recorded);
  const held = new Map(state.held);
  const copies = new Map<number, number>();
  const limit = state.mailboxMaxMessages;
  return inputs.map((input): Decision => {
    const key = recordKey(input.sender, input.messageId);
    const prior = recorded.get(key);
    if (prior !== undefined) {
      return Buffer.compare(prior, input.digest) === 0 ? { duplicate: true } : { error: messageIdReused() };
    }
    if (!state.devices.has(input.sender)) return { error: deviceNotFound('sender') };
    if (!input.recipients.every((pk) => state.devices.has(pk))) return { error: deviceNotFound('recipient') };
    if (input.recipients.some((pk) => (held.get(pk) ?? 0) >= limit)) return { error: mailboxFull(limit) };
    recorded.set(key, input.digest);
    return {
      ranks: input.recipients.map((pk) => {
        const h = held.get(pk);
        if (h !== undefined) held.set(pk, h + 1);
        const rank = copies.get(pk) ?? 0;
        copies.set(pk, rank + 1);
        return rank;
      }),
    };
  });
}

export class EnqueueBatcher {
  readonly #connect: () => Promise<BatchConnection>;
  readonly #mailboxMaxMessages: number;
  readonly #pending: Pending[] = [];
  /** The drain in progress, if any: it takes batches until the queue is empty. */
  #draining: Promise<void> | undefined;

  /** `connect` rejects with a typed error when no connection can be had. */
  constructor(connect: () => Promise<BatchConnection>, mailboxMaxMessages: number) {
    this.#connect = connect;
    this.#mailboxMaxMessages = mailboxMaxMessages;
  }

  /** Queues the call; resolves or rejects once its batch has committed or failed. */
  submit(input: EnqueueInput): Promise<EnqueueResult> {
    return new Promise<EnqueueResult>((resolve, reject) => {
      this.#pending.push({ input, resolve, reject });
      this.#draining ??= this.#drain();
    });
  }

  /** Resolves once every call submitted so far has settled. */
  async settled(): Promise<void> {
    while (this.#draining) await this.#draining;
  }

  async #drain(): Promise<void> {
    // Calls made in the same event-loop turn as the first join its batch.
    await new Promise((resolve) => setImmediate(resolve));
    let connection: BatchConnection | undefined;
    try {
      while (this.#pending.length > 0) {
        try {
          connection ??= await this.#connect();
        } catch (e) {
          for (const p of this.#take()) p.reject(e);
          continue;
        }
        if (!(await this.#run(connection, this.#take()))) {
          // Perhaps lost: the next batch takes a fresh connection.
          connection.release();
          connection = undefined;
        }
      }
    } finally {
      connection?.release();
      this.#draining = undefined;
    }
  }

  #take(): Pending[] {
    let n = 0;
    let bytes = 0;
    for (const p of this.#pending) {
      bytes += p.input.payload.length;
      if (n === ENQUEUE_BATCH_MAX || (n > 0 && bytes > ENQUEUE_BATCH_MAX_PAYLOAD_BYTES)) break;
      n++;
    }
    return this.#pending.splice(0, n);
  }

  /** Settles every call of the batch; false if its transaction failed. Never rejects. */
  async #run(connection: BatchConnection, batch: Pending[]): Promise<boolean> {
    let results: (EnqueueResult | { error: Error })[];
    try {
      results = await connection.transaction((query) =>
        writeEnqueues(
          query,
          batch.map((p) => p.input),
          this.#mailboxMaxMessages,
        ),
      );
    } catch (e) {
      for (const p of batch) p.reject(e);
      return false;
    }
    batch.forEach((p, i) => {
      const r = results[i]!;
      if ('error' in r) p.reject(r.error);
      else p.resolve(r);
    });
    return true;
  }
}

/**
 * Steps 1 to 5 of the header for `inputs`, in the caller's transaction. `PostgresStore.commit` calls
 * it with one input so an MLS commit's copies are written exactly as a send's.
 */
export async function writeEnqueues(
  query: Query,
  inputs: readonly EnqueueInput[],
  mailboxMaxMessages: number,
): Promise<(EnqueueResult | { error: Error })[]> {
  const decisions = decide(inputs, await readBatch(query, inputs, mailboxMaxMessages));
  const firstSeq = await storeBatch(query, inputs, decisions);
  return decisions.map((d, i) => {
    if ('error' in d) return d;
    if ('duplicate' in d) return { duplicate: true, seqs: [] };
    return {
      duplicate: false,
      seqs: inputs[i]!.recipients.map((pk, j) => firstSeq.get(pk)! + d.ranks[j]!),
    };
  });
}

/** Steps 1 to 3 of the header. */
async function readBatch(
  query: Query,
  inputs: readonly EnqueueInput[],
  mailboxMaxMessages: number,
): Promise<BatchState> {
  const copiesTo = new Map<number, number>();
  for (const input of inputs) {
    for (const pk of input.recipients) copiesTo.set(pk, (copiesTo.get(pk) ?? 0) + 1);
  }
  const involved = new Set<number>(copiesTo.keys());
  for (const input of inputs) involved.add(input.sender);
  const locked = await query<{ pk: number }>(LOCK_DEVICES, [[...involved].sort((a, b) => a - b)]);

  const asked = [...new Map(inputs.map((i) => [recordKey(i.sender, i.messageId), i])).values()];
  const records = await query<{ ord: number; digest: Buffer }>(READ_RECORDS, [
    asked.map((i) => i.sender),
    asked.map((i) => i.messageId),
  ]);
  const filling = await query<{ pk: number; held: number }>(COUNT_FILLING, [
    [...copiesTo.keys()],
    [...copiesTo.values()],
    mailboxMaxMessages,
  ]);
  return {
    devices: new Set(locked.map((r) => r.pk)),
    recorded: new Map(
      records.map((r) => {
        const input = asked[r.ord - 1]!;
        return [recordKey(input.sender, input.messageId), r.digest];
      }),
    ),
    held: new Map(filling.map((r) => [r.pk, r.held])),
    mailboxMaxMessages: mailboxMaxMessages,
  };
}

/** Step 5 of the header, for the calls decided to be stored. Returns each device's first seq drawn. */
async function storeBatch(
  query: Query,
  inputs: readonly EnqueueInput[],
  decisions: readonly Decision[],
): Promise<Map<number, number>> {
  const stored: EnqueueInput[] = [];
  const copy = { pk: [] as number[], rank: [] as number[], call: [] as number[] };
  const copiesTo = new Map<number, number>();
  decisions.forEach((d, i) => {
    if (!('ranks' in d)) return;
    const input = inputs[i]!;
    stored.push(input);
    input.recipients.forEach((pk, j) => {
      copy.pk.push(pk);
      copy.rank.push(d.ranks[j]!);
      copy.call.push(stored.length);
      copiesTo.set(pk, (copiesTo.get(pk) ?? 0) + 1);
    });
  });
  if (stored.length === 0) return new Map();
  const drawn = await query<{ pk: number; first_seq: number }>(WRITE_BATCH, [
    [...copiesTo.keys()],
    [...copiesTo.values()],
    stored.map((i) => i.sender),
    stored.map((i) => i.messageId),
    stored.map((i) => i.digest),
    stored.map((i) => (i.recipients.length > 0 ? i.payload : null)),
    stored.map((i) => i.expiresAtSecs),
    copy.pk,
    copy.rank,
    copy.call,
  ]);
  return new Map(drawn.map((r) => [r.pk, r.first_seq]));
}
