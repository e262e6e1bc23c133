/**
 * Recovery key files: the master key sealed to the account's backup recovery key, a public X25519
 * key, so that any device holding only that public key can write one and only the recovery code
 * opens it (docs/backup-format.md §Recovery key files).
 *
 * The recovery key pair comes from the 32-byte recovery secret (identity/recovery-key.ts), with its
 * own label, beside the recovery signing key:
 *
 *   sk = HKDF-SHA256(ikm = recovery secret, salt = "", info = "sealpost/backup/v1/recovery-hpke-key", L = 32)
 *   pk = X25519(sk, 9)
 *
 * Format, 118 bytes (the same magic and version as key-file.ts; KDF byte 2):
 *
 *   offset  size  field
 *   0       4     magic "SPBK"
 *   4       1     version = 1
 *   5       1     KDF = 2 (HPKE to the recovery key)
 *   6       32    repository id
 *   38      32    enc (HPKE ephemeral public key)
 *   70      48    HPKE ciphertext of the master key (32 + 16-byte tag)
 *
 *   enc, ct = SealBase(pk, info = "sealpost/backup/v1/recovery-key-file", aad = bytes 0 to 37, master key)
 *
 * HPKE is RFC 9180 base mode with DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, AES-256-GCM
 * (crypto/hpke.ts). The header is the aad and enc is bound by the KEM, so no byte can change
 * without the open failing; a wrong code and an altered file are one error
 * (KEYSTORE_PASSPHRASE_WRONG), as for passphrase key files. No Argon2: the recovery secret is
 * 256 uniformly random bits, and the file's cost to open is one X25519.
 */
import { CodecError, CryptoVerificationError, SealpostError } from '../errors.ts';
import { Reader } from '../codec/reader.ts';
import { Writer } from '../codec/writer.ts';
import type { CryptoProvider } from '../crypto/provider.ts';
import { CRYPTO_SIZES, exactBytesArg } from '../crypto/arguments.ts';
import { hpkeOpen, hpkeSeal, HPKE_SIZES } from '../crypto/hpke.ts';
import {
  decodeKeyFile,
  KEY_FILE_MAGIC,
  KEY_FILE_VERSION,
  KDF_RECOVERY_HPKE,
  type KeyFile,
} from './key-file.ts';
import { KEY_BYTES, REPOSITORY_ID_BYTES } from './keys.ts';

const utf8 = new TextEncoder();
const RECOVERY_KEY_INFO = utf8.encode('sealpost/backup/v1/recovery-hpke-key');
const HPKE_INFO = utf8.encode('sealpost/backup/v1/recovery-key-file');
const RECOVERY_SECRET_BYTES = 32;
const HEADER_BYTES = 4 + 1 + 1 + REPOSITORY_ID_BYTES;
const SEALED_BYTES = KEY_BYTES + CRYPTO_SIZES.gcmTag;
export const RECOVERY_KEY_FILE_BYTES = HEADER_BYTES + HPKE_SIZES.enc + SEALED_BYTES;

/** The backup recovery key pair. `privateKey` is secret: wipe it when done. */
export interface RecoveryBoxKey {
  readonly privateKey: Uint8Array;
  readonly publicKey: Uint8Array;
}

/** The recovery key pair of a recovery secret (32 bytes; the caller wipes it). */
export function recoveryBoxKey(crypto: CryptoProvider, recoverySecret: Uint8Array): RecoveryBoxKey {
  exactBytesArg(recoverySecret, RECOVERY_SECRET_BYTES, 'recovery secret');
  // RFC 5869 §3.1: no salt is needed for a uniformly random secret (as recoverySigningKey).
  const privateKey = crypto.hkdfSha256(recoverySecret, new Uint8Array(0), RECOVERY_KEY_INFO, 32);
  return { privateKey, publicKey: crypto.x25519.publicKey(privateKey) };
}

/** A parsed recovery key file. */
export interface RecoveryKeyFile {
  readonly repositoryId: Uint8Array;
  readonly enc: Uint8Array;
  readonly sealed: Uint8Array;
  /** Bytes 0 to 37: the aad. */
  readonly header: Uint8Array;
}

function encodeHeader(repositoryId: Uint8Array): Uint8Array {
  return new Writer(HEADER_BYTES)
    .fixed(KEY_FILE_MAGIC)
    .u8(KEY_FILE_VERSION)
    .u8(KDF_RECOVERY_HPKE)
    .fixed(repositoryId)
    .finish();
}

/** Parses a recovery key file without any cryptography. Total: a RecoveryKeyFile or a CodecError. */
export function decodeRecoveryKeyFile(bytes: Uint8Array): RecoveryKeyFile {
  const r = new Reader(bytes, RECOVERY_KEY_FILE_BYTES);
  const magic = r.fixed(4, 'magic');
  if (!magic.every((b, i) => b === KEY_FILE_MAGIC[i]))
    throw new CodecError('CODEC_INVALID_VALUE', 'not a key file');
  const version = r.u8('version');
  if (version !== KEY_FILE_VERSION)
    throw new CodecError('CODEC_INVALID_VALUE', `unknown key file version ${version}`);
  const kdf = r.u8('kdf');
  if (kdf !== KDF_RECOVERY_HPKE)
    throw new CodecError('CODEC_INVALID_VALUE', `key derivation ${kdf} is not the recovery key's`);
  const repositoryId = r.fixed(REPOSITORY_ID_BYTES, 'repository id');
  const enc = r.fixed(HPKE_SIZES.enc, 'enc');
  const sealed = r.fixed(SEALED_BYTES, 'sealed master key');
  r.end('recovery key file');
  return { repositoryId, enc, sealed, header: bytes.slice(0, HEADER_BYTES) };
}

/**
 * Either kind of key file a repository stores, parsed without cryptography (what `check` does to
 * each): byte 5 tells a recovery key file (KDF 2) from a passphrase one. Total: a CodecError else.
 */
export function decodeAnyKeyFile(
  bytes: Uint8Array,
):
  | { readonly kind: 'passphrase'; readonly file: KeyFile }
  | { readonly kind: 'recovery'; readonly file: RecoveryKeyFile } {
  return bytes instanceof Uint8Array && bytes.length > 5 && bytes[5] === KDF_RECOVERY_HPKE
    ? { kind: 'recovery', file: decodeRecoveryKeyFile(bytes) }
    : { kind: 'passphrase', file: decodeKeyFile(bytes) };
}

/**
 * A recovery key file for `masterKey`, sealed to the recovery public key: needs no secret but the
 * master key. `ephemeral` is for test vectors only. The caller wipes the master key.
 */
export function createRecoveryKeyFile(
  crypto: CryptoProvider,
  masterKey: Uint8Array,
  repositoryId: Uint8Array,
  recoveryPublicKey: Uint8Array,
  ephemeral?: Uint8Array,
): Uint8Array {
  exactBytesArg(masterKey, KEY_BYTES, 'master key');
  exactBytesArg(repositoryId, REPOSITORY_ID_BYTES, 'repository id');
  exactBytesArg(recoveryPublicKey, HPKE_SIZES.publicKey, 'recovery public key');
  const header = encodeHeader(repositoryId);
  const { enc, ct } = hpkeSeal(crypto, recoveryPublicKey, HPKE_INFO, header, masterKey, ephemeral);
  const out = new Uint8Array(RECOVERY_KEY_FILE_BYTES);
  out.set(header);
  out.set(enc, HEADER_BYTES);
  out.set(ct, HEADER_BYTES + enc.length);
  return out;
}

/**
 * Opens a recovery key file with the recovery private key: the master key (the caller's to wipe)
 * and the repository id. CodecError for a malformed file; KEYSTORE_PASSPHRASE_WRONG when the key
 * does not open it (another account's code, or an altered file).
 */
export function openRecoveryKeyFile(
  crypto: CryptoProvider,
  bytes: Uint8Array,
  recoveryPrivateKey: Uint8Array,
): { masterKey: Uint8Array; repositoryId: Uint8Array } {
  const file = decodeRecoveryKeyFile(bytes);
  exactBytesArg(recoveryPrivateKey, CRYPTO_SIZES.x25519Key, 'recovery private key');
  try {
    const masterKey = hpkeOpen(crypto, recoveryPrivateKey, file.enc, HPKE_INFO, file.header, file.sealed);
    return { masterKey, repositoryId: file.repositoryId };
  } catch (error) {
    if (error instanceof SealpostError && error.kind === 'crypto') {
      throw new CryptoVerificationError(
        'KEYSTORE_PASSPHRASE_WRONG',
        'wrong recovery code or altered recovery key file',
      );
    }
    throw error;
  }
}
