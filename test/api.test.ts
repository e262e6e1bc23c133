/**
 * The whole API against SQLite and PostgreSQL in one suite: accounts, devices, delivery
 * semantics (idempotent send, per-device order, redelivery until ack, in-flight bound, TTL,
 * one live connection per device) and bad input at every boundary (typed error, nothing stored).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:http';
import {
  CLOSE,
  FRAME,
  LIMITS,
  Writer,
  decodeServerFrame,
  deviceAddStatement,
  deviceRemoveStatement,
  encodeClientFrame,
  parseUsername,
  toBase64url,
  wsAuthStatement,
  type SealpostError,
} from '@sealpost/core';
import { storeFactories } from '../packages/server/src/store/test-databases.ts';
import type { Store } from '@sealpost/server';
import {
  accountBody,
  challenge,
  connect,
  createDevice,
  crypto,
  eventually,
  inbox,
  post,
  rawSocket,
  startInstance,
  text,
  untext,
  type Instance,
  uniqueName,
} from './support/harness.ts';

for (const factory of storeFactories) {
  describe(`${factory.name}`, () => {
    let store: Store;
    let cleanup: () => Promise<void>;
    let node: Instance;
    let clock = Date.now();
    before(async () => {
      ({ store, cleanup } = await factory.open());
      await store.migrate();
      node = await startInstance(store, undefined, { now: () => clock });
    });
    after(async () => {
      await node.close();
      await cleanup();
    });
    const accountCount = async (username: string) =>
      (await store.getAccount(parseUsername(username))) ? 1 : 0;

    describe('accounts', () => {
      test(`${factory.name}: creates an account and lists its first device`, async () => {
        const alice = await createDevice(node.url, uniqueName('alice'));
        const res = await fetch(`${node.url}/v1/accounts/${alice.username}`);
        assert.equal(res.status, 200);
        const body = (await res.json()) as { devices: Array<{ deviceId: string }> };
        assert.deepEqual(
          body.devices.map((d) => d.deviceId),
          [toBase64url(alice.deviceId)],
        );
      });

      test(`${factory.name}: refuses an invalid username with USERNAME_INVALID and stores nothing`, async () => {
        for (const bad of ['ab', 'аlice', 'a__b', '1abc', 'x'.repeat(33)]) {
          const { body } = await accountBody(node.url, 'placeholder');
          const res = await post(`${node.url}/v1/accounts`, { ...body, username: bad });
          assert.equal(res.status, 400, bad);
          assert.equal(res.body['code'], 'USERNAME_INVALID', bad);
        }
      });

      test(`${factory.name}: refuses a look-alike of an existing username`, async () => {
        const name = uniqueName('xlookalike');
        await createDevice(node.url, name);
        const twin = name.replace('l', '1');
        assert.notEqual(twin, name);
        const { body } = await accountBody(node.url, twin);
        const res = await post(`${node.url}/v1/accounts`, body);
        assert.equal(res.status, 409);
        assert.equal(res.body['code'], 'USERNAME_TAKEN');
      });

      test(`${factory.name}: rejects a bad account signature with 401 and stores nothing`, async () => {
        const name = uniqueName('badsig');
        const { body } = await accountBody(node.url, name);
        const sig = Buffer.from(body.accountSignature, 'base64url');
        sig[0]! ^= 1;
        const res = await post(`${node.url}/v1/accounts`, {
          ...body,
          accountSignature: sig.toString('base64url'),
        });
        assert.equal(res.status, 401);
        assert.equal(res.body['code'], 'AUTH_SIGNATURE_INVALID');
        assert.equal(await accountCount(name), 0);
      });

      test(`${factory.name}: rejects a replayed challenge`, async () => {
        const name = uniqueName('replay');
        const { body } = await accountBody(node.url, name);
        assert.equal((await post(`${node.url}/v1/accounts`, body)).status, 201);
        const again = await post(`${node.url}/v1/accounts`, { ...body, username: uniqueName('other') });
        assert.equal(again.status, 401);
        assert.equal(again.body['code'], 'AUTH_CHALLENGE_UNKNOWN');
      });

      test(`${factory.name}: rejects a malformed body with a typed error`, async () => {
        const cases: Array<[string, string]> = [
          ['{"username":', 'CODEC_INVALID_VALUE'],
          ['{"username":"abc"}', 'VALIDATION_FAILED'],
          ['[]', 'VALIDATION_FAILED'],
        ];
        for (const [raw, code] of cases) {
          const res = await fetch(`${node.url}/v1/accounts`, {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: raw,
          });
          assert.equal(res.status, 400, raw);
          assert.equal(((await res.json()) as { code: string }).code, code, raw);
        }
        const { body } = await accountBody(node.url, uniqueName('b64'));
        const res = await post(`${node.url}/v1/accounts`, { ...body, accountKey: body.accountKey + '=' });
        assert.equal(res.status, 400);
      });

      for (const mode of ['content-length', 'chunked'] as const) {
        test(`${factory.name}: answers 413 BODY_TOO_LARGE for an oversized body sent with ${mode}`, async () => {
          const name = uniqueName('big');
          const { body } = await accountBody(node.url, name);
          const raw = JSON.stringify({ ...body, pad: 'x'.repeat(LIMITS.httpBodyMaxBytes) });
          const { status, text: answer } = await new Promise<{ status: number; text: string }>(
            (resolve, reject) => {
              const u = new URL(`${node.url}/v1/accounts`);
              const req = request(
                {
                  host: u.hostname,
                  port: u.port,
                  path: u.pathname,
                  method: 'POST',
                  headers: {
                    'content-type': 'application/json',
                    ...(mode === 'content-length' ? { 'content-length': Buffer.byteLength(raw) } : {}),
                  },
                },
                (res) => {
                  let t = '';
                  res.on('data', (d: Buffer) => (t += d.toString()));
                  res.on('end', () => resolve({ status: res.statusCode ?? 0, text: t }));
                },
              );
              req.on('error', reject);
              if (mode === 'chunked') {
                for (let i = 0; i < raw.length; i += 8192) req.write(raw.slice(i, i + 8192));
              } else req.write(raw);
              req.end();
            },
          );
          assert.equal(status, 413);
          assert.equal((JSON.parse(answer) as { code: string }).code, 'BODY_TOO_LARGE');
          assert.equal(await accountCount(name), 0);
        });
      }

      test(`${factory.name}: adds and removes a device only with the account key`, async () => {
        const alice = await createDevice(node.url, uniqueName('owner'));
        const laptopSeed = crypto.randomBytes(32);
        const laptopKey = crypto.ed25519.publicKey(laptopSeed);
        const addBody = async (signer: Uint8Array) => {
          const c = await challenge(node.url);
          const st = deviceAddStatement(c, node.host, parseUsername(alice.username), laptopKey);
          return {
            deviceKey: toBase64url(laptopKey),
            challenge: toBase64url(c),
            accountSignature: toBase64url(crypto.ed25519.sign(signer, st)),
            deviceSignature: toBase64url(crypto.ed25519.sign(laptopSeed, st)),
          };
        };
        // Signed by a device key instead of the account key: refused.
        const forged = await post(
          `${node.url}/v1/accounts/${alice.username}/devices`,
          await addBody(alice.deviceSeed),
        );
        assert.equal(forged.status, 401);
        const added = await post(
          `${node.url}/v1/accounts/${alice.username}/devices`,
          await addBody(alice.accountSeed),
        );
        assert.equal(added.status, 201);
        const account = await store.getAccount(parseUsername(alice.username));
        assert.equal((await store.listDevices(account!.id)).length, 2);

        const removeBody = async (signer: Uint8Array) => {
          const c = await challenge(node.url);
          const st = deviceRemoveStatement(c, node.host, parseUsername(alice.username), alice.deviceId);
          return JSON.stringify({
            challenge: toBase64url(c),
            accountSignature: toBase64url(crypto.ed25519.sign(signer, st)),
          });
        };
        const path = `${node.url}/v1/accounts/${alice.username}/devices/${toBase64url(alice.deviceId)}`;
        const headers = { 'content-type': 'application/json' };
        const bad = await fetch(path, { method: 'DELETE', headers, body: await removeBody(laptopSeed) });
        assert.equal(bad.status, 401);
        const live = connect(node.url, alice);
        const closed = new Promise<SealpostError | undefined>((resolve) => {
          live.start().catch(() => undefined);
          const check = setInterval(() => {
            if (live.state === 'closed') {
              clearInterval(check);
              resolve(undefined);
            }
          }, 10);
        });
        await live.ready();
        const ok = await fetch(path, {
          method: 'DELETE',
          headers,
          body: await removeBody(alice.accountSeed),
        });
        assert.equal(ok.status, 200);
        await closed; // the removed device's live session was closed (4003: no reconnect)
        assert.equal((await store.listDevices(account!.id)).length, 1);
      });

      test(`${factory.name}: answers 404 ACCOUNT_NOT_FOUND and ROUTE_NOT_FOUND`, async () => {
        const a = await fetch(`${node.url}/v1/accounts/${uniqueName('nobody')}`);
        assert.equal(a.status, 404);
        assert.equal(((await a.json()) as { code: string }).code, 'ACCOUNT_NOT_FOUND');
        const r = await fetch(`${node.url}/v1/nothing`);
        assert.equal(((await r.json()) as { code: string }).code, 'ROUTE_NOT_FOUND');
      });
    });

    describe('delivery', () => {
      test(`${factory.name}: delivers a message and deletes it on ack`, async () => {
        const alice = await createDevice(node.url, uniqueName('alice'));
        const bob = await createDevice(node.url, uniqueName('bob'));
        const box = inbox();
        const a = connect(node.url, alice);
        const b = connect(node.url, bob, box.onMessage);
        await Promise.all([a.start(), b.start()]);
        const sent = await a.send({ recipients: [bob.address], payload: text('hello bob') });
        assert.equal(sent.duplicate, false);
        const [m] = await box.waitFor(1);
        assert.equal(untext(m!.payload), 'hello bob');
        const pk = (
          await store.resolveDevices([{ username: parseUsername(bob.username), deviceId: bob.deviceId }])
        )[0]!;
        await eventually(
          async () => (await store.fetchMail(pk, 0, 10, Math.floor(clock / 1000))).length === 0,
          5000,
          'ack',
        );
        await Promise.all([a.close(), b.close()]);
      });

      test(`${factory.name}: resending with the same id stores one message`, async () => {
        const alice = await createDevice(node.url, uniqueName('alice'));
        const bob = await createDevice(node.url, uniqueName('bob'));
        const a = connect(node.url, alice);
        await a.start();
        const messageId = crypto.randomBytes(16);
        const first = await a.send({ recipients: [bob.address], payload: text('once'), messageId });
        const second = await a.send({ recipients: [bob.address], payload: text('once'), messageId });
        assert.deepEqual([first.duplicate, second.duplicate], [false, true]);
        await assert.rejects(a.send({ recipients: [bob.address], payload: text('other'), messageId }), {
          code: 'MESSAGE_ID_REUSED',
        });
        const pk = (
          await store.resolveDevices([{ username: parseUsername(bob.username), deviceId: bob.deviceId }])
        )[0]!;
        assert.equal((await store.fetchMail(pk, 0, 10, Math.floor(clock / 1000))).length, 1);
        await a.close();
      });

      test(`${factory.name}: redelivers unacknowledged messages after a reconnect, in order`, async () => {
        const alice = await createDevice(node.url, uniqueName('alice'));
        const bob = await createDevice(node.url, uniqueName('bob'));
        const a = connect(node.url, alice);
        await a.start();
        const total = LIMITS.inFlightPerDevice + 44;
        for (let i = 0; i < total; i++) await a.send({ recipients: [bob.address], payload: text(`m${i}`) });

        // Speak the protocol by hand and never acknowledge: the server stops at the in-flight bound.
        const raw = await rawSocket(node.url);
        await eventually(() => raw.frames.length >= 1, 5000, 'challenge');
        const ch = decodeServerFrame(raw.frames[0]!);
        assert.equal(ch.type, 'challenge');
        const statement = wsAuthStatement(
          (ch as { challenge: Uint8Array }).challenge,
          node.host,
          parseUsername(bob.username),
          bob.deviceId,
        );
        raw.ws.send(
          encodeClientFrame({
            type: 'auth',
            username: bob.username,
            deviceId: bob.deviceId,
            signature: crypto.ed25519.sign(bob.deviceSeed, statement),
          }),
        );
        await eventually(() => raw.frames.length >= 2 + LIMITS.inFlightPerDevice, 5000, 'first window');
        await new Promise((r) => setTimeout(r, 200));
        const pushed = raw.frames
          .slice(1)
          .map((f) => decodeServerFrame(f))
          .filter((f) => f.type === 'deliver');
        assert.equal(pushed.length, LIMITS.inFlightPerDevice, 'at most inFlightPerDevice unacknowledged');
        raw.ws.close();
        await raw.closed;

        // A real client now gets everything again, in order, exactly once after dropping duplicates.
        const box = inbox();
        const b = connect(node.url, bob, box.onMessage);
        await b.start();
        const got = await box.waitFor(total);
        assert.deepEqual(
          got.map((m) => untext(m.payload)),
          Array.from({ length: total }, (_, i) => `m${i}`),
        );
        const seqs = got.map((m) => m.seq);
        assert.deepEqual(
          seqs,
          [...seqs].sort((x, y) => x - y),
        );
        await Promise.all([a.close(), b.close()]);
      });

      test(`${factory.name}: drops a message redelivered after a lost ack, and acknowledges it`, async () => {
        const alice = await createDevice(node.url, uniqueName('alice'));
        const bob = await createDevice(node.url, uniqueName('bob'));
        const a = connect(node.url, alice);
        await a.start();
        const { messageId } = await a.send({ recipients: [bob.address], payload: text('just once') });
        // Bob's device processed the message (it is in its seen set) but the ack was lost.
        const { MemorySeenIds } = await import('@sealpost/client');
        const seen = new MemorySeenIds();
        seen.add(messageId);
        const box = inbox();
        const b = connect(node.url, bob, box.onMessage, { seen });
        await b.start();
        const pk = (
          await store.resolveDevices([{ username: parseUsername(bob.username), deviceId: bob.deviceId }])
        )[0]!;
        await eventually(
          async () => (await store.fetchMail(pk, 0, 10, Math.floor(clock / 1000))).length === 0,
          5000,
          'ack',
        );
        assert.equal(box.messages.length, 0, 'the redelivered duplicate is not handed to the application');
        await Promise.all([a.close(), b.close()]);
      });

      test(`${factory.name}: does not deliver an expired message`, async () => {
        const alice = await createDevice(node.url, uniqueName('alice'));
        const bob = await createDevice(node.url, uniqueName('bob'));
        const a = connect(node.url, alice);
        await a.start();
        await a.send({ recipients: [bob.address], payload: text('short-lived'), ttlSecs: 60 });
        await a.send({ recipients: [bob.address], payload: text('long-lived'), ttlSecs: 3600 });
        clock += 120_000;
        const box = inbox();
        const b = connect(node.url, bob, box.onMessage);
        await b.start();
        await box.waitFor(1);
        await new Promise((r) => setTimeout(r, 200));
        assert.deepEqual(
          box.messages.map((m) => untext(m.payload)),
          ['long-lived'],
        );
        await Promise.all([a.close(), b.close()]);
      });

      test(`${factory.name}: a newer connection of the same device closes the older with 4001`, async () => {
        const bob = await createDevice(node.url, uniqueName('bob'));
        const states: string[] = [];
        const first = connect(node.url, bob, () => undefined, {
          onStateChange: (s, reason) => states.push(`${s}:${reason?.code ?? ''}`),
        });
        await first.start();
        const second = connect(node.url, bob);
        await second.start();
        await eventually(() => first.state === 'closed', 5000, 'old connection closed');
        assert.equal(second.state, 'ready');
        await second.close();
      });

      test(`${factory.name}: refuses a send to a device removed after it was last used`, async () => {
        const alice = await createDevice(node.url, uniqueName('alice'));
        const bob = await createDevice(node.url, uniqueName('bob'));
        const laptopSeed = crypto.randomBytes(32);
        const laptopKey = crypto.ed25519.publicKey(laptopSeed);
        const c1 = await challenge(node.url);
        const st = deviceAddStatement(c1, node.host, parseUsername(bob.username), laptopKey);
        const added = await post(`${node.url}/v1/accounts/${bob.username}/devices`, {
          deviceKey: toBase64url(laptopKey),
          challenge: toBase64url(c1),
          accountSignature: toBase64url(crypto.ed25519.sign(bob.accountSeed, st)),
          deviceSignature: toBase64url(crypto.ed25519.sign(laptopSeed, st)),
        });
        const laptop = {
          username: bob.username,
          deviceId: Buffer.from(added.body['deviceId'] as string, 'base64url'),
        };
        const a = connect(node.url, alice);
        await a.start();
        await a.send({ recipients: [laptop], payload: text('to the laptop') });
        const c2 = await challenge(node.url);
        const removal = deviceRemoveStatement(c2, node.host, parseUsername(bob.username), laptop.deviceId);
        const res = await fetch(
          `${node.url}/v1/accounts/${bob.username}/devices/${toBase64url(laptop.deviceId)}`,
          {
            method: 'DELETE',
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify({
              challenge: toBase64url(c2),
              accountSignature: toBase64url(crypto.ed25519.sign(bob.accountSeed, removal)),
            }),
          },
        );
        assert.equal(res.status, 200);
        await assert.rejects(a.send({ recipients: [laptop], payload: text('too late') }), {
          code: 'DEVICE_NOT_FOUND',
        });
        await a.close();
      });

      test(`${factory.name}: refuses a send to an unknown device and stores nothing`, async () => {
        const alice = await createDevice(node.url, uniqueName('alice'));
        const a = connect(node.url, alice);
        await a.start();
        await assert.rejects(
          a.send({
            recipients: [{ username: alice.username, deviceId: new Uint8Array(8) }],
            payload: text('x'),
          }),
          { code: 'DEVICE_NOT_FOUND' },
        );
        await a.close();
      });
    });

    describe('bad frames', () => {
      async function authed(deviceName: string) {
        const dev = await createDevice(node.url, uniqueName(deviceName));
        const raw = await rawSocket(node.url);
        await eventually(() => raw.frames.length >= 1, 5000, 'challenge');
        const ch = decodeServerFrame(raw.frames[0]!) as { challenge: Uint8Array };
        return { dev, raw, ch };
      }
      const closeCode = async (raw: { closed: Promise<CloseEvent> }) => (await raw.closed).code;
      const lastError = (frames: Uint8Array[]) => {
        const f = decodeServerFrame(frames[frames.length - 1]!);
        return f.type === 'error' ? f.code : f.type;
      };

      test(`${factory.name}: closes with 1008 on a bad signature`, async () => {
        const { dev, raw } = await authed('sig');
        raw.ws.send(
          encodeClientFrame({
            type: 'auth',
            username: dev.username,
            deviceId: dev.deviceId,
            signature: new Uint8Array(64),
          }),
        );
        assert.equal(await closeCode(raw), CLOSE.policyViolation);
        assert.equal(lastError(raw.frames), 'AUTH_SIGNATURE_INVALID');
      });

      test(`${factory.name}: closes with 1008 on a replayed signature from another connection`, async () => {
        const { dev, raw, ch } = await authed('replay');
        const sig = crypto.ed25519.sign(
          dev.deviceSeed,
          wsAuthStatement(ch.challenge, node.host, parseUsername(dev.username), dev.deviceId),
        );
        raw.ws.send(
          encodeClientFrame({ type: 'auth', username: dev.username, deviceId: dev.deviceId, signature: sig }),
        );
        await eventually(() => raw.frames.length >= 2, 5000, 'ready');
        raw.ws.close();
        const again = await rawSocket(node.url);
        again.ws.send(
          encodeClientFrame({ type: 'auth', username: dev.username, deviceId: dev.deviceId, signature: sig }),
        );
        assert.equal(await closeCode(again), CLOSE.policyViolation);
      });

      test(`${factory.name}: closes with 1008 for an unknown device`, async () => {
        const raw = await rawSocket(node.url);
        raw.ws.send(
          encodeClientFrame({
            type: 'auth',
            username: 'nobody',
            deviceId: new Uint8Array(8),
            signature: new Uint8Array(64),
          }),
        );
        assert.equal(await closeCode(raw), CLOSE.policyViolation);
      });

      test(`${factory.name}: closes with 1002 on a malformed frame`, async () => {
        for (const bad of [new Uint8Array([0x7f]), new Uint8Array([FRAME.send, 1, 2]), new Uint8Array(0)]) {
          const raw = await rawSocket(node.url);
          raw.ws.send(bad);
          assert.equal(await closeCode(raw), CLOSE.protocolError);
        }
        const raw = await rawSocket(node.url);
        raw.ws.send('text frame');
        assert.equal(await closeCode(raw), CLOSE.protocolError);
      });

      test(`${factory.name}: closes with 1009 on a frame over the limit`, async () => {
        const raw = await rawSocket(node.url);
        raw.ws.send(new Uint8Array(LIMITS.wsFrameMaxBytes + 1));
        assert.equal(await closeCode(raw), CLOSE.tooBig);
      });

      test(`${factory.name}: refuses a payload over the message limit and stores nothing`, async () => {
        const { dev, raw, ch } = await authed('huge');
        const sig = crypto.ed25519.sign(
          dev.deviceSeed,
          wsAuthStatement(ch.challenge, node.host, parseUsername(dev.username), dev.deviceId),
        );
        raw.ws.send(
          encodeClientFrame({ type: 'auth', username: dev.username, deviceId: dev.deviceId, signature: sig }),
        );
        await eventually(() => raw.frames.length >= 2, 5000, 'ready');
        // Hand-built SEND whose payload length prefix is one byte over the limit.
        const frame = new Writer()
          .u8(FRAME.send)
          .u32(1)
          .fixed(crypto.randomBytes(16))
          .u32(0)
          .vector([dev.address], (w, a) => w.string(a.username).fixed(a.deviceId))
          .opaque(new Uint8Array(LIMITS.messageMaxBytes + 1))
          .finish();
        raw.ws.send(frame);
        assert.equal(await closeCode(raw), CLOSE.protocolError);
        assert.equal(lastError(raw.frames), 'CODEC_LENGTH_LIMIT');
        const pk = (
          await store.resolveDevices([{ username: parseUsername(dev.username), deviceId: dev.deviceId }])
        )[0]!;
        assert.equal((await store.fetchMail(pk, 0, 10, Math.floor(clock / 1000))).length, 0);
      });

      test(`${factory.name}: closes an unauthenticated socket that sends SEND first`, async () => {
        const raw = await rawSocket(node.url);
        raw.ws.send(
          encodeClientFrame({
            type: 'send',
            requestId: 1,
            messageId: new Uint8Array(16),
            ttlSecs: 0,
            recipients: [],
            payload: new Uint8Array(1),
          }),
        );
        assert.equal(await closeCode(raw), CLOSE.protocolError);
        assert.equal(lastError(raw.frames), 'UNEXPECTED_FRAME');
      });
    });
  });
}
