/**
 * Reads a `fetch` answer's JSON body with a size bound. The answer comes from a server we do not
 * trust: an announced `Content-Length` over the bound is refused before reading, and the bytes are
 * counted while streaming, so a lying or absent length cannot make the client buffer more than
 * `maxBytes` (the same rule hono's body-limit applies on the server side).
 */
import { CodecError, LimitError } from '@sealpost/core';

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Throws LimitError BODY_TOO_LARGE past `maxBytes`, CodecError for a body that is not UTF-8 JSON. */
export async function readJsonBody(response: Response, maxBytes: number): Promise<unknown> {
  const announced = response.headers.get('content-length');
  if (announced !== null && /^\d+$/.test(announced) && Number(announced) > maxBytes) {
    await response.body?.cancel();
    throw tooLarge(maxBytes);
  }
  const bytes = new Uint8Array(maxBytes);
  let length = 0;
  if (response.body !== null) {
    const reader = response.body.getReader();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      if (length + value.length > maxBytes) {
        await reader.cancel();
        throw tooLarge(maxBytes);
      }
      bytes.set(value, length);
      length += value.length;
    }
  }
  let text: string;
  try {
    text = utf8.decode(bytes.subarray(0, length));
  } catch {
    throw new CodecError('CODEC_INVALID_VALUE', 'server answer is not UTF-8');
  }
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new CodecError('CODEC_INVALID_VALUE', 'server answer is not JSON', { length });
  }
}

function tooLarge(maxBytes: number): LimitError {
  return new LimitError('BODY_TOO_LARGE', `server answer exceeds ${maxBytes} bytes`, { max: maxBytes });
}
