/**
 * Configuration and tree heads (draft-ietf-keytrans-protocol-04 §10.2-§10.4): encodings in every
 * deployment mode, operator and auditor signatures, typed failures.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { nodeCryptoProvider as crypto } from '../../node/crypto-provider.ts';
import { SealpostError, type ErrorCode } from '../errors.ts';
import { toHex } from '../bytes/encoding.ts';
import { KT_128_SHA256_ED25519 } from './cipher-suite.ts';
import { decodeConfiguration, encodeConfiguration, type Configuration } from './configuration.ts';
import {
  decodeFullTreeHead,
  encodeFullTreeHead,
  encodeTreeHeadTBS,
  signAuditorTreeHead,
  signTreeHead,
  verifyAuditorTreeHead,
  verifyTreeHead,
} from './tree-head.ts';

function assertCode(fn: () => unknown, code: ErrorCode): void {
  assert.throws(fn, (e: unknown) => e instanceof SealpostError && e.code === code);
}

const operatorSeed = new Uint8Array(32).fill(1);
const auditorSeed = new Uint8Array(32).fill(2);
const audited: Configuration = {
  ciphersuite: KT_128_SHA256_ED25519,
  mode: 'thirdPartyAuditing',
  signaturePublicKey: crypto.ed25519.publicKey(operatorSeed),
  vrfPublicKey: new Uint8Array(32).fill(3),
  maxAuditorLag: 60_000,
  auditorStartPos: 0,
  auditorPublicKey: crypto.ed25519.publicKey(auditorSeed),
  maxAhead: 10_000,
  maxBehind: 86_400_000,
  reasonableMonitoringWindow: 7 * 86_400_000,
  maximumLifetime: undefined,
};
const managed: Configuration = {
  ...audited,
  mode: 'thirdPartyManagement',
  leafPublicKey: new Uint8Array(32).fill(4),
  maximumLifetime: 365 * 86_400_000,
};
const root = new Uint8Array(32).fill(0xab);

describe('Configuration (§10.2)', () => {
  for (const c of [audited, managed, { ...managed, mode: 'contactMonitoring' as const }]) {
    test(`round trips in ${c.mode} mode`, () => {
      const decoded = decodeConfiguration(encodeConfiguration(c));
      assert.deepEqual(encodeConfiguration(decoded), encodeConfiguration(c));
      assert.equal(decoded.mode, c.mode);
    });
  }
  test('starts with uint16 ciphersuite 0x0002 and the mode byte, and ends with optional<uint64>', () => {
    const bytes = toHex(encodeConfiguration(audited));
    assert.ok(bytes.startsWith('000203' + '0020'));
    assert.ok(bytes.endsWith('00'));
    assert.ok(
      toHex(encodeConfiguration(managed)).endsWith('01' + (365 * 86_400_000).toString(16).padStart(16, '0')),
    );
  });
  test('refuses mode 0 and mode 4, and a presence byte of 2', () => {
    const bytes = encodeConfiguration(audited);
    for (const mode of [0, 4]) {
      const bad = bytes.slice();
      bad[2] = mode;
      assertCode(() => decodeConfiguration(bad), 'CODEC_INVALID_VALUE');
    }
    const bad = bytes.slice();
    bad[bad.length - 1] = 2;
    assertCode(() => decodeConfiguration(bad), 'CODEC_INVALID_VALUE');
  });
});

describe('TreeHead and AuditorTreeHead (§10.2, §10.3)', () => {
  test('the operator signature covers config, tree_size and root', () => {
    const head = signTreeHead(crypto, operatorSeed, audited, 7, root);
    verifyTreeHead(crypto, audited, head, root);
    assert.ok(
      crypto.ed25519.verify(audited.signaturePublicKey, encodeTreeHeadTBS(audited, 7, root), head.signature),
    );
    assertCode(
      () => verifyTreeHead(crypto, audited, { ...head, treeSize: 8 }, root),
      'CRYPTO_VERIFICATION_FAILED',
    );
    assertCode(() => verifyTreeHead(crypto, audited, head, new Uint8Array(32)), 'CRYPTO_VERIFICATION_FAILED');
    assertCode(
      () => verifyTreeHead(crypto, { ...audited, maxAhead: 1 }, head, root),
      'CRYPTO_VERIFICATION_FAILED',
    );
  });
  test("the auditor signature covers its timestamp and tree size, which may not pass the operator's", () => {
    const head = signAuditorTreeHead(crypto, auditorSeed, audited, 1_700_000_000_000, 5, root);
    verifyAuditorTreeHead(crypto, audited, head, 7, root);
    assertCode(() => verifyAuditorTreeHead(crypto, audited, head, 4, root), 'KT_TREE_SIZE_INVALID');
    assertCode(
      () => verifyAuditorTreeHead(crypto, audited, { ...head, timestamp: 1 }, 7, root),
      'CRYPTO_VERIFICATION_FAILED',
    );
    assertCode(() => verifyAuditorTreeHead(crypto, managed, head, 7, root), 'VALIDATION_FAILED');
  });
  test('another cipher suite is VALIDATION_FAILED', () =>
    assertCode(
      () => signTreeHead(crypto, operatorSeed, { ...audited, ciphersuite: 1 }, 1, root),
      'VALIDATION_FAILED',
    ));
});

describe('FullTreeHead (§10.4)', () => {
  const treeHead = signTreeHead(crypto, operatorSeed, audited, 7, root);
  const auditorTreeHead = signAuditorTreeHead(crypto, auditorSeed, audited, 1_700_000_000_000, 5, root);
  test('same is one byte; updated carries the auditor head exactly in thirdPartyAuditing mode', () => {
    assert.equal(toHex(encodeFullTreeHead({ type: 'same' }, audited)), '01');
    const updated = { type: 'updated' as const, treeHead, auditorTreeHead };
    assert.deepEqual(decodeFullTreeHead(encodeFullTreeHead(updated, audited), audited), updated);
    assertCode(() => encodeFullTreeHead({ type: 'updated', treeHead }, audited), 'CODEC_INVALID_VALUE');
    assertCode(() => encodeFullTreeHead(updated, managed), 'CODEC_INVALID_VALUE');
    assert.deepEqual(
      decodeFullTreeHead(encodeFullTreeHead({ type: 'updated', treeHead }, managed), managed),
      {
        type: 'updated',
        treeHead,
      },
    );
  });
  test('refuses head_type 0 and 3, truncation and trailing bytes', () => {
    assertCode(() => decodeFullTreeHead(new Uint8Array([0]), audited), 'CODEC_INVALID_VALUE');
    assertCode(() => decodeFullTreeHead(new Uint8Array([3]), audited), 'CODEC_INVALID_VALUE');
    const bytes = encodeFullTreeHead({ type: 'updated', treeHead, auditorTreeHead }, audited);
    assertCode(() => decodeFullTreeHead(bytes.subarray(0, bytes.length - 1), audited), 'CODEC_TRUNCATED');
    assertCode(() => decodeFullTreeHead(new Uint8Array([...bytes, 0]), audited), 'CODEC_TRAILING_BYTES');
  });
});
