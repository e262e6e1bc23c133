/**
 * How the SDK picks the crypto under MLS (DESIGN.md "Conversations").
 *
 * ts-mls runs all its cryptography through a `CryptoProvider`. This module never imports a
 * concrete one beyond ts-mls's own, so it runs in the browser unchanged:
 *   - default: ts-mls's `defaultCryptoProvider` (WebCrypto for hashes, HMAC, AES-GCM and Ed25519;
 *     @hpke/core for HPKE; @noble/curves where WebCrypto has no curve). Browser-safe.
 *   - Node: the caller injects `nodeMlsCryptoProvider` from packages/client/node/mls-crypto.ts,
 *     about 5x faster per message (docs/mls.md has the figures). Nothing here imports `node:*`.
 * Both produce the same bytes on the wire: the official RFC 9420 vectors run against each
 * (packages/client/node/mls-vectors.test.ts), so members on different providers share groups.
 */
import {
  type CiphersuiteImpl,
  type CiphersuiteName,
  type CryptoProvider,
  defaultCryptoProvider,
  getCiphersuiteFromName,
} from 'ts-mls';

/**
 * The suite of every new conversation: RFC 9420 §17.1's mandatory-to-implement suite. A hybrid
 * post-quantum suite (X-Wing) is the goal once it is affordable everywhere; docs/mls.md says why
 * it is not the default yet.
 */
export const DEFAULT_MLS_SUITE: CiphersuiteName = 'MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519';

/** A P-521 private scalar in its fixed-length big-endian form (SEC 1 §2.3.7: ceil(521 / 8) bytes). */
const P521_SCALAR_BYTES = 66;

/**
 * `provider`, but a P-521 signing key shorter than 66 bytes (a big-endian scalar whose leading zero
 * bytes were dropped, as in RFC 9420's message-protection vectors) is left-padded before signing:
 * ts-mls's default provider hands the key to @noble/curves, which takes only the fixed length. The
 * scalar is the same number, so the signature is too. Every other suite is passed through untouched.
 */
function acceptingShortP521Keys(provider: CryptoProvider): CryptoProvider {
  return {
    async getCiphersuiteImpl(cs) {
      const impl = await provider.getCiphersuiteImpl(cs);
      if (cs.signature !== 'P521') return impl;
      const signature = impl.signature;
      return {
        ...impl,
        signature: {
          keygen: () => signature.keygen(),
          verify: (publicKey, message, sig) => signature.verify(publicKey, message, sig),
          sign: (signKey, message) => {
            if (signKey.length >= P521_SCALAR_BYTES) return signature.sign(signKey, message);
            const padded = new Uint8Array(P521_SCALAR_BYTES);
            padded.set(signKey, P521_SCALAR_BYTES - signKey.length);
            return signature.sign(padded, message).finally(() => padded.fill(0));
          },
        },
      };
    },
  };
}

/** The provider used when none is injected: ts-mls's own, browser-safe (short P-521 keys padded). */
export const browserMlsCryptoProvider: CryptoProvider = acceptingShortP521Keys(defaultCryptoProvider);

export interface MlsCryptoOptions {
  /** Injected by the runtime's adapter, e.g. `nodeMlsCryptoProvider` in Node. */
  readonly provider?: CryptoProvider;
  readonly suite?: CiphersuiteName;
}

// One CiphersuiteImpl per (provider, suite): building one loads modules and parses constants.
const impls = new WeakMap<CryptoProvider, Map<CiphersuiteName, Promise<CiphersuiteImpl>>>();

/**
 * The ts-mls `CiphersuiteImpl` for a suite on the chosen provider (default: the browser-safe one
 * and `DEFAULT_MLS_SUITE`). Rejects with ts-mls's `DependencyError` if the provider cannot run
 * the suite; a failed attempt is not cached.
 */
export function mlsCiphersuite(options: MlsCryptoOptions = {}): Promise<CiphersuiteImpl> {
  const provider = options.provider ?? browserMlsCryptoProvider;
  const suite = options.suite ?? DEFAULT_MLS_SUITE;
  let byName = impls.get(provider);
  if (byName === undefined) {
    byName = new Map();
    impls.set(provider, byName);
  }
  let impl = byName.get(suite);
  if (impl === undefined) {
    impl = provider.getCiphersuiteImpl(getCiphersuiteFromName(suite));
    byName.set(suite, impl);
    impl.catch(() => byName.delete(suite));
  }
  return impl;
}
