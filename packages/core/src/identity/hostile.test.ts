/**
 * Hostile values into every public function of the identity module: each call returns or throws a
 * typed SealpostError, never a TypeError or a library exception (STYLE.md rule 3).
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { nodeCryptoProvider as crypto } from '../../node/crypto-provider.ts';
import { SealpostError } from '../errors.ts';
import { Reader } from '../codec/reader.ts';
import { Writer } from '../codec/writer.ts';
import { deviceIdOf } from '../account/statements.ts';
import { parseUsername } from '../account/username.ts';
import {
  decodeRotation,
  encodeRotation,
  rotationStatement,
  signRotation,
  verifyAccountKeyTransition,
} from './account-key-chain.ts';
import {
  FIRST_LIST_PREVIOUS_HASH,
  acceptDeviceList,
  checkDeviceOrder,
  decodeDeviceList,
  deviceListHash,
  deviceListSignedBytes,
  encodeDeviceList,
  signDeviceList,
  verifyDeviceList,
} from './device-list.ts';
import { parseRecoveryCode, recoveryCodeOf, recoverySigningKey } from './recovery-key.ts';
import { safetyCode, safetyCodeHalf } from './safety-code.ts';

const HOSTILE: readonly unknown[] = [
  undefined,
  null,
  0,
  -1,
  1.5,
  NaN,
  Infinity,
  2 ** 53,
  10n,
  true,
  '',
  'alice',
  'a'.repeat(100_000),
  Symbol('hostile'),
  () => 0,
  {},
  [],
  [1, 2, 3],
  Object.create(null),
  { length: 32 },
  new Date(0),
  new Map(),
  new String('alice'),
  new Uint8Array(0),
  new Uint8Array(31),
  new Uint8Array(33),
  new Uint8Array(65),
  new Uint8Array(200_000),
  new Uint16Array(16),
  new ArrayBuffer(32),
  new DataView(new ArrayBuffer(32)),
  Promise.resolve(),
];

const seed = crypto.sha256(new TextEncoder().encode('hostile test account'));
const accountKey = crypto.ed25519.publicKey(seed);
const recovery = recoverySigningKey(crypto, new Uint8Array(32).fill(7));
const deviceKey = crypto.ed25519.publicKey(new Uint8Array(32).fill(9));
const device = {
  deviceId: deviceIdOf(crypto, deviceKey),
  signatureKey: deviceKey,
  mlsCredentialKey: new Uint8Array(0),
  addedAtDay: 1,
};
const content = {
  username: parseUsername('alice'),
  version: 1,
  accountKey,
  recoveryKey: recovery.publicKey,
  previousHash: FIRST_LIST_PREVIOUS_HASH,
  devices: [device],
};
const encoded = signDeviceList(crypto, content, seed);
const list = decodeDeviceList(encoded);
const context = {
  username: 'alice',
  previousListHash: new Uint8Array(32),
  previousAccountKey: accountKey,
  newAccountKey: recovery.publicKey,
};
const rotation = signRotation(crypto, context, 0, seed);
const authority = { accountKey, recoveryKey: recovery.publicKey };
const party = { username: 'alice', accountKey };

/** name, valid arguments, call. Every argument and every field of an object argument is replaced in turn. */
const FUNCTIONS: readonly [string, unknown[], (...args: never[]) => unknown][] = [
  ['deviceListSignedBytes', [content], deviceListSignedBytes],
  ['encodeDeviceList', [list], encodeDeviceList],
  ['decodeDeviceList', [encoded], decodeDeviceList],
  ['deviceListHash', [crypto, encoded], deviceListHash],
  ['checkDeviceOrder', [crypto, [device]], checkDeviceOrder],
  ['signDeviceList', [crypto, content, seed], signDeviceList],
  ['verifyDeviceList', [crypto, encoded], verifyDeviceList],
  ['acceptDeviceList', [crypto, undefined, encoded], acceptDeviceList],
  ['rotationStatement', [context, 0], rotationStatement],
  ['signRotation', [crypto, context, 1, recovery.seed], signRotation],
  ['encodeRotation', [new Writer(), rotation], encodeRotation],
  ['decodeRotation', [new Reader(new Uint8Array(65), 65)], decodeRotation],
  ['verifyAccountKeyTransition', [crypto, authority, context, rotation], verifyAccountKeyTransition],
  ['recoveryCodeOf', [crypto, new Uint8Array(32)], recoveryCodeOf],
  ['parseRecoveryCode', [crypto, recoveryCodeOf(crypto, new Uint8Array(32))], parseRecoveryCode],
  ['recoverySigningKey', [crypto, new Uint8Array(32)], recoverySigningKey],
  ['safetyCodeHalf', [crypto, party], safetyCodeHalf],
  ['safetyCode', [crypto, party, party], safetyCode],
];

function assertTyped(call: () => unknown, what: string): void {
  try {
    call();
  } catch (e) {
    assert.ok(
      e instanceof SealpostError,
      `${what}: threw ${e instanceof Error ? e.name + ': ' + e.message : typeof e}`,
    );
  }
}

describe('hostile values into every public identity function', () => {
  for (const [name, valid, fn] of FUNCTIONS) {
    test(`${name} answers ${HOSTILE.length} hostile values in each argument and field with typed errors only`, () => {
      const call = (args: unknown[]) => () => (fn as (...a: unknown[]) => unknown)(...args);
      call(valid)(); // the baseline is valid
      valid.forEach((arg, i) => {
        if (i === 0 && arg === crypto) return; // the provider is injected by trusted code
        const variants: unknown[] = [...HOSTILE];
        if (typeof arg === 'object' && arg !== null && !(arg instanceof Uint8Array) && !Array.isArray(arg)) {
          for (const key of Object.keys(arg)) {
            for (const h of HOSTILE) variants.push({ ...arg, [key]: h });
          }
        }
        if (Array.isArray(arg)) for (const h of HOSTILE) variants.push([...arg, h], [h]);
        for (const v of variants) {
          const args = [...valid];
          args[i] = v;
          // decodeRotation consumes its reader: give each call a fresh one.
          if (name === 'decodeRotation' && v === valid[0]) args[0] = new Reader(new Uint8Array(65), 65);
          assertTyped(call(args), `${name} argument ${i}`);
        }
      });
    });
  }

  test('devices with hostile fields are refused with typed errors by signDeviceList', () => {
    for (const key of Object.keys(device)) {
      for (const h of HOSTILE) {
        assertTyped(
          () => signDeviceList(crypto, { ...content, devices: [{ ...device, [key]: h }] } as never, seed),
          key,
        );
      }
    }
  });
});
