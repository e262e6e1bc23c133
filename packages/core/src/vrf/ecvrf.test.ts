/**
 * ECVRF-EDWARDS25519-SHA512-TAI against RFC 9381 Appendix B.3 (test/vectors/vrf/rfc9381-edwards25519-tai.json),
 * against the negative vectors beside it (each case with `wantErr`), on random keys, inputs and
 * proofs, and against hostile arguments.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import fc from 'fast-check';
import { ed25519 } from '@noble/curves/ed25519.js';
import { bytesToNumberLE } from '@noble/curves/utils.js';
import { sha512 } from '@noble/hashes/sha2.js';
import { fromHex, toHex } from '../bytes/encoding.ts';
import { CryptoVerificationError, SealpostError, ValidationError } from '../errors.ts';
import { LIMITS } from '../limits.ts';
import {
  ECVRF_SIZES,
  ecvrfIntermediatesForTests,
  ecvrfProofToHash,
  ecvrfProve,
  ecvrfPublicKey,
  ecvrfVerify,
} from './ecvrf.ts';

const VECTOR_DIR = new URL('../../test/vectors/vrf/', import.meta.url);
const RFC_FILE = 'rfc9381-edwards25519-tai.json';

interface RfcVector {
  name: string;
  SK: string;
  PK: string;
  alpha: string;
  x: string;
  ctr: number;
  H: string;
  kString: string;
  k: string;
  U: string;
  V: string;
  pi: string;
  beta: string;
}
interface NegativeCase {
  name: string;
  PK: string;
  alpha: string;
  pi: string;
  wantErr: string;
}

const hex = (s: string): Uint8Array => fromHex(s, s.length);
const readJson = (file: string): unknown => JSON.parse(readFileSync(new URL(file, VECTOR_DIR), 'utf8'));

const rfc = (readJson(RFC_FILE) as { vectors: RfcVector[] }).vectors;
const negativeFiles = readdirSync(VECTOR_DIR)
  .filter((f) => f.endsWith('.json') && f !== RFC_FILE)
  .sort();

function assertVerificationFailure(fn: () => unknown, message?: string): void {
  assert.throws(
    fn,
    (e: unknown) => e instanceof CryptoVerificationError && e.code === 'CRYPTO_VERIFICATION_FAILED',
    message,
  );
}

const Q = ed25519.Point.Fn.ORDER;

describe('ECVRF on RFC 9381 Appendix B.3', () => {
  test('the file holds all three examples (16, 17, 18)', () => {
    assert.deepEqual(
      rfc.map((v) => v.name),
      ['Example 16', 'Example 17', 'Example 18'],
    );
  });

  for (const v of rfc) {
    const sk = hex(v.SK);
    const alpha = hex(v.alpha);

    test(`${v.name}: the public key is PK`, () => {
      assert.equal(toHex(ecvrfPublicKey(sk)), v.PK);
    });

    test(`${v.name}: prove gives exactly pi`, () => {
      assert.equal(toHex(ecvrfProve(sk, alpha)), v.pi);
    });

    test(`${v.name}: proofToHash gives beta`, () => {
      assert.equal(toHex(ecvrfProofToHash(hex(v.pi))), v.beta);
    });

    test(`${v.name}: verify accepts pi and returns beta`, () => {
      assert.equal(toHex(ecvrfVerify(hex(v.PK), hex(v.pi), alpha)), v.beta);
    });

    test(`${v.name}: the intermediate values x, H, k, U = k*B and V = k*H`, () => {
      const got = ecvrfIntermediatesForTests(sk, alpha);
      assert.equal(toHex(got.x), v.x);
      assert.equal(toHex(got.H), v.H);
      assert.equal(toHex(got.kString), v.kString);
      assert.equal(toHex(got.k), v.k);
      assert.equal(toHex(got.U), v.U);
      assert.equal(toHex(got.V), v.V);
    });

    test(`${v.name}: k is k_string reduced mod q (§5.4.2.2 step 4)`, () => {
      assert.equal(bytesToNumberLE(hex(v.kString)) % Q, bytesToNumberLE(hex(v.k)));
    });

    test(`${v.name}: try_and_increment succeeds on ctr = ${v.ctr}`, () => {
      // Recomputes §5.4.1.1 steps 5.A-5.D by hand: every counter before ctr gives no point (or one
      // of small order); ctr gives the published H.
      for (let ctr = 0; ctr <= v.ctr; ctr++) {
        const hashString = sha512(Uint8Array.of(0x03, 0x01, ...hex(v.PK), ...alpha, ctr, 0x00));
        let point: InstanceType<typeof ed25519.Point> | undefined;
        try {
          point = ed25519.Point.fromBytes(hashString.subarray(0, 32), false).clearCofactor();
        } catch {
          point = undefined;
        }
        if (ctr < v.ctr) assert.ok(point === undefined || point.is0(), `ctr ${ctr} should fail`);
        else assert.equal(point && toHex(point.toBytes()), v.H);
      }
    });

    test(`${v.name}: prove leaves its arguments unchanged`, () => {
      const skCopy = sk.slice();
      const alphaCopy = alpha.slice();
      ecvrfProve(sk, alpha);
      assert.deepEqual(sk, skCopy);
      assert.deepEqual(alpha, alphaCopy);
    });
  }
});

describe('ECVRF negative vectors', () => {
  test('every negative file has cases, each with wantErr CRYPTO_VERIFICATION_FAILED', () => {
    assert.ok(negativeFiles.length >= 11, negativeFiles.join(', '));
    for (const file of negativeFiles) {
      const { cases } = readJson(file) as { cases: NegativeCase[] };
      assert.ok(cases.length > 0, file);
      for (const c of cases) assert.equal(c.wantErr, 'CRYPTO_VERIFICATION_FAILED', `${file}: ${c.name}`);
    }
  });

  for (const file of negativeFiles) {
    const { cases } = readJson(file) as { cases: NegativeCase[] };
    describe(file, () => {
      for (const c of cases) {
        test(`verify should reject ${c.name}`, () => {
          assertVerificationFailure(() => ecvrfVerify(hex(c.PK), hex(c.pi), hex(c.alpha)));
        });
      }
    });
  }

  // Proofs that do not decode (§5.4.4) have no beta either.
  for (const file of [
    'empty-proof.json',
    'truncated-proof.json',
    'trailing-garbage.json',
    'non-canonical-s.json',
    'gamma-not-on-curve.json',
  ]) {
    test(`proofToHash should reject every proof of ${file}`, () => {
      const { cases } = readJson(file) as { cases: NegativeCase[] };
      for (const c of cases) assertVerificationFailure(() => ecvrfProofToHash(hex(c.pi)), c.name);
    });
  }
});

const secretKeys = fc.uint8Array({ minLength: 32, maxLength: 32 });
const alphas = fc.uint8Array({ maxLength: 96 });
const example = rfc[0]!;

describe('ECVRF properties', () => {
  test('prove then verify returns proofToHash(pi) for random keys and alphas', () => {
    fc.assert(
      fc.property(secretKeys, alphas, (sk, alpha) => {
        const pi = ecvrfProve(sk, alpha);
        assert.equal(pi.length, ECVRF_SIZES.proof);
        const beta = ecvrfVerify(ecvrfPublicKey(sk), pi, alpha);
        assert.equal(beta.length, ECVRF_SIZES.output);
        assert.deepEqual(beta, ecvrfProofToHash(pi));
        assert.deepEqual(ecvrfProve(sk, alpha), pi, 'prove is deterministic');
      }),
      { numRuns: 60 },
    );
  });

  test('a proof does not verify for another alpha or under another key', () => {
    fc.assert(
      fc.property(secretKeys, secretKeys, alphas, alphas, (sk1, sk2, a1, a2) => {
        fc.pre(toHex(sk1) !== toHex(sk2) && toHex(a1) !== toHex(a2));
        const pi = ecvrfProve(sk1, a1);
        assertVerificationFailure(() => ecvrfVerify(ecvrfPublicKey(sk1), pi, a2));
        assertVerificationFailure(() => ecvrfVerify(ecvrfPublicKey(sk2), pi, a1));
      }),
      { numRuns: 30 },
    );
  });

  test('random 80-byte strings never verify and throw only CryptoVerificationError', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 80, maxLength: 80 }), alphas, (pi, alpha) => {
        assertVerificationFailure(() => ecvrfVerify(hex(example.PK), pi, alpha));
      }),
      { numRuns: 300 },
    );
  });

  test('random proofs with a valid Gamma and s < q never verify (they reach the challenge check)', () => {
    const gammas = secretKeys.map((sk) => ecvrfPublicKey(sk));
    const scalars = fc.uint8Array({ minLength: 32, maxLength: 32 }).map((s) => {
      const out = s.slice();
      out[31]! &= 0x0f; // below 2^252 < q
      return out;
    });
    const challenges = fc.uint8Array({ minLength: 16, maxLength: 16 });
    fc.assert(
      fc.property(gammas, challenges, scalars, alphas, (gamma, c, s, alpha) => {
        const pi = Uint8Array.of(...gamma, ...c, ...s);
        assertVerificationFailure(() => ecvrfVerify(hex(example.PK), pi, alpha));
      }),
      { numRuns: 100 },
    );
  });

  test('one flipped bit anywhere in a valid proof always fails', () => {
    fc.assert(
      fc.property(secretKeys, alphas, fc.integer({ min: 0, max: 80 * 8 - 1 }), (sk, alpha, bit) => {
        const pi = ecvrfProve(sk, alpha);
        pi[bit >> 3]! ^= 1 << (bit & 7);
        assertVerificationFailure(() => ecvrfVerify(ecvrfPublicKey(sk), pi, alpha));
      }),
      { numRuns: 100 },
    );
  });

  test('every single-bit flip of Example 16 fails (all 640 positions)', () => {
    const pk = hex(example.PK);
    const alpha = hex(example.alpha);
    for (let bit = 0; bit < 640; bit++) {
      const pi = hex(example.pi);
      pi[bit >> 3]! ^= 1 << (bit & 7);
      assertVerificationFailure(() => ecvrfVerify(pk, pi, alpha), `bit ${bit}`);
    }
  });
});

/** ~30 values no public function should accept as bytes (some are bytes of a wrong length). */
const HOSTILE: readonly unknown[] = [
  undefined,
  null,
  true,
  false,
  0,
  1,
  -1,
  32,
  NaN,
  Infinity,
  1n,
  '',
  'abc',
  example.SK,
  example.pi,
  Symbol('x'),
  [],
  [1, 2, 3],
  Array.from({ length: 32 }, () => 1),
  {},
  { length: 32 },
  () => new Uint8Array(32),
  new Date(0),
  new Map(),
  new ArrayBuffer(32),
  new DataView(new ArrayBuffer(32)),
  new Uint16Array(16),
  new Int8Array(32),
  new Float64Array(4),
  new Uint8Array(0),
  new Uint8Array(31),
  new Uint8Array(33),
  new Uint8Array(79),
  new Uint8Array(81),
  new Uint8Array(LIMITS.vrfAlphaMaxBytes + 1),
];

/** Each call must return bytes or throw a typed SealpostError: never TypeError, RangeError, or a library's own. */
function assertTypedOutcome(fn: () => unknown, what: string): void {
  let result: unknown;
  try {
    result = fn();
  } catch (e) {
    assert.ok(e instanceof SealpostError, `${what}: threw ${String(e)}`);
    assert.ok(e instanceof ValidationError || e instanceof CryptoVerificationError, `${what}: ${e.name}`);
    return;
  }
  assert.ok(result instanceof Uint8Array, `${what}: returned ${String(result)}`);
}

describe('ECVRF hostile arguments', () => {
  const sk = hex(example.SK);
  const pk = hex(example.PK);
  const pi = hex(example.pi);
  const alpha = hex(example.alpha);
  const label = (v: unknown): string => {
    if (typeof v === 'symbol' || typeof v === 'function') return typeof v;
    if (v instanceof Uint8Array) return `Uint8Array(${v.length})`;
    if (ArrayBuffer.isView(v) || v instanceof ArrayBuffer) return v.constructor.name;
    return typeof v === 'bigint' ? `${v}n` : (JSON.stringify(v) ?? String(v));
  };

  for (const bad of HOSTILE) {
    const l = label(bad);
    test(`ecvrfPublicKey(${l}) gives bytes or a typed error`, () => {
      assertTypedOutcome(() => ecvrfPublicKey(bad as Uint8Array), 'publicKey');
    });
    test(`ecvrfProve with ${l} in each position gives bytes or a typed error`, () => {
      assertTypedOutcome(() => ecvrfProve(bad as Uint8Array, alpha), 'prove(bad, alpha)');
      assertTypedOutcome(() => ecvrfProve(sk, bad as Uint8Array), 'prove(sk, bad)');
    });
    test(`ecvrfProofToHash(${l}) gives bytes or a typed error`, () => {
      assertTypedOutcome(() => ecvrfProofToHash(bad as Uint8Array), 'proofToHash');
    });
    test(`ecvrfVerify with ${l} in each position gives bytes or a typed error`, () => {
      assertTypedOutcome(() => ecvrfVerify(bad as Uint8Array, pi, alpha), 'verify(bad, pi, alpha)');
      assertTypedOutcome(() => ecvrfVerify(pk, bad as Uint8Array, alpha), 'verify(pk, bad, alpha)');
      assertTypedOutcome(() => ecvrfVerify(pk, pi, bad as Uint8Array), 'verify(pk, pi, bad)');
    });
  }

  test('a secret key of the wrong type or length is a ValidationError', () => {
    for (const bad of [undefined, 'abc', new Uint8Array(31), new Uint8Array(33), new Uint16Array(16)]) {
      assert.throws(() => ecvrfProve(bad as Uint8Array, alpha), ValidationError);
      assert.throws(() => ecvrfPublicKey(bad as Uint8Array), ValidationError);
    }
  });

  test('an alpha over LIMITS.vrfAlphaMaxBytes is a ValidationError; one at the limit is fine', () => {
    const atLimit = new Uint8Array(LIMITS.vrfAlphaMaxBytes);
    const over = new Uint8Array(LIMITS.vrfAlphaMaxBytes + 1);
    const proof = ecvrfProve(sk, atLimit);
    assert.equal(ecvrfVerify(pk, proof, atLimit).length, ECVRF_SIZES.output);
    assert.throws(() => ecvrfProve(sk, over), ValidationError);
    assert.throws(() => ecvrfVerify(pk, proof, over), ValidationError);
  });

  test('a public key or proof of a wrong length is a CryptoVerificationError', () => {
    for (const n of [0, 31, 33, 64]) {
      assertVerificationFailure(() => ecvrfVerify(new Uint8Array(n), pi, alpha), `public key of ${n} bytes`);
    }
    for (const n of [0, 1, 32, 79, 81, 160]) {
      assertVerificationFailure(() => ecvrfVerify(pk, new Uint8Array(n), alpha), `proof of ${n} bytes`);
      assertVerificationFailure(() => ecvrfProofToHash(new Uint8Array(n)), `proof of ${n} bytes`);
    }
  });

  test('a secret key never appears in an error message', () => {
    try {
      ecvrfProve(sk, new Uint8Array(LIMITS.vrfAlphaMaxBytes + 1));
      assert.fail('expected a ValidationError');
    } catch (e) {
      assert.ok(e instanceof ValidationError);
      assert.ok(!e.message.includes(example.SK) && !JSON.stringify(e.toJSON()).includes(example.SK));
    }
  });
});
