/**
 * Claiming KeyPackages for the devices a directory lists (`DeviceDirectory.addableDevicesOf`):
 * by name when the caller names devices, so a claim never uses up a KeyPackage of a device that
 * is not being added (docs/protocol.md "MLS delivery" 9), and only for listed devices.
 */
import { type ClaimedKeyPackage, LIMITS, fromBase64urlExact, toBase64url } from '@sealpost/core';
import type { DirectoryDevice, ListedDevice } from './identity.ts';

/** `Connection.claimKeyPackages`: every device of the user, or those of `deviceIds`. */
export type ClaimKeyPackages = (
  username: string,
  deviceIds?: readonly Uint8Array[],
) => Promise<readonly ClaimedKeyPackage[]>;

/**
 * The devices of `listed` (those of `deviceIds` only, when given) that have a KeyPackage, each
 * with one. With `deviceIds` the claim names exactly the listed devices among them, at most
 * LIMITS.devicesPerAccount per request; without, it is the claim of every device of the user.
 * A KeyPackage for a device `listed` does not hold (or that was not asked for) is dropped.
 */
export async function claimFor(
  claim: ClaimKeyPackages,
  username: string,
  listed: readonly ListedDevice[],
  deviceIds: readonly string[] | undefined,
): Promise<DirectoryDevice[]> {
  const wanted = deviceIds === undefined ? listed : listed.filter((d) => deviceIds.includes(d.deviceId));
  if (wanted.length === 0) return [];
  const claimed: ClaimedKeyPackage[] = [];
  if (deviceIds === undefined) {
    claimed.push(...(await claim(username)));
  } else {
    const ids = wanted.map((d) => fromBase64urlExact(d.deviceId, LIMITS.deviceIdBytes, 'device id'));
    for (let i = 0; i < ids.length; i += LIMITS.devicesPerAccount) {
      claimed.push(...(await claim(username, ids.slice(i, i + LIMITS.devicesPerAccount))));
    }
  }
  const out: DirectoryDevice[] = [];
  for (const c of claimed) {
    const id = toBase64url(c.deviceId);
    const device = wanted.find((d) => d.deviceId === id);
    if (device !== undefined && !out.some((d) => d.deviceId === id)) {
      out.push({ ...device, keyPackage: c.keyPackage });
    }
  }
  return out;
}
