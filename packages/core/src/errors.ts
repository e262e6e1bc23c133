/**
 * The one error taxonomy of Sealpost.
 *
 * Every failure that crosses a boundary is a `SealpostError` with a stable `code` from `ERRORS`.
 * The table maps each code to its class (kind), its HTTP status and its WebSocket close code, so the
 * server never decides a status in a handler. Messages say what was wrong and with which input;
 * they never carry a secret (keys, signatures, payloads, tokens).
 */

/** WebSocket close codes Sealpost uses (RFC 6455 §7.4; 4000-4999 are private use). Documented in docs/protocol.md. */
export const CLOSE = {
  normal: 1000,
  /** Server is shutting down (graceful drain): reconnect, possibly to another instance. */
  goingAway: 1001,
  /** Malformed frame or a frame not allowed in the current state. */
  protocolError: 1002,
  /** Authentication failed (bad signature, unknown device, replayed challenge). */
  policyViolation: 1008,
  /** Frame larger than `LIMITS.wsFrameMaxBytes`. */
  tooBig: 1009,
  internalError: 1011,
  /** A newer connection for the same device replaced this one. Do not reconnect automatically. */
  replaced: 4001,
  /** The device did not authenticate within `LIMITS.authTimeoutMs`. */
  authTimeout: 4002,
  /** The device was removed from its account while connected. */
  deviceRemoved: 4003,
  /** Too many frames; wait and reconnect. */
  rateLimited: 4029,
} as const;
export type CloseCode = (typeof CLOSE)[keyof typeof CLOSE];

export type ErrorKind =
  | 'codec'
  | 'validation'
  | 'auth'
  | 'not-found'
  | 'conflict'
  | 'limit'
  | 'rate-limited'
  | 'crypto'
  | 'unavailable'
  | 'config'
  | 'internal';

interface ErrorSpec {
  readonly kind: ErrorKind;
  readonly status: number;
  readonly close: CloseCode;
}

/** code -> kind, HTTP status, WebSocket close code. Codes are stable: clients match on them. */
export const ERRORS = {
  CODEC_TRUNCATED: { kind: 'codec', status: 400, close: CLOSE.protocolError },
  CODEC_TRAILING_BYTES: { kind: 'codec', status: 400, close: CLOSE.protocolError },
  CODEC_LENGTH_LIMIT: { kind: 'codec', status: 400, close: CLOSE.protocolError },
  CODEC_INVALID_VALUE: { kind: 'codec', status: 400, close: CLOSE.protocolError },

  VALIDATION_FAILED: { kind: 'validation', status: 400, close: CLOSE.protocolError },
  USERNAME_INVALID: { kind: 'validation', status: 400, close: CLOSE.protocolError },
  UNEXPECTED_FRAME: { kind: 'validation', status: 400, close: CLOSE.protocolError },
  /** Key transparency: a tree size or leaf index outside a function's stated preconditions. */
  KT_TREE_SIZE_INVALID: { kind: 'validation', status: 400, close: CLOSE.protocolError },
  /** Identity (docs/identity.md): a device list whose version does not exceed the last accepted one. */
  IDENTITY_VERSION_NOT_INCREASING: { kind: 'validation', status: 400, close: CLOSE.protocolError },
  /** Identity: devices not in strictly increasing device-id order. */
  IDENTITY_DEVICES_UNSORTED: { kind: 'validation', status: 400, close: CLOSE.protocolError },
  /** Identity: the same device id twice in one device list. */
  IDENTITY_DEVICE_DUPLICATE: { kind: 'validation', status: 400, close: CLOSE.protocolError },
  /** Identity: a device id that is not `deviceIdOf` its signature key. */
  IDENTITY_DEVICE_ID_MISMATCH: { kind: 'validation', status: 400, close: CLOSE.protocolError },
  /** Identity: a recovery code that is malformed or whose checksum does not match (a typo). */
  IDENTITY_RECOVERY_CODE_INVALID: { kind: 'validation', status: 400, close: CLOSE.protocolError },

  AUTH_REQUIRED: { kind: 'auth', status: 401, close: CLOSE.policyViolation },
  AUTH_CHALLENGE_UNKNOWN: { kind: 'auth', status: 401, close: CLOSE.policyViolation },
  AUTH_SIGNATURE_INVALID: { kind: 'auth', status: 401, close: CLOSE.policyViolation },
  AUTH_TIMEOUT: { kind: 'auth', status: 401, close: CLOSE.authTimeout },
  /** Key transparency: a cosignature under a witness key the server's operator did not configure. */
  KT_WITNESS_NOT_CONFIGURED: { kind: 'auth', status: 403, close: CLOSE.policyViolation },

  ACCOUNT_NOT_FOUND: { kind: 'not-found', status: 404, close: CLOSE.policyViolation },
  DEVICE_NOT_FOUND: { kind: 'not-found', status: 404, close: CLOSE.policyViolation },
  ROUTE_NOT_FOUND: { kind: 'not-found', status: 404, close: CLOSE.protocolError },
  KT_PREFIX_KEY_MISSING: { kind: 'not-found', status: 404, close: CLOSE.protocolError },
  /** Key transparency: the searched label, or version of it, does not exist (§7.2 step 6). */
  KT_VERSION_NOT_FOUND: { kind: 'not-found', status: 404, close: CLOSE.protocolError },

  USERNAME_TAKEN: { kind: 'conflict', status: 409, close: CLOSE.protocolError },
  DEVICE_EXISTS: { kind: 'conflict', status: 409, close: CLOSE.protocolError },
  MESSAGE_ID_REUSED: { kind: 'conflict', status: 409, close: CLOSE.protocolError },
  LAST_DEVICE: { kind: 'conflict', status: 409, close: CLOSE.protocolError },
  KT_PREFIX_KEY_EXISTS: { kind: 'conflict', status: 409, close: CLOSE.protocolError },
  /** MLS delivery: a commit for an epoch the group has left; `details.currentEpoch` says where it is. */
  MLS_EPOCH_CONFLICT: { kind: 'conflict', status: 409, close: CLOSE.protocolError },

  BODY_TOO_LARGE: { kind: 'limit', status: 413, close: CLOSE.tooBig },
  FRAME_TOO_LARGE: { kind: 'limit', status: 413, close: CLOSE.tooBig },
  MESSAGE_TOO_LARGE: { kind: 'limit', status: 413, close: CLOSE.tooBig },
  TOO_MANY_DEVICES: { kind: 'limit', status: 409, close: CLOSE.protocolError },
  TOO_MANY_RECIPIENTS: { kind: 'limit', status: 400, close: CLOSE.protocolError },
  MAILBOX_FULL: { kind: 'limit', status: 507, close: CLOSE.protocolError },
  QUOTA_EXCEEDED: { kind: 'limit', status: 507, close: CLOSE.protocolError },
  /** MLS delivery: a device would hold more than LIMITS.keyPackagesPerDevice one-time KeyPackages. */
  TOO_MANY_KEY_PACKAGES: { kind: 'limit', status: 409, close: CLOSE.protocolError },
  /** Key transparency: a head already holds cosignatures from its limit of distinct witness keys. */
  KT_COSIGNATURES_FULL: { kind: 'limit', status: 409, close: CLOSE.protocolError },

  RATE_LIMITED: { kind: 'rate-limited', status: 429, close: CLOSE.rateLimited },

  CRYPTO_VERIFICATION_FAILED: { kind: 'crypto', status: 400, close: CLOSE.protocolError },
  KEYSTORE_PASSPHRASE_WRONG: { kind: 'crypto', status: 400, close: CLOSE.protocolError },
  /** Key transparency: a proof whose shape does not fit the tree (element count, depth, result). */
  KT_PROOF_MALFORMED: { kind: 'crypto', status: 400, close: CLOSE.protocolError },
  /** Key transparency: a proof that recomputes a root other than the expected one. */
  KT_ROOT_MISMATCH: { kind: 'crypto', status: 400, close: CLOSE.protocolError },
  /** Key transparency: log entry timestamps that decrease, or a tree head outside max_ahead / max_behind. */
  KT_TIMESTAMP_INVALID: { kind: 'crypto', status: 400, close: CLOSE.protocolError },
  /** Key transparency: a binary ladder contradicts the claimed or expected greatest version of a label. */
  KT_VERSION_MISMATCH: { kind: 'crypto', status: 400, close: CLOSE.protocolError },
  /** Identity: a device list or rotation statement whose signature does not verify. */
  IDENTITY_SIGNATURE_INVALID: { kind: 'crypto', status: 400, close: CLOSE.protocolError },
  /** Identity: a device list that does not continue the last accepted one (hash, username, recovery key). */
  IDENTITY_CHAIN_BROKEN: { kind: 'crypto', status: 400, close: CLOSE.protocolError },
  /** Identity: a new account key without a rotation signed by the previous account key or the recovery key. */
  IDENTITY_ROTATION_UNAUTHORIZED: { kind: 'crypto', status: 400, close: CLOSE.protocolError },

  NOT_READY: { kind: 'unavailable', status: 503, close: CLOSE.goingAway },
  SHUTTING_DOWN: { kind: 'unavailable', status: 503, close: CLOSE.goingAway },
  STORE_UNAVAILABLE: { kind: 'unavailable', status: 503, close: CLOSE.internalError },
  REPLACED: { kind: 'unavailable', status: 409, close: CLOSE.replaced },

  CONFIG_INVALID: { kind: 'config', status: 500, close: CLOSE.internalError },

  INTERNAL: { kind: 'internal', status: 500, close: CLOSE.internalError },
} as const satisfies Record<string, ErrorSpec>;

export type ErrorCode = keyof typeof ERRORS;

export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === 'string' && Object.hasOwn(ERRORS, value);
}

/** Base of every typed Sealpost error. `details` holds only public, non-secret facts. */
export class SealpostError extends Error {
  readonly code: ErrorCode;
  readonly details: Readonly<Record<string, string | number | boolean>>;
  constructor(code: ErrorCode, message: string, details: Record<string, string | number | boolean> = {}) {
    super(message);
    this.name = new.target.name;
    this.code = code;
    this.details = details;
  }
  get kind(): ErrorKind {
    return ERRORS[this.code].kind;
  }
  get status(): number {
    return ERRORS[this.code].status;
  }
  get closeCode(): CloseCode {
    return ERRORS[this.code].close;
  }
  toJSON(): { code: ErrorCode; message: string; details: Record<string, string | number | boolean> } {
    return { code: this.code, message: this.message, details: { ...this.details } };
  }
}

type CodeOfKind<K extends ErrorKind> = {
  [C in ErrorCode]: (typeof ERRORS)[C]['kind'] extends K ? C : never;
}[ErrorCode];

export class CodecError extends SealpostError {
  constructor(
    code: CodeOfKind<'codec'>,
    message: string,
    details?: Record<string, string | number | boolean>,
  ) {
    super(code, message, details);
  }
}
export class ValidationError extends SealpostError {
  constructor(
    code: CodeOfKind<'validation'>,
    message: string,
    details?: Record<string, string | number | boolean>,
  ) {
    super(code, message, details);
  }
}
export class AuthError extends SealpostError {
  constructor(
    code: CodeOfKind<'auth'>,
    message: string,
    details?: Record<string, string | number | boolean>,
  ) {
    super(code, message, details);
  }
}
export class NotFoundError extends SealpostError {
  constructor(
    code: CodeOfKind<'not-found'>,
    message: string,
    details?: Record<string, string | number | boolean>,
  ) {
    super(code, message, details);
  }
}
export class ConflictError extends SealpostError {
  constructor(
    code: CodeOfKind<'conflict'>,
    message: string,
    details?: Record<string, string | number | boolean>,
  ) {
    super(code, message, details);
  }
}
export class LimitError extends SealpostError {
  constructor(
    code: CodeOfKind<'limit'>,
    message: string,
    details?: Record<string, string | number | boolean>,
  ) {
    super(code, message, details);
  }
}
export class RateLimitedError extends SealpostError {
  readonly retryAfterSecs: number;
  constructor(message: string, retryAfterSecs: number) {
    super('RATE_LIMITED', message, { retryAfterSecs });
    this.retryAfterSecs = retryAfterSecs;
  }
}
export class CryptoVerificationError extends SealpostError {
  constructor(
    code: CodeOfKind<'crypto'>,
    message: string,
    details?: Record<string, string | number | boolean>,
  ) {
    super(code, message, details);
  }
}
export class UnavailableError extends SealpostError {
  constructor(
    code: CodeOfKind<'unavailable'>,
    message: string,
    details?: Record<string, string | number | boolean>,
  ) {
    super(code, message, details);
  }
}
export class ConfigError extends SealpostError {
  constructor(message: string, details?: Record<string, string | number | boolean>) {
    super('CONFIG_INVALID', message, details);
  }
}
export class InternalError extends SealpostError {
  constructor(message: string) {
    super('INTERNAL', message);
  }
}

/**
 * Rebuilds a typed error from its wire form `{code, message, details}` (a server answer).
 * An unknown code becomes INTERNAL so a client never trusts an unexpected shape.
 */
export function errorFromWire(value: unknown): SealpostError {
  if (typeof value === 'object' && value !== null) {
    const v = value as { code?: unknown; message?: unknown; details?: unknown };
    if (isErrorCode(v.code) && typeof v.message === 'string') {
      const details: Record<string, string | number | boolean> = {};
      if (typeof v.details === 'object' && v.details !== null) {
        for (const [k, d] of Object.entries(v.details)) {
          if (typeof d === 'string' || typeof d === 'number' || typeof d === 'boolean') details[k] = d;
        }
      }
      if (v.code === 'RATE_LIMITED') {
        const secs = typeof details['retryAfterSecs'] === 'number' ? details['retryAfterSecs'] : 1;
        return new RateLimitedError(v.message, secs);
      }
      const Class = CLASS_OF_KIND[ERRORS[v.code].kind];
      return new Class(v.code as never, v.message, details);
    }
  }
  return new InternalError('unrecognised error answer from server');
}

/** The class each kind of code is thrown as, so a rebuilt error passes `instanceof` like the original. */
const CLASS_OF_KIND: Record<
  Exclude<ErrorKind, 'rate-limited'>,
  new (code: never, message: string, details: Record<string, string | number | boolean>) => SealpostError
> = {
  codec: CodecError,
  validation: ValidationError,
  auth: AuthError,
  'not-found': NotFoundError,
  conflict: ConflictError,
  limit: LimitError,
  crypto: CryptoVerificationError,
  unavailable: UnavailableError,
  config: class extends ConfigError {
    constructor(_code: never, message: string, details: Record<string, string | number | boolean>) {
      super(message, details);
    }
  },
  internal: class extends InternalError {
    constructor(_code: never, message: string) {
      super(message);
    }
  },
};
