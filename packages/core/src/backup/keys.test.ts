// Tests run under Node: node:test and node:assert are the only node:* imports, and only here.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { nodeCryptoProvider as crypto } from '../../node/crypto-provider.ts';
import { nobleCryptoProvider } from '../crypto/noble-provider.ts';
import {
  checkRepositoryKeys,
  deriveRepositoryKeys,
  KEY_LABELS,
  newMasterKey,
  newRepositoryId,
  wipeRepositoryKeys,
  type KeyName,
} from './keys.ts';
import { ValidationError } from '../errors.ts';
import { toHex } from '../bytes/encoding.ts';

const master = new Uint8Array(32).map((_, i) => i);
const repo = new Uint8Array(32).fill(7);
const names = Object.keys(KEY_LABELS) as KeyName[];

describe('repository keys', () => {
  test('each key is HKDF-SHA256(master, salt = repository id, "sealpost/backup/v1/" || label, 32)', () => {
    const keys = deriveRepositoryKeys(crypto, master, repo);
    for (const name of names) {
      const info = new TextEncoder().encode(`sealpost/backup/v1/${KEY_LABELS[name]}`);
      assert.deepEqual(keys[name], crypto.hkdfSha256(master, repo, info, 32), name);
    }
  });

  test('the noble and node providers derive the same keys', () => {
    assert.deepEqual(
      deriveRepositoryKeys(nobleCryptoProvider, master, repo),
      deriveRepositoryKeys(crypto, master, repo),
    );
  });

  test('every key differs from every other, and all change with the repository id', () => {
    const keys = deriveRepositoryKeys(crypto, master, repo);
    const other = deriveRepositoryKeys(crypto, master, new Uint8Array(32).fill(8));
    const all = new Set([...names.map((n) => toHex(keys[n])), ...names.map((n) => toHex(other[n]))]);
    assert.equal(all.size, 2 * names.length);
  });

  test('new master keys and repository ids are 32 random bytes', () => {
    assert.equal(newMasterKey(crypto).length, 32);
    assert.notDeepEqual(newRepositoryId(crypto), newRepositoryId(crypto));
  });

  test('refuses a master key or repository id of the wrong length', () => {
    assert.throws(() => deriveRepositoryKeys(crypto, master.subarray(1), repo), ValidationError);
    assert.throws(() => deriveRepositoryKeys(crypto, master, repo.subarray(1)), ValidationError);
    assert.throws(() => deriveRepositoryKeys(crypto, 'x' as unknown as Uint8Array, repo), ValidationError);
  });

  test('wipe zeroes every key; a partial set is refused', () => {
    const keys = deriveRepositoryKeys(crypto, master, repo);
    wipeRepositoryKeys(keys);
    for (const name of names) assert.ok(keys[name].every((b) => b === 0));
    const { blob: _blob, ...partial } = keys;
    assert.throws(() => checkRepositoryKeys(partial as never), ValidationError);
    assert.throws(() => checkRepositoryKeys(null as never), ValidationError);
  });
});
