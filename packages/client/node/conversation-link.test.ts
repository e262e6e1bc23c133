/**
 * Link codes and link boxes (src/conversations/link.ts) on the node MLS provider: round trips, a
 * box opens only with the new device's key and verifies only for its signer, and random or
 * altered bytes fail typed.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { deviceIdOf } from '@sealpost/core';
import { nodeCryptoProvider as crypto } from '@sealpost/core/node';
import { isConversationError } from '../src/conversations/errors.ts';
import { decodeLinkCode, encodeLinkCode, openLinkBox, sealLinkBox } from '../src/conversations/link.ts';
import { mlsCiphersuite } from '../src/mls/provider.ts';
import { nodeMlsCryptoProvider } from './mls-crypto.ts';

const cs = await mlsCiphersuite({ provider: nodeMlsCryptoProvider });
const malformed = (e: unknown) => isConversationError(e, 'CONVERSATION_MALFORMED');

async function setup() {
  const newSeed = crypto.randomBytes(32);
  const box = await cs.hpke.generateKeyPair();
  const code = {
    deviceKey: crypto.ed25519.publicKey(newSeed),
    challenge: crypto.randomBytes(32),
    deviceSignature: crypto.randomBytes(64),
    boxKey: await cs.hpke.exportPublicKey(box.publicKey),
  };
  const senderSeed = crypto.randomBytes(32);
  const senderKey = crypto.ed25519.publicKey(senderSeed);
  const sender = { crypto, cs, deviceSeed: senderSeed, deviceId: deviceIdOf(crypto, senderKey) };
  return { code, sender, senderKey, boxPrivate: await cs.hpke.exportPrivateKey(box.privateKey) };
}

describe('device linking: codes and boxes', () => {
  it('a link code round-trips; random text fails typed', async () => {
    const { code } = await setup();
    assert.deepEqual(decodeLinkCode(encodeLinkCode(code)), code);
    fc.assert(
      fc.property(fc.string({ maxLength: 400 }), (s) => {
        try {
          decodeLinkCode(s);
        } catch (e) {
          assert.ok(malformed(e), String(e));
        }
      }),
    );
  });

  it('a box opens with the new device key and verifies for its signer only', async () => {
    const { code, sender, senderKey, boxPrivate } = await setup();
    const history = {
      kind: 'history',
      groupId: new Uint8Array([1, 2, 3]),
      title: 'team',
      messages: [{ from: 'alice', text: 'hello' }],
    } as const;
    const sealed = await sealLinkBox(sender, code, history);
    const opened = await openLinkBox(crypto, cs, boxPrivate, code.deviceKey, sealed);
    assert.deepEqual(opened.content, history);
    assert.deepEqual(opened.senderId, sender.deviceId);
    assert.equal(opened.verify(senderKey), true);
    assert.equal(opened.verify(crypto.ed25519.publicKey(crypto.randomBytes(32))), false);
    // Bound to the recipient: opened as if for another device key, the signature fails.
    const other = await openLinkBox(crypto, cs, boxPrivate, crypto.randomBytes(32), sealed);
    assert.equal(other.verify(senderKey), false);
    // Another box key cannot open it.
    const stranger = await cs.hpke.exportPrivateKey((await cs.hpke.generateKeyPair()).privateKey);
    await assert.rejects(openLinkBox(crypto, cs, stranger, code.deviceKey, sealed), malformed);
  });

  it('an account-seed box carries the backup recovery public key; one without it (older senders) still opens', async () => {
    const { code, sender, boxPrivate } = await setup();
    const accountSeed = crypto.randomBytes(32);
    const backupRecoveryKey = crypto.randomBytes(32);
    const withKey = { kind: 'account-seed', accountSeed, backupRecoveryKey } as const;
    const opened = await openLinkBox(
      crypto,
      cs,
      boxPrivate,
      code.deviceKey,
      await sealLinkBox(sender, code, withKey),
    );
    assert.deepEqual(opened.content, withKey);
    const seedOnly = { kind: 'account-seed', accountSeed } as const;
    const old = await openLinkBox(
      crypto,
      cs,
      boxPrivate,
      code.deviceKey,
      await sealLinkBox(sender, code, seedOnly),
    );
    assert.deepEqual(old.content, seedOnly);
    assert.equal('backupRecoveryKey' in old.content, false);
    await assert.rejects(
      sealLinkBox(sender, code, { ...withKey, backupRecoveryKey: backupRecoveryKey.subarray(1) }),
      malformed,
    );
  });

  it('every flipped bit of a box, and random bytes, fail typed', async () => {
    const { code, sender, boxPrivate } = await setup();
    const sealed = await sealLinkBox(sender, code, { kind: 'done' });
    for (let i = 0; i < sealed.length; i++) {
      const bad = sealed.slice();
      bad[i]! ^= 1;
      await assert.rejects(openLinkBox(crypto, cs, boxPrivate, code.deviceKey, bad), malformed, `byte ${i}`);
    }
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ maxLength: 300 }), async (b) => {
        await assert.rejects(openLinkBox(crypto, cs, boxPrivate, code.deviceKey, b), malformed);
      }),
      { numRuns: 100 },
    );
  });
});
