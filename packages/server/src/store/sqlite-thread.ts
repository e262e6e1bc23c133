/**
 * The SQLite store on its own worker thread: the embedded default of `sealpost serve`.
 *
 * node:sqlite is synchronous, so with the store on the main thread every COMMIT's fsync
 * (synchronous=FULL: a message is durable before the sender hears "stored") stalls the event
 * loop that serves every socket. Here the main thread only posts calls and goes on serving; the
 * worker runs `SqliteStore` with its group commit, which batches naturally while a commit is in
 * progress. Calls are answered in order; errors come back typed (`errorFromWire`).
 *
 * Cost: each call and its answer are copied between threads (structured clone).
 */
import { Worker } from 'node:worker_threads';
import { UnavailableError, errorFromWire, type Username } from '@sealpost/core';
import type { Disclosure } from './disclosure.ts';
import type { StoreOptions } from './options.ts';
import type { ThreadAnswer, ThreadCall } from './sqlite-thread-worker.ts';
import type {
  AccountRecord,
  BlobInfo,
  BlobRange,
  ClaimedKeyPackage,
  CommitInput,
  CommitResult,
  DevicePk,
  DeviceRecord,
  EnqueueInput,
  EnqueueResult,
  KeyPackageStock,
  KtCosignature,
  KtEpoch,
  KtKeys,
  KtPublisherLock,
  KtQueuedUpdate,
  KtQueueResult,
  MailEntry,
  NewDevice,
  Store,
} from './store.ts';

/**
 * Set by the CLI's bundle (scripts/build-cli.ts) to the bundled worker's file name, beside the
 * bundle: there `import.meta.url` is the bundle's, and the worker's .ts source is not shipped.
 */
declare const SEALPOST_SQLITE_WORKER: string | undefined;

interface Pending {
  resolve(value: unknown): void;
  reject(error: unknown): void;
}

export class ThreadedSqliteStore implements Store {
  readonly kind = 'sqlite' as const;
  /** Calls reach the worker in order and its SqliteStore commits writes in order. */
  readonly writesInOrder = true;
  readonly #worker: Worker;
  readonly #pending = new Map<number, Pending>();
  #nextId = 1;
  #dead: UnavailableError | undefined;

  private constructor(worker: Worker) {
    this.#worker = worker;
    worker.on('message', (batch: ThreadAnswer[]) => {
      for (const a of batch) {
        const p = this.#pending.get(a.id);
        if (p === undefined) continue;
        this.#pending.delete(a.id);
        if (a.ok) p.resolve(a.value);
        else p.reject(errorFromWire(a.error));
      }
    });
    const fail = () => {
      this.#dead ??= new UnavailableError('STORE_UNAVAILABLE', 'the store thread stopped');
      for (const p of this.#pending.values()) p.reject(this.#dead);
      this.#pending.clear();
    };
    worker.on('error', fail);
    worker.on('exit', fail);
  }

  /** Opens (creating if needed) the database at `path` on a new worker thread. Does not migrate. */
  static async open(path: string, options: StoreOptions = {}): Promise<ThreadedSqliteStore> {
    const entry =
      typeof SEALPOST_SQLITE_WORKER === 'string'
        ? new URL(SEALPOST_SQLITE_WORKER, import.meta.url)
        : new URL('./sqlite-thread-worker.ts', import.meta.url);
    const worker = new Worker(entry, {
      workerData: { path, options },
    });
    const opened = await new Promise<ThreadAnswer>((resolve, reject) => {
      worker.once('message', (batch: ThreadAnswer[]) => resolve(batch[0]!));
      worker.once('error', reject);
    });
    if (!opened.ok) {
      await worker.terminate();
      throw errorFromWire(opened.error);
    }
    return new ThreadedSqliteStore(worker);
  }

  #call<T>(method: keyof Store, ...args: unknown[]): Promise<T> {
    if (this.#dead) return Promise.reject(this.#dead);
    const id = this.#nextId++;
    return new Promise<T>((resolve, reject) => {
      this.#pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      if (this.#outbox.length === 0) queueMicrotask(() => this.#post());
      this.#outbox.push({ id, method, args });
    });
  }

  #outbox: ThreadCall[] = [];
  #post(): void {
    const batch = this.#outbox;
    this.#outbox = [];
    this.#worker.postMessage(batch);
  }

  migrate(): Promise<number> {
    return this.#call('migrate');
  }
  ping(): Promise<void> {
    return this.#call('ping');
  }
  async close(): Promise<void> {
    if (this.#dead) return;
    await this.#call('close');
    this.#dead = new UnavailableError('STORE_UNAVAILABLE', 'the store is closed');
    await this.#worker.terminate();
  }
  putChallenge(challenge: Uint8Array, expiresAtMs: number): Promise<void> {
    return this.#call('putChallenge', challenge, expiresAtMs);
  }
  consumeChallenge(challenge: Uint8Array, nowMs: number): Promise<boolean> {
    return this.#call('consumeChallenge', challenge, nowMs);
  }
  createAccount(
    input: Parameters<Store['createAccount']>[0],
  ): Promise<{ account: AccountRecord; device: DeviceRecord }> {
    return this.#call('createAccount', input);
  }
  getAccount(username: Username): Promise<AccountRecord | undefined> {
    return this.#call('getAccount', username);
  }
  listDevices(accountId: number): Promise<DeviceRecord[]> {
    return this.#call('listDevices', accountId);
  }
  getDevice(username: Username, deviceId: Uint8Array): Promise<DeviceRecord | undefined> {
    return this.#call('getDevice', username, deviceId);
  }
  resolveDevices(addresses: Parameters<Store['resolveDevices']>[0]): Promise<(DevicePk | undefined)[]> {
    return this.#call('resolveDevices', addresses);
  }
  addDevice(accountId: number, device: NewDevice, day: number): Promise<DeviceRecord> {
    return this.#call('addDevice', accountId, device, day);
  }
  removeDevice(accountId: number, deviceId: Uint8Array): Promise<DevicePk> {
    return this.#call('removeDevice', accountId, deviceId);
  }
  recoverAccount(
    accountId: number,
    accountKey: Uint8Array,
    device: NewDevice,
    day: number,
  ): Promise<{ device: DeviceRecord; removed: DevicePk[] }> {
    return this.#call('recoverAccount', accountId, accountKey, device, day);
  }
  touchDevice(device: DevicePk, day: number): Promise<void> {
    return this.#call('touchDevice', device, day);
  }
  enqueue(input: EnqueueInput): Promise<EnqueueResult> {
    // The payload may be a view into a larger received frame; structured clone would copy the
    // whole underlying buffer, so copy exactly the payload.
    return this.#call('enqueue', { ...input, payload: input.payload.slice() });
  }
  fetchMail(device: DevicePk, afterSeq: number, limit: number, nowSecs: number): Promise<MailEntry[]> {
    return this.#call('fetchMail', device, afterSeq, limit, nowSecs);
  }
  ack(device: DevicePk, seqs: readonly number[]): Promise<number> {
    return this.#call('ack', device, seqs);
  }
  sweepExpired(nowSecs: number): Promise<number> {
    return this.#call('sweepExpired', nowSecs);
  }
  addKeyPackages(
    device: DevicePk,
    oneTime: readonly Uint8Array[],
    lastResort: Uint8Array | undefined,
  ): Promise<KeyPackageStock> {
    return this.#call('addKeyPackages', device, oneTime, lastResort);
  }
  countKeyPackages(device: DevicePk): Promise<KeyPackageStock> {
    return this.#call('countKeyPackages', device);
  }
  claimKeyPackages(username: Username, deviceIds?: readonly Uint8Array[]): Promise<ClaimedKeyPackage[]> {
    return this.#call('claimKeyPackages', username, deviceIds);
  }
  commit(input: CommitInput): Promise<CommitResult> {
    // As for enqueue: copy exactly the payloads, not the frame they may be views into.
    const welcome = input.welcome && { ...input.welcome, payload: input.welcome.payload.slice() };
    return this.#call('commit', { ...input, payload: input.payload.slice(), welcome });
  }
  ktKeys(generated: KtKeys): Promise<KtKeys> {
    return this.#call('ktKeys', generated);
  }
  appendKtEpoch(epoch: KtEpoch): Promise<void> {
    return this.#call('appendKtEpoch', epoch);
  }
  loadKtLog(after?: number): ReturnType<Store['loadKtLog']> {
    return this.#call('loadKtLog', after);
  }
  ktLatest(accountId: number): ReturnType<Store['ktLatest']> {
    return this.#call('ktLatest', accountId);
  }
  queueKtUpdate(update: KtQueuedUpdate, maxQueued: number): Promise<KtQueueResult> {
    return this.#call('queueKtUpdate', update, maxQueued);
  }
  ktQueue(limit: number): ReturnType<Store['ktQueue']> {
    return this.#call('ktQueue', limit);
  }
  /** One process holds the database (as SqliteStore): always granted, lost only when released. */
  async ktPublisherLock(): Promise<KtPublisherLock> {
    let release!: () => void;
    const lost = new Promise<void>((resolve) => (release = resolve));
    return { lost, release: async () => release() };
  }
  putKtCosignature(cosignature: KtCosignature, maxPerHead: number): Promise<void> {
    return this.#call('putKtCosignature', cosignature, maxPerHead);
  }
  ktCosignatures(treeSize: number): Promise<KtCosignature[]> {
    return this.#call('ktCosignatures', treeSize);
  }
  ktCosignaturesBelow(below: number, heads: number): Promise<KtCosignature[]> {
    return this.#call('ktCosignaturesBelow', below, heads);
  }
  putBlob(
    accountId: number,
    name: Uint8Array,
    bytes: Uint8Array,
    kind?: number,
  ): Promise<{ readonly stored: boolean }> {
    // As for enqueue: copy exactly the blob, not the request buffer it may be a view into.
    return this.#call('putBlob', accountId, name.slice(), bytes.slice(), kind);
  }
  getBlob(
    accountId: number,
    name: Uint8Array,
    range?: BlobRange,
  ): Promise<{ readonly size: number; readonly bytes: Uint8Array } | undefined> {
    return this.#call('getBlob', accountId, name.slice(), range);
  }
  listBlobs(accountId: number, kind?: number): Promise<BlobInfo[]> {
    return this.#call('listBlobs', accountId, kind);
  }
  deleteBlob(accountId: number, name: Uint8Array): Promise<boolean> {
    return this.#call('deleteBlob', accountId, name.slice());
  }
  disclose(username: Username): Promise<Disclosure | undefined> {
    return this.#call('disclose', username);
  }
}
