/**
 * Both CryptoProviders against the shared vectors (test/vectors/crypto-provider.json), against each
 * other on random inputs, and against hostile arguments.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { sign as opensslSign, verify as opensslVerify, createPublicKey } from 'node:crypto';
import fc from 'fast-check';
import { ed25519 as nobleEd25519 } from '@noble/curves/ed25519.js';
import { sha512 as nobleSha512 } from '@noble/hashes/sha2.js';
import { nodeCryptoProvider } from './crypto-provider.ts';
import { nobleCryptoProvider } from '../src/crypto/noble-provider.ts';
import { fromHex, toHex, concatBytes } from '../src/bytes/encoding.ts';
import { SealpostError } from '../src/errors.ts';
import type { CryptoProvider } from '../src/crypto/provider.ts';

interface Vectors {
  sha256: { name: string; input: string; output: string }[];
  sha512: { name: string; input: string; output: string }[];
  hmacSha256: { name: string; key: string; data: string; mac: string }[];
  hkdfSha256: { name: string; ikm: string; salt: string; info: string; length: number; okm: string }[];
  ed25519: { name: string; seed: string; publicKey: string; message: string; signature: string }[];
  ed25519Invalid: { name: string; publicKey: string; message: string; signature: string }[];
  x25519: { name: string; scalar: string; u: string; output: string }[];
  x25519PublicKey: { name: string; privateKey: string; publicKey: string }[];
  x25519SmallOrder: { name: string; scalar: string; u: string }[];
  aes256gcm: { name: string; key: string; nonce: string; plaintext: string; aad: string; sealed: string }[];
  aes256gcmInvalid: { name: string; key: string; nonce: string; aad: string; sealed: string }[];
}

const vectors = JSON.parse(
  readFileSync(new URL('../test/vectors/crypto-provider.json', import.meta.url), 'utf8'),
) as Vectors;
const hex = (s: string): Uint8Array => fromHex(s, s.length);

const PROVIDERS: readonly CryptoProvider[] = [nobleCryptoProvider, nodeCryptoProvider];

function assertCryptoFailure(fn: () => unknown): void {
  assert.throws(fn, (e: unknown) => e instanceof SealpostError && e.code === 'CRYPTO_VERIFICATION_FAILED');
}

for (const p of PROVIDERS) {
  describe(`${p.name} provider on the shared vectors`, () => {
    for (const v of vectors.sha256) {
      test(`${p.name}: computes ${v.name}`, () => assert.equal(toHex(p.sha256(hex(v.input))), v.output));
    }
    for (const v of vectors.sha512) {
      test(`${p.name}: computes ${v.name}`, () => assert.equal(toHex(p.sha512(hex(v.input))), v.output));
    }
    for (const v of vectors.hmacSha256) {
      test(`${p.name}: computes HMAC-SHA256 of ${v.name}`, () =>
        assert.equal(toHex(p.hmacSha256(hex(v.key), hex(v.data))), v.mac));
    }
    for (const v of vectors.hkdfSha256) {
      test(`${p.name}: derives HKDF-SHA256 of ${v.name}`, () =>
        assert.equal(toHex(p.hkdfSha256(hex(v.ikm), hex(v.salt), hex(v.info), v.length)), v.okm));
    }
    for (const v of vectors.ed25519) {
      test(`${p.name}: derives the Ed25519 public key of ${v.name}`, () =>
        assert.equal(toHex(p.ed25519.publicKey(hex(v.seed))), v.publicKey));
      test(`${p.name}: signs ${v.name} byte for byte`, () =>
        assert.equal(toHex(p.ed25519.sign(hex(v.seed), hex(v.message))), v.signature));
      test(`${p.name}: accepts the signature of ${v.name}`, () =>
        assert.equal(p.ed25519.verify(hex(v.publicKey), hex(v.message), hex(v.signature)), true));
    }
    for (const v of vectors.ed25519Invalid) {
      test(`${p.name}: rejects ${v.name}`, () =>
        assert.equal(p.ed25519.verify(hex(v.publicKey), hex(v.message), hex(v.signature)), false));
    }
    for (const v of vectors.x25519) {
      test(`${p.name}: computes X25519 of ${v.name}`, () =>
        assert.equal(toHex(p.x25519.sharedSecret(hex(v.scalar), hex(v.u))), v.output));
    }
    for (const v of vectors.x25519PublicKey) {
      test(`${p.name}: derives X25519 ${v.name}`, () =>
        assert.equal(toHex(p.x25519.publicKey(hex(v.privateKey))), v.publicKey));
    }
    for (const v of vectors.x25519SmallOrder) {
      test(`${p.name}: refuses ${v.name}`, () =>
        assertCryptoFailure(() => p.x25519.sharedSecret(hex(v.scalar), hex(v.u))));
    }
    for (const v of vectors.aes256gcm) {
      test(`${p.name}: seals ${v.name} byte for byte`, () =>
        assert.equal(
          toHex(p.aes256gcm.seal(hex(v.key), hex(v.nonce), hex(v.plaintext), hex(v.aad))),
          v.sealed,
        ));
      test(`${p.name}: opens ${v.name}`, () =>
        assert.equal(
          toHex(p.aes256gcm.open(hex(v.key), hex(v.nonce), hex(v.sealed), hex(v.aad))),
          v.plaintext,
        ));
    }
    for (const v of vectors.aes256gcmInvalid) {
      test(`${p.name}: refuses to open ${v.name}`, () =>
        assertCryptoFailure(() => p.aes256gcm.open(hex(v.key), hex(v.nonce), hex(v.sealed), hex(v.aad))));
    }
  });
}

describe('Ed25519 small-order public keys', () => {
  // The eight points of order dividing 8: multiples of one point of order 8 (RFC 8032 §5.1: cofactor 8).
  const order8 = nobleEd25519.Point.fromBytes(
    hex(vectors.ed25519Invalid.find((v) => v.name.includes('order 8'))!.publicKey),
  );
  const torsion = Array.from({ length: 8 }, (_, i) => order8.multiplyUnsafe(BigInt(i + 1)));
  const L = nobleEd25519.Point.Fn.ORDER;
  const identity = nobleEd25519.Point.ZERO.toBytes();

  /**
   * A message for which R = identity, S = 0 satisfies the cofactorless equation [S]B = R + [k]A:
   * k = SHA-512(R || A || M) mod L must be a multiple of 8 so that [k]A is the identity.
   */
  function universalForgery(a: Uint8Array): { message: Uint8Array; signature: Uint8Array } {
    for (let i = 0; ; i++) {
      const message = new TextEncoder().encode(`forged ${i}`);
      const h = nobleSha512(concatBytes(identity, a, message));
      let k = 0n;
      for (let j = h.length - 1; j >= 0; j--) k = (k << 8n) | BigInt(h[j]!);
      if ((k % L) % 8n === 0n) return { message, signature: concatBytes(identity, new Uint8Array(32)) };
    }
  }

  test('the eight torsion points are distinct and all of small order', () => {
    assert.equal(new Set(torsion.map((t) => toHex(t.toBytes()))).size, 8);
    for (const t of torsion) assert.equal(t.isSmallOrder(), true);
  });

  test('node:crypto alone accepts a forged signature under the identity key (why the provider pre-checks)', () => {
    const a = identity;
    const { message, signature } = universalForgery(a);
    const key = createPublicKey({
      key: Buffer.concat([Buffer.from('302a300506032b6570032100', 'hex'), a]),
      format: 'der',
      type: 'spki',
    });
    assert.equal(opensslVerify(null, message, key, signature), true);
  });

  for (const p of PROVIDERS) {
    test(`${p.name}: rejects a forged signature under each of the eight small-order public keys`, () => {
      for (const t of torsion) {
        const a = t.toBytes();
        const { message, signature } = universalForgery(a);
        assert.equal(p.ed25519.verify(a, message, signature), false, `public key ${toHex(a)}`);
      }
    });
  }
});

describe('noble and node:crypto providers agree on random inputs', () => {
  const bytes = (min: number, max: number) => fc.uint8Array({ minLength: min, maxLength: max });
  const key32 = bytes(32, 32);
  const runs = { numRuns: 60 };
  const n = nodeCryptoProvider;
  const b = nobleCryptoProvider;

  test('give equal SHA-256 and SHA-512 digests', () => {
    fc.assert(
      fc.property(bytes(0, 300), (d) => {
        assert.deepEqual(n.sha256(d), b.sha256(d));
        assert.deepEqual(n.sha512(d), b.sha512(d));
      }),
      runs,
    );
  });

  test('give equal HMAC-SHA256 for keys shorter and longer than a block', () => {
    fc.assert(
      fc.property(bytes(0, 200), bytes(0, 300), (k, d) =>
        assert.deepEqual(n.hmacSha256(k, d), b.hmacSha256(k, d)),
      ),
      runs,
    );
  });

  test('give equal HKDF-SHA256 output, including info over 1024 bytes and the maximum length', () => {
    fc.assert(
      fc.property(
        bytes(0, 80),
        bytes(0, 80),
        bytes(0, 1100),
        fc.integer({ min: 1, max: 255 * 32 }),
        (ikm, salt, info, len) =>
          assert.deepEqual(n.hkdfSha256(ikm, salt, info, len), b.hkdfSha256(ikm, salt, info, len)),
      ),
      { numRuns: 30 },
    );
  });

  test('give equal Ed25519 keys and signatures, and each verifies the other', () => {
    fc.assert(
      fc.property(key32, bytes(0, 300), (seed, msg) => {
        const pub = n.ed25519.publicKey(seed);
        assert.deepEqual(pub, b.ed25519.publicKey(seed));
        const sig = n.ed25519.sign(seed, msg);
        assert.deepEqual(sig, b.ed25519.sign(seed, msg));
        assert.equal(n.ed25519.verify(pub, msg, sig), true);
        assert.equal(b.ed25519.verify(pub, msg, sig), true);
      }),
      runs,
    );
  });

  test('both reject an Ed25519 signature with any one bit flipped', () => {
    fc.assert(
      fc.property(key32, bytes(0, 64), fc.integer({ min: 0, max: 64 * 8 - 1 }), (seed, msg, bit) => {
        const pub = b.ed25519.publicKey(seed);
        const sig = b.ed25519.sign(seed, msg);
        sig[bit >> 3]! ^= 1 << (bit & 7);
        assert.equal(n.ed25519.verify(pub, msg, sig), false);
        assert.equal(b.ed25519.verify(pub, msg, sig), false);
      }),
      runs,
    );
  });

  test('give the same Ed25519 verdict on random keys and signatures', () => {
    fc.assert(
      fc.property(key32, bytes(0, 64), bytes(64, 64), (pub, msg, sig) =>
        assert.equal(n.ed25519.verify(pub, msg, sig), b.ed25519.verify(pub, msg, sig)),
      ),
      runs,
    );
  });

  test('give equal X25519 public keys and shared secrets', () => {
    fc.assert(
      fc.property(key32, key32, (priv, u) => {
        assert.deepEqual(n.x25519.publicKey(priv), b.x25519.publicKey(priv));
        assert.deepEqual(n.x25519.sharedSecret(priv, u), b.x25519.sharedSecret(priv, u));
      }),
      runs,
    );
  });

  test('give equal AES-256-GCM ciphertexts, and each opens the other', () => {
    fc.assert(
      fc.property(key32, bytes(12, 12), bytes(0, 300), bytes(0, 64), (key, nonce, pt, aad) => {
        const sealed = n.aes256gcm.seal(key, nonce, pt, aad);
        assert.deepEqual(sealed, b.aes256gcm.seal(key, nonce, pt, aad));
        assert.deepEqual(b.aes256gcm.open(key, nonce, sealed, aad), pt);
        assert.deepEqual(n.aes256gcm.open(key, nonce, sealed, aad), pt);
      }),
      runs,
    );
  });

  test('give the same timingSafeEqual answer as byte equality', () => {
    fc.assert(
      fc.property(bytes(0, 8), bytes(0, 8), (x, y) => {
        const want = toHex(x) === toHex(y);
        assert.equal(n.timingSafeEqual(x, y), want);
        assert.equal(b.timingSafeEqual(x, y), want);
        assert.equal(n.timingSafeEqual(x, x.slice()), true);
        assert.equal(b.timingSafeEqual(x, x.slice()), true);
      }),
      runs,
    );
  });

  test('produce random bytes of the asked length that differ between calls', () => {
    for (const p of PROVIDERS) {
      assert.equal(p.randomBytes(0).length, 0);
      const a = p.randomBytes(32);
      assert.equal(a.length, 32);
      assert.notDeepEqual(a, p.randomBytes(32));
    }
  });

  test('hand out small random values (pooled in node) once each, each in its own array', () => {
    const seen = new Set<string>();
    const lengths = [12, 1, 64, 33, 12, 7];
    for (let i = 0; i < 5000; i++) {
      const length = lengths[i % lengths.length]!;
      const r = nodeCryptoProvider.randomBytes(length);
      assert.equal(r.length, length);
      assert.equal(r.buffer.byteLength, length, 'a copy, not a view into the pool');
      if (length >= 12) {
        const hex = Buffer.from(r).toString('hex');
        assert.ok(!seen.has(hex), `value ${i} repeated`);
        seen.add(hex);
      }
    }
    // The pool's bytes are not all zeros (it was filled) and a value taken is wiped from it: a
    // value changed by its holder does not change a later one.
    const x = nodeCryptoProvider.randomBytes(12);
    x.fill(0);
    assert.notDeepEqual(nodeCryptoProvider.randomBytes(12), new Uint8Array(12));
  });
});

describe('hostile arguments', () => {
  const HOSTILE: readonly unknown[] = [
    undefined,
    null,
    true,
    false,
    0,
    1,
    -1,
    1.5,
    NaN,
    Infinity,
    -Infinity,
    2 ** 53,
    1e9,
    0n,
    32n,
    '',
    'abc',
    '00'.repeat(32),
    Symbol('hostile'),
    {},
    { length: 32 },
    [],
    new Array(32).fill(0),
    () => new Uint8Array(32),
    new Date(0),
    new ArrayBuffer(32),
    new DataView(new ArrayBuffer(32)),
    new Uint16Array(16),
    new Int8Array(32),
    new Uint8ClampedArray(32),
    new Float64Array(4),
    new Uint8Array(0),
    new Uint8Array(1),
    new Uint8Array(11),
    new Uint8Array(31),
    new Uint8Array(33),
    new Uint8Array(63),
    new Uint8Array(65),
    Object.create(null),
  ];

  /** Valid arguments for every function, each position then replaced by every hostile value. */
  function calls(p: CryptoProvider): { name: string; args: unknown[]; fn: (...a: unknown[]) => unknown }[] {
    const seed = new Uint8Array(32).fill(7);
    const msg = new Uint8Array([1, 2, 3]);
    const key = new Uint8Array(32).fill(9);
    const nonce = new Uint8Array(12).fill(3);
    const sealed = p.aes256gcm.seal(key, nonce, msg, msg);
    const xpub = p.x25519.publicKey(seed);
    const call = (f: (...a: never[]) => unknown) => f as unknown as (...a: unknown[]) => unknown;
    return [
      { name: 'randomBytes', args: [16], fn: call(p.randomBytes) },
      { name: 'sha256', args: [msg], fn: call(p.sha256) },
      { name: 'sha512', args: [msg], fn: call(p.sha512) },
      { name: 'hmacSha256', args: [key, msg], fn: call(p.hmacSha256) },
      { name: 'hkdfSha256', args: [key, msg, msg, 32], fn: call(p.hkdfSha256) },
      { name: 'ed25519.publicKey', args: [seed], fn: call(p.ed25519.publicKey) },
      { name: 'ed25519.sign', args: [seed, msg], fn: call(p.ed25519.sign) },
      { name: 'x25519.publicKey', args: [seed], fn: call(p.x25519.publicKey) },
      { name: 'x25519.sharedSecret', args: [seed, xpub], fn: call(p.x25519.sharedSecret) },
      { name: 'aes256gcm.seal', args: [key, nonce, msg, msg], fn: call(p.aes256gcm.seal) },
      { name: 'aes256gcm.open', args: [key, nonce, sealed, msg], fn: call(p.aes256gcm.open) },
    ];
  }

  /** A value a function may accept in place of a valid argument: bytes or an integer in range. */
  const acceptable = (v: unknown): boolean =>
    v instanceof Uint8Array || (Number.isInteger(v) && (v as number) >= 0);

  for (const p of PROVIDERS) {
    test(`${p.name}: every function answers hostile arguments with a typed error, never an untyped exception`, () => {
      for (const c of calls(p)) {
        for (let i = 0; i < c.args.length; i++) {
          for (const h of HOSTILE) {
            const args = c.args.slice();
            args[i] = h;
            let result: unknown;
            try {
              result = c.fn(...args);
            } catch (e) {
              assert.ok(e instanceof SealpostError, `${c.name} argument ${i}: ${String(e)}`);
              continue;
            }
            assert.ok(acceptable(h), `${c.name} argument ${i} accepted a ${typeof h}`);
            assert.ok(result instanceof Uint8Array, `${c.name} returned a non-byte result`);
          }
        }
      }
    });

    test(`${p.name}: verify and timingSafeEqual answer false to every hostile argument`, () => {
      const seed = new Uint8Array(32).fill(5);
      const msg = new Uint8Array([4, 5, 6]);
      const pub = p.ed25519.publicKey(seed);
      const sig = p.ed25519.sign(seed, msg);
      assert.equal(p.ed25519.verify(pub, msg, sig), true);
      const ones = new Uint8Array(32).fill(1);
      for (const h of HOSTILE) {
        assert.equal(p.ed25519.verify(h as Uint8Array, msg, sig), false);
        assert.equal(p.ed25519.verify(pub, h as Uint8Array, sig), false);
        assert.equal(p.ed25519.verify(pub, msg, h as Uint8Array), false);
        assert.equal(p.timingSafeEqual(h as Uint8Array, ones), false);
        assert.equal(p.timingSafeEqual(ones, h as Uint8Array), false);
      }
    });
  }

  test('errors for a bad secret argument do not carry its bytes', () => {
    const secret = new Uint8Array(31).fill(0xab);
    for (const p of PROVIDERS) {
      try {
        p.ed25519.sign(secret, new Uint8Array(1));
        assert.fail('expected an error');
      } catch (e) {
        assert.ok(e instanceof SealpostError);
        assert.equal(e.code, 'VALIDATION_FAILED');
        assert.doesNotMatch(JSON.stringify(e.toJSON()) + e.message, /abab|171,171/i);
      }
    }
  });
});

test('node provider signs with a key object built from the seed (matches OpenSSL directly)', () => {
  const v = vectors.ed25519[0]!;
  const key = {
    key: Buffer.concat([Buffer.from('302e020100300506032b657004220420', 'hex'), hex(v.seed)]),
    format: 'der',
    type: 'pkcs8',
  } as const;
  assert.equal(toHex(opensslSign(null, hex(v.message), key)), v.signature);
  // A second call with a new array holding the same seed hits the cache and gives the same answer.
  assert.equal(toHex(nodeCryptoProvider.ed25519.sign(hex(v.seed), hex(v.message))), v.signature);
  assert.equal(toHex(nodeCryptoProvider.ed25519.sign(hex(v.seed), hex(v.message))), v.signature);
});

test('node provider does not serve a stale key after the caller reuses a seed array for another seed', () => {
  const seed = hex(vectors.ed25519[0]!.seed);
  assert.equal(toHex(nodeCryptoProvider.ed25519.publicKey(seed)), vectors.ed25519[0]!.publicKey);
  seed.set(hex(vectors.ed25519[1]!.seed));
  assert.equal(toHex(nodeCryptoProvider.ed25519.publicKey(seed)), vectors.ed25519[1]!.publicKey);
});

describe('AES-256-GCM sealInto (node provider)', () => {
  const gcm = nodeCryptoProvider.aes256gcm;
  const key = new Uint8Array(32).fill(5);
  const nonce = new Uint8Array(12).fill(6);
  const aad = new Uint8Array([1, 2, 3]);

  test('sealing parts into a buffer gives seal() of their concatenation', () => {
    fc.assert(
      fc.property(
        fc.array(fc.uint8Array({ maxLength: 200 }), { maxLength: 5 }),
        fc.nat({ max: 32 }),
        (parts, at) => {
          const want = gcm.seal(key, nonce, concatBytes(...parts), aad);
          const out = new Uint8Array(at + want.length);
          assert.equal(gcm.sealInto!(key, nonce, parts, aad, out, at), want.length);
          assert.deepEqual(out.subarray(at), want);
          assert.deepEqual(gcm.open(key, nonce, out.subarray(at), aad), concatBytes(...parts));
        },
      ),
      { numRuns: 100 },
    );
  });

  test('refuses a buffer one byte too short, writing nothing', () => {
    const out = new Uint8Array(10 + 16 - 1);
    assert.throws(() => gcm.sealInto!(key, nonce, [new Uint8Array(10)], aad, out, 0), SealpostError);
    assert.ok(out.every((b) => b === 0));
  });
});
