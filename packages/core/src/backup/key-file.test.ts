// Tests run under Node: node:test and node:assert are the only node:* imports, and only here.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { argon2id as hashWasmArgon2id } from 'hash-wasm';
import { nodeCryptoProvider as crypto } from '../../node/crypto-provider.ts';
import {
  changePassphrase,
  createKeyFile,
  decodeKeyFile,
  DEFAULT_ARGON2ID_PARAMS,
  KEY_FILE_BYTES,
  openKeyFile,
  type Argon2id,
  type Argon2idParams,
} from './key-file.ts';
import { CodecError, CryptoVerificationError, SealpostError, ValidationError } from '../errors.ts';
import { LIMITS } from '../limits.ts';

/** The real Argon2id (hash-wasm, as the client injects it). */
const argon2id: Argon2id = (password, salt, p, hashLength) =>
  hashWasmArgon2id({
    password,
    salt,
    memorySize: p.memoryKiB,
    iterations: p.iterations,
    parallelism: p.parallelism,
    hashLength,
    outputType: 'binary',
  });

/** Cheap parameters for tests (the defaults take ~0.2 s). */
const FAST: Argon2idParams = { memoryKiB: 64, iterations: 1, parallelism: 1 };
const utf8 = new TextEncoder();
const master = new Uint8Array(32).fill(0x4d);
const repo = new Uint8Array(32).fill(0x52);

async function rejectsWith(p: Promise<unknown>, code: string): Promise<void> {
  await assert.rejects(p, (e: unknown) => e instanceof SealpostError && e.code === code);
}

describe('key files', () => {
  test('round trip: the passphrase opens the master key and repository id', async () => {
    const file = await createKeyFile(crypto, argon2id, master, repo, utf8.encode('correct horse'), FAST);
    assert.equal(file.length, KEY_FILE_BYTES);
    const opened = await openKeyFile(crypto, argon2id, file, utf8.encode('correct horse'));
    assert.deepEqual(opened.masterKey, master);
    assert.deepEqual(opened.repositoryId, repo);
  });

  test('a wrong passphrase is KEYSTORE_PASSPHRASE_WRONG', async () => {
    const file = await createKeyFile(crypto, argon2id, master, repo, utf8.encode('a'), FAST);
    await rejectsWith(openKeyFile(crypto, argon2id, file, utf8.encode('b')), 'KEYSTORE_PASSPHRASE_WRONG');
    await rejectsWith(openKeyFile(crypto, argon2id, file, new Uint8Array(0)), 'KEYSTORE_PASSPHRASE_WRONG');
  });

  test('changing the passphrase rewraps the same master key; the old passphrase no longer opens it', async () => {
    const before = await createKeyFile(crypto, argon2id, master, repo, utf8.encode('old'), FAST);
    const after = await changePassphrase(
      crypto,
      argon2id,
      before,
      utf8.encode('old'),
      utf8.encode('new'),
      FAST,
    );
    assert.notDeepEqual(after, before);
    assert.deepEqual((await openKeyFile(crypto, argon2id, after, utf8.encode('new'))).masterKey, master);
    await rejectsWith(openKeyFile(crypto, argon2id, after, utf8.encode('old')), 'KEYSTORE_PASSPHRASE_WRONG');
  });

  test('records its parameters and a fresh salt each time', async () => {
    const a = decodeKeyFile(await createKeyFile(crypto, argon2id, master, repo, utf8.encode('p'), FAST));
    const b = decodeKeyFile(await createKeyFile(crypto, argon2id, master, repo, utf8.encode('p'), FAST));
    assert.deepEqual(a.params, FAST);
    assert.notDeepEqual(a.salt, b.salt);
  });

  test('defaults to the Argon2id parameters in LIMITS', () =>
    assert.deepEqual(DEFAULT_ARGON2ID_PARAMS, {
      memoryKiB: LIMITS.argon2MemoryKiB,
      iterations: LIMITS.argon2Iterations,
      parallelism: LIMITS.argon2Parallelism,
    }));

  const badParams: readonly [string, Argon2idParams][] = [
    ['memory below 8p', { memoryKiB: 15, iterations: 1, parallelism: 2 }],
    [
      'memory above the bound',
      { memoryKiB: LIMITS.backupArgon2MemoryKiBMax + 1, iterations: 1, parallelism: 1 },
    ],
    ['zero iterations', { memoryKiB: 64, iterations: 0, parallelism: 1 }],
    [
      'too many iterations',
      { memoryKiB: 64, iterations: LIMITS.backupArgon2IterationsMax + 1, parallelism: 1 },
    ],
    ['zero parallelism', { memoryKiB: 64, iterations: 1, parallelism: 0 }],
  ];
  for (const [what, params] of badParams) {
    test(`refuses to create a key file with ${what}`, async () => {
      await assert.rejects(
        createKeyFile(crypto, argon2id, master, repo, utf8.encode('p'), params),
        ValidationError,
      );
    });
  }

  test('refuses out-of-bounds parameters in a file before running Argon2', async () => {
    const file = await createKeyFile(crypto, argon2id, master, repo, utf8.encode('p'), FAST);
    const hostile = file.slice();
    new DataView(hostile.buffer).setUint32(6, 0xffffffff); // memory: 4 TiB
    let calls = 0;
    const spy: Argon2id = (...args) => {
      calls++;
      return argon2id(...args);
    };
    await assert.rejects(openKeyFile(crypto, spy, hostile, utf8.encode('p')), CodecError);
    assert.equal(calls, 0);
  });

  test('an Argon2id function that returns the wrong length is refused', async () => {
    await assert.rejects(
      createKeyFile(crypto, () => new Uint8Array(16), master, repo, utf8.encode('p'), FAST),
      ValidationError,
    );
  });

  test('random bytes into the decoder give a key file or a CodecError', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.uint8Array({ maxLength: 200 }),
          fc.uint8Array({ minLength: KEY_FILE_BYTES, maxLength: KEY_FILE_BYTES }),
        ),
        (bytes) => {
          try {
            decodeKeyFile(bytes);
          } catch (e) {
            assert.ok(e instanceof CodecError, String(e));
          }
        },
      ),
      { numRuns: 2000 },
    );
  });

  test('every single-bit flip of a key file is refused with a typed error', async () => {
    const file = await createKeyFile(crypto, argon2id, master, repo, utf8.encode('p'), FAST);
    for (let bit = 0; bit < file.length * 8; bit += 7) {
      const flipped = file.slice();
      flipped[bit >> 3]! ^= 1 << (bit & 7);
      await assert.rejects(
        openKeyFile(crypto, argon2id, flipped, utf8.encode('p')),
        (e: unknown) => e instanceof CodecError || e instanceof CryptoVerificationError,
      );
    }
  });
});
