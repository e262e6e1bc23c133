/**
 * DESIGN.md threat model 4 and the crypto standards: no address, username, device id, key,
 * signature or payload reaches the server's log, even at debug level and on error paths.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { toBase64url, toHex } from '@sealpost/core';
import { nodeCryptoProvider as crypto } from '@sealpost/core/node';
import { createServer } from '@sealpost/server';
import { MemoryBus } from '../packages/server/src/bus/memory.ts';
import { SqliteStore } from '../packages/server/src/store/sqlite.ts';
import { connect, createDevice, post, rawSocket, text } from './support/harness.ts';

test('the server logs no username, address, key, signature or payload, even at debug level', async () => {
  const lines: string[] = [];
  const store = SqliteStore.open(':memory:');
  await store.migrate();
  const server = createServer({
    store,
    bus: new MemoryBus(),
    crypto,
    host: '127.0.0.1',
    port: 0,
    adminPort: -1,
    logLevel: 'trace',
    logStream: { write: (line: string) => void lines.push(line) },
  });
  const url = await server.listen();
  try {
    const canary = `canary${toHex(crypto.randomBytes(8))}`;
    const alice = await createDevice(url, 'alicecanary');
    const bob = await createDevice(url, 'bobcanary');
    const a = connect(url, alice);
    const b = connect(url, bob);
    await Promise.all([a.start(), b.start()]);
    await a.send({ recipients: [bob.address], payload: text(canary) });
    // Error paths too: unknown account, bad body, bad frame, bad signature.
    await fetch(`${url}/v1/accounts/${canary}x`);
    await post(`${url}/v1/accounts`, { username: canary, accountKey: 'x' });
    const raw = await rawSocket(url);
    raw.ws.send(new TextEncoder().encode(canary));
    await raw.closed;
    await Promise.all([a.close(), b.close()]);
    assert.ok(lines.length > 0, 'the logger wrote something (the test can see the log)');
    // The startup line names the server's own listen address, which is public knowledge; clients
    // connect from the same loopback address here, so it is left out of the address check only.
    const log = lines.filter((l) => !l.includes('Server listening at')).join('\n');
    const secrets = [
      canary,
      'alicecanary',
      'bobcanary',
      '127.0.0.1',
      toBase64url(alice.deviceId),
      toHex(alice.deviceId),
      toBase64url(crypto.ed25519.publicKey(alice.deviceSeed)),
      toBase64url(text(canary)),
      Buffer.from(canary).toString('base64'),
    ];
    for (const s of secrets)
      assert.ok(
        !log.includes(s),
        `the log contains ${JSON.stringify(s)}:\n${lines.filter((l) => l.includes(s)).join('')}`,
      );
  } finally {
    await server.close();
    await store.close();
  }
});
