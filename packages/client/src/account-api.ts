/**
 * `ServerApi`: the account and device endpoints of docs/protocol.md ("HTTP") over `fetch`.
 *
 * Every operation that changes an account fetches a fresh single-use challenge and signs the
 * statement of `@sealpost/core` (`accountCreateStatement`, ...) bound to the audience, the host the
 * client dialed. The server is the adversary (DESIGN.md "Threat model"): every field of every answer
 * is checked (strict base64url, exact lengths, device ids recomputed from keys, usernames equal to
 * the one asked for), answers are read with a size bound, and error answers become typed errors
 * through `errorFromWire` with their message cleaned of control characters. Arguments are checked
 * before any request is made.
 */
import {
  CodecError,
  CryptoVerificationError,
  InternalError,
  LIMITS,
  SealpostError,
  UnavailableError,
  ValidationError,
  accountCreateStatement,
  accountRecoverStatement,
  deviceAddStatement,
  deviceIdOf,
  deviceRemoveStatement,
  equalPublicBytes,
  errorFromWire,
  fromBase64urlExact,
  parseUsername,
  toBase64url,
} from '@sealpost/core';
import type { CryptoProvider, Username } from '@sealpost/core';
import { deviceListHash } from '@sealpost/core/identity/device-list';
import { readJsonBody } from './json-body.ts';
import { audienceOf, parseServerUrl } from './server-url.ts';
import type { ServerUrl } from './server-url.ts';

export type FetchLike = (input: string, init: RequestInit) => Promise<Response>;

export interface ServerApiOptions {
  /** Defaults to the global `fetch`. */
  readonly fetch?: FetchLike;
  /** Per request, connection to last byte of the answer. */
  readonly timeoutMs?: number;
}

/** A client gives up on an HTTP answer after this long; the server's own limits are far shorter. */
export const SERVER_API_TIMEOUT_MS = 15_000;

export interface Challenge {
  readonly challenge: Uint8Array;
  readonly expiresAtMs: number;
}

export interface DeviceView {
  readonly deviceId: Uint8Array;
  readonly publicKey: Uint8Array;
  /** Days since the Unix epoch (the server keeps day granularity only, DESIGN.md "Threat model" 4). */
  readonly createdDay: number;
}

export interface AccountView {
  readonly username: Username;
  readonly accountKey: Uint8Array;
  readonly devices: readonly DeviceView[];
}

export interface SeedPair {
  readonly username: string;
  /** Ed25519 seed of the account key (32 bytes); only used to sign, never sent. */
  readonly accountSeed: Uint8Array;
  /** Ed25519 seed of the device key (32 bytes); only used to sign, never sent. */
  readonly deviceSeed: Uint8Array;
}

const SEED_BYTES = 32;

export class ServerApi {
  readonly baseUrl: ServerUrl;
  /** `new URL(baseUrl).host`, bound into every signed statement. */
  readonly audience: string;
  readonly #crypto: CryptoProvider;
  readonly #fetch: FetchLike;
  readonly #timeoutMs: number;

  /** Throws ValidationError for a base URL `parseServerUrl` refuses. */
  constructor(baseUrl: string, crypto: CryptoProvider, options: ServerApiOptions = {}) {
    this.baseUrl = parseServerUrl(baseUrl);
    this.audience = audienceOf(this.baseUrl);
    this.#crypto = crypto;
    this.#fetch = options.fetch ?? ((input, init) => fetch(input, init));
    this.#timeoutMs = options.timeoutMs ?? SERVER_API_TIMEOUT_MS;
  }

  /** `POST /v1/challenges`: a fresh single-use challenge. */
  async challenge(): Promise<Challenge> {
    const body = await this.#request('POST', '/v1/challenges', undefined, 200);
    const expiresAtMs = body['expiresAtMs'];
    if (typeof expiresAtMs !== 'number' || !Number.isSafeInteger(expiresAtMs) || expiresAtMs < 0) {
      throw new CodecError('CODEC_INVALID_VALUE', 'server answer: expiresAtMs is not a time in ms');
    }
    return { challenge: bytesField(body, 'challenge', LIMITS.challengeBytes), expiresAtMs };
  }

  /** `POST /v1/accounts`: registers `username` with its account key and first device. */
  async createAccount(args: SeedPair): Promise<{ username: Username; deviceId: Uint8Array }> {
    const username = parseUsername(args.username);
    checkSeed(args.accountSeed, 'account seed');
    checkSeed(args.deviceSeed, 'device seed');
    const accountKey = this.#crypto.ed25519.publicKey(args.accountSeed);
    const deviceKey = this.#crypto.ed25519.publicKey(args.deviceSeed);
    const { challenge } = await this.challenge();
    const statement = accountCreateStatement(challenge, this.audience, username, accountKey, deviceKey);
    const body = await this.#request(
      'POST',
      '/v1/accounts',
      {
        username,
        accountKey: toBase64url(accountKey),
        deviceKey: toBase64url(deviceKey),
        challenge: toBase64url(challenge),
        accountSignature: toBase64url(this.#crypto.ed25519.sign(args.accountSeed, statement)),
        deviceSignature: toBase64url(this.#crypto.ed25519.sign(args.deviceSeed, statement)),
      },
      201,
    );
    usernameField(body, username);
    return { username, deviceId: this.#deviceIdField(body, deviceKey) };
  }

  /** `GET /v1/accounts/:username`: the account key and device list, every device id checked. */
  async getAccount(usernameInput: string): Promise<AccountView> {
    const username = parseUsername(usernameInput);
    const body = await this.#request('GET', `/v1/accounts/${username}`, undefined, 200);
    usernameField(body, username);
    const accountKey = bytesField(body, 'accountKey', LIMITS.publicKeyBytes);
    const list = body['devices'];
    if (!Array.isArray(list) || list.length > LIMITS.devicesPerAccount) {
      throw new CodecError(
        'CODEC_INVALID_VALUE',
        `server answer: devices is not a list of at most ${LIMITS.devicesPerAccount}`,
      );
    }
    const devices: DeviceView[] = [];
    for (const item of list as unknown[]) {
      if (typeof item !== 'object' || item === null || Array.isArray(item)) {
        throw new CodecError('CODEC_INVALID_VALUE', 'server answer: a device is not an object');
      }
      const entry = item as Record<string, unknown>;
      const publicKey = bytesField(entry, 'publicKey', LIMITS.publicKeyBytes);
      const deviceId = this.#deviceIdField(entry, publicKey);
      const createdDay = entry['createdDay'];
      if (typeof createdDay !== 'number' || !Number.isSafeInteger(createdDay) || createdDay < 0) {
        throw new CodecError('CODEC_INVALID_VALUE', 'server answer: createdDay is not a day number');
      }
      if (devices.some((d) => equalPublicBytes(d.deviceId, deviceId))) {
        throw new CodecError('CODEC_INVALID_VALUE', 'server answer: a device is listed twice');
      }
      devices.push({ deviceId, publicKey, createdDay });
    }
    return { username, accountKey, devices };
  }

  /** `POST /v1/accounts/:username/devices`: adds the device of `deviceSeed`, authorised by the account key. */
  async addDevice(args: SeedPair): Promise<{ deviceId: Uint8Array }> {
    const username = parseUsername(args.username);
    checkSeed(args.accountSeed, 'account seed');
    checkSeed(args.deviceSeed, 'device seed');
    const deviceKey = this.#crypto.ed25519.publicKey(args.deviceSeed);
    const { challenge } = await this.challenge();
    const statement = deviceAddStatement(challenge, this.audience, username, deviceKey);
    const body = await this.#request(
      'POST',
      `/v1/accounts/${username}/devices`,
      {
        deviceKey: toBase64url(deviceKey),
        challenge: toBase64url(challenge),
        accountSignature: toBase64url(this.#crypto.ed25519.sign(args.accountSeed, statement)),
        deviceSignature: toBase64url(this.#crypto.ed25519.sign(args.deviceSeed, statement)),
      },
      201,
    );
    return { deviceId: this.#deviceIdField(body, deviceKey) };
  }

  /**
   * `POST /v1/accounts/:username/devices` for a device whose key is elsewhere (device linking,
   * docs/conversations.md): the new device signed `deviceAddStatement` over `challenge` itself;
   * this adds the account key's signature over the same statement.
   */
  async addSignedDevice(args: {
    readonly username: string;
    readonly accountSeed: Uint8Array;
    readonly deviceKey: Uint8Array;
    readonly challenge: Uint8Array;
    readonly deviceSignature: Uint8Array;
  }): Promise<{ deviceId: Uint8Array }> {
    const username = parseUsername(args.username);
    checkSeed(args.accountSeed, 'account seed');
    const statement = deviceAddStatement(args.challenge, this.audience, username, args.deviceKey);
    if (!this.#crypto.ed25519.verify(args.deviceKey, statement, args.deviceSignature)) {
      throw new CryptoVerificationError(
        'CRYPTO_VERIFICATION_FAILED',
        'the device did not sign this addition',
      );
    }
    const body = await this.#request(
      'POST',
      `/v1/accounts/${username}/devices`,
      {
        deviceKey: toBase64url(args.deviceKey),
        challenge: toBase64url(args.challenge),
        accountSignature: toBase64url(this.#crypto.ed25519.sign(args.accountSeed, statement)),
        deviceSignature: toBase64url(args.deviceSignature),
      },
      201,
    );
    return { deviceId: this.#deviceIdField(body, args.deviceKey) };
  }

  /** `DELETE /v1/accounts/:username/devices/:deviceId`, authorised by the account key. */
  async removeDevice(args: {
    readonly username: string;
    readonly accountSeed: Uint8Array;
    readonly deviceId: Uint8Array;
  }): Promise<{ removed: true }> {
    const username = parseUsername(args.username);
    checkSeed(args.accountSeed, 'account seed');
    if (!(args.deviceId instanceof Uint8Array) || args.deviceId.length !== LIMITS.deviceIdBytes) {
      throw new ValidationError('VALIDATION_FAILED', `device id must be ${LIMITS.deviceIdBytes} bytes`);
    }
    const { challenge } = await this.challenge();
    const statement = deviceRemoveStatement(challenge, this.audience, username, args.deviceId);
    const body = await this.#request(
      'DELETE',
      `/v1/accounts/${username}/devices/${toBase64url(args.deviceId)}`,
      {
        challenge: toBase64url(challenge),
        accountSignature: toBase64url(this.#crypto.ed25519.sign(args.accountSeed, statement)),
      },
      200,
    );
    if (body['removed'] !== true) {
      throw new CodecError('CODEC_INVALID_VALUE', 'server answer: removed is not true');
    }
    return { removed: true };
  }

  /**
   * `POST /v1/kt/updates`: submits a signed device list (core identity/device-list.ts) to the key
   * directory. Resolves to the label version the directory queued it as; it is visible to lookups
   * from the next epoch on. The answer is checked to name the list's own username.
   */
  async publishDeviceList(args: {
    readonly username: string;
    readonly deviceList: Uint8Array;
  }): Promise<{ version: number }> {
    const username = parseUsername(args.username);
    if (!(args.deviceList instanceof Uint8Array) || args.deviceList.length > LIMITS.ktUpdateValueMaxBytes) {
      throw new ValidationError(
        'VALIDATION_FAILED',
        `device list must be at most ${LIMITS.ktUpdateValueMaxBytes} bytes`,
      );
    }
    const body = await this.#request(
      'POST',
      '/v1/kt/updates',
      { deviceList: toBase64url(args.deviceList) },
      202,
    );
    const version = body['version'];
    if (
      body['username'] !== username ||
      typeof version !== 'number' ||
      !Number.isSafeInteger(version) ||
      version < 0
    ) {
      throw new CodecError('CODEC_INVALID_VALUE', 'server answer: not the queued version of this username');
    }
    return { version };
  }

  /**
   * `POST /v1/accounts/:username/recovery` (docs/identity.md "Recovery"): installs `deviceList`,
   * the account's next list (the new account key, this one device, an account-key rotation signed
   * by the recovery key), with the new account key's and the new device key's signatures over a
   * fresh challenge and the list's hash. The server unlinks every other device of the account.
   * Resolves to the list's label version in the key directory and how many devices were unlinked.
   */
  async recoverAccount(
    args: SeedPair & { readonly deviceList: Uint8Array },
  ): Promise<{ deviceId: Uint8Array; version: number; removedDevices: number }> {
    const username = parseUsername(args.username);
    checkSeed(args.accountSeed, 'account seed');
    checkSeed(args.deviceSeed, 'device seed');
    if (!(args.deviceList instanceof Uint8Array) || args.deviceList.length > LIMITS.ktUpdateValueMaxBytes) {
      throw new ValidationError(
        'VALIDATION_FAILED',
        `device list must be at most ${LIMITS.ktUpdateValueMaxBytes} bytes`,
      );
    }
    const deviceKey = this.#crypto.ed25519.publicKey(args.deviceSeed);
    const { challenge } = await this.challenge();
    const statement = accountRecoverStatement(
      challenge,
      this.audience,
      username,
      deviceListHash(this.#crypto, args.deviceList),
      deviceKey,
    );
    const body = await this.#request(
      'POST',
      `/v1/accounts/${username}/recovery`,
      {
        deviceList: toBase64url(args.deviceList),
        deviceKey: toBase64url(deviceKey),
        challenge: toBase64url(challenge),
        accountSignature: toBase64url(this.#crypto.ed25519.sign(args.accountSeed, statement)),
        deviceSignature: toBase64url(this.#crypto.ed25519.sign(args.deviceSeed, statement)),
      },
      200,
    );
    const version = body['version'];
    const removedDevices = body['removedDevices'];
    if (
      typeof version !== 'number' ||
      !Number.isSafeInteger(version) ||
      version < 0 ||
      typeof removedDevices !== 'number' ||
      !Number.isSafeInteger(removedDevices) ||
      removedDevices < 0 ||
      removedDevices > LIMITS.devicesPerAccount
    ) {
      throw new CodecError('CODEC_INVALID_VALUE', 'server answer: not a recovery result');
    }
    return { deviceId: this.#deviceIdField(body, deviceKey), version, removedDevices };
  }

  /** The device id the server answered must be the one derived from the key (protocol.md "Keys and ids"). */
  #deviceIdField(body: Record<string, unknown>, deviceKey: Uint8Array): Uint8Array {
    const deviceId = bytesField(body, 'deviceId', LIMITS.deviceIdBytes);
    if (!equalPublicBytes(deviceId, deviceIdOf(this.#crypto, deviceKey))) {
      throw new CryptoVerificationError(
        'CRYPTO_VERIFICATION_FAILED',
        'server answer: device id does not match the device key',
      );
    }
    return deviceId;
  }

  /**
   * One request; answers `expected` with a JSON object, or throws the typed error the server
   * answered, or UnavailableError when the server cannot be reached in time.
   */
  async #request(
    method: 'GET' | 'POST' | 'DELETE',
    path: string,
    json: Record<string, unknown> | undefined,
    expected: number,
  ): Promise<Record<string, unknown>> {
    const init: RequestInit = {
      method,
      headers: json === undefined ? { accept: 'application/json' } : { 'content-type': 'application/json' },
      signal: AbortSignal.timeout(this.#timeoutMs),
      redirect: 'error',
    };
    if (json !== undefined) init.body = JSON.stringify(json);
    let response: Response;
    try {
      response = await this.#fetch(this.baseUrl + path, init);
    } catch (error) {
      throw unreachable(this.baseUrl, method, path, error);
    }
    let body: unknown;
    try {
      body = await readJsonBody(response, LIMITS.httpBodyMaxBytes);
    } catch (error) {
      if (response.status !== expected) throw errorFromStatus(response.status);
      if (error instanceof SealpostError) throw error;
      throw unreachable(this.baseUrl, method, path, error);
    }
    if (response.status !== expected) throw errorFromWire(withCleanMessage(body));
    if (typeof body !== 'object' || body === null || Array.isArray(body)) {
      throw new CodecError('CODEC_INVALID_VALUE', 'server answer is not a JSON object');
    }
    return body as Record<string, unknown>;
  }
}

function checkSeed(seed: Uint8Array, what: string): void {
  if (!(seed instanceof Uint8Array) || seed.length !== SEED_BYTES) {
    throw new ValidationError('VALIDATION_FAILED', `${what} must be ${SEED_BYTES} bytes`);
  }
}

function bytesField(body: Record<string, unknown>, name: string, length: number): Uint8Array {
  const value = body[name];
  if (typeof value !== 'string')
    throw new CodecError('CODEC_INVALID_VALUE', `server answer: ${name} is missing`);
  return fromBase64urlExact(value, length, `server answer: ${name}`);
}

function usernameField(body: Record<string, unknown>, expected: Username): void {
  if (body['username'] !== expected) {
    throw new CodecError('CODEC_INVALID_VALUE', 'server answer: username is not the one asked for');
  }
}

function unreachable(baseUrl: ServerUrl, method: string, path: string, error: unknown): SealpostError {
  return new UnavailableError('NOT_READY', `server ${baseUrl} did not answer ${method} ${path}`, {
    cause: error instanceof Error ? error.name : 'unknown',
  });
}

/** An error status without a JSON error body (a proxy's page, say). */
function errorFromStatus(status: number): SealpostError {
  if (status >= 500) {
    return new UnavailableError('NOT_READY', `server answered HTTP ${status} without an error body`, {
      status,
    });
  }
  return new InternalError(`server answered HTTP ${status} without an error body`);
}

/** Longest server error message passed on; the rest is cut. */
const WIRE_MESSAGE_MAX_CHARS = 300;
// C0 and C1 controls, line/paragraph separators, bidirectional overrides and isolates.
// eslint-disable-next-line no-control-regex
const UNPRINTABLE = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

/**
 * A server's error message is shown to users, and terminals interpret escape sequences: control
 * characters are replaced and lengths bounded (message and string details) before `errorFromWire`.
 */
function withCleanMessage(body: unknown): unknown {
  if (typeof body !== 'object' || body === null) return body;
  const { message, details } = body as { message?: unknown; details?: unknown };
  const cleaned: Record<string, unknown> = { ...body };
  if (typeof message === 'string') cleaned['message'] = printable(message);
  if (typeof details === 'object' && details !== null) {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(details))
      out[printable(k)] = typeof v === 'string' ? printable(v) : v;
    cleaned['details'] = out;
  }
  return cleaned;
}

function printable(text: string): string {
  const clean = text.slice(0, WIRE_MESSAGE_MAX_CHARS).replace(UNPRINTABLE, '?');
  return text.length > WIRE_MESSAGE_MAX_CHARS ? clean + '...' : clean;
}
