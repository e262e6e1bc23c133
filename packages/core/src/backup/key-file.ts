/**
 * Repository key files: the master key wrapped under a passphrase (docs/backup-format.md §Key files).
 * A repository may hold several (one per passphrase); changing a passphrase rewraps the master key
 * and nothing else, since every other key derives from it (keys.ts).
 *
 * Format, version 1, 123 bytes, integers big-endian:
 *
 *   offset  size  field
 *   0       4     magic "SPBK"
 *   4       1     version = 1
 *   5       1     KDF = 1 (Argon2id, version 0x13, RFC 9106)
 *   6       4     Argon2id memory in KiB (u32)
 *   10      4     Argon2id iterations (u32)
 *   14      1     Argon2id parallelism (u8)
 *   15      16    salt (random)
 *   31      32    repository id
 *   63      12    nonce (random)
 *   75      48    AES-256-GCM(kek, nonce, master key, aad = bytes 0 to 62) || tag
 *
 *   kek = Argon2id(passphrase, salt, m, t, p, 32 bytes)
 *
 * KDF = 2 marks a recovery key file (recovery-key-file.ts), 118 bytes, which this decoder refuses.
 *
 * The whole header is the aad: parameters, salt and repository id cannot be changed without the tag
 * failing. Parameters are checked against LIMITS before Argon2 runs, so a hostile file cannot make a
 * client allocate gigabytes. A wrong passphrase and an altered file are the same error
 * (KEYSTORE_PASSPHRASE_WRONG). Argon2id is injected: core has no WASM and does no I/O.
 */
import { CodecError, CryptoVerificationError, SealpostError, ValidationError } from '../errors.ts';
import { LIMITS } from '../limits.ts';
import { Reader } from '../codec/reader.ts';
import { Writer } from '../codec/writer.ts';
import type { CryptoProvider } from '../crypto/provider.ts';
import { bytesArg, CRYPTO_SIZES, exactBytesArg } from '../crypto/arguments.ts';
import { KEY_BYTES, REPOSITORY_ID_BYTES } from './keys.ts';

export const KEY_FILE_MAGIC = new Uint8Array([0x53, 0x50, 0x42, 0x4b]); // "SPBK"
export const KEY_FILE_VERSION = 1;
export const KDF_ARGON2ID = 1;
/** A recovery key file (recovery-key-file.ts): the master key sealed to the recovery public key. */
export const KDF_RECOVERY_HPKE = 2;
export const KEY_FILE_SALT_BYTES = 16;
const HEADER_BYTES = 4 + 1 + 1 + 4 + 4 + 1 + KEY_FILE_SALT_BYTES + REPOSITORY_ID_BYTES;
export const KEY_FILE_BYTES = HEADER_BYTES + CRYPTO_SIZES.gcmNonce + KEY_BYTES + CRYPTO_SIZES.gcmTag;

/** Argon2id cost (RFC 9106 §3.1: m in KiB, t passes, p lanes). */
export interface Argon2idParams {
  readonly memoryKiB: number;
  readonly iterations: number;
  readonly parallelism: number;
}

export const DEFAULT_ARGON2ID_PARAMS: Argon2idParams = {
  memoryKiB: LIMITS.argon2MemoryKiB,
  iterations: LIMITS.argon2Iterations,
  parallelism: LIMITS.argon2Parallelism,
};

/** Argon2id, version 0x13, returning `length` bytes (hash-wasm in Node and browsers). */
export type Argon2id = (
  passphrase: Uint8Array,
  salt: Uint8Array,
  params: Argon2idParams,
  length: number,
) => Uint8Array | Promise<Uint8Array>;

/** A parsed key file: everything needed to run Argon2 and unwrap. */
export interface KeyFile {
  readonly params: Argon2idParams;
  readonly salt: Uint8Array;
  readonly repositoryId: Uint8Array;
  readonly nonce: Uint8Array;
  readonly wrapped: Uint8Array;
  /** Bytes 0 to 62: the aad. */
  readonly header: Uint8Array;
}

/** Why params are refused, or undefined. RFC 9106 §3.1: m >= 8p, t >= 1, 1 <= p < 2^24. */
function paramsProblem(p: Argon2idParams): string | undefined {
  const int = (v: unknown, min: number, max: number) =>
    typeof v === 'number' && Number.isInteger(v) && v >= min && v <= max;
  if (!int(p.parallelism, 1, LIMITS.backupArgon2ParallelismMax)) return 'parallelism out of range';
  if (!int(p.iterations, 1, LIMITS.backupArgon2IterationsMax)) return 'iterations out of range';
  if (!int(p.memoryKiB, 8 * p.parallelism, LIMITS.backupArgon2MemoryKiBMax)) return 'memory out of range';
  return undefined;
}

function encodeHeader(params: Argon2idParams, salt: Uint8Array, repositoryId: Uint8Array): Uint8Array {
  return new Writer(HEADER_BYTES)
    .fixed(KEY_FILE_MAGIC)
    .u8(KEY_FILE_VERSION)
    .u8(KDF_ARGON2ID)
    .u32(params.memoryKiB)
    .u32(params.iterations)
    .u8(params.parallelism)
    .fixed(salt)
    .fixed(repositoryId)
    .finish();
}

/** Parses a key file without any cryptography. Total: a KeyFile or a CodecError. */
export function decodeKeyFile(bytes: Uint8Array): KeyFile {
  const r = new Reader(bytes, KEY_FILE_BYTES);
  const magic = r.fixed(4, 'magic');
  if (!magic.every((b, i) => b === KEY_FILE_MAGIC[i]))
    throw new CodecError('CODEC_INVALID_VALUE', 'not a key file');
  const version = r.u8('version');
  if (version !== KEY_FILE_VERSION)
    throw new CodecError('CODEC_INVALID_VALUE', `unknown key file version ${version}`);
  const kdf = r.u8('kdf');
  if (kdf === KDF_RECOVERY_HPKE)
    throw new CodecError('CODEC_INVALID_VALUE', 'a recovery key file: it opens with the recovery code');
  if (kdf !== KDF_ARGON2ID) throw new CodecError('CODEC_INVALID_VALUE', `unknown key derivation ${kdf}`);
  const params = {
    memoryKiB: r.u32('memory'),
    iterations: r.u32('iterations'),
    parallelism: r.u8('parallelism'),
  };
  const problem = paramsProblem(params);
  if (problem !== undefined) throw new CodecError('CODEC_INVALID_VALUE', `Argon2id ${problem}`);
  const salt = r.fixed(KEY_FILE_SALT_BYTES, 'salt');
  const repositoryId = r.fixed(REPOSITORY_ID_BYTES, 'repository id');
  const nonce = r.fixed(CRYPTO_SIZES.gcmNonce, 'nonce');
  const wrapped = r.fixed(KEY_BYTES + CRYPTO_SIZES.gcmTag, 'wrapped key');
  r.end('key file');
  return { params, salt, repositoryId, nonce, wrapped, header: bytes.slice(0, HEADER_BYTES) };
}

/** Wraps `masterKey` under `kek` (already derived with `params` and `salt`) into a key file. */
export function wrapMasterKey(
  crypto: CryptoProvider,
  masterKey: Uint8Array,
  repositoryId: Uint8Array,
  kek: Uint8Array,
  params: Argon2idParams,
  salt: Uint8Array,
): Uint8Array {
  exactBytesArg(masterKey, KEY_BYTES, 'master key');
  exactBytesArg(repositoryId, REPOSITORY_ID_BYTES, 'repository id');
  exactBytesArg(salt, KEY_FILE_SALT_BYTES, 'salt');
  const problem = paramsProblem(params);
  if (problem !== undefined) throw new ValidationError('VALIDATION_FAILED', `Argon2id ${problem}`);
  const header = encodeHeader(params, salt, repositoryId);
  const nonce = crypto.randomBytes(CRYPTO_SIZES.gcmNonce);
  const wrapped = crypto.aes256gcm.seal(kek, nonce, masterKey, header);
  const out = new Uint8Array(KEY_FILE_BYTES);
  out.set(header);
  out.set(nonce, HEADER_BYTES);
  out.set(wrapped, HEADER_BYTES + nonce.length);
  return out;
}

/** Unwraps the master key with `kek`. KEYSTORE_PASSPHRASE_WRONG when the tag fails. */
export function unwrapMasterKey(crypto: CryptoProvider, file: KeyFile, kek: Uint8Array): Uint8Array {
  try {
    return crypto.aes256gcm.open(kek, file.nonce, file.wrapped, file.header);
  } catch (error) {
    if (error instanceof SealpostError && error.kind === 'crypto') throw passphraseWrong();
    throw error;
  }
}

function passphraseWrong(): CryptoVerificationError {
  return new CryptoVerificationError('KEYSTORE_PASSPHRASE_WRONG', 'wrong passphrase or altered key file');
}

async function deriveKek(
  argon2id: Argon2id,
  passphrase: Uint8Array,
  salt: Uint8Array,
  params: Argon2idParams,
) {
  const kek = await argon2id(passphrase, salt, params, KEY_BYTES);
  if (!(kek instanceof Uint8Array) || kek.length !== KEY_BYTES) {
    throw new ValidationError('VALIDATION_FAILED', 'Argon2id function must return 32 bytes');
  }
  return kek;
}

/** Creates a key file for `masterKey` under `passphrase` (fresh salt). The caller wipes its inputs. */
export async function createKeyFile(
  crypto: CryptoProvider,
  argon2id: Argon2id,
  masterKey: Uint8Array,
  repositoryId: Uint8Array,
  passphrase: Uint8Array,
  params: Argon2idParams = DEFAULT_ARGON2ID_PARAMS,
): Promise<Uint8Array> {
  if (bytesArg(passphrase, 'passphrase').length === 0) {
    throw new ValidationError('VALIDATION_FAILED', 'passphrase must not be empty');
  }
  const problem = paramsProblem(params);
  if (problem !== undefined) throw new ValidationError('VALIDATION_FAILED', `Argon2id ${problem}`);
  const salt = crypto.randomBytes(KEY_FILE_SALT_BYTES);
  const kek = await deriveKek(argon2id, passphrase, salt, params);
  try {
    return wrapMasterKey(crypto, masterKey, repositoryId, kek, params, salt);
  } finally {
    kek.fill(0);
  }
}

/** Opens a key file: the master key (the caller's to wipe) and the repository id. */
export async function openKeyFile(
  crypto: CryptoProvider,
  argon2id: Argon2id,
  bytes: Uint8Array,
  passphrase: Uint8Array,
): Promise<{ masterKey: Uint8Array; repositoryId: Uint8Array }> {
  const file = decodeKeyFile(bytes);
  // createKeyFile refuses an empty passphrase, so none can open a key file.
  if (bytesArg(passphrase, 'passphrase').length === 0) throw passphraseWrong();
  const kek = await deriveKek(argon2id, passphrase, file.salt, file.params);
  try {
    return { masterKey: unwrapMasterKey(crypto, file, kek), repositoryId: file.repositoryId };
  } finally {
    kek.fill(0);
  }
}

/** Rewraps the master key under a new passphrase: only the key file changes, no data. */
export async function changePassphrase(
  crypto: CryptoProvider,
  argon2id: Argon2id,
  bytes: Uint8Array,
  oldPassphrase: Uint8Array,
  newPassphrase: Uint8Array,
  params: Argon2idParams = DEFAULT_ARGON2ID_PARAMS,
): Promise<Uint8Array> {
  const { masterKey, repositoryId } = await openKeyFile(crypto, argon2id, bytes, oldPassphrase);
  try {
    return await createKeyFile(crypto, argon2id, masterKey, repositoryId, newPassphrase, params);
  } finally {
    masterKey.fill(0);
  }
}
