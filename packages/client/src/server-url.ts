/**
 * The server base URL a client dials, parsed once at the boundary (STYLE.md rule 6).
 *
 * Accepted: `http:` or `https:`, a host, an optional port, nothing else (no credentials, path, query
 * or fragment): the protocol's paths start at the root (docs/protocol.md), and a URL that carries a
 * password would end up in the key store and in logs. The canonical form is the URL's origin.
 * The audience signed into every statement is `new URL(serverUrl).host` (docs/protocol.md "Keys and ids").
 */
import { ValidationError } from '@sealpost/core';

declare const serverUrlBrand: unique symbol;
/** An origin such as `https://sealpost.example` or `http://127.0.0.1:8420`. */
export type ServerUrl = string & { readonly [serverUrlBrand]: true };

/** Long enough for any real host name (RFC 1035 §2.3.4: 253 characters) plus scheme and port. */
export const SERVER_URL_MAX_CHARS = 300;

export function parseServerUrl(input: unknown): ServerUrl {
  if (typeof input !== 'string')
    throw new ValidationError('VALIDATION_FAILED', 'server URL must be a string');
  if (input.length > SERVER_URL_MAX_CHARS) {
    throw new ValidationError(
      'VALIDATION_FAILED',
      `server URL is longer than ${SERVER_URL_MAX_CHARS} characters`,
    );
  }
  let url: URL;
  try {
    url = new URL(input);
  } catch {
    throw new ValidationError(
      'VALIDATION_FAILED',
      'server URL is not a valid URL (expected http(s)://host[:port])',
    );
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new ValidationError(
      'VALIDATION_FAILED',
      `server URL scheme must be http or https, not ${url.protocol}`,
    );
  }
  if (url.username !== '' || url.password !== '') {
    throw new ValidationError('VALIDATION_FAILED', 'server URL may not contain credentials');
  }
  if ((url.pathname !== '/' && url.pathname !== '') || url.search !== '' || url.hash !== '') {
    throw new ValidationError('VALIDATION_FAILED', 'server URL may not contain a path, query or fragment');
  }
  return url.origin as ServerUrl;
}

/** The audience bound into signed statements: the host (and port) exactly as the client dials it. */
export function audienceOf(serverUrl: ServerUrl): string {
  return new URL(serverUrl).host;
}
