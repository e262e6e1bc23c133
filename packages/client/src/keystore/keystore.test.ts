// Tests run under Node: node:test and node:assert are the only node:* imports, and only here.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import {
  CodecError,
  CryptoVerificationError,
  LIMITS,
  SealpostError,
  ValidationError,
  Writer,
  toHex,
} from '@sealpost/core';
import type { Username } from '@sealpost/core';
import { nodeCryptoProvider as crypto } from '@sealpost/core/node';
import type { ServerUrl } from '../server-url.ts';
import { KEYSTORE_ARGON2_BOUNDS, openKeystore, rekeyKeystore, sealKeystore } from './keystore.ts';
import type { Argon2Params, KeystoreContents } from './keystore.ts';

/** Cheap parameters so hundreds of opens stay fast; one test below uses the defaults. */
const FAST: Argon2Params = { memoryKiB: 64, iterations: 1, parallelism: 1 };
const HEADER_BYTES = 49;
const PASS = new TextEncoder().encode('correct horse battery staple');
const OTHER = new TextEncoder().encode('correct horse battery stapler');

function contents(): KeystoreContents {
  return {
    username: 'alice' as Username,
    serverUrl: 'http://127.0.0.1:8420' as ServerUrl,
    accountSeed: new Uint8Array(32).fill(1),
    deviceSeed: new Uint8Array(32).fill(2),
  };
}

/** A file with the given header fields and `body` as ciphertext (for hostile headers). */
function craft(
  fields: { magic?: number[]; version?: number; m?: number; t?: number; p?: number; length?: number },
  body: Uint8Array = new Uint8Array(200),
): Uint8Array {
  return new Writer()
    .fixed(new Uint8Array(fields.magic ?? [0x53, 0x50, 0x4b, 0x53]))
    .u8(fields.version ?? 1)
    .u32(fields.m ?? FAST.memoryKiB)
    .u32(fields.t ?? FAST.iterations)
    .u32(fields.p ?? FAST.parallelism)
    .fixed(new Uint8Array(16))
    .fixed(new Uint8Array(12))
    .u32(fields.length ?? body.length)
    .fixed(body)
    .finish();
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  assert.fail('expected a rejection');
}

describe('keystore', () => {
  it('should round-trip its contents', async () => {
    const sealed = await sealKeystore(crypto, contents(), PASS, FAST);
    assert.deepEqual(await openKeystore(crypto, sealed, PASS), contents());
  });

  it('should keep a backup recovery public key (contents version 2) and still open version 1', async () => {
    const withKey = { ...contents(), backupRecoveryKey: new Uint8Array(32).fill(9) };
    const sealed = await sealKeystore(crypto, withKey, PASS, FAST);
    assert.deepEqual(await openKeystore(crypto, sealed, PASS), withKey);
    const without = await openKeystore(crypto, await sealKeystore(crypto, contents(), PASS, FAST), PASS);
    assert.equal('backupRecoveryKey' in without, false);
    await assert.rejects(
      sealKeystore(crypto, { ...contents(), backupRecoveryKey: new Uint8Array(31) }, PASS, FAST),
      ValidationError,
    );
  });

  it('should round-trip with the default Argon2id parameters and record them in the header', async () => {
    const sealed = await sealKeystore(crypto, contents(), PASS);
    const view = new DataView(sealed.buffer, sealed.byteOffset);
    assert.deepEqual(
      [view.getUint32(5), view.getUint32(9), view.getUint32(13)],
      [LIMITS.argon2MemoryKiB, LIMITS.argon2Iterations, LIMITS.argon2Parallelism],
    );
    assert.deepEqual(await openKeystore(crypto, sealed, PASS), contents());
  });

  it('should lay out the header as documented', async () => {
    const sealed = await sealKeystore(crypto, contents(), PASS, FAST);
    const view = new DataView(sealed.buffer, sealed.byteOffset);
    assert.equal(new TextDecoder().decode(sealed.subarray(0, 4)), 'SPKS');
    assert.equal(sealed[4], 1);
    assert.equal(view.getUint32(45), sealed.length - HEADER_BYTES);
  });

  it('should use a fresh salt and nonce for every seal', async () => {
    const a = await sealKeystore(crypto, contents(), PASS, FAST);
    const b = await sealKeystore(crypto, contents(), PASS, FAST);
    assert.notDeepEqual(a.subarray(17, 45), b.subarray(17, 45));
  });

  it('should not hold the seeds in clear', async () => {
    const c = { ...contents(), accountSeed: crypto.randomBytes(32) };
    const sealed = await sealKeystore(crypto, c, PASS, FAST);
    assert.ok(!toHex(sealed).includes(toHex(c.accountSeed)));
    assert.ok(!toHex(sealed).includes(toHex(new TextEncoder().encode('alice'))));
  });

  it('should refuse a wrong passphrase with KEYSTORE_PASSPHRASE_WRONG', async () => {
    const sealed = await sealKeystore(crypto, contents(), PASS, FAST);
    for (const wrong of [OTHER, new Uint8Array(0), PASS.subarray(1)]) {
      const error = await rejection(openKeystore(crypto, sealed, wrong));
      assert.ok(error instanceof CryptoVerificationError);
      assert.equal(error.code, 'KEYSTORE_PASSPHRASE_WRONG');
    }
  });

  it('should fail with a typed error for every single flipped bit', async () => {
    const sealed = await sealKeystore(crypto, contents(), PASS, FAST);
    for (let i = 0; i < sealed.length; i++) {
      for (let bit = 0; bit < 8; bit++) {
        const altered = sealed.slice();
        altered[i]! ^= 1 << bit;
        const error = await rejection(openKeystore(crypto, altered, PASS));
        assert.ok(
          error instanceof CodecError || error instanceof CryptoVerificationError,
          `byte ${i} bit ${bit}: ${String(error)}`,
        );
      }
    }
  });

  it('should refuse every truncation with a CodecError', async () => {
    const sealed = await sealKeystore(crypto, contents(), PASS, FAST);
    for (let n = 0; n < sealed.length; n++) {
      const error = await rejection(openKeystore(crypto, sealed.subarray(0, n), PASS));
      assert.ok(error instanceof CodecError, `length ${n}: ${String(error)}`);
    }
  });

  it('should refuse trailing bytes with CODEC_TRAILING_BYTES', async () => {
    const sealed = await sealKeystore(crypto, contents(), PASS, FAST);
    for (const extra of [1, 16, 1000]) {
      const longer = new Uint8Array(sealed.length + extra);
      longer.set(sealed);
      const error = await rejection(openKeystore(crypto, longer, PASS));
      assert.ok(error instanceof CodecError);
      assert.equal(error.code, 'CODEC_TRAILING_BYTES');
    }
  });

  it('should refuse a file over LIMITS.keystoreMaxBytes before parsing it', async () => {
    const error = await rejection(openKeystore(crypto, new Uint8Array(LIMITS.keystoreMaxBytes + 1), PASS));
    assert.ok(error instanceof CodecError);
    assert.equal(error.code, 'CODEC_LENGTH_LIMIT');
  });

  const hostile: ReadonlyArray<readonly [string, Parameters<typeof craft>[0], Uint8Array?]> = [
    ['4 GiB of memory', { m: 0xffffffff }],
    ['memory just over the bound', { m: KEYSTORE_ARGON2_BOUNDS.memoryKiBMax + 1 }],
    ['memory under 8 KiB per lane', { m: 31, p: 4 }],
    ['zero memory', { m: 0 }],
    ['2^32-1 iterations', { t: 0xffffffff }],
    ['zero iterations', { t: 0 }],
    ['zero parallelism', { p: 0 }],
    ['2^24 lanes', { p: 1 << 24, m: 8 << 24 }],
    ['bad magic', { magic: [0x53, 0x50, 0x4b, 0x54] }],
    ['unknown version', { version: 2 }],
    ['ciphertext shorter than a tag', { length: 15 }, new Uint8Array(15)],
    ['length beyond the file', { length: 0xffffffff }],
  ];
  for (const [name, fields, body] of hostile) {
    it(`should refuse a header with ${name} without running Argon2`, async () => {
      const started = performance.now();
      const error = await rejection(openKeystore(crypto, craft(fields, body), PASS));
      assert.ok(error instanceof CodecError, String(error));
      assert.ok(performance.now() - started < 50, 'Argon2 must not have run');
    });
  }

  it('should answer random bytes with typed errors only', async () => {
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ maxLength: 400 }), async (bytes) => {
        const error = await rejection(openKeystore(crypto, bytes, PASS));
        assert.ok(error instanceof SealpostError, String(error));
      }),
      { numRuns: 300 },
    );
  });

  it('should answer random bytes behind a valid header with typed errors only', async () => {
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ minLength: 0, maxLength: 300 }), fc.nat(400), async (body, length) => {
        const error = await rejection(openKeystore(crypto, craft({ length }, body), PASS));
        assert.ok(error instanceof CodecError || error instanceof CryptoVerificationError, String(error));
      }),
      { numRuns: 300 },
    );
  });

  it('should refuse to seal bad contents, passphrases and parameters', async () => {
    const bad: ReadonlyArray<readonly [string, KeystoreContents, Uint8Array, Argon2Params]> = [
      ['username', { ...contents(), username: 'Alice' as Username }, PASS, FAST],
      ['server URL', { ...contents(), serverUrl: 'ftp://x' as ServerUrl }, PASS, FAST],
      ['account seed', { ...contents(), accountSeed: new Uint8Array(31) }, PASS, FAST],
      ['device seed', { ...contents(), deviceSeed: new Uint8Array(33) }, PASS, FAST],
      ['passphrase', contents(), new Uint8Array(0), FAST],
      ['memory', contents(), PASS, { ...FAST, memoryKiB: 4 }],
      ['iterations', contents(), PASS, { ...FAST, iterations: 1.5 }],
      ['parallelism', contents(), PASS, { ...FAST, parallelism: 17 }],
    ];
    for (const [name, c, pass, params] of bad) {
      const error = await rejection(sealKeystore(crypto, c, pass, params));
      assert.ok(error instanceof ValidationError, `${name}: ${String(error)}`);
    }
  });

  it('should rekey: the new passphrase opens it and the old one no longer does', async () => {
    const sealed = await sealKeystore(crypto, contents(), PASS, FAST);
    const rekeyed = await rekeyKeystore(crypto, sealed, PASS, OTHER, FAST);
    assert.deepEqual(await openKeystore(crypto, rekeyed, OTHER), contents());
    const error = await rejection(openKeystore(crypto, rekeyed, PASS));
    assert.ok(error instanceof SealpostError);
    assert.equal(error.code, 'KEYSTORE_PASSPHRASE_WRONG');
  });

  it('should refuse to rekey with a wrong old passphrase', async () => {
    const sealed = await sealKeystore(crypto, contents(), PASS, FAST);
    const error = await rejection(rekeyKeystore(crypto, sealed, OTHER, PASS, FAST));
    assert.ok(error instanceof CryptoVerificationError);
  });
});
