/**
 * Key fingerprints for people to compare: the hex of SHA-256(key), in groups of four characters
 * so two screens can be read aloud and checked group by group.
 */
import { toHex } from '@sealpost/core';
import type { CryptoProvider } from '@sealpost/core';

const GROUP_CHARS = 4;

/** `key` is public (an account or device public key); never pass a secret here. */
export function keyFingerprint(crypto: CryptoProvider, key: Uint8Array): string {
  const hex = toHex(crypto.sha256(key));
  const groups: string[] = [];
  for (let i = 0; i < hex.length; i += GROUP_CHARS) groups.push(hex.slice(i, i + GROUP_CHARS));
  return groups.join(' ');
}
