/**
 * Maps anything thrown in a handler to the one error table: typed errors keep their code;
 * Fastify's own errors (body limits, bad JSON, schema validation) are translated; anything else is
 * INTERNAL with a generic message (details go to the log, never to the client).
 */
import { LimitError, SealpostError, ValidationError, InternalError, CodecError } from '@sealpost/core';

interface FastifyLikeError {
  code?: string;
  statusCode?: number;
  validation?: unknown;
  message?: string;
}

export function toSealpostError(err: unknown): SealpostError {
  if (err instanceof SealpostError) return err;
  const e = (typeof err === 'object' && err !== null ? err : {}) as FastifyLikeError;
  switch (e.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new LimitError('BODY_TOO_LARGE', 'request body is larger than allowed');
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return new ValidationError('VALIDATION_FAILED', 'content type must be application/json');
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return new ValidationError('VALIDATION_FAILED', 'request body is empty');
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
      return new CodecError('CODEC_INVALID_VALUE', 'request body is not valid JSON');
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return new ValidationError('VALIDATION_FAILED', 'content length does not match the body');
    case 'FST_ERR_VALIDATION':
      return new ValidationError('VALIDATION_FAILED', `request is invalid: ${e.message ?? ''}`.slice(0, 300));
  }
  if (e.validation !== undefined) {
    return new ValidationError('VALIDATION_FAILED', `request is invalid: ${e.message ?? ''}`.slice(0, 300));
  }
  if (err instanceof SyntaxError)
    return new CodecError('CODEC_INVALID_VALUE', 'request body is not valid JSON');
  if (e.statusCode === 413) return new LimitError('BODY_TOO_LARGE', 'request body is larger than allowed');
  if (typeof e.statusCode === 'number' && e.statusCode >= 400 && e.statusCode < 500) {
    return new ValidationError('VALIDATION_FAILED', 'request is invalid');
  }
  return new InternalError('internal error');
}
