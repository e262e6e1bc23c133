/**
 * Encrypted-at-rest local key store: the account and device seeds of one device, sealed under a
 * passphrase. Runs in Node and in the browser (crypto through the injected `CryptoProvider`,
 * Argon2id through `hash-wasm`'s WASM build).
 *
 * File format, version 1 (all integers big-endian):
 *
 *   offset  size  field
 *   0       4     magic "SPKS"
 *   4       1     format version = 1
 *   5       4     Argon2id memory in KiB (u32)
 *   9       4     Argon2id iterations (u32)
 *   13      4     Argon2id parallelism (u32)
 *   17      16    salt (random)
 *   33      12    nonce (random)
 *   45      4     ciphertext length n (u32), tag included
 *   49      n     AES-256-GCM(key, nonce, plaintext, aad = bytes 0..48) || 16-byte tag
 *
 *   key = Argon2id(passphrase, salt, m, t, p, 32 bytes)        (RFC 9106 §3.1)
 *
 * Plaintext, contents version 1 or 2 (core `Writer` encodings):
 *
 *   u8       contents version = 1 or 2
 *   opaque   username (canonical, see core `parseUsername`)
 *   opaque   server URL (an origin, see `parseServerUrl`)
 *   32       account seed (Ed25519 private key, RFC 8032 §5.1.5)
 *   32       device seed
 *   32       version 2 only: the backup recovery public key (X25519, core backup/recovery-key-file.ts)
 *
 * Version 2 is written only when there is a recovery public key to keep, so key stores without one
 * stay byte for byte what version 1 wrote, and every existing key store still opens.
 *
 * Why the header is shaped so:
 *   - the whole header is the AEAD's associated data, so no field (parameters, salt, length) can be
 *     changed without the tag failing;
 *   - the ciphertext length is explicit so truncation and trailing bytes are codec errors found
 *     before any key derivation, not a "wrong passphrase";
 *   - the Argon2 parameters travel with the file (they can be raised later without a format change),
 *     and are checked against `KEYSTORE_ARGON2_BOUNDS` before Argon2 runs: a hostile file cannot make
 *     us allocate gigabytes or spin for hours.
 * A wrong passphrase and an altered ciphertext cannot be told apart (both fail the tag): both are
 * `KEYSTORE_PASSPHRASE_WRONG`.
 */
import { argon2id } from 'hash-wasm';
import {
  CodecError,
  CryptoVerificationError,
  InternalError,
  LIMITS,
  Reader,
  SealpostError,
  ValidationError,
  Writer,
  decodeAll,
  parseUsername,
} from '@sealpost/core';
import type { CryptoProvider, Username } from '@sealpost/core';
import { SERVER_URL_MAX_CHARS, parseServerUrl } from '../server-url.ts';
import type { ServerUrl } from '../server-url.ts';

/** What a key store holds. The seeds are secrets: the caller wipes them (`.fill(0)`) when done. */
export interface KeystoreContents {
  readonly username: Username;
  readonly serverUrl: ServerUrl;
  readonly accountSeed: Uint8Array;
  readonly deviceSeed: Uint8Array;
  /**
   * Public: the account's backup recovery key, so `backup init` can write a key file the recovery
   * code opens without holding the recovery secret. Absent in key stores made before it existed.
   */
  readonly backupRecoveryKey?: Uint8Array;
}

/** Argon2id cost parameters (RFC 9106 §3.1: m in KiB, t passes, p lanes). */
export interface Argon2Params {
  readonly memoryKiB: number;
  readonly iterations: number;
  readonly parallelism: number;
}

export const KEYSTORE_DEFAULT_PARAMS: Argon2Params = {
  memoryKiB: LIMITS.argon2MemoryKiB,
  iterations: LIMITS.argon2Iterations,
  parallelism: LIMITS.argon2Parallelism,
};

/**
 * Parameters a key store may carry. The lower bounds are Argon2's own (RFC 9106 §3.1: m >= 8p);
 * the upper bounds leave room to raise the defaults fourfold while refusing a file that asks for
 * gigabytes of memory or minutes of work.
 */
export const KEYSTORE_ARGON2_BOUNDS = {
  memoryKiBMax: 4 * LIMITS.argon2MemoryKiB,
  iterationsMax: 16,
  parallelismMax: 16,
} as const;

const MAGIC = new Uint8Array([0x53, 0x50, 0x4b, 0x53]); // "SPKS"
const FORMAT_VERSION = 1;
const CONTENTS_VERSION = 1;
const CONTENTS_VERSION_RECOVERY_KEY = 2;
const RECOVERY_KEY_BYTES = 32;
const SEED_BYTES = 32;
const SALT_BYTES = 16;
const NONCE_BYTES = 12;
const KEY_BYTES = 32;
const TAG_BYTES = 16;
const HEADER_BYTES = MAGIC.length + 1 + 4 + 4 + 4 + SALT_BYTES + NONCE_BYTES + 4;
/** Smallest plaintext: version, two one-byte length prefixes, shortest username, two seeds. */
const PLAINTEXT_MIN_BYTES = 1 + 1 + LIMITS.usernameMinLength + 1 + 2 * SEED_BYTES;

const utf8 = new TextEncoder();

/**
 * Seals `contents` under `passphrase`. `params` defaults to `KEYSTORE_DEFAULT_PARAMS`; a lower
 * cost is for tests only. The passphrase stays the caller's to wipe.
 */
export async function sealKeystore(
  crypto: CryptoProvider,
  contents: KeystoreContents,
  passphrase: Uint8Array,
  params: Argon2Params = KEYSTORE_DEFAULT_PARAMS,
): Promise<Uint8Array> {
  checkPassphrase(passphrase, true);
  checkParams(params, (message) => new ValidationError('VALIDATION_FAILED', message));
  const plaintext = encodeContents(contents);
  const salt = crypto.randomBytes(SALT_BYTES);
  const nonce = crypto.randomBytes(NONCE_BYTES);
  const header = new Writer(HEADER_BYTES)
    .fixed(MAGIC)
    .u8(FORMAT_VERSION)
    .u32(params.memoryKiB)
    .u32(params.iterations)
    .u32(params.parallelism)
    .fixed(salt)
    .fixed(nonce)
    .u32(plaintext.length + TAG_BYTES)
    .finish();
  const key = await deriveKey(passphrase, salt, params);
  try {
    const ciphertext = crypto.aes256gcm.seal(key, nonce, plaintext, header);
    const out = new Uint8Array(header.length + ciphertext.length);
    out.set(header);
    out.set(ciphertext, header.length);
    return out;
  } finally {
    key.fill(0);
    plaintext.fill(0);
  }
}

/**
 * Opens a key store. Throws `CodecError` for anything malformed (too large, truncated, trailing
 * bytes, unknown magic or version, parameters out of bounds) before running Argon2, and
 * `CryptoVerificationError` `KEYSTORE_PASSPHRASE_WRONG` when the passphrase is wrong or the
 * ciphertext was altered. The returned seeds are the caller's to wipe.
 */
export async function openKeystore(
  crypto: CryptoProvider,
  bytes: Uint8Array,
  passphrase: Uint8Array,
): Promise<KeystoreContents> {
  checkPassphrase(passphrase, false);
  const { header, params, salt, nonce, ciphertext } = decodeAll(
    bytes,
    LIMITS.keystoreMaxBytes,
    (r) => readFile(r, bytes),
    'keystore',
  );
  // seal refuses an empty passphrase, so none can open a key store (and Argon2 would refuse it).
  if (passphrase.length === 0) throw passphraseWrong();
  const key = await deriveKey(passphrase, salt, params);
  let plaintext: Uint8Array;
  try {
    plaintext = crypto.aes256gcm.open(key, nonce, ciphertext, header);
  } catch (error) {
    if (error instanceof SealpostError && error.kind === 'crypto') {
      throw passphraseWrong();
    }
    throw error;
  } finally {
    key.fill(0);
  }
  try {
    return readContents(new Reader(plaintext, LIMITS.keystoreMaxBytes));
  } finally {
    plaintext.fill(0);
  }
}

/** Re-seals a key store under a new passphrase (fresh salt and nonce). */
export async function rekeyKeystore(
  crypto: CryptoProvider,
  bytes: Uint8Array,
  oldPassphrase: Uint8Array,
  newPassphrase: Uint8Array,
  params: Argon2Params = KEYSTORE_DEFAULT_PARAMS,
): Promise<Uint8Array> {
  checkPassphrase(newPassphrase, true);
  const contents = await openKeystore(crypto, bytes, oldPassphrase);
  try {
    return await sealKeystore(crypto, contents, newPassphrase, params);
  } finally {
    contents.accountSeed.fill(0);
    contents.deviceSeed.fill(0);
  }
}

interface ParsedFile {
  readonly header: Uint8Array;
  readonly params: Argon2Params;
  readonly salt: Uint8Array;
  readonly nonce: Uint8Array;
  readonly ciphertext: Uint8Array;
}

/** Precondition: `r` reads `bytes` from offset 0 (the header is sliced from `bytes`). */
function readFile(r: Reader, bytes: Uint8Array): ParsedFile {
  const magic = r.fixed(MAGIC.length, 'keystore magic');
  if (!magic.every((b, i) => b === MAGIC[i])) {
    throw new CodecError('CODEC_INVALID_VALUE', 'not a Sealpost keystore (bad magic)');
  }
  const version = r.u8('keystore version');
  if (version !== FORMAT_VERSION) {
    throw new CodecError('CODEC_INVALID_VALUE', `keystore version ${version} is not supported`, { version });
  }
  const params: Argon2Params = {
    memoryKiB: r.u32('argon2 memory'),
    iterations: r.u32('argon2 iterations'),
    parallelism: r.u32('argon2 parallelism'),
  };
  checkParams(params, (message) => new CodecError('CODEC_INVALID_VALUE', message));
  const salt = r.fixed(SALT_BYTES, 'salt');
  const nonce = r.fixed(NONCE_BYTES, 'nonce');
  const length = r.u32('ciphertext length');
  if (length < PLAINTEXT_MIN_BYTES + TAG_BYTES) {
    throw new CodecError('CODEC_INVALID_VALUE', `ciphertext length ${length} is too short`, { length });
  }
  const header = bytes.slice(0, r.offset);
  const ciphertext = r.fixed(length, 'ciphertext');
  return { header, params, salt, nonce, ciphertext };
}

/** Precondition: `params` are integers within KEYSTORE_ARGON2_BOUNDS and m >= 8p (RFC 9106 §3.1). */
function checkParams(params: Argon2Params, fail: (message: string) => SealpostError): void {
  const { memoryKiB: m, iterations: t, parallelism: p } = params;
  const B = KEYSTORE_ARGON2_BOUNDS;
  if (!Number.isInteger(p) || p < 1 || p > B.parallelismMax) {
    throw fail(`argon2 parallelism ${p} is outside 1..${B.parallelismMax}`);
  }
  if (!Number.isInteger(t) || t < 1 || t > B.iterationsMax) {
    throw fail(`argon2 iterations ${t} is outside 1..${B.iterationsMax}`);
  }
  if (!Number.isInteger(m) || m < 8 * p || m > B.memoryKiBMax) {
    throw fail(`argon2 memory ${m} KiB is outside ${8 * p}..${B.memoryKiBMax}`);
  }
}

function checkPassphrase(passphrase: Uint8Array, sealing: boolean): void {
  if (!(passphrase instanceof Uint8Array)) {
    throw new ValidationError('VALIDATION_FAILED', 'passphrase must be bytes');
  }
  if (sealing && passphrase.length === 0) {
    throw new ValidationError('VALIDATION_FAILED', 'passphrase may not be empty');
  }
}

function passphraseWrong(): CryptoVerificationError {
  return new CryptoVerificationError(
    'KEYSTORE_PASSPHRASE_WRONG',
    'keystore did not open: wrong passphrase, or the file was altered',
  );
}

/** Precondition: `params` passed `checkParams`, `passphrase` is not empty. */
async function deriveKey(
  passphrase: Uint8Array,
  salt: Uint8Array,
  params: Argon2Params,
): Promise<Uint8Array> {
  try {
    // hash-wasm copies the passphrase into its WASM memory and does not wipe it; nothing in JS can.
    return await argon2id({
      password: passphrase,
      salt,
      memorySize: params.memoryKiB,
      iterations: params.iterations,
      parallelism: params.parallelism,
      hashLength: KEY_BYTES,
      outputType: 'binary',
    });
  } catch (error) {
    // Out of memory for the WASM instance, typically; the parameters were checked already.
    throw new InternalError(`argon2id failed: ${error instanceof Error ? error.message : 'unknown error'}`);
  }
}

/**
 * The seeds are copied straight into a buffer of exact size (not through a `Writer`, whose
 * internal buffer could not be wiped), so the one plaintext copy is wiped by the caller.
 */
function encodeContents(contents: KeystoreContents): Uint8Array {
  if (parseUsername(contents.username) !== contents.username) {
    throw new ValidationError('USERNAME_INVALID', 'username is not in canonical form');
  }
  if (parseServerUrl(contents.serverUrl) !== contents.serverUrl) {
    throw new ValidationError('VALIDATION_FAILED', 'server URL is not in canonical form');
  }
  for (const [name, seed] of [
    ['account seed', contents.accountSeed],
    ['device seed', contents.deviceSeed],
  ] as const) {
    if (!(seed instanceof Uint8Array) || seed.length !== SEED_BYTES) {
      throw new ValidationError('VALIDATION_FAILED', `${name} must be ${SEED_BYTES} bytes`);
    }
  }
  const recoveryKey = contents.backupRecoveryKey;
  if (
    recoveryKey !== undefined &&
    (!(recoveryKey instanceof Uint8Array) || recoveryKey.length !== RECOVERY_KEY_BYTES)
  ) {
    throw new ValidationError('VALIDATION_FAILED', `backup recovery key must be ${RECOVERY_KEY_BYTES} bytes`);
  }
  const prefix = new Writer()
    .u8(recoveryKey === undefined ? CONTENTS_VERSION : CONTENTS_VERSION_RECOVERY_KEY)
    .opaque(utf8.encode(contents.username))
    .opaque(utf8.encode(contents.serverUrl))
    .finish();
  const out = new Uint8Array(prefix.length + 2 * SEED_BYTES + (recoveryKey?.length ?? 0));
  out.set(prefix);
  out.set(contents.accountSeed, prefix.length);
  out.set(contents.deviceSeed, prefix.length + SEED_BYTES);
  if (recoveryKey !== undefined) out.set(recoveryKey, prefix.length + 2 * SEED_BYTES);
  return out;
}

/** Reads the whole plaintext (no trailing bytes). */
function readContents(r: Reader): KeystoreContents {
  const version = r.u8('contents version');
  if (version !== CONTENTS_VERSION && version !== CONTENTS_VERSION_RECOVERY_KEY) {
    throw new CodecError('CODEC_INVALID_VALUE', `keystore contents version ${version} is not supported`);
  }
  const username = asCodecError(() => parseUsername(r.string(LIMITS.usernameMaxLength, 'username')));
  const serverUrl = asCodecError(() => parseServerUrl(r.string(SERVER_URL_MAX_CHARS, 'server URL')));
  // On any failure below, no copy of a seed is left behind.
  const accountSeed = r.fixed(SEED_BYTES, 'account seed');
  let deviceSeed: Uint8Array = new Uint8Array(0);
  try {
    deviceSeed = r.fixed(SEED_BYTES, 'device seed');
    const backupRecoveryKey =
      version === CONTENTS_VERSION_RECOVERY_KEY
        ? r.fixed(RECOVERY_KEY_BYTES, 'backup recovery key')
        : undefined;
    r.end('keystore contents');
    return {
      username,
      serverUrl,
      accountSeed,
      deviceSeed,
      ...(backupRecoveryKey === undefined ? {} : { backupRecoveryKey }),
    };
  } catch (error) {
    accountSeed.fill(0);
    deviceSeed.fill(0);
    throw error;
  }
}

/** Inside an authenticated plaintext, a value that does not parse is a malformed file, not bad input. */
function asCodecError<T>(parse: () => T): T {
  try {
    return parse();
  } catch (error) {
    if (error instanceof ValidationError) throw new CodecError('CODEC_INVALID_VALUE', error.message);
    throw error;
  }
}
