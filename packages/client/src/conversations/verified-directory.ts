/**
 * The `DeviceDirectory` of conversations backed by the key-transparency directory
 * (DESIGN.md "Conversations": credentials are accepted only when the directory, verified with a
 * witness quorum, lists that device key). Device lists come from `DirectoryClient.lookup`
 * (head signature, witness quorum, search proof, the account key's signature, the chain after the
 * last list accepted for the user); KeyPackages from `KEY_PACKAGES_CLAIM`, kept only for a device
 * the verified list holds, and then checked against it by `decodeAddableKeyPackage`.
 *
 * What the server's account endpoint says is never consulted: a device the server registered but
 * the verified list does not hold (a ghost) is neither added nor accepted in a credential.
 *
 * A device's MLS signature key is its Ed25519 device key (device-session.ts), so a listed device's
 * `credentialKey` is its `signatureKey` unless the list binds another MLS key
 * (`mlsCredentialKey`, empty until then). Device ids are the base64url of the 8-byte id.
 */
import { SealpostError, toBase64url } from '@sealpost/core';
import { claimFor, type ClaimKeyPackages } from './key-package-claim.ts';
import type { VerifiedDeviceList } from '../directory/directory-client.ts';
import type { DeviceDirectory, DirectoryDevice, ListedDevice } from './identity.ts';

export interface VerifiedDirectoryOptions {
  /** `DirectoryClient.lookup`: resolves only to a list that verified. */
  readonly lookup: (username: string) => Promise<VerifiedDeviceList>;
  /** `Connection.claimKeyPackages`. */
  readonly claimKeyPackages: ClaimKeyPackages;
  /**
   * How long a verified list is reused for credential checks (every leaf of every message asks,
   * and a lookup verifies VRF proofs). `addableDevicesOf` always looks up again. Default 2 s.
   */
  readonly cacheMs?: number;
  readonly now?: () => number;
  /** Told of every lookup that failed (the device is then not listed, so it is refused). */
  readonly onLookupError?: (username: string, error: unknown) => void;
}

export function listedDevicesOf(found: VerifiedDeviceList): ListedDevice[] {
  return found.list.devices.map((d) => ({
    deviceId: toBase64url(d.deviceId),
    credentialKey: d.mlsCredentialKey.length > 0 ? d.mlsCredentialKey : d.signatureKey,
  }));
}

export class VerifiedDirectory implements DeviceDirectory {
  readonly #o: VerifiedDirectoryOptions;
  readonly #cache = new Map<string, { at: number; devices: readonly ListedDevice[] }>();

  constructor(options: VerifiedDirectoryOptions) {
    this.#o = options;
  }

  async devicesOf(username: string): Promise<readonly ListedDevice[]> {
    const hit = this.#cache.get(username);
    if (hit !== undefined && this.#now() - hit.at < (this.#o.cacheMs ?? 2000)) return hit.devices;
    return this.#fetch(username);
  }

  async addableDevicesOf(
    username: string,
    deviceIds?: readonly string[],
  ): Promise<readonly DirectoryDevice[]> {
    const listed = await this.#fetch(username);
    // Claimed only for devices the verified list holds: a ghost's KeyPackage is never even asked for.
    return claimFor(this.#o.claimKeyPackages, username, listed, deviceIds);
  }

  /** Forgets cached lists (after this account published a new one). */
  forget(username?: string): void {
    if (username === undefined) this.#cache.clear();
    else this.#cache.delete(username);
  }

  #now(): number {
    return (this.#o.now ?? Date.now)();
  }

  async #fetch(username: string): Promise<readonly ListedDevice[]> {
    let devices: ListedDevice[];
    try {
      devices = listedDevicesOf(await this.#o.lookup(username));
    } catch (e) {
      // A user with no list in the directory has no device anyone may add or accept.
      if (!(e instanceof SealpostError && e.code === 'KT_VERSION_NOT_FOUND')) {
        this.#o.onLookupError?.(username, e);
        throw e;
      }
      devices = [];
    }
    this.#cache.set(username, { at: this.#now(), devices });
    return devices;
  }
}
