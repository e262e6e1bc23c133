import assert from 'node:assert/strict';
import { test } from 'node:test';
import { hashWasmArgon2id } from '../src/backup/argon2id.ts';
import { nodeArgon2id } from './backup-argon2id.ts';

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

test('gives the same key as hash-wasm for every parameter set key files use', async () => {
  const cases = [
    { memoryKiB: 8, iterations: 1, parallelism: 1 },
    { memoryKiB: 64, iterations: 2, parallelism: 2 },
    { memoryKiB: 1024, iterations: 3, parallelism: 4 },
  ];
  for (const params of cases) {
    const passphrase = new TextEncoder().encode(`passphrase ${params.memoryKiB}`);
    const salt = new Uint8Array(16).map((_, i) => i * 7 + params.iterations);
    assert.equal(
      hex(await nodeArgon2id(passphrase, salt, params, 32)),
      hex(await hashWasmArgon2id(passphrase, salt, params, 32)),
      JSON.stringify(params),
    );
  }
});
