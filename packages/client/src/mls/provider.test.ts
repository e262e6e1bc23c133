import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { CiphersuiteImpl, CryptoProvider } from 'ts-mls';
import { browserMlsCryptoProvider, DEFAULT_MLS_SUITE, mlsCiphersuite } from './provider.ts';

test('should give the default suite on the browser-safe provider when nothing is injected', async () => {
  const cs = await mlsCiphersuite();
  assert.equal(cs.name, DEFAULT_MLS_SUITE);
  assert.equal(cs, await mlsCiphersuite({ provider: browserMlsCryptoProvider, suite: DEFAULT_MLS_SUITE }));
});

test('should build one impl per provider and suite, through the injected provider', async () => {
  let calls = 0;
  const fake: CryptoProvider = {
    async getCiphersuiteImpl(cs) {
      calls++;
      return { name: cs.name } as CiphersuiteImpl;
    },
  };
  const [a, b] = await Promise.all([mlsCiphersuite({ provider: fake }), mlsCiphersuite({ provider: fake })]);
  assert.equal(a, b);
  assert.equal(calls, 1);
  await mlsCiphersuite({ provider: fake, suite: 'MLS_256_DHKEMP384_AES256GCM_SHA384_P384' });
  assert.equal(calls, 2);
});

test('should not keep a failed attempt, so a later call can succeed', async () => {
  let fail = true;
  const flaky: CryptoProvider = {
    async getCiphersuiteImpl(cs) {
      if (fail) throw new Error('not yet');
      return { name: cs.name } as CiphersuiteImpl;
    },
  };
  await assert.rejects(mlsCiphersuite({ provider: flaky }), /not yet/);
  fail = false;
  assert.equal((await mlsCiphersuite({ provider: flaky })).name, DEFAULT_MLS_SUITE);
});
