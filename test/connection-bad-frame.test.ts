/**
 * A client that cannot decode a server frame (an unknown type, as an older client gets from a
 * newer server sending what it did not ask for) ends the connection for good with the CodecError
 * as the reason, loudly and without crashing the process (docs/protocol.md "WebSocket" 4a).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { WebSocketServer } from 'ws';
import { CLOSE, LIMITS, encodeServerFrame } from '@sealpost/core';
import { connect, crypto, eventually, type TestDevice } from './support/harness.ts';

const device: TestDevice = (() => {
  const deviceSeed = crypto.randomBytes(32);
  const deviceId = new Uint8Array(LIMITS.deviceIdBytes);
  return {
    username: 'alice',
    accountSeed: crypto.randomBytes(32),
    deviceSeed,
    deviceId,
    address: { username: 'alice', deviceId },
  };
})();

test('a frame of an unknown type ends the connection for good with CODEC_INVALID_VALUE', async () => {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  await new Promise((r) => wss.once('listening', r));
  const closes: number[] = [];
  let connections = 0;
  wss.on('connection', (s) => {
    connections++;
    s.on('close', (code) => closes.push(code));
    s.send(encodeServerFrame({ type: 'challenge', challenge: new Uint8Array(LIMITS.challengeBytes) }));
    s.once('message', () => s.send(new Uint8Array([0xff, 0, 0, 0, 0])));
  });
  try {
    const { port } = wss.address() as { port: number };
    const c = connect(`http://127.0.0.1:${port}`, device);
    await assert.rejects(c.start(), { code: 'CODEC_INVALID_VALUE' });
    assert.equal(c.state, 'closed');
    await eventually(() => closes.length === 1, 5000, 'the socket closed');
    assert.deepEqual(closes, [CLOSE.normal]);
    assert.equal(connections, 1, 'no reconnect');
    await c.close();
  } finally {
    for (const s of wss.clients) s.terminate();
    wss.close();
  }
});
