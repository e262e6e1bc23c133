/**
 * A key-transparency log's long-term configuration (draft-ietf-keytrans-protocol-04 §10.2): the
 * `Configuration` structure every tree-head signature covers, and its TLS encoding.
 *
 *   enum { reserved(0), contactMonitoring(1), thirdPartyManagement(2), thirdPartyAuditing(3), (255) } DeploymentMode;
 *   struct {
 *     CipherSuite ciphersuite;
 *     DeploymentMode mode;
 *     opaque signature_public_key<0..2^16-1>;
 *     opaque vrf_public_key<0..2^16-1>;
 *     select (Configuration.mode) {
 *       case contactMonitoring:
 *       case thirdPartyManagement:
 *         opaque leaf_public_key<0..2^16-1>;
 *       case thirdPartyAuditing:
 *         uint64 max_auditor_lag;
 *         uint64 auditor_start_pos;
 *         opaque auditor_public_key<0..2^16-1>;
 *     };
 *     uint64 max_ahead;
 *     uint64 max_behind;
 *     uint64 reasonable_monitoring_window;
 *     optional<uint64> maximum_lifetime;
 *   } Configuration;
 *
 * The select is encoded as written: contactMonitoring carries `leaf_public_key` too (the prose names
 * it only for a Third-Party Manager; the structure decides the bytes that are signed). Durations are
 * milliseconds. Sealpost deploys with thirdPartyAuditing (DESIGN.md, "Identity and the key directory").
 */
import { CodecError } from '../errors.ts';
import { LIMITS } from '../limits.ts';
import { decodeAll, type Reader } from '../codec/reader.ts';
import { Writer } from '../codec/writer.ts';
import { readOpaque, readOptional, readU64, writeOpaque, writeOptional } from './tls.ts';

/** §10.2 DeploymentMode code points. */
export const DEPLOYMENT_MODE = {
  contactMonitoring: 1,
  thirdPartyManagement: 2,
  thirdPartyAuditing: 3,
} as const;
export type DeploymentMode = keyof typeof DEPLOYMENT_MODE;

export type ModeParameters =
  | { readonly mode: 'contactMonitoring' | 'thirdPartyManagement'; readonly leafPublicKey: Uint8Array }
  | {
      readonly mode: 'thirdPartyAuditing';
      readonly maxAuditorLag: number;
      readonly auditorStartPos: number;
      readonly auditorPublicKey: Uint8Array;
    };

export type Configuration = {
  readonly ciphersuite: number;
  readonly signaturePublicKey: Uint8Array;
  readonly vrfPublicKey: Uint8Array;
  readonly maxAhead: number;
  readonly maxBehind: number;
  readonly reasonableMonitoringWindow: number;
  readonly maximumLifetime?: number | undefined;
} & ModeParameters;

const KEY_MAX = LIMITS.ktKeyOrSignatureMaxBytes;

export function writeConfiguration(w: Writer, c: Configuration): void {
  w.u16(c.ciphersuite);
  w.u8(DEPLOYMENT_MODE[c.mode]);
  writeOpaque(w, 2, c.signaturePublicKey, 'Configuration.signature_public_key');
  writeOpaque(w, 2, c.vrfPublicKey, 'Configuration.vrf_public_key');
  if (c.mode === 'thirdPartyAuditing') {
    w.u53(c.maxAuditorLag);
    w.u53(c.auditorStartPos);
    writeOpaque(w, 2, c.auditorPublicKey, 'Configuration.auditor_public_key');
  } else {
    writeOpaque(w, 2, c.leafPublicKey, 'Configuration.leaf_public_key');
  }
  w.u53(c.maxAhead);
  w.u53(c.maxBehind);
  w.u53(c.reasonableMonitoringWindow);
  writeOptional(w, c.maximumLifetime, (w, v) => w.u53(v));
}

export function readConfiguration(r: Reader): Configuration {
  const ciphersuite = r.u16('Configuration.ciphersuite');
  const code = r.u8('Configuration.mode');
  const signaturePublicKey = readOpaque(r, 2, KEY_MAX, 'Configuration.signature_public_key');
  const vrfPublicKey = readOpaque(r, 2, KEY_MAX, 'Configuration.vrf_public_key');
  let mode: ModeParameters;
  if (code === DEPLOYMENT_MODE.thirdPartyAuditing) {
    mode = {
      mode: 'thirdPartyAuditing',
      maxAuditorLag: readU64(r, 'Configuration.max_auditor_lag'),
      auditorStartPos: readU64(r, 'Configuration.auditor_start_pos'),
      auditorPublicKey: readOpaque(r, 2, KEY_MAX, 'Configuration.auditor_public_key'),
    };
  } else if (code === DEPLOYMENT_MODE.contactMonitoring || code === DEPLOYMENT_MODE.thirdPartyManagement) {
    mode = {
      mode: code === DEPLOYMENT_MODE.contactMonitoring ? 'contactMonitoring' : 'thirdPartyManagement',
      leafPublicKey: readOpaque(r, 2, KEY_MAX, 'Configuration.leaf_public_key'),
    };
  } else {
    throw new CodecError('CODEC_INVALID_VALUE', `Configuration.mode: ${code} is not a deployment mode`);
  }
  const maxAhead = readU64(r, 'Configuration.max_ahead');
  const maxBehind = readU64(r, 'Configuration.max_behind');
  const reasonableMonitoringWindow = readU64(r, 'Configuration.reasonable_monitoring_window');
  const maximumLifetime = readOptional(
    r,
    (r) => readU64(r, 'Configuration.maximum_lifetime'),
    'maximum_lifetime',
  );
  return {
    ciphersuite,
    signaturePublicKey,
    vrfPublicKey,
    maxAhead,
    maxBehind,
    reasonableMonitoringWindow,
    maximumLifetime,
    ...mode,
  };
}

export function encodeConfiguration(c: Configuration): Uint8Array {
  const w = new Writer();
  writeConfiguration(w, c);
  return w.finish();
}

export function decodeConfiguration(bytes: Uint8Array): Configuration {
  return decodeAll(bytes, LIMITS.ktProofMaxBytes, readConfiguration, 'Configuration');
}
