// Tests run under Node: node:test and node:assert are the only node:* imports, and only here.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  AuthError,
  CLOSE,
  CodecError,
  ConflictError,
  LimitError,
  NotFoundError,
  UnavailableError,
  CryptoVerificationError,
  ERRORS,
  InternalError,
  RateLimitedError,
  SealpostError,
  ValidationError,
  errorFromWire,
  isErrorCode,
  type ErrorCode,
} from './errors.ts';

const CODES = Object.keys(ERRORS) as ErrorCode[];
const CLOSE_CODES = new Set<number>(Object.values(CLOSE));

describe('the ERRORS table', () => {
  for (const code of CODES) {
    test(`${code} has an HTTP status in 400..599 and a known close code`, () => {
      const spec = ERRORS[code];
      assert.ok(spec.status >= 400 && spec.status <= 599, `status ${spec.status}`);
      assert.ok(CLOSE_CODES.has(spec.close), `close ${spec.close}`);
    });
  }

  test('codes are SCREAMING_SNAKE_CASE and fit the ERROR frame (64 bytes)', () => {
    for (const code of CODES) {
      assert.match(code, /^[A-Z][A-Z0-9_]*$/);
      assert.ok(code.length <= 64);
    }
  });

  test('close codes are 1000..1011 (RFC 6455 §7.4.1) or private 4000..4999', () => {
    for (const c of CLOSE_CODES) assert.ok((c >= 1000 && c <= 1011) || (c >= 4000 && c <= 4999), String(c));
  });

  test('isErrorCode accepts table codes only, not inherited properties', () => {
    assert.equal(isErrorCode('INTERNAL'), true);
    for (const v of ['toString', '__proto__', 'constructor', 'internal', '', 42, null, undefined]) {
      assert.equal(isErrorCode(v), false, String(v));
    }
  });
});

describe('SealpostError', () => {
  test('takes kind, status and close code from the table', () => {
    const e = new CodecError('CODEC_TRUNCATED', 'input ended early');
    assert.equal(e.kind, 'codec');
    assert.equal(e.status, 400);
    assert.equal(e.closeCode, CLOSE.protocolError);
    assert.equal(e.name, 'CodecError');
    assert.ok(e instanceof SealpostError && e instanceof Error);
  });

  test('a RateLimitedError carries retryAfterSecs as a typed field and a detail', () => {
    const e = new RateLimitedError('slow down', 7);
    assert.equal(e.retryAfterSecs, 7);
    assert.equal(e.details['retryAfterSecs'], 7);
    assert.equal(e.status, 429);
  });
});

describe('errorFromWire', () => {
  const samples: SealpostError[] = [
    new ValidationError('USERNAME_INVALID', 'bad name', { length: 2 }),
    new CryptoVerificationError('CRYPTO_VERIFICATION_FAILED', 'tag does not verify'),
    new CodecError('CODEC_LENGTH_LIMIT', 'too long', { length: 9, max: 8 }),
    new InternalError('oops'),
  ];
  for (const e of samples) {
    test(`round trips ${e.code} through its JSON form`, () => {
      const back = errorFromWire(JSON.parse(JSON.stringify(e)));
      assert.equal(back.code, e.code);
      assert.equal(back.message, e.message);
      assert.deepEqual(back.details, e.details);
      assert.equal(back.status, e.status);
    });
  }

  test('round trips RATE_LIMITED as a RateLimitedError with its retry delay', () => {
    const back = errorFromWire(JSON.parse(JSON.stringify(new RateLimitedError('slow down', 12))));
    assert.ok(back instanceof RateLimitedError);
    assert.equal(back.retryAfterSecs, 12);
  });

  test('defaults a RATE_LIMITED retry delay that is missing or not a number to 1 second', () => {
    for (const details of [undefined, {}, { retryAfterSecs: 'soon' }]) {
      const back = errorFromWire({ code: 'RATE_LIMITED', message: 'x', details });
      assert.ok(back instanceof RateLimitedError);
      assert.equal(back.retryAfterSecs, 1);
    }
  });

  test('keeps only string, number and boolean details', () => {
    const back = errorFromWire({
      code: 'VALIDATION_FAILED',
      message: 'x',
      details: { a: 'ok', b: 1, c: true, d: { nested: 1 }, e: null, f: [1] },
    });
    assert.deepEqual(back.details, { a: 'ok', b: 1, c: true });
  });

  const unrecognised: readonly [string, unknown][] = [
    ['an unknown code', { code: 'NOT_A_CODE', message: 'x' }],
    ['an inherited property name as code', { code: 'toString', message: 'x' }],
    ['a missing message', { code: 'INTERNAL' }],
    ['a non-string message', { code: 'AUTH_REQUIRED', message: 42 }],
    ['null', null],
    ['a string', 'AUTH_REQUIRED'],
    ['an array', ['AUTH_REQUIRED', 'x']],
    ['undefined', undefined],
  ];
  for (const [what, value] of unrecognised) {
    test(`turns ${what} into INTERNAL`, () => {
      const e = errorFromWire(value);
      assert.equal(e.code, 'INTERNAL');
      assert.equal(e.status, 500);
    });
  }
});

describe('errorFromWire keeps the class', () => {
  const table: Array<[SealpostError, new (...a: never[]) => SealpostError]> = [
    [new ConflictError('USERNAME_TAKEN', 'taken'), ConflictError],
    [new AuthError('AUTH_SIGNATURE_INVALID', 'bad'), AuthError],
    [new LimitError('MAILBOX_FULL', 'full'), LimitError],
    [new NotFoundError('DEVICE_NOT_FOUND', 'gone'), NotFoundError],
    [new UnavailableError('STORE_UNAVAILABLE', 'down'), UnavailableError],
  ];
  for (const [original, Class] of table) {
    test(`rebuilds ${original.code} as ${Class.name}`, () => {
      const back = errorFromWire(JSON.parse(JSON.stringify(original)));
      assert.ok(back instanceof Class);
      assert.equal(back.code, original.code);
    });
  }
});
