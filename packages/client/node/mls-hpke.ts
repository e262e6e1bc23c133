/**
 * HPKE (RFC 9180) base mode and the AEADs of MLS on `node:crypto`, shaped as ts-mls's `Hpke`.
 *
 * MLS uses HPKE only single-shot (RFC 9420 §5.1.3 EncryptWithLabel, §12.4.3.1 group secrets) and
 * through the exporter (§12.4.3.2 external init), so there is no sequence counter: the one
 * message is sealed under base_nonce. AEAD runs through `createCipheriv` on raw key bytes: MLS
 * derives a new key for every message (RFC 9420 §9.1), so a cached KeyObject would never be reused.
 *
 * ts-mls types HPKE keys as WebCrypto `CryptoKey`s, but only ever passes them back to the same
 * provider; ours are the KEM key handles of mls-kem.ts, cast at this boundary and checked on return.
 */
import { Buffer } from 'node:buffer';
import { createCipheriv, createDecipheriv } from 'node:crypto';
import type { AeadAlgorithm } from 'ts-mls/crypto/aead.js';
import type { Hpke, HpkeAlgorithm, PrivateKey, PublicKey } from 'ts-mls/crypto/hpke.js';
import { CryptoError } from 'ts-mls/mlsError.js';
import { type HashName, HASH_SIZE, plain } from './mls-kdf.ts';
import {
  concat,
  CURVES,
  dhKem,
  i2osp,
  type Kem,
  type KemPrivateKey,
  type KemPublicKey,
  labeled,
} from './mls-kem.ts';
import { xwingKem } from './mls-xwing.ts';

/** RFC 9180 §7.3 and the OpenSSL cipher behind each AEAD; Nt = 16 for all three. */
const AEADS = {
  AES128GCM: { id: 0x0001, cipher: 'aes-128-gcm', nk: 16 },
  AES256GCM: { id: 0x0002, cipher: 'aes-256-gcm', nk: 32 },
  CHACHA20POLY1305: { id: 0x0003, cipher: 'chacha20-poly1305', nk: 32 },
} as const satisfies Record<AeadAlgorithm, { id: number; cipher: string; nk: number }>;
type AeadSpec = (typeof AEADS)[AeadAlgorithm];
const NONCE_SIZE = 12;
const TAG_SIZE = 16;

/** The KEMs by ts-mls's names (`KemAlgorithm`); the others (plain ML-KEM) are not offered here. */
export const KEMS: Readonly<Record<string, Kem>> = {
  'DHKEM-X25519-HKDF-SHA256': dhKem(CURVES.X25519),
  'DHKEM-X448-HKDF-SHA512': dhKem(CURVES.X448),
  'DHKEM-P256-HKDF-SHA256': dhKem(CURVES['P-256']),
  'DHKEM-P384-HKDF-SHA384': dhKem(CURVES['P-384']),
  'DHKEM-P521-HKDF-SHA512': dhKem(CURVES['P-521']),
  'X-Wing': xwingKem(),
};

/** RFC 9180 §7.2. */
const KDFS = {
  'HKDF-SHA256': { id: 0x0001, hash: 'sha256' },
  'HKDF-SHA384': { id: 0x0002, hash: 'sha384' },
  'HKDF-SHA512': { id: 0x0003, hash: 'sha512' },
} as const satisfies Record<HpkeAlgorithm['kdf'], { id: number; hash: HashName }>;

function checkKeyAndNonce(a: AeadSpec, key: Uint8Array, nonce: Uint8Array): void {
  if (key.byteLength !== a.nk)
    throw new CryptoError(`${a.cipher}: key of ${key.byteLength} bytes, expected ${a.nk}`);
  if (nonce.byteLength !== NONCE_SIZE)
    throw new CryptoError(`${a.cipher}: nonce of ${nonce.byteLength} bytes`);
}

/** Seal: ciphertext || 16-byte tag. */
export function aeadSeal(
  a: AeadSpec,
  key: Uint8Array,
  nonce: Uint8Array,
  aad: Uint8Array,
  pt: Uint8Array,
): Uint8Array {
  checkKeyAndNonce(a, key, nonce);
  const opts = { authTagLength: TAG_SIZE };
  const c =
    a.cipher === 'chacha20-poly1305'
      ? createCipheriv(a.cipher, key, nonce, opts)
      : createCipheriv(a.cipher, key, nonce, opts);
  if (aad.byteLength > 0) c.setAAD(aad, { plaintextLength: pt.byteLength });
  const body = c.update(pt);
  const tail = c.final();
  const tag = c.getAuthTag();
  const out = new Uint8Array(body.byteLength + tail.byteLength + TAG_SIZE);
  out.set(body, 0);
  out.set(tail, body.byteLength);
  out.set(tag, body.byteLength + tail.byteLength);
  return out;
}

/** Open ciphertext || tag; a wrong key, nonce, AAD or tag is a `CryptoError`. */
export function aeadOpen(
  a: AeadSpec,
  key: Uint8Array,
  nonce: Uint8Array,
  aad: Uint8Array,
  ct: Uint8Array,
): Uint8Array {
  checkKeyAndNonce(a, key, nonce);
  if (ct.byteLength < TAG_SIZE) throw new CryptoError(`${a.cipher}: ciphertext shorter than its tag`);
  const bodyLen = ct.byteLength - TAG_SIZE;
  const opts = { authTagLength: TAG_SIZE };
  const d =
    a.cipher === 'chacha20-poly1305'
      ? createDecipheriv(a.cipher, key, nonce, opts)
      : createDecipheriv(a.cipher, key, nonce, opts);
  d.setAuthTag(ct.subarray(bodyLen));
  if (aad.byteLength > 0) d.setAAD(aad, { plaintextLength: bodyLen });
  const body = d.update(ct.subarray(0, bodyLen));
  let tail: Buffer;
  try {
    tail = d.final();
  } catch {
    body.fill(0);
    throw new CryptoError(`${a.cipher}: authentication failed`);
  }
  if (tail.byteLength === 0) return plain(body);
  const out = new Uint8Array(Buffer.concat([body, tail]));
  body.fill(0);
  return out;
}

export function aeadSpec(name: AeadAlgorithm): AeadSpec {
  return AEADS[name];
}

const EMPTY = new Uint8Array(0);
const MODE_BASE = Uint8Array.of(0x00);

function ownKem(kem: Kem, k: unknown, type: 'public' | 'private'): void {
  const h = k as Partial<KemPublicKey> | undefined;
  if (h?.type !== type || h.kemId !== kem.id || !(h.raw instanceof Uint8Array)) {
    throw new CryptoError(`${kem.name}: not a ${type} key of this provider`);
  }
}

/** RFC 9180 §5.1 KeySchedule for mode_base, psk = psk_id = "". */
function keySchedule(alg: HpkeAlgorithm) {
  const kem = KEMS[alg.kem];
  if (kem === undefined) throw new CryptoError(`HPKE: KEM ${alg.kem} is not available on node:crypto`);
  const kdf = KDFS[alg.kdf];
  const aead = AEADS[alg.aead];
  const suiteId = concat(
    new TextEncoder().encode('HPKE'),
    i2osp(kem.id, 2),
    i2osp(kdf.id, 2),
    i2osp(aead.id, 2),
  );
  const lab = labeled(kdf.hash, suiteId);
  // psk_id_hash = LabeledExtract("", "psk_id_hash", psk_id): a constant of the suite in base mode.
  const pskIdHash = lab.extract(EMPTY, 'psk_id_hash', EMPTY);
  const nh = HASH_SIZE[kdf.hash];

  /** secret = LabeledExtract(psk, "secret", shared_secret) and key_schedule_context. */
  function start(sharedSecret: Uint8Array, info: Uint8Array) {
    // key_schedule_context = concat(mode, psk_id_hash, info_hash)
    const infoHash = lab.extract(EMPTY, 'info_hash', info);
    const context = concat(MODE_BASE, pskIdHash, infoHash);
    const secret = lab.extract(sharedSecret, 'secret', EMPTY);
    sharedSecret.fill(0);
    return { context, secret };
  }
  return {
    kem,
    aead,
    /** key = LabeledExpand(secret, "key", ctx, Nk); base_nonce = LabeledExpand(secret, "base_nonce", ctx, Nn) */
    keyAndNonce(sharedSecret: Uint8Array, info: Uint8Array) {
      const { context, secret } = start(sharedSecret, info);
      const key = lab.expand(secret, 'key', context, aead.nk);
      const nonce = lab.expand(secret, 'base_nonce', context, NONCE_SIZE);
      secret.fill(0);
      return { key, nonce };
    },
    /** exporter_secret = LabeledExpand(secret, "exp", ctx, Nh); Export = LabeledExpand(exporter_secret, "sec", exporter_context, L) */
    exportSecret(sharedSecret: Uint8Array, info: Uint8Array, exporterContext: Uint8Array, length: number) {
      const { context, secret } = start(sharedSecret, info);
      const exporter = lab.expand(secret, 'exp', context, nh);
      secret.fill(0);
      const out = lab.expand(exporter, 'sec', exporterContext, length);
      exporter.fill(0);
      return out;
    },
  };
}

/** ts-mls's `Hpke` for one HPKE suite. */
export function makeNodeHpke(alg: HpkeAlgorithm): Hpke {
  const ks = keySchedule(alg);
  const { kem, aead } = ks;
  const asPublic = (k: KemPublicKey) => k as unknown as PublicKey;
  const asPrivate = (k: KemPrivateKey) => k as unknown as PrivateKey;
  const fromPublic = (k: PublicKey): KemPublicKey => (ownKem(kem, k, 'public'), k as unknown as KemPublicKey);
  const fromPrivate = (k: PrivateKey): KemPrivateKey => (
    ownKem(kem, k, 'private'),
    k as unknown as KemPrivateKey
  );

  return {
    keyLength: aead.nk,
    nonceLength: NONCE_SIZE,
    async seal(publicKey, plaintext, info, aad) {
      const { sharedSecret, enc } = kem.encap(fromPublic(publicKey));
      const { key, nonce } = ks.keyAndNonce(sharedSecret, info);
      const ct = aeadSeal(aead, key, nonce, aad ?? EMPTY, plaintext);
      key.fill(0);
      return { ct, enc };
    },
    async open(privateKey, kemOutput, ciphertext, info, aad) {
      const { key, nonce } = ks.keyAndNonce(kem.decap(kemOutput, fromPrivate(privateKey)), info);
      try {
        return aeadOpen(aead, key, nonce, aad ?? EMPTY, ciphertext);
      } finally {
        key.fill(0);
      }
    },
    async exportSecret(publicKey, exporterContext, length, info) {
      const { sharedSecret, enc } = kem.encap(fromPublic(publicKey));
      return { enc, secret: ks.exportSecret(sharedSecret, info, exporterContext, length) };
    },
    async importSecret(privateKey, exporterContext, kemOutput, length, info) {
      return ks.exportSecret(kem.decap(kemOutput, fromPrivate(privateKey)), info, exporterContext, length);
    },
    async importPrivateKey(k) {
      return asPrivate(kem.importPrivateKey(k));
    },
    async importPublicKey(k) {
      return asPublic(kem.importPublicKey(k));
    },
    async exportPublicKey(k) {
      return fromPublic(k).raw.slice();
    },
    async exportPrivateKey(k) {
      return fromPrivate(k).raw.slice();
    },
    async encryptAead(key, nonce, aad, plaintext) {
      return aeadSeal(aead, key, nonce, aad ?? EMPTY, plaintext);
    },
    async decryptAead(key, nonce, aad, ciphertext) {
      return aeadOpen(aead, key, nonce, aad ?? EMPTY, ciphertext);
    },
    async deriveKeyPair(ikm) {
      const kp = kem.deriveKeyPair(ikm);
      return { privateKey: asPrivate(kp.privateKey), publicKey: asPublic(kp.publicKey) };
    },
    async generateKeyPair() {
      const kp = kem.generateKeyPair();
      return { privateKey: asPrivate(kp.privateKey), publicKey: asPublic(kp.publicKey) };
    },
  };
}
