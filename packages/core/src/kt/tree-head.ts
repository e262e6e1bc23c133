/**
 * Tree heads (draft-ietf-keytrans-protocol-04 §10.2-§10.4): the operator's signed `TreeHead`, the
 * third-party auditor's `AuditorTreeHead`, the `FullTreeHead` users receive, the to-be-signed
 * structures and their TLS encodings.
 *
 *   struct { uint64 tree_size; opaque signature<0..2^16-1>; } TreeHead;
 *   struct { Configuration config; uint64 tree_size; opaque root[Hash.Nh]; } TreeHeadTBS;
 *   struct { uint64 timestamp; uint64 tree_size; opaque signature<0..2^16-1>; } AuditorTreeHead;
 *   struct { Configuration config; uint64 timestamp; uint64 tree_size; opaque root[Hash.Nh]; } AuditorTreeHeadTBS;
 *   enum { reserved(0), same(1), updated(2), (255) } FullTreeHeadType;
 *   struct {
 *     FullTreeHeadType head_type;
 *     select (head_type) {
 *       case updated:
 *         TreeHead tree_head;
 *         select (Configuration.mode) { case thirdPartyAuditing: AuditorTreeHead auditor_tree_head; };
 *     };
 *   } FullTreeHead;
 *
 * Signatures are Ed25519 (KT_128_SHA256_Ed25519, §15.1) through the injected CryptoProvider. What is
 * implemented of §10.4 is the signature and size checks; the clock bounds max_ahead and max_behind
 * need the rightmost log entry's timestamp and are checked in view.ts; max_auditor_lag is not checked
 * yet (docs/key-transparency.md).
 */
import type { CryptoProvider } from '../crypto/provider.ts';
import { CodecError, CryptoVerificationError, ValidationError } from '../errors.ts';
import { LIMITS } from '../limits.ts';
import { decodeAll, type Reader } from '../codec/reader.ts';
import { Writer } from '../codec/writer.ts';
import { KT_128_SHA256_ED25519, KT_SUITE } from './cipher-suite.ts';
import { writeConfiguration, type Configuration } from './configuration.ts';
import { readOpaque, readU64, writeFixed, writeOpaque } from './tls.ts';
import { TreeSizeError } from './proof-errors.ts';

export interface TreeHead {
  readonly treeSize: number;
  readonly signature: Uint8Array;
}

export interface AuditorTreeHead {
  readonly timestamp: number;
  readonly treeSize: number;
  readonly signature: Uint8Array;
}

export type FullTreeHead =
  | { readonly type: 'same' }
  | {
      readonly type: 'updated';
      readonly treeHead: TreeHead;
      readonly auditorTreeHead?: AuditorTreeHead | undefined;
    };

const FULL_TREE_HEAD_TYPE = { same: 1, updated: 2 } as const;
const SIG_MAX = LIMITS.ktKeyOrSignatureMaxBytes;

// --- encodings

export function writeTreeHead(w: Writer, h: TreeHead): void {
  w.u53(h.treeSize);
  writeOpaque(w, 2, h.signature, 'TreeHead.signature');
}

export function readTreeHead(r: Reader): TreeHead {
  const treeSize = readU64(r, 'TreeHead.tree_size');
  return { treeSize, signature: readOpaque(r, 2, SIG_MAX, 'TreeHead.signature') };
}

export function writeAuditorTreeHead(w: Writer, h: AuditorTreeHead): void {
  w.u53(h.timestamp);
  w.u53(h.treeSize);
  writeOpaque(w, 2, h.signature, 'AuditorTreeHead.signature');
}

export function readAuditorTreeHead(r: Reader): AuditorTreeHead {
  const timestamp = readU64(r, 'AuditorTreeHead.timestamp');
  const treeSize = readU64(r, 'AuditorTreeHead.tree_size');
  return { timestamp, treeSize, signature: readOpaque(r, 2, SIG_MAX, 'AuditorTreeHead.signature') };
}

/** The auditor's head is present exactly when the head is updated and the log has a third-party auditor. */
export function writeFullTreeHead(w: Writer, h: FullTreeHead, config: Configuration): void {
  w.u8(FULL_TREE_HEAD_TYPE[h.type]);
  if (h.type === 'same') return;
  writeTreeHead(w, h.treeHead);
  if (config.mode === 'thirdPartyAuditing') {
    if (h.auditorTreeHead === undefined) {
      throw new CodecError(
        'CODEC_INVALID_VALUE',
        'FullTreeHead: thirdPartyAuditing requires auditor_tree_head',
      );
    }
    writeAuditorTreeHead(w, h.auditorTreeHead);
  } else if (h.auditorTreeHead !== undefined) {
    throw new CodecError('CODEC_INVALID_VALUE', `FullTreeHead: no auditor_tree_head in ${config.mode} mode`);
  }
}

export function readFullTreeHead(r: Reader, config: Configuration): FullTreeHead {
  const type = r.u8('FullTreeHead.head_type');
  if (type === FULL_TREE_HEAD_TYPE.same) return { type: 'same' };
  if (type !== FULL_TREE_HEAD_TYPE.updated) {
    throw new CodecError(
      'CODEC_INVALID_VALUE',
      `FullTreeHead.head_type: ${type} is not same(1) or updated(2)`,
    );
  }
  const treeHead = readTreeHead(r);
  if (config.mode !== 'thirdPartyAuditing') return { type: 'updated', treeHead };
  return { type: 'updated', treeHead, auditorTreeHead: readAuditorTreeHead(r) };
}

export function encodeFullTreeHead(h: FullTreeHead, config: Configuration): Uint8Array {
  const w = new Writer();
  writeFullTreeHead(w, h, config);
  return w.finish();
}

export function decodeFullTreeHead(bytes: Uint8Array, config: Configuration): FullTreeHead {
  return decodeAll(bytes, LIMITS.ktProofMaxBytes, (r) => readFullTreeHead(r, config), 'FullTreeHead');
}

// --- to-be-signed structures (§10.2, §10.3)

function checkSuite(config: Configuration): void {
  if (config.ciphersuite !== KT_128_SHA256_ED25519) {
    throw new ValidationError(
      'VALIDATION_FAILED',
      `cipher suite 0x${config.ciphersuite.toString(16)} is not supported`,
    );
  }
}

export function encodeTreeHeadTBS(config: Configuration, treeSize: number, root: Uint8Array): Uint8Array {
  const w = new Writer();
  writeConfiguration(w, config);
  w.u53(treeSize);
  writeFixed(w, root, KT_SUITE.hashBytes, 'TreeHeadTBS.root');
  return w.finish();
}

export function encodeAuditorTreeHeadTBS(
  config: Configuration,
  timestamp: number,
  treeSize: number,
  root: Uint8Array,
): Uint8Array {
  const w = new Writer();
  writeConfiguration(w, config);
  w.u53(timestamp);
  w.u53(treeSize);
  writeFixed(w, root, KT_SUITE.hashBytes, 'AuditorTreeHeadTBS.root');
  return w.finish();
}

/** The operator signs the log tree's root at `treeSize` with the seed of `config.signaturePublicKey`. */
export function signTreeHead(
  crypto: CryptoProvider,
  seed: Uint8Array,
  config: Configuration,
  treeSize: number,
  root: Uint8Array,
): TreeHead {
  checkSuite(config);
  return { treeSize, signature: crypto.ed25519.sign(seed, encodeTreeHeadTBS(config, treeSize, root)) };
}

/** §10.4 step 2.2: throws CRYPTO_VERIFICATION_FAILED unless `head` signs `root` under the config's key. */
export function verifyTreeHead(
  crypto: CryptoProvider,
  config: Configuration,
  head: TreeHead,
  root: Uint8Array,
): void {
  checkSuite(config);
  const tbs = encodeTreeHeadTBS(config, head.treeSize, root);
  if (!crypto.ed25519.verify(config.signaturePublicKey, tbs, head.signature)) {
    throw new CryptoVerificationError('CRYPTO_VERIFICATION_FAILED', 'tree head signature does not verify', {
      treeSize: head.treeSize,
    });
  }
}

/** The auditor signs its view: the log tree's root at `treeSize` as of `timestamp`. */
export function signAuditorTreeHead(
  crypto: CryptoProvider,
  seed: Uint8Array,
  config: Configuration,
  timestamp: number,
  treeSize: number,
  root: Uint8Array,
): AuditorTreeHead {
  checkSuite(config);
  const tbs = encodeAuditorTreeHeadTBS(config, timestamp, treeSize, root);
  return { timestamp, treeSize, signature: crypto.ed25519.sign(seed, tbs) };
}

/**
 * §10.3 steps 3 and 4: `head.treeSize` must not exceed the operator's tree size (KT_TREE_SIZE_INVALID)
 * and the signature must verify under `auditor_public_key` over the root at `head.treeSize`
 * (CRYPTO_VERIFICATION_FAILED). Requires a thirdPartyAuditing configuration.
 */
export function verifyAuditorTreeHead(
  crypto: CryptoProvider,
  config: Configuration,
  head: AuditorTreeHead,
  operatorTreeSize: number,
  root: Uint8Array,
): void {
  checkSuite(config);
  if (config.mode !== 'thirdPartyAuditing') {
    throw new ValidationError('VALIDATION_FAILED', `no auditor in ${config.mode} mode`);
  }
  if (head.treeSize > operatorTreeSize) {
    throw new TreeSizeError(
      `auditor tree size ${head.treeSize} exceeds the tree head's ${operatorTreeSize}`,
      {
        auditorTreeSize: head.treeSize,
        treeSize: operatorTreeSize,
      },
    );
  }
  const tbs = encodeAuditorTreeHeadTBS(config, head.timestamp, head.treeSize, root);
  if (!crypto.ed25519.verify(config.auditorPublicKey, tbs, head.signature)) {
    throw new CryptoVerificationError(
      'CRYPTO_VERIFICATION_FAILED',
      'auditor tree head signature does not verify',
      {
        treeSize: head.treeSize,
      },
    );
  }
}
