/**
 * The per-account rate limit on `POST /v1/accounts/:username/recovery` (LIMITS.rateRecoveryPerAccount*,
 * docs/protocol.md "Account recovery"), on top of the per-address one, under the DEFAULT limits and
 * an injected clock: attempts past the burst are 429 RATE_LIMITED whoever sends them and however
 * good they are, another account is not held back, and the owner's recovery succeeds once the
 * bucket refilled.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { LIMITS, RateLimitedError, SealpostError, type Username } from '@sealpost/core';
import { verifyDeviceList } from '@sealpost/core/identity/device-list';
import { generateRecoverySecret, recoverySigningKey } from '@sealpost/core/identity/recovery-key';
import { ServerApi, firstDeviceList, recoveryDeviceList } from '@sealpost/client';
import { storeFactories, type OpenedStore } from '../packages/server/src/store/test-databases.ts';
import { createDevice, crypto, startInstance, uniqueName, type Instance } from './support/harness.ts';

let opened: OpenedStore;
let node: Instance;
let clock = 1_900_000_000_000;
before(async () => {
  opened = await storeFactories[0]!.open();
  node = await startInstance(opened.store, undefined, { now: () => clock, defaultRates: true });
});
after(async () => {
  await node.close();
  await opened.cleanup();
});

/** An account with a published first list, and a recovery list made with its real recovery key. */
async function recoverable() {
  const first = await createDevice(node.url, uniqueName('rl'));
  const username = first.username as Username;
  const recovery = recoverySigningKey(crypto, generateRecoverySecret(crypto));
  const list0 = firstDeviceList(crypto, {
    username,
    accountSeed: first.accountSeed,
    recoveryKey: recovery.publicKey,
    deviceKeys: [crypto.ed25519.publicKey(first.deviceSeed)],
    day: 20_000,
  });
  const api = new ServerApi(node.url, crypto);
  await api.publishDeviceList({ username, deviceList: list0 });
  const current = { username, version: 0, list: verifyDeviceList(crypto, list0) };
  /**
   * A recovery request with the real recovery list; `forged`: signed by another account key than
   * the list's (what someone without the new key sends), refused 401 after the work it costs.
   */
  const attempt = (forged = false) => {
    const accountSeed = crypto.randomBytes(32);
    const deviceSeed = crypto.randomBytes(32);
    const deviceList = recoveryDeviceList(crypto, current, {
      recoverySeed: recovery.seed,
      accountSeed,
      deviceKey: crypto.ed25519.publicKey(deviceSeed),
      day: 20_001,
    });
    const signer = forged ? crypto.randomBytes(32) : accountSeed;
    return api.recoverAccount({ username, accountSeed: signer, deviceSeed, deviceList });
  };
  return { attempt };
}

const codeOf = (e: unknown) => (e instanceof SealpostError ? e.code : String(e));

test('the attempt after rateRecoveryPerAccountBurst is 429 RATE_LIMITED; the real recovery succeeds once the window passed', async () => {
  const victim = await recoverable();
  for (let i = 0; i < LIMITS.rateRecoveryPerAccountBurst; i++) {
    await assert.rejects(victim.attempt(true), (e) => {
      assert.equal(codeOf(e), 'AUTH_SIGNATURE_INVALID', `attempt ${i + 1}`);
      return true;
    });
  }
  let retryAfterSecs = 0;
  await assert.rejects(victim.attempt(), (e) => {
    assert.ok(e instanceof RateLimitedError, `expected RATE_LIMITED, got ${codeOf(e)}`);
    retryAfterSecs = e.retryAfterSecs;
    return true;
  });
  assert.equal(retryAfterSecs, Math.ceil(1 / LIMITS.rateRecoveryPerAccountPerSec));

  // The limit is per account: another account's recovery is not held back meanwhile.
  const other = await recoverable();
  assert.equal((await other.attempt()).removedDevices, 1);

  // Still within the window: refused again.
  clock += (retryAfterSecs - 1) * 1000;
  await assert.rejects(victim.attempt(), RateLimitedError);
  clock += 1000;
  const done = await victim.attempt();
  assert.equal(done.version, 1);
  assert.equal(done.removedDevices, 1);
});
