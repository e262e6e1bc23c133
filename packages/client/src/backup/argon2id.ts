/**
 * Argon2id (RFC 9106, version 0x13) for key files, on hash-wasm's WASM build so that it runs in
 * Node and browsers alike. Core's key-file.ts checks the parameters before this runs.
 */
import { argon2id as wasmArgon2id } from 'hash-wasm';
import type { Argon2id } from '@sealpost/core/backup/key-file';

export const hashWasmArgon2id: Argon2id = (passphrase, salt, params, length) =>
  wasmArgon2id({
    password: passphrase,
    salt,
    memorySize: params.memoryKiB,
    iterations: params.iterations,
    parallelism: params.parallelism,
    hashLength: length,
    outputType: 'binary',
  });
