// Tests run under Node: node:test and node:assert are the only node:* imports, and only here.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  STATEMENT_LABELS,
  accountCreateStatement,
  deviceAddStatement,
  deviceIdOf,
  deviceRemoveStatement,
  wsAuthStatement,
} from './statements.ts';
import { parseUsername } from './username.ts';
import { nobleCryptoProvider } from '../crypto/noble-provider.ts';
import { toHex } from '../bytes/encoding.ts';
import { LIMITS } from '../limits.ts';

const crypto = nobleCryptoProvider;
const challenge = new Uint8Array(32).fill(1);
const otherChallenge = new Uint8Array(32).fill(2);
const alice = parseUsername('alice');
const bob = parseUsername('bob');
const key = new Uint8Array(32).fill(3);
const otherKey = new Uint8Array(32).fill(4);
const deviceId = new Uint8Array(8).fill(5);
const audience = 'sealpost.example';

/** Every statement kind, built from the same inputs. */
function all(c: Uint8Array, aud: string, user: typeof alice, k: Uint8Array, id: Uint8Array): Uint8Array[] {
  return [
    wsAuthStatement(c, aud, user, id),
    accountCreateStatement(c, aud, user, k, k),
    deviceAddStatement(c, aud, user, k),
    deviceRemoveStatement(c, aud, user, id),
  ];
}

describe('signed statements', () => {
  test('differ by label: no two kinds give the same bytes for the same inputs', () => {
    // deviceAdd and deviceRemove take a key and an id: give both the same 8 bytes.
    const same = new Uint8Array(8).fill(9);
    const kinds = all(challenge, audience, alice, same, same).map(toHex);
    assert.equal(new Set(kinds).size, kinds.length);
  });

  test('each starts with its own label', () => {
    const labels = [
      STATEMENT_LABELS.wsAuth,
      STATEMENT_LABELS.accountCreate,
      STATEMENT_LABELS.deviceAdd,
      STATEMENT_LABELS.deviceRemove,
    ];
    all(challenge, audience, alice, key, deviceId).forEach((s, i) => {
      const label = new TextEncoder().encode(labels[i]);
      assert.equal(s[0], label.length);
      assert.deepEqual(s.subarray(1, 1 + label.length), label);
    });
  });

  const variations: readonly [string, () => Uint8Array[]][] = [
    ['challenge', () => all(otherChallenge, audience, alice, key, deviceId)],
    ['audience', () => all(challenge, 'evil.example', alice, key, deviceId)],
    ['username', () => all(challenge, audience, bob, key, deviceId)],
  ];
  for (const [what, vary] of variations) {
    test(`differ when only the ${what} differs`, () => {
      const base = all(challenge, audience, alice, key, deviceId);
      vary().forEach((s, i) => assert.notDeepEqual(s, base[i]));
    });
  }

  test('differ when only the key or device id differs', () => {
    assert.notDeepEqual(
      accountCreateStatement(challenge, audience, alice, key, otherKey),
      accountCreateStatement(challenge, audience, alice, otherKey, key),
    );
    assert.notDeepEqual(
      deviceAddStatement(challenge, audience, alice, key),
      deviceAddStatement(challenge, audience, alice, otherKey),
    );
    assert.notDeepEqual(
      wsAuthStatement(challenge, audience, alice, deviceId),
      wsAuthStatement(challenge, audience, alice, new Uint8Array(8)),
    );
  });

  test('are unambiguous: moving bytes between the audience and the username changes the statement', () => {
    // Length prefixes keep ("ab", "cde") and ("abc", "de") apart.
    assert.notDeepEqual(
      wsAuthStatement(challenge, 'hostx', parseUsername('abc'), deviceId),
      wsAuthStatement(challenge, 'host', parseUsername('xabc'), deviceId),
    );
  });

  test('are deterministic', () => {
    assert.deepEqual(
      all(challenge, audience, alice, key, deviceId),
      all(challenge, audience, alice, key, deviceId),
    );
  });
});

describe('deviceIdOf', () => {
  test(`is ${LIMITS.deviceIdBytes} bytes and deterministic`, () => {
    const id = deviceIdOf(crypto, key);
    assert.equal(id.length, LIMITS.deviceIdBytes);
    assert.deepEqual(deviceIdOf(crypto, key), id);
  });

  test('is the prefix of SHA-256(label || key), not of SHA-256(key)', () => {
    const label = new TextEncoder().encode('sealpost/v1/device-id');
    const expected = crypto.sha256(new Uint8Array([...label, ...key])).slice(0, LIMITS.deviceIdBytes);
    assert.deepEqual(deviceIdOf(crypto, key), expected);
    assert.notDeepEqual(deviceIdOf(crypto, key), crypto.sha256(key).slice(0, LIMITS.deviceIdBytes));
  });

  test('differs for different keys', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 32, maxLength: 32 }),
        fc.uint8Array({ minLength: 32, maxLength: 32 }),
        (a, b) => {
          fc.pre(toHex(a) !== toHex(b));
          assert.notDeepEqual(deviceIdOf(crypto, a), deviceIdOf(crypto, b));
        },
      ),
      { numRuns: 200 },
    );
  });
});
