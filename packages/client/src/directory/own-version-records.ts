/**
 * What a device verified of its own label's versions (docs/key-transparency.md "Client"): for each
 * version, its search key (the VRF output, §10.7) and its commitment (§10.6) as they were when the
 * device first verified that version, by a lookup with the account key (the commitment opened to a
 * list the account key signed) or by its first owner monitoring that counted it as its own.
 *
 * Later owner monitoring (§8.3) replays the directory's proof with these values, as §12.3 has the
 * owner do ("the user already has the VRF outputs and commitments of its own versions"), instead of
 * the response's lookups, and refuses a response whose lookup of a recorded version proves another
 * search key or carries another commitment. So a directory that swaps either one for a version the
 * device made is caught even where no retained view exposes it: under another VRF key in a
 * Configuration signed by the same directory key, or on a forked log served at another address of
 * the same directory (views are kept per server address; these records per directory key).
 */
import { toBase64url, type Username } from '@sealpost/core';
import { DirectoryTrustError } from './directory-errors.ts';

/** One own version as the device first verified it. */
export interface VersionRecord {
  readonly vrfOutput: Uint8Array;
  readonly commitment: Uint8Array;
}

/** `${directory key} ${username}` -> version -> record. */
export type VersionRecords = Map<string, Map<number, VersionRecord>>;

/** The records key of `username` in the directory signing with `directoryKey`. */
export function recordsKeyOf(directoryKey: Uint8Array, username: Username): string {
  return `${toBase64url(directoryKey)} ${username}`;
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  // Public values (search keys and commitments are in the log): no constant-time compare needed.
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/**
 * Throws DirectoryTrustError `own-version-changed` when `seen` (what the directory now proves or
 * claims for `version`) differs from `recorded`; does nothing when nothing was recorded.
 */
export function checkRecord(
  username: Username,
  version: number,
  recorded: VersionRecord | undefined,
  seen: { readonly vrfOutput?: Uint8Array | undefined; readonly commitment?: Uint8Array | undefined },
): void {
  if (recorded === undefined) return;
  const what =
    seen.vrfOutput !== undefined && !sameBytes(seen.vrfOutput, recorded.vrfOutput)
      ? 'search key'
      : seen.commitment !== undefined && !sameBytes(seen.commitment, recorded.commitment)
        ? 'commitment'
        : undefined;
  if (what === undefined) return;
  throw new DirectoryTrustError(
    'own-version-changed',
    `the directory now gives version ${version} of ${username} another ${what} than this device verified`,
    { version },
  );
}
