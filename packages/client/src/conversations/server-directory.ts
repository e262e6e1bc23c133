/**
 * A `DeviceDirectory` read from the server itself: the account endpoint (`GET /v1/accounts/:username`,
 * docs/protocol.md "HTTP") for the device list, and `KEY_PACKAGES_CLAIM` for KeyPackages.
 *
 * STOPGAP until issue 3: the server answers both, so it could list a device of its own making.
 * The verified key-transparency directory replaces this class; nothing else changes (the
 * conversation layer only sees `DeviceDirectory`). What it does check:
 *   - a device's MLS credential key is its device key (the Ed25519 key the account lists, whose
 *     id the client API recomputes), so a credential is accepted only for a listed device key;
 *   - a claimed KeyPackage is kept only for a listed device id; its credential is then checked
 *     against that entry by `decodeAddableKeyPackage` (username, device id, signature key).
 *
 * Device ids in credentials are the base64url of the 8-byte server device id (`deviceIdOf`).
 */
import { type ClaimedKeyPackage, SealpostError, toBase64url } from '@sealpost/core';
import type { AccountView } from '../account-api.ts';
import type { DeviceDirectory, DirectoryDevice, ListedDevice } from './identity.ts';

export interface ServerDirectoryOptions {
  /** `ServerApi.getAccount`: checked answers (device ids recomputed from keys). */
  readonly getAccount: (username: string) => Promise<AccountView>;
  /** `Connection.claimKeyPackages`. */
  readonly claimKeyPackages: (username: string) => Promise<readonly ClaimedKeyPackage[]>;
  /**
   * How long a device list is reused for credential checks (every leaf of every message asks).
   * `addableDevicesOf` always asks the server again. Default 2 s.
   */
  readonly cacheMs?: number;
  readonly now?: () => number;
}

export class ServerDirectory implements DeviceDirectory {
  readonly #o: ServerDirectoryOptions;
  readonly #cache = new Map<string, { at: number; devices: readonly ListedDevice[] }>();

  constructor(options: ServerDirectoryOptions) {
    this.#o = options;
  }

  async devicesOf(username: string): Promise<readonly ListedDevice[]> {
    const now = (this.#o.now ?? Date.now)();
    const hit = this.#cache.get(username);
    if (hit !== undefined && now - hit.at < (this.#o.cacheMs ?? 2000)) return hit.devices;
    return this.#fetch(username);
  }

  async addableDevicesOf(username: string): Promise<readonly DirectoryDevice[]> {
    const listed = await this.#fetch(username);
    if (listed.length === 0) return [];
    const claimed = await this.#o.claimKeyPackages(username);
    const out: DirectoryDevice[] = [];
    for (const c of claimed) {
      const id = toBase64url(c.deviceId);
      const device = listed.find((d) => d.deviceId === id);
      // A KeyPackage for a device the account does not list is dropped, never added.
      if (device !== undefined) out.push({ ...device, keyPackage: c.keyPackage });
    }
    return out;
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
