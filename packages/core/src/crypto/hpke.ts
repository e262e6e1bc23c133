/**
 * HPKE (RFC 9180) base mode, single shot, for one suite: DHKEM(X25519, HKDF-SHA256), HKDF-SHA256,
 * AES-256-GCM (kem 0x0020, kdf 0x0001, aead 0x0002). Built only from the `CryptoProvider`'s
 * X25519, HMAC-SHA256, HKDF-SHA256 and AES-256-GCM: this file composes, it implements no primitive.
 *
 * Single shot means one message per encapsulation (RFC 9180 §6.1 SealBase/OpenBase): the sequence
 * number is 0, so the nonce is base_nonce itself. Used where a secret must be sealed to a public
 * key whose private half is offline (the backup recovery key file, backup/recovery-key-file.ts).
 *
 * The provider's `hkdfSha256(ikm, salt, info, L)` is Expand(Extract(salt, ikm), info, L), so each
 * LabeledExpand(LabeledExtract(salt, l1, ikm), l2, info, L) below is one call; a LabeledExtract whose
 * output is used as a value (psk_id_hash, info_hash) is one HMAC with the salt as key (RFC 5869 §2.2:
 * an empty salt is HashLen zeros, which HMAC pads to the same key as the empty one).
 */
import { CryptoVerificationError, SealpostError } from '../errors.ts';
import { bytesArg, CRYPTO_SIZES, exactBytesArg } from './arguments.ts';
import type { CryptoProvider } from './provider.ts';

const KEM_ID = 0x0020; // DHKEM(X25519, HKDF-SHA256), RFC 9180 §7.1
const KDF_ID = 0x0001; // HKDF-SHA256, §7.2
const AEAD_ID = 0x0002; // AES-256-GCM, §7.3
/** Nsecret, Nenc, Npk of DHKEM(X25519, HKDF-SHA256); Nk, Nn of AES-256-GCM (RFC 9180 §7.1, §7.3). */
export const HPKE_SIZES = { secret: 32, enc: 32, publicKey: 32, key: 32, nonce: 12 } as const;

const utf8 = new TextEncoder();
const EMPTY = new Uint8Array(0);
const MODE_BASE = 0x00;
const HPKE_V1 = utf8.encode('HPKE-v1');
// suite_id = "KEM" || I2OSP(kem_id, 2) (§4.1); "HPKE" || I2OSP(kem_id, 2) || I2OSP(kdf_id, 2) || I2OSP(aead_id, 2) (§5.1)
const KEM_SUITE = concat(utf8.encode('KEM'), i2osp(KEM_ID, 2));
const HPKE_SUITE = concat(utf8.encode('HPKE'), i2osp(KEM_ID, 2), i2osp(KDF_ID, 2), i2osp(AEAD_ID, 2));

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

function i2osp(n: number, length: number): Uint8Array {
  const out = new Uint8Array(length);
  for (let i = length - 1, v = n; i >= 0; i--, v >>>= 8) out[i] = v & 0xff;
  return out;
}

// labeled_ikm = concat("HPKE-v1", suite_id, label, ikm)
const labeledIkm = (suite: Uint8Array, label: string, ikm: Uint8Array) =>
  concat(HPKE_V1, suite, utf8.encode(label), ikm);
// labeled_info = concat(I2OSP(L, 2), "HPKE-v1", suite_id, label, info)
const labeledInfo = (suite: Uint8Array, label: string, info: Uint8Array, length: number) =>
  concat(i2osp(length, 2), HPKE_V1, suite, utf8.encode(label), info);

/** LabeledExpand(LabeledExtract(salt, extractLabel, ikm), expandLabel, info, L) (RFC 9180 §4). */
function extractAndExpand(
  crypto: CryptoProvider,
  suite: Uint8Array,
  salt: Uint8Array,
  extractLabel: string,
  ikm: Uint8Array,
  expandLabel: string,
  info: Uint8Array,
  length: number,
): Uint8Array {
  const input = labeledIkm(suite, extractLabel, ikm);
  try {
    return crypto.hkdfSha256(input, salt, labeledInfo(suite, expandLabel, info, length), length);
  } finally {
    input.fill(0);
  }
}

/** DHKEM ExtractAndExpand (RFC 9180 §4.1): shared_secret from dh and kem_context = enc || pkRm. */
function kemSharedSecret(crypto: CryptoProvider, dh: Uint8Array, enc: Uint8Array, pkR: Uint8Array) {
  const kemContext = concat(enc, pkR);
  const secret = extractAndExpand(
    crypto,
    KEM_SUITE,
    EMPTY,
    'eae_prk',
    dh,
    'shared_secret',
    kemContext,
    HPKE_SIZES.secret,
  );
  dh.fill(0);
  return secret;
}

/** KeySchedule for mode_base, psk = psk_id = "" (RFC 9180 §5.1): key and base_nonce. */
function keySchedule(crypto: CryptoProvider, sharedSecret: Uint8Array, info: Uint8Array) {
  // psk_id_hash = LabeledExtract("", "psk_id_hash", psk_id); info_hash = LabeledExtract("", "info_hash", info)
  const pskIdHash = crypto.hmacSha256(EMPTY, labeledIkm(HPKE_SUITE, 'psk_id_hash', EMPTY));
  const infoHash = crypto.hmacSha256(EMPTY, labeledIkm(HPKE_SUITE, 'info_hash', info));
  // key_schedule_context = concat(mode, psk_id_hash, info_hash)
  const context = concat(Uint8Array.of(MODE_BASE), pskIdHash, infoHash);
  // secret = LabeledExtract(shared_secret, "secret", psk)
  // key = LabeledExpand(secret, "key", key_schedule_context, Nk)
  // base_nonce = LabeledExpand(secret, "base_nonce", key_schedule_context, Nn)
  const derive = (label: string, length: number) =>
    extractAndExpand(crypto, HPKE_SUITE, sharedSecret, 'secret', EMPTY, label, context, length);
  const key = derive('key', HPKE_SIZES.key);
  const nonce = derive('base_nonce', HPKE_SIZES.nonce);
  sharedSecret.fill(0);
  return { key, nonce };
}

/**
 * SealBase(pkR, info, aad, pt) with a fresh ephemeral key (RFC 9180 §6.1): `enc` (the ephemeral
 * public key) and `ct` (ciphertext || 16-byte tag). `ephemeral` is for test vectors only (§A's
 * skEm); by default it comes from the provider's CSPRNG, and it is wiped.
 */
export function hpkeSeal(
  crypto: CryptoProvider,
  recipientPublicKey: Uint8Array,
  info: Uint8Array,
  aad: Uint8Array,
  plaintext: Uint8Array,
  ephemeral: Uint8Array = crypto.randomBytes(CRYPTO_SIZES.x25519Key),
): { enc: Uint8Array; ct: Uint8Array } {
  exactBytesArg(recipientPublicKey, HPKE_SIZES.publicKey, 'HPKE recipient public key');
  exactBytesArg(ephemeral, CRYPTO_SIZES.x25519Key, 'HPKE ephemeral key');
  bytesArg(info, 'HPKE info');
  bytesArg(aad, 'HPKE aad');
  bytesArg(plaintext, 'HPKE plaintext');
  try {
    const enc = crypto.x25519.publicKey(ephemeral);
    const dh = crypto.x25519.sharedSecret(ephemeral, recipientPublicKey);
    const { key, nonce } = keySchedule(crypto, kemSharedSecret(crypto, dh, enc, recipientPublicKey), info);
    try {
      return { enc, ct: crypto.aes256gcm.seal(key, nonce, plaintext, aad) };
    } finally {
      key.fill(0);
    }
  } finally {
    ephemeral.fill(0);
  }
}

/**
 * OpenBase(enc, skR, info, aad, ct) (RFC 9180 §6.1). Every failure, a small-order `enc` included,
 * is CRYPTO_VERIFICATION_FAILED: the caller cannot tell a wrong key from an altered message.
 */
export function hpkeOpen(
  crypto: CryptoProvider,
  recipientPrivateKey: Uint8Array,
  enc: Uint8Array,
  info: Uint8Array,
  aad: Uint8Array,
  ct: Uint8Array,
): Uint8Array {
  exactBytesArg(recipientPrivateKey, CRYPTO_SIZES.x25519Key, 'HPKE recipient private key');
  exactBytesArg(enc, HPKE_SIZES.enc, 'HPKE enc');
  bytesArg(info, 'HPKE info');
  bytesArg(aad, 'HPKE aad');
  bytesArg(ct, 'HPKE ciphertext');
  let key: Uint8Array | undefined;
  try {
    const dh = crypto.x25519.sharedSecret(recipientPrivateKey, enc);
    const pkR = crypto.x25519.publicKey(recipientPrivateKey);
    const derived = keySchedule(crypto, kemSharedSecret(crypto, dh, enc, pkR), info);
    key = derived.key;
    return crypto.aes256gcm.open(key, derived.nonce, ct, aad);
  } catch (error) {
    if (error instanceof SealpostError && error.kind === 'crypto') {
      throw new CryptoVerificationError('CRYPTO_VERIFICATION_FAILED', 'HPKE message did not open');
    }
    throw error;
  } finally {
    key?.fill(0);
  }
}
