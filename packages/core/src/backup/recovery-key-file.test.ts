// Tests run under Node: node:test and node:assert are the only node:* imports, and only here.
//
// Recovery key files (docs/backup-format.md §Recovery key files), and their vectors as data in
// packages/core/test/vectors/backup/recovery-key-file.json: the valid file with the recovery secret
// that opens it, and negative cases each with `wantErr`. Generated deterministically by this file:
//   SEALPOST_WRITE_VECTORS=1 node --test packages/core/src/backup/recovery-key-file.test.ts
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import fc from 'fast-check';
import * as prettier from 'prettier';
import { nodeCryptoProvider } from '../../node/crypto-provider.ts';
import { nobleCryptoProvider } from '../crypto/noble-provider.ts';
import type { CryptoProvider } from '../crypto/provider.ts';
import { fromHex, toHex } from '../bytes/encoding.ts';
import { CodecError, CryptoVerificationError, SealpostError } from '../errors.ts';
import { decodeKeyFile, wrapMasterKey } from './key-file.ts';
import {
  createRecoveryKeyFile,
  decodeAnyKeyFile,
  decodeRecoveryKeyFile,
  openRecoveryKeyFile,
  recoveryBoxKey,
  RECOVERY_KEY_FILE_BYTES,
} from './recovery-key-file.ts';

const FILE = new URL('../../test/vectors/backup/recovery-key-file.json', import.meta.url);
const WRITE = process.env['SEALPOST_WRITE_VECTORS'] === '1';
const crypto = nodeCryptoProvider;
const hex = (b: Uint8Array) => toHex(b);
const unhex = (s: string) => fromHex(s, 1 << 16);

const RECOVERY_SECRET = '5ec2e7000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c';
const MASTER_KEY = '000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f';
const REPOSITORY_ID = 'a0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbebf';
const EPHEMERAL = 'e0e1e2e3e4e5e6e7e8e9eaebecedeeeff0f1f2f3f4f5f6f7f8f9fafbfcfdfeff';

interface Case {
  readonly name: string;
  readonly recoverySecret: string;
  readonly input: string;
  readonly wantErr: string;
}
interface Vectors {
  readonly description: string;
  readonly valid: {
    recoverySecret: string;
    recoveryPublicKey: string;
    ephemeral: string;
    input: string;
    masterKey: string;
    repositoryId: string;
  }[];
  readonly invalid: Case[];
}

function flip(bytes: Uint8Array, at: number, bit = 0): Uint8Array {
  const out = bytes.slice();
  out[at]! ^= 1 << bit;
  return out;
}
const concat = (...parts: Uint8Array[]) => new Uint8Array(parts.flatMap((p) => [...p]));

function generate(): Vectors {
  const secret = unhex(RECOVERY_SECRET);
  const { publicKey } = recoveryBoxKey(crypto, secret);
  const file = createRecoveryKeyFile(
    crypto,
    unhex(MASTER_KEY),
    unhex(REPOSITORY_ID),
    publicKey,
    unhex(EPHEMERAL),
  );
  const otherSecret = hex(crypto.sha256(new TextEncoder().encode('another account')));
  const bad = (name: string, input: Uint8Array, wantErr: string, recoverySecret = RECOVERY_SECRET): Case => ({
    name,
    recoverySecret,
    input: hex(input),
    wantErr,
  });
  const kdf1 = file.slice();
  kdf1[5] = 1;
  return {
    description:
      'Recovery key files (docs/backup-format.md §Recovery key files): the master key sealed with HPKE ' +
      '(RFC 9180 base mode, DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, AES-256-GCM) to the public key ' +
      'derived from recoverySecret; ephemeral is the HPKE skE the valid file was sealed with.',
    valid: [
      {
        recoverySecret: RECOVERY_SECRET,
        recoveryPublicKey: hex(publicKey),
        ephemeral: EPHEMERAL,
        input: hex(file),
        masterKey: MASTER_KEY,
        repositoryId: REPOSITORY_ID,
      },
    ],
    invalid: [
      bad('another-recovery-code', file, 'KEYSTORE_PASSPHRASE_WRONG', otherSecret),
      bad('modified-repository-id@1-bit', flip(file, 6), 'KEYSTORE_PASSPHRASE_WRONG'),
      bad('modified-enc@1-bit', flip(file, 38, 2), 'KEYSTORE_PASSPHRASE_WRONG'),
      bad('modified-ciphertext@1-bit', flip(file, 70, 5), 'KEYSTORE_PASSPHRASE_WRONG'),
      bad('modified-tag@1-bit', flip(file, file.length - 1, 7), 'KEYSTORE_PASSPHRASE_WRONG'),
      bad(
        'small-order-enc',
        concat(file.subarray(0, 38), new Uint8Array(32), file.subarray(70)),
        'KEYSTORE_PASSPHRASE_WRONG',
      ),
      bad('modified-magic', flip(file, 0), 'CODEC_INVALID_VALUE'),
      bad('unknown-version', flip(file, 4, 1), 'CODEC_INVALID_VALUE'),
      bad('kdf-argon2id', kdf1, 'CODEC_INVALID_VALUE'),
      bad('truncated-1-byte', file.subarray(0, -1), 'CODEC_TRUNCATED'),
      bad('empty', new Uint8Array(0), 'CODEC_TRUNCATED'),
      bad('trailing-garbage', concat(file, new Uint8Array([0])), 'CODEC_LENGTH_LIMIT'),
      bad('preceding-garbage', concat(new Uint8Array([0]), file), 'CODEC_LENGTH_LIMIT'),
    ],
  };
}

function codeOf(run: () => unknown): string {
  try {
    run();
    return 'no error';
  } catch (e) {
    return e instanceof SealpostError ? e.code : `untyped ${String(e)}`;
  }
}

describe('recovery key file vectors', () => {
  test('the stored vectors are what this implementation generates', async () => {
    const text = await prettier.format(JSON.stringify(generate()), { parser: 'json', printWidth: 110 });
    if (WRITE) writeFileSync(FILE, text);
    assert.equal(readFileSync(FILE, 'utf8'), text);
  });

  const read = () => JSON.parse(readFileSync(FILE, 'utf8')) as Vectors;
  for (const reader of [nodeCryptoProvider, nobleCryptoProvider]) {
    test(`the valid file opens with its recovery secret (${reader.name})`, () => {
      for (const v of read().valid) {
        const key = recoveryBoxKey(reader, unhex(v.recoverySecret));
        assert.equal(hex(key.publicKey), v.recoveryPublicKey);
        const opened = openRecoveryKeyFile(reader, unhex(v.input), key.privateKey);
        assert.equal(hex(opened.masterKey), v.masterKey);
        assert.equal(hex(opened.repositoryId), v.repositoryId);
      }
    });
    test(`every negative vector fails with its wantErr (${reader.name})`, () => {
      for (const c of read().invalid) {
        const key = recoveryBoxKey(reader, unhex(c.recoverySecret));
        assert.equal(
          codeOf(() => openRecoveryKeyFile(reader, unhex(c.input), key.privateKey)),
          c.wantErr,
          c.name,
        );
      }
    });
  }
});

describe('recovery key files', () => {
  const master = new Uint8Array(32).fill(0x4d);
  const repo = new Uint8Array(32).fill(0x52);
  const secret = new Uint8Array(32).fill(0x33);

  test('are written with the public key alone and opened with the recovery secret alone', () => {
    const { publicKey } = recoveryBoxKey(crypto, secret);
    const file = createRecoveryKeyFile(crypto, master, repo, publicKey);
    assert.equal(file.length, RECOVERY_KEY_FILE_BYTES);
    const opened = openRecoveryKeyFile(crypto, file, recoveryBoxKey(crypto, secret).privateKey);
    assert.deepEqual(opened, { masterKey: master, repositoryId: repo });
  });

  test('two files for one master key share no byte of enc or ciphertext', () => {
    const { publicKey } = recoveryBoxKey(crypto, secret);
    const a = decodeRecoveryKeyFile(createRecoveryKeyFile(crypto, master, repo, publicKey));
    const b = decodeRecoveryKeyFile(createRecoveryKeyFile(crypto, master, repo, publicKey));
    assert.notDeepEqual(a.enc, b.enc);
    assert.notDeepEqual(a.sealed, b.sealed);
  });

  test('the recovery key differs from the recovery signing key of the same secret', async () => {
    const { recoverySigningKey } = await import('../identity/recovery-key.ts');
    const signing = recoverySigningKey(crypto, secret);
    assert.notDeepEqual(recoveryBoxKey(crypto, secret).privateKey, signing.seed);
  });

  test('a passphrase key file decoder refuses a recovery key file, and the reverse', () => {
    const file = createRecoveryKeyFile(crypto, master, repo, recoveryBoxKey(crypto, secret).publicKey);
    assert.throws(() => decodeKeyFile(file), CodecError);
    const kek = new Uint8Array(32).fill(1);
    const params = { memoryKiB: 8, iterations: 1, parallelism: 1 };
    const passphraseFile = wrapMasterKey(crypto, master, repo, kek, params, new Uint8Array(16));
    assert.throws(() => decodeRecoveryKeyFile(passphraseFile), CodecError);
  });

  test('decodeAnyKeyFile tells the two kinds apart and refuses anything else with a CodecError', () => {
    const recovery = createRecoveryKeyFile(crypto, master, repo, recoveryBoxKey(crypto, secret).publicKey);
    const kek = new Uint8Array(32).fill(1);
    const params = { memoryKiB: 8, iterations: 1, parallelism: 1 };
    const passphrase = wrapMasterKey(crypto, master, repo, kek, params, new Uint8Array(16));
    assert.equal(decodeAnyKeyFile(recovery).kind, 'recovery');
    assert.equal(decodeAnyKeyFile(passphrase).kind, 'passphrase');
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
        try {
          decodeAnyKeyFile(bytes);
        } catch (e) {
          assert.ok(e instanceof CodecError, String(e));
        }
      }),
      { numRuns: 1000 },
    );
  });

  test('every single-bit flip is refused with a typed error', () => {
    const box = recoveryBoxKey(crypto, secret);
    const file = createRecoveryKeyFile(crypto, master, repo, box.publicKey);
    for (let bit = 0; bit < file.length * 8; bit++) {
      assert.throws(
        () => openRecoveryKeyFile(crypto, flip(file, bit >> 3, bit & 7), box.privateKey),
        (e: unknown) => e instanceof CodecError || e instanceof CryptoVerificationError,
      );
    }
  });

  test('random bytes into the decoder give a recovery key file or a CodecError', () => {
    const box = recoveryBoxKey(crypto, secret);
    fc.assert(
      fc.property(
        fc.oneof(
          fc.uint8Array({ maxLength: 200 }),
          fc.uint8Array({ minLength: RECOVERY_KEY_FILE_BYTES, maxLength: RECOVERY_KEY_FILE_BYTES }),
          // a valid header, so the cryptography runs on random enc and ciphertext
          fc
            .uint8Array({ minLength: 80, maxLength: 80 })
            .map((tail) => concat(new Uint8Array([0x53, 0x50, 0x42, 0x4b, 1, 2]), repo, tail)),
        ),
        (bytes) => {
          try {
            decodeRecoveryKeyFile(bytes);
            openRecoveryKeyFile(crypto, bytes, box.privateKey);
            assert.fail('random bytes opened');
          } catch (e) {
            assert.ok(e instanceof CodecError || e instanceof CryptoVerificationError, String(e));
          }
        },
      ),
      { numRuns: 2000 },
    );
  });

  test('refuses a recovery public key or master key of the wrong length', () => {
    const provider: CryptoProvider = crypto;
    const invalid = (e: unknown) => e instanceof SealpostError && e.code === 'VALIDATION_FAILED';
    assert.throws(() => createRecoveryKeyFile(provider, master, repo, new Uint8Array(31)), invalid);
    assert.throws(
      () =>
        createRecoveryKeyFile(provider, master.subarray(1), repo, recoveryBoxKey(provider, secret).publicKey),
      invalid,
    );
    assert.throws(() => recoveryBoxKey(provider, new Uint8Array(16)), invalid);
  });
});
