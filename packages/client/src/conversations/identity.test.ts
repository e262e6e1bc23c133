import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { decodeDeviceIdentity, directoryAuthService, encodeDeviceIdentity } from './identity.ts';

const te = new TextEncoder();
const ok = (u: string, d: string) => ({ username: u, deviceId: d });

describe('device identity in MLS credentials', () => {
  it('round-trips (username, device id)', () => {
    for (const d of [
      ok('alice', '1'),
      ok('bob', 'ab'.repeat(32)),
      ok('é', 'x'),
      ok('a'.repeat(255), 'd'.repeat(255)),
    ]) {
      assert.deepEqual(decodeDeviceIdentity(encodeDeviceIdentity(d)), d);
    }
  });

  it('refuses to encode empty or oversized fields', () => {
    for (const d of [ok('', '1'), ok('a', ''), ok('a'.repeat(256), '1'), ok('a', 'é'.repeat(128))]) {
      assert.throws(() => encodeDeviceIdentity(d), RangeError);
    }
  });

  const hostile: [string, Uint8Array][] = [
    ['empty', new Uint8Array(0)],
    ['zero-length username', new Uint8Array([0, 1, 0x31])],
    ['truncated username', new Uint8Array([5, 0x61])],
    ['missing device id', new Uint8Array([1, 0x61])],
    ['zero-length device id', new Uint8Array([1, 0x61, 0])],
    ['truncated device id', new Uint8Array([1, 0x61, 3, 0x31])],
    ['trailing byte', new Uint8Array([1, 0x61, 1, 0x31, 0])],
    ['invalid UTF-8', new Uint8Array([1, 0xff, 1, 0x31])],
    ['a bare name (ts-mls examples)', te.encode('alice')],
  ];
  for (const [name, bytes] of hostile) {
    it(`decodes nothing from ${name}`, () => assert.equal(decodeDeviceIdentity(bytes), undefined));
  }

  it('the auth service accepts only a listed (device, key) pair and records refusals', async () => {
    const key = new Uint8Array(32).fill(7);
    const directory = {
      devicesOf: async (u: string) =>
        u === 'bob' ? [{ deviceId: '1', credentialKey: key, keyPackage: new Uint8Array() }] : [],
    };
    const refused: { username: string; deviceId: string }[] = [];
    const auth = directoryAuthService(directory, refused);
    const cred = (u: string, d: string) => ({
      credentialType: 'basic' as const,
      identity: encodeDeviceIdentity(ok(u, d)),
    });
    assert.equal(await auth.validateCredential(cred('bob', '1'), key), true);
    assert.equal(await auth.validateCredential(cred('bob', '2'), key), false);
    assert.equal(await auth.validateCredential(cred('bob', '1'), new Uint8Array(32)), false);
    assert.equal(await auth.validateCredential(cred('carol', '1'), key), false);
    assert.equal(
      await auth.validateCredential({ credentialType: 'basic', identity: te.encode('bob') }, key),
      false,
    );
    assert.deepEqual(refused, [ok('bob', '2'), ok('bob', '1'), ok('carol', '1'), ok('?', '?')]);
  });
});
