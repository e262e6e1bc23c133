/**
 * TEST ONLY: never use outside tests. A `DeviceDirectory` that believes the server: the account
 * endpoint (`GET /v1/accounts/:username`, docs/protocol.md "HTTP") for the device list, and
 * `KEY_PACKAGES_CLAIM` for KeyPackages. The server answers both, so it could list a device of its
 * own making (a ghost) and have it added and accepted: exactly what the verified directory
 * prevents (DESIGN.md threat model 2). Real clients use `VerifiedDirectory`
 * (packages/client/src/conversations/verified-directory.ts, the key-transparency directory);
 * `DeviceSession` has no default directory, so nothing picks this one by accident.
 *
 * It lives here, outside every package, so that no client can import it. Tests use it where the
 * key directory is not what they are about (and `conversations-directory-cli.test.ts` uses it to
 * play a client that trusts the server). What it does check:
 *   - a device's MLS credential key is its device key (the Ed25519 key the account lists, whose
 *     id the client API recomputes), so a credential is accepted only for a listed device key;
 *   - a claimed KeyPackage is kept only for a listed device id; its credential is then checked
 *     against that entry by `decodeAddableKeyPackage` (username, device id, signature key).
 *
 * Device ids in credentials are the base64url of the 8-byte server device id (`deviceIdOf`).
 */
import { type CryptoProvider, SealpostError, toBase64url } from '@sealpost/core';
import { type AccountView, ServerApi } from '../../packages/client/src/account-api.ts';
import type {
  DeviceDirectory,
  DirectoryDevice,
  ListedDevice,
} from '../../packages/client/src/conversations/identity.ts';
import {
  claimFor,
  type ClaimKeyPackages,
} from '../../packages/client/src/conversations/key-package-claim.ts';

export interface UnverifiedServerDirectoryOptions {
  /** `ServerApi.getAccount`: checked answers (device ids recomputed from keys). */
  readonly getAccount: (username: string) => Promise<AccountView>;
  /** `Connection.claimKeyPackages`. */
  readonly claimKeyPackages: ClaimKeyPackages;
  /**
   * How long a device list is reused for credential checks (every leaf of every message asks).
   * `addableDevicesOf` always asks the server again. Default 2 s.
   */
  readonly cacheMs?: number;
  readonly now?: () => number;
}

export class UnverifiedServerDirectory implements DeviceDirectory {
  readonly #o: UnverifiedServerDirectoryOptions;
  readonly #cache = new Map<string, { at: number; devices: readonly ListedDevice[] }>();

  constructor(options: UnverifiedServerDirectoryOptions) {
    this.#o = options;
  }

  async devicesOf(username: string): Promise<readonly ListedDevice[]> {
    const now = (this.#o.now ?? Date.now)();
    const hit = this.#cache.get(username);
    if (hit !== undefined && now - hit.at < (this.#o.cacheMs ?? 2000)) return hit.devices;
    return this.#fetch(username);
  }

  async addableDevicesOf(
    username: string,
    deviceIds?: readonly string[],
  ): Promise<readonly DirectoryDevice[]> {
    // A KeyPackage for a device the account does not list is dropped, never added.
    return claimFor(this.#o.claimKeyPackages, username, await this.#fetch(username), deviceIds);
  }

  async #fetch(username: string): Promise<readonly ListedDevice[]> {
    let devices: ListedDevice[];
    try {
      const account = await this.#o.getAccount(username);
      devices = account.devices.map((d) => ({
        deviceId: toBase64url(d.deviceId),
        credentialKey: d.publicKey,
      }));
    } catch (e) {
      if (e instanceof SealpostError && e.code === 'ACCOUNT_NOT_FOUND') devices = [];
      else throw e;
    }
    this.#cache.set(username, { at: (this.#o.now ?? Date.now)(), devices });
    return devices;
  }
}

/**
 * TEST ONLY. `DeviceSessionOptions.directory` for a session that believes `serverUrl`'s account
 * endpoint (see the module comment); `cacheMs: 0` makes every check ask the server again.
 */
export function unverifiedDirectory(
  serverUrl: string,
  crypto: CryptoProvider,
  options: Pick<UnverifiedServerDirectoryOptions, 'cacheMs' | 'now'> = {},
): (claimKeyPackages: ClaimKeyPackages) => DeviceDirectory {
  const api = new ServerApi(serverUrl, crypto);
  return (claimKeyPackages) =>
    new UnverifiedServerDirectory({ ...options, getAccount: (u) => api.getAccount(u), claimKeyPackages });
}
