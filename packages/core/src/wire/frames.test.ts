// Tests run under Node: node:test and node:assert are the only node:* imports, and only here.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  decodeClientFrame,
  decodeServerFrame,
  encodeClientFrame,
  encodeServerFrame,
  FRAME,
  type ClientFrame,
  type ServerFrame,
} from './frames.ts';
import { CodecError, ERRORS, type ErrorCode } from '../errors.ts';
import { LIMITS } from '../limits.ts';

function assertCodecError(fn: () => unknown, code: ErrorCode): void {
  assert.throws(fn, (e: unknown) => e instanceof CodecError && e.code === code);
}

const utf8Length = (s: string) => new TextEncoder().encode(s).length;
const bytes = (n: number) => fc.uint8Array({ minLength: n, maxLength: n });
const u32 = fc.integer({ min: 0, max: 0xffffffff });
/** Any well-formed Unicode of at most `maxBytes` UTF-8 bytes (the decoder bounds bytes, not characters). */
const text = (maxBytes: number) =>
  fc.string({ unit: 'grapheme', maxLength: maxBytes }).filter((s) => utf8Length(s) <= maxBytes);
const username = text(LIMITS.usernameMaxLength);
const payload = fc.uint8Array({ maxLength: 2048 });
const address = fc.record({ username, deviceId: bytes(LIMITS.deviceIdBytes) });

const clientFrame: fc.Arbitrary<ClientFrame> = fc.oneof(
  fc.record({
    type: fc.constant('auth' as const),
    username,
    deviceId: bytes(LIMITS.deviceIdBytes),
    signature: bytes(LIMITS.signatureBytes),
  }),
  fc.record({
    type: fc.constant('send' as const),
    requestId: u32,
    messageId: bytes(LIMITS.messageIdBytes),
    ttlSecs: u32,
    recipients: fc.array(fc.record({ username, deviceId: bytes(LIMITS.deviceIdBytes) }), { maxLength: 8 }),
    payload,
  }),
  fc.record({ type: fc.constant('ack' as const), seqs: fc.array(fc.maxSafeNat(), { maxLength: 40 }) }),
  fc.record({
    type: fc.constant('key-packages-add' as const),
    requestId: u32,
    keyPackages: fc.array(fc.uint8Array({ minLength: 1, maxLength: 300 }), {
      maxLength: LIMITS.keyPackagesPerUpload,
    }),
    lastResort: fc.uint8Array({ maxLength: 300 }),
  }),
  fc.record(
    {
      type: fc.constant('key-packages-claim' as const),
      requestId: u32,
      username,
      deviceIds: fc.array(bytes(LIMITS.deviceIdBytes), { maxLength: LIMITS.devicesPerAccount }),
    },
    { requiredKeys: ['type', 'requestId', 'username'] },
  ),
  fc.record({ type: fc.constant('key-packages-count' as const), requestId: u32 }),
  fc.record({
    type: fc.constant('commit' as const),
    requestId: u32,
    messageId: bytes(LIMITS.messageIdBytes),
    ttlSecs: u32,
    groupId: fc.uint8Array({ maxLength: LIMITS.mlsGroupIdMaxBytes }),
    epoch: fc.maxSafeNat(),
    recipients: fc.array(address, { maxLength: 8 }),
    payload,
  }),
  fc.record({
    type: fc.constant('commit' as const),
    requestId: u32,
    messageId: bytes(LIMITS.messageIdBytes),
    ttlSecs: u32,
    groupId: fc.uint8Array({ maxLength: LIMITS.mlsGroupIdMaxBytes }),
    epoch: fc.maxSafeNat(),
    recipients: fc.array(address, { maxLength: 8 }),
    payload,
    welcome: fc.record({
      messageId: bytes(LIMITS.messageIdBytes),
      recipients: fc.array(address, { maxLength: 8 }),
      payload,
    }),
  }),
);

const serverFrame: fc.Arbitrary<ServerFrame> = fc.oneof(
  fc.record({ type: fc.constant('challenge' as const), challenge: bytes(LIMITS.challengeBytes) }),
  fc.record({ type: fc.constant('ready' as const), inFlightMax: u32, messageMaxBytes: u32 }),
  fc.record({
    type: fc.constant('deliver' as const),
    seq: fc.maxSafeNat(),
    messageId: bytes(LIMITS.messageIdBytes),
    payload,
  }),
  fc.record({ type: fc.constant('sent' as const), requestId: u32, duplicate: fc.boolean() }),
  fc.record({
    type: fc.constant('error' as const),
    requestId: u32,
    code: fc.constantFrom(...(Object.keys(ERRORS) as ErrorCode[])),
    // The encoder keeps the first 256 UTF-16 units; within that a message survives unchanged.
    message: fc.string({ unit: 'grapheme', maxLength: 64 }).filter((s) => s.length <= 256),
    retryAfterSecs: u32,
  }),
  fc.record({
    type: fc.constant('key-package-stock' as const),
    requestId: u32,
    oneTime: u32,
    hasLastResort: fc.boolean(),
  }),
  fc.record({
    type: fc.constant('key-packages' as const),
    requestId: u32,
    keyPackages: fc.array(
      fc.record({ deviceId: bytes(LIMITS.deviceIdBytes), keyPackage: fc.uint8Array({ maxLength: 300 }) }),
      { maxLength: LIMITS.devicesPerAccount },
    ),
  }),
  fc.record({
    type: fc.constant('committed' as const),
    requestId: u32,
    epoch: fc.maxSafeNat(),
    duplicate: fc.boolean(),
  }),
  fc.record({ type: fc.constant('epoch-conflict' as const), requestId: u32, currentEpoch: fc.maxSafeNat() }),
  fc.record({ type: fc.constant('caught-up' as const), seq: fc.maxSafeNat() }),
);

/** fast-check builds records without a prototype; a structured clone gives plain objects to compare. */
const plain = <T>(x: T): T => structuredClone(x);

const encodedClient = clientFrame.map(encodeClientFrame);
const encodedServer = serverFrame.map(encodeServerFrame);

describe('frame round trips', () => {
  test('every client frame decodes to itself', () => {
    fc.assert(
      fc.property(clientFrame, (f) => assert.deepEqual(decodeClientFrame(encodeClientFrame(f)), plain(f))),
      {
        numRuns: 500,
      },
    );
  });

  test('every server frame decodes to itself', () => {
    fc.assert(
      fc.property(serverFrame, (f) => assert.deepEqual(decodeServerFrame(encodeServerFrame(f)), plain(f))),
      {
        numRuns: 500,
      },
    );
  });

  test('each frame starts with its type byte from FRAME', () => {
    const first = (b: Uint8Array) => b[0];
    assert.equal(first(encodeClientFrame({ type: 'ack', seqs: [] })), FRAME.ack);
    assert.equal(first(encodeServerFrame({ type: 'sent', requestId: 1, duplicate: false })), FRAME.sent);
  });
});

describe('frame decoders are total', () => {
  test('random bytes give a client frame or a CodecError', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (b) => {
        try {
          decodeClientFrame(b);
        } catch (e) {
          assert.ok(e instanceof CodecError, String(e));
        }
      }),
      { numRuns: 3000 },
    );
  });

  test('random bytes give a server frame or a CodecError', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (b) => {
        try {
          decodeServerFrame(b);
        } catch (e) {
          assert.ok(e instanceof CodecError, String(e));
        }
      }),
      { numRuns: 3000 },
    );
  });

  test('random bytes after a valid type byte give a frame or a CodecError', () => {
    const types = Object.values(FRAME);
    fc.assert(
      fc.property(fc.constantFrom(...types), fc.uint8Array({ maxLength: 120 }), (t, rest) => {
        const b = new Uint8Array([t, ...rest]);
        for (const decode of [decodeClientFrame, decodeServerFrame]) {
          try {
            decode(b);
          } catch (e) {
            assert.ok(e instanceof CodecError, String(e));
          }
        }
      }),
      { numRuns: 3000 },
    );
  });

  test('every strict prefix of a valid client frame is rejected as truncated', () => {
    fc.assert(
      fc.property(encodedClient, fc.nat(), (enc, cut) => {
        assertCodecError(() => decodeClientFrame(enc.subarray(0, cut % enc.length)), 'CODEC_TRUNCATED');
        assertCodecError(() => decodeClientFrame(enc.subarray(0, enc.length - 1)), 'CODEC_TRUNCATED');
      }),
      { numRuns: 500 },
    );
  });

  test('every strict prefix of a valid server frame is rejected as truncated', () => {
    fc.assert(
      fc.property(encodedServer, fc.nat(), (enc, cut) => {
        assertCodecError(() => decodeServerFrame(enc.subarray(0, cut % enc.length)), 'CODEC_TRUNCATED');
        assertCodecError(() => decodeServerFrame(enc.subarray(0, enc.length - 1)), 'CODEC_TRUNCATED');
      }),
      { numRuns: 500 },
    );
  });

  test('a valid frame with one trailing byte is rejected', () => {
    fc.assert(
      fc.property(encodedClient, encodedServer, fc.integer({ min: 0, max: 255 }), (c, s, extra) => {
        assertCodecError(() => decodeClientFrame(new Uint8Array([...c, extra])), 'CODEC_TRAILING_BYTES');
        assertCodecError(() => decodeServerFrame(new Uint8Array([...s, extra])), 'CODEC_TRAILING_BYTES');
      }),
      { numRuns: 500 },
    );
  });
});

describe('frame limits', () => {
  /** A SEND frame written by hand, so the encoder's own checks do not stop it. */
  function rawSend(payloadLength: number): Uint8Array {
    const head = [FRAME.send, 0, 0, 0, 1, ...new Array(16).fill(7), 0, 0, 0, 60, 0];
    // payload length as a 4-byte varint (RFC 9420 §2.1.2), then that many bytes
    const len = [
      0x80 | (payloadLength >>> 24),
      (payloadLength >>> 16) & 0xff,
      (payloadLength >>> 8) & 0xff,
      payloadLength & 0xff,
    ];
    const out = new Uint8Array(head.length + len.length + payloadLength);
    out.set(head);
    out.set(len, head.length);
    return out;
  }

  test('a SEND payload of exactly LIMITS.messageMaxBytes is accepted', () => {
    const f = decodeClientFrame(rawSend(LIMITS.messageMaxBytes));
    assert.equal(f.type === 'send' && f.payload.length, LIMITS.messageMaxBytes);
  });

  test('a SEND payload one byte over LIMITS.messageMaxBytes is rejected with CODEC_LENGTH_LIMIT', () => {
    const over = rawSend(LIMITS.messageMaxBytes + 1);
    // The frame fits a WebSocket frame (room for a handshake): the SEND's own bound refuses it.
    assert.ok(over.length < LIMITS.wsFrameMaxBytes);
    assertCodecError(() => decodeClientFrame(over), 'CODEC_LENGTH_LIMIT');
  });

  test('an oversized payload length is rejected before the payload is read (header alone suffices)', () =>
    assertCodecError(
      () => decodeClientFrame(rawSend(LIMITS.messageMaxBytes + 1).subarray(0, 30)),
      'CODEC_LENGTH_LIMIT',
    ));

  test('a DELIVER payload over LIMITS.handshakeMaxBytes is rejected with CODEC_LENGTH_LIMIT', () => {
    const n = LIMITS.handshakeMaxBytes + 1;
    const head = [FRAME.deliver, 0, 0, 0, 0, 0, 0, 0, 1, ...new Array(16).fill(1)];
    const b = new Uint8Array([...head, 0x80 | (n >>> 24), (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff]);
    assertCodecError(() => decodeServerFrame(b), 'CODEC_LENGTH_LIMIT');
  });

  test('a DELIVER of a handshake message larger than LIMITS.messageMaxBytes round-trips', () => {
    const deliver = {
      type: 'deliver' as const,
      seq: 9,
      messageId: new Uint8Array(LIMITS.messageIdBytes).fill(5),
      payload: new Uint8Array(LIMITS.handshakeMaxBytes).fill(6),
    };
    const f = decodeServerFrame(encodeServerFrame(deliver));
    assert.equal(f.type === 'deliver' && f.payload.length, LIMITS.handshakeMaxBytes);
    assert.deepEqual(plain(f), plain(deliver));
  });

  test('a frame over LIMITS.wsFrameMaxBytes is rejected with CODEC_LENGTH_LIMIT', () => {
    const b = new Uint8Array(LIMITS.wsFrameMaxBytes + 1);
    b[0] = FRAME.ack;
    assertCodecError(() => decodeClientFrame(b), 'CODEC_LENGTH_LIMIT');
    assertCodecError(() => decodeServerFrame(b), 'CODEC_LENGTH_LIMIT');
  });

  test('an ACK with more than LIMITS.acksPerFrame sequence numbers is rejected', () => {
    const n = LIMITS.acksPerFrame + 1;
    const b = new Uint8Array([FRAME.ack, 0x40 | (n >> 8), n & 0xff]);
    assertCodecError(() => decodeClientFrame(b), 'CODEC_LENGTH_LIMIT');
  });

  test('a username over LIMITS.usernameMaxLength bytes is rejected', () => {
    const name = new TextEncoder().encode('a'.repeat(LIMITS.usernameMaxLength + 1));
    const b = new Uint8Array([FRAME.auth, name.length, ...name, ...new Array(8 + 64).fill(0)]);
    assertCodecError(() => decodeClientFrame(b), 'CODEC_LENGTH_LIMIT');
  });

  const messageId = new Uint8Array(LIMITS.messageIdBytes);
  const deviceId = new Uint8Array(LIMITS.deviceIdBytes);
  const refusedByEncoder: readonly [string, () => unknown][] = [
    [
      'an AUTH username longer than the decoder accepts',
      () =>
        encodeClientFrame({
          type: 'auth',
          username: 'é'.repeat(17),
          deviceId,
          signature: new Uint8Array(64),
        }),
    ],
    [
      'a SEND payload over LIMITS.messageMaxBytes',
      () =>
        encodeClientFrame({
          type: 'send',
          requestId: 1,
          messageId,
          ttlSecs: 60,
          recipients: [],
          payload: new Uint8Array(LIMITS.messageMaxBytes + 1),
        }),
    ],
    [
      'a SEND with more than LIMITS.recipientsPerSend recipients',
      () =>
        encodeClientFrame({
          type: 'send',
          requestId: 1,
          messageId,
          ttlSecs: 60,
          recipients: new Array(LIMITS.recipientsPerSend + 1).fill({ username: 'bob', deviceId }),
          payload: new Uint8Array(1),
        }),
    ],
    [
      'an ACK with more than LIMITS.acksPerFrame sequence numbers',
      () => encodeClientFrame({ type: 'ack', seqs: new Array(LIMITS.acksPerFrame + 1).fill(1) }),
    ],
    [
      'a DELIVER payload over LIMITS.handshakeMaxBytes',
      () =>
        encodeServerFrame({
          type: 'deliver',
          seq: 1,
          messageId,
          payload: new Uint8Array(LIMITS.handshakeMaxBytes + 1),
        }),
    ],
  ];
  for (const [what, encode] of refusedByEncoder) {
    test(`the encoder refuses ${what} (it would not decode)`, () =>
      assertCodecError(encode, 'CODEC_LENGTH_LIMIT'));
  }

  test('the encoder refuses ids and signatures of the wrong length', () => {
    assertCodecError(
      () =>
        encodeClientFrame({
          type: 'auth',
          username: 'alice',
          deviceId: new Uint8Array(7),
          signature: new Uint8Array(64),
        }),
      'CODEC_INVALID_VALUE',
    );
    assertCodecError(
      () => encodeServerFrame({ type: 'challenge', challenge: new Uint8Array(31) }),
      'CODEC_INVALID_VALUE',
    );
  });
});

describe('frame type checks', () => {
  test('a server frame type sent by a client is rejected as an unknown client frame', () =>
    assertCodecError(
      () => decodeClientFrame(encodeServerFrame({ type: 'sent', requestId: 1, duplicate: true })),
      'CODEC_INVALID_VALUE',
    ));

  test('a client frame type sent by a server is rejected as an unknown server frame', () =>
    assertCodecError(
      () => decodeServerFrame(encodeClientFrame({ type: 'ack', seqs: [] })),
      'CODEC_INVALID_VALUE',
    ));

  test('an ERROR frame with a code outside ERRORS is rejected', () => {
    const good = encodeServerFrame({
      type: 'error',
      requestId: 0,
      code: 'INTERNAL',
      message: '',
      retryAfterSecs: 0,
    });
    const bad = good.slice();
    bad[6] = 'X'.charCodeAt(0); // 'INTERNAL' -> 'IXTERNAL'
    assertCodecError(() => decodeServerFrame(bad), 'CODEC_INVALID_VALUE');
  });

  test('an ERROR message longer than the limit is cut by the encoder and still decodes', () => {
    const f = decodeServerFrame(
      encodeServerFrame({
        type: 'error',
        requestId: 3,
        code: 'RATE_LIMITED',
        message: 'x'.repeat(5000),
        retryAfterSecs: 2,
      }),
    );
    assert.equal(f.type === 'error' && f.message.length, 256);
  });
});

describe('MLS delivery frame limits', () => {
  /** A u32 written big-endian. */
  const be32 = (n: number) => [(n >>> 24) & 0xff, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff];
  /** A length as a 4-byte varint (RFC 9420 §2.1.2). */
  const len4 = (n: number) => [0x80 | (n >>> 24), (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff];

  test('a KeyPackage of exactly LIMITS.keyPackageMaxBytes is accepted, one byte more is refused', () => {
    const big = new Uint8Array(LIMITS.keyPackageMaxBytes);
    const f = decodeClientFrame(
      encodeClientFrame({ type: 'key-packages-add', requestId: 1, keyPackages: [big], lastResort: big }),
    );
    assert.equal(f.type === 'key-packages-add' && f.keyPackages[0]!.length, LIMITS.keyPackageMaxBytes);
    const over = LIMITS.keyPackageMaxBytes + 1;
    // one KeyPackage in the vector, its length prefix over the limit; the body need not follow
    const raw = new Uint8Array([FRAME.keyPackagesAdd, ...be32(1), ...len4(over + 4), ...len4(over)]);
    assertCodecError(() => decodeClientFrame(raw), 'CODEC_LENGTH_LIMIT');
    assertCodecError(
      () =>
        encodeClientFrame({
          type: 'key-packages-add',
          requestId: 1,
          keyPackages: [new Uint8Array(over)],
          lastResort: new Uint8Array(0),
        }),
      'CODEC_LENGTH_LIMIT',
    );
  });

  test('more than LIMITS.keyPackagesPerUpload KeyPackages in one frame are refused', () => {
    const many = Array.from({ length: LIMITS.keyPackagesPerUpload + 1 }, () => new Uint8Array([1]));
    assertCodecError(
      () =>
        encodeClientFrame({
          type: 'key-packages-add',
          requestId: 1,
          keyPackages: many,
          lastResort: many[0]!,
        }),
      'CODEC_LENGTH_LIMIT',
    );
    const body = many.flatMap((kp) => [1, ...kp]);
    const raw = new Uint8Array([FRAME.keyPackagesAdd, ...be32(1), body.length, ...body, 0]);
    assertCodecError(() => decodeClientFrame(raw), 'CODEC_LENGTH_LIMIT');
  });

  test('a full upload (limit of KeyPackages at their largest, plus the last-resort one) fits a frame', () => {
    const big = new Uint8Array(LIMITS.keyPackageMaxBytes);
    const frame = encodeClientFrame({
      type: 'key-packages-add',
      requestId: 1,
      keyPackages: Array.from({ length: LIMITS.keyPackagesPerUpload }, () => big),
      lastResort: big,
    });
    assert.ok(frame.length <= LIMITS.wsFrameMaxBytes);
    const answer = encodeServerFrame({
      type: 'key-packages',
      requestId: 1,
      keyPackages: Array.from({ length: LIMITS.devicesPerAccount }, () => ({
        deviceId: new Uint8Array(LIMITS.deviceIdBytes),
        keyPackage: big,
      })),
    });
    assert.ok(answer.length <= LIMITS.wsFrameMaxBytes);
  });

  test('a group id over LIMITS.mlsGroupIdMaxBytes is refused by both sides', () => {
    const commit = {
      type: 'commit' as const,
      requestId: 1,
      messageId: new Uint8Array(LIMITS.messageIdBytes),
      ttlSecs: 0,
      groupId: new Uint8Array(LIMITS.mlsGroupIdMaxBytes),
      epoch: 3,
      recipients: [],
      payload: new Uint8Array([1, 2, 3]),
    };
    const ok = encodeClientFrame(commit);
    assert.deepEqual(decodeClientFrame(ok), plain(commit));
    assertCodecError(
      () => encodeClientFrame({ ...commit, groupId: new Uint8Array(LIMITS.mlsGroupIdMaxBytes + 1) }),
      'CODEC_LENGTH_LIMIT',
    );
    const head = [FRAME.commit, ...be32(1), ...new Array(LIMITS.messageIdBytes).fill(0), ...be32(0)];
    const over = LIMITS.mlsGroupIdMaxBytes + 1; // a 2-byte varint (under 2^14)
    const raw = new Uint8Array([...head, 0x40 | (over >>> 8), over & 0xff]);
    assertCodecError(() => decodeClientFrame(raw), 'CODEC_LENGTH_LIMIT');
  });
});

describe('COMMIT with its Welcome (0x08) and claims of named devices (0x09)', () => {
  const messageId = new Uint8Array(LIMITS.messageIdBytes).fill(1);
  const deviceId = new Uint8Array(LIMITS.deviceIdBytes).fill(2);
  const commit = {
    type: 'commit' as const,
    requestId: 7,
    messageId,
    ttlSecs: 0,
    groupId: new Uint8Array([9]),
    epoch: 4,
    recipients: [{ username: 'bob', deviceId }],
    payload: new Uint8Array([1, 2, 3]),
  };
  const welcome = {
    messageId: new Uint8Array(LIMITS.messageIdBytes).fill(3),
    recipients: [],
    payload: new Uint8Array([4]),
  };
  const joiners = (n: number) => Array.from({ length: n }, (_, i) => ({ username: `u${i}`, deviceId }));

  test('a commit without a Welcome keeps the 0x07 bytes; with one it is 0x08 and its prefix is truncated', () => {
    const without = encodeClientFrame(commit);
    const withWelcome = encodeClientFrame({ ...commit, welcome });
    assert.equal(without[0], FRAME.commit);
    assert.equal(withWelcome[0], FRAME.commitWithWelcome);
    assert.deepEqual(withWelcome.subarray(1, without.length), without.subarray(1));
    // The 0x08 frame cut right after the commit's payload is not read as a commit without one.
    assertCodecError(() => decodeClientFrame(withWelcome.subarray(0, without.length)), 'CODEC_TRUNCATED');
  });

  test('the Welcome and the commit share LIMITS.recipientsPerSend recipients, on both sides', () => {
    const full = { ...commit, welcome: { ...welcome, recipients: joiners(LIMITS.recipientsPerSend - 1) } };
    const ok = decodeClientFrame(encodeClientFrame(full));
    assert.equal(ok.type === 'commit' && ok.welcome?.recipients.length, LIMITS.recipientsPerSend - 1);
    const over = { ...commit, welcome: { ...welcome, recipients: joiners(LIMITS.recipientsPerSend) } };
    assertCodecError(() => encodeClientFrame(over), 'CODEC_LENGTH_LIMIT');
    // The same frame written by hand: one more joiner than the commit's recipients leave room for.
    const head = encodeClientFrame({ ...commit, welcome: { ...welcome, recipients: [] } });
    const n = LIMITS.recipientsPerSend;
    const raw = new Uint8Array([...head.subarray(0, head.length - 3), 0x40 | (n >>> 8), n & 0xff]);
    assertCodecError(() => decodeClientFrame(raw), 'CODEC_LENGTH_LIMIT');
  });

  test('a 3 MiB commit with its Welcome (a large X-Wing group adding members) round-trips', () => {
    const big = {
      ...commit,
      payload: new Uint8Array(1024 * 1024).fill(7),
      welcome: { ...welcome, recipients: joiners(3), payload: new Uint8Array(2 * 1024 * 1024).fill(8) },
    };
    const f = decodeClientFrame(encodeClientFrame(big));
    assert.equal(f.type === 'commit' && f.payload.length + (f.welcome?.payload.length ?? 0), 3 * 1024 * 1024);
    assert.deepEqual(plain(f), plain(big));
  });

  test('the largest COMMIT frame (all limits at their maximum) fits LIMITS.wsFrameMaxBytes', () => {
    const longName = (i: number) => `${i}`.padStart(LIMITS.usernameMaxLength, 'u');
    const address = (i: number) => ({ username: longName(i), deviceId });
    const half = LIMITS.recipientsPerSend / 2;
    const frame = encodeClientFrame({
      ...commit,
      groupId: new Uint8Array(LIMITS.mlsGroupIdMaxBytes),
      recipients: Array.from({ length: half }, (_, i) => address(i)),
      payload: new Uint8Array(LIMITS.handshakeMaxBytes / 2),
      welcome: {
        ...welcome,
        recipients: Array.from({ length: half }, (_, i) => address(half + i)),
        payload: new Uint8Array(LIMITS.handshakeMaxBytes / 2),
      },
    });
    assert.ok(frame.length <= LIMITS.wsFrameMaxBytes, `${frame.length} > ${LIMITS.wsFrameMaxBytes}`);
    assert.equal(decodeClientFrame(frame).type, 'commit');
  });

  test('a commit and a Welcome that together pass LIMITS.handshakeMaxBytes are refused on both sides', () => {
    const half = new Uint8Array(LIMITS.handshakeMaxBytes / 2);
    const atLimit = encodeClientFrame({ ...commit, payload: half, welcome: { ...welcome, payload: half } });
    const f = decodeClientFrame(atLimit);
    assert.equal(f.type === 'commit' && f.welcome?.payload.length, half.length);
    assertCodecError(
      () =>
        encodeClientFrame({
          ...commit,
          payload: half,
          welcome: { ...welcome, payload: new Uint8Array(half.length + 1) },
        }),
      'CODEC_LENGTH_LIMIT',
    );
    // The same frame by hand: the Welcome's 4-byte length prefix one more, and one more byte.
    const over = new Uint8Array(atLimit.length + 1);
    over.set(atLimit);
    new DataView(over.buffer).setUint32(atLimit.length - half.length - 4, 0x80000000 | (half.length + 1));
    assertCodecError(() => decodeClientFrame(over), 'CODEC_LENGTH_LIMIT');
  });

  test('a Welcome over LIMITS.handshakeMaxBytes or with a short message id is refused by the encoder', () => {
    assertCodecError(
      () =>
        encodeClientFrame({
          ...commit,
          welcome: { ...welcome, payload: new Uint8Array(LIMITS.handshakeMaxBytes + 1) },
        }),
      'CODEC_LENGTH_LIMIT',
    );
    assertCodecError(
      () => encodeClientFrame({ ...commit, welcome: { ...welcome, messageId: new Uint8Array(8) } }),
      'CODEC_INVALID_VALUE',
    );
  });

  test('random bytes after the commit part of a 0x08 frame give a frame or a CodecError', () => {
    const head = encodeClientFrame(commit);
    head[0] = FRAME.commitWithWelcome;
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (rest) => {
        try {
          const f = decodeClientFrame(new Uint8Array([...head, ...rest]));
          assert.ok(f.type === 'commit' && f.welcome !== undefined);
        } catch (e) {
          assert.ok(e instanceof CodecError, String(e));
        }
      }),
      { numRuns: 3000 },
    );
  });

  test('a claim without device ids keeps the 0x05 bytes; more than LIMITS.devicesPerAccount ids are refused', () => {
    const all = encodeClientFrame({ type: 'key-packages-claim', requestId: 1, username: 'bob' });
    assert.equal(all[0], FRAME.keyPackagesClaim);
    assert.deepEqual(decodeClientFrame(all), { type: 'key-packages-claim', requestId: 1, username: 'bob' });
    const named = encodeClientFrame({
      type: 'key-packages-claim',
      requestId: 1,
      username: 'bob',
      deviceIds: [deviceId],
    });
    assert.equal(named[0], FRAME.keyPackagesClaimDevices);
    const many = Array.from({ length: LIMITS.devicesPerAccount + 1 }, () => deviceId);
    assertCodecError(
      () => encodeClientFrame({ type: 'key-packages-claim', requestId: 1, username: 'bob', deviceIds: many }),
      'CODEC_LENGTH_LIMIT',
    );
    const n = LIMITS.devicesPerAccount + 1;
    const raw = new Uint8Array([
      ...named.subarray(0, named.length - 1 - LIMITS.deviceIdBytes),
      n,
      ...many.flatMap((d) => [...d]),
    ]);
    assertCodecError(() => decodeClientFrame(raw), 'CODEC_LENGTH_LIMIT');
  });
});

describe('CAUGHT_UP (0x8a)', () => {
  test('CAUGHT_UP is the type byte and the seq as u53, and decodes to itself', () => {
    const enc = encodeServerFrame({ type: 'caught-up', seq: 300 });
    assert.deepEqual([...enc], [FRAME.caughtUp, 0, 0, 0, 0, 0, 0, 0x01, 0x2c]);
    assert.deepEqual(decodeServerFrame(enc), { type: 'caught-up', seq: 0x12c });
    assert.deepEqual(decodeServerFrame(encodeServerFrame({ type: 'caught-up', seq: 0 })), {
      type: 'caught-up',
      seq: 0,
    });
  });

  test('a CAUGHT_UP sent by a client is rejected as an unknown client frame', () =>
    assertCodecError(
      () => decodeClientFrame(encodeServerFrame({ type: 'caught-up', seq: 1 })),
      'CODEC_INVALID_VALUE',
    ));
});
