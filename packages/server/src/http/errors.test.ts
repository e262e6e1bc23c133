import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { AuthError } from '@sealpost/core';
import { toSealpostError } from './errors.ts';

describe('toSealpostError', () => {
  const table: Array<[string, unknown, string, number]> = [
    [
      'a typed error keeps its code',
      new AuthError('AUTH_SIGNATURE_INVALID', 'x'),
      'AUTH_SIGNATURE_INVALID',
      401,
    ],
    ['body too large', { code: 'FST_ERR_CTP_BODY_TOO_LARGE', statusCode: 413 }, 'BODY_TOO_LARGE', 413],
    ['bad JSON', { code: 'FST_ERR_CTP_INVALID_JSON_BODY', statusCode: 400 }, 'CODEC_INVALID_VALUE', 400],
    [
      'schema validation',
      { code: 'FST_ERR_VALIDATION', statusCode: 400, validation: [] },
      'VALIDATION_FAILED',
      400,
    ],
    [
      'wrong media type',
      { code: 'FST_ERR_CTP_INVALID_MEDIA_TYPE', statusCode: 415 },
      'VALIDATION_FAILED',
      400,
    ],
    ['an unknown exception', new Error('secret detail'), 'INTERNAL', 500],
    ['a thrown string', 'boom', 'INTERNAL', 500],
  ];
  for (const [what, input, code, status] of table) {
    test(`maps ${what} to ${code}`, () => {
      const e = toSealpostError(input);
      assert.equal(e.code, code);
      assert.equal(e.status, status);
    });
  }

  test('never forwards the message of an unknown exception', () => {
    assert.doesNotMatch(toSealpostError(new Error('secret detail')).message, /secret/);
  });
});
