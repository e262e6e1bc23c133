/**
 * Argon2id (RFC 9106, version 0x13) for key files on node:crypto (OpenSSL 3.2+, Node 24.7+), used
 * by `nodeBackupDeps` in place of hash-wasm's WASM build (../src/backup/argon2id.ts, which browsers
 * keep): it runs on libuv's thread pool with real lanes, and its m KiB (64 MiB by default) are freed
 * when it returns, whereas a WASM instance's memory only grows and stays for the life of the
 * process (it was most of a `sealpost backup snapshots` run's 187 MiB peak).
 */
import { argon2 } from 'node:crypto';
import type { Argon2id } from '@sealpost/core/backup/key-file';

export const nodeArgon2id: Argon2id = (passphrase, salt, params, length) =>
  new Promise((resolve, reject) => {
    argon2(
      'argon2id',
      {
        message: passphrase,
        nonce: salt,
        memory: params.memoryKiB,
        passes: params.iterations,
        parallelism: params.parallelism,
        tagLength: length,
      },
      (error, key) =>
        error === null ? resolve(new Uint8Array(key.buffer, key.byteOffset, key.length)) : reject(error),
    );
  });
