/**
 * Roster reconciliation: the other members keep a group's devices equal to what the VERIFIED key
 * directory lists for each of its users (docs/conversations.md "Roster reconciliation").
 *
 * After `sealpost account recover` every old device of the user is gone and nobody of that user
 * is left to add the new one; after an account is deleted nobody of that user removes its
 * devices. Any member that sees, for a user of the group,
 *   - a device in the group that the user's directory entry no longer lists (`stale`), or
 *   - a device the entry lists that is not in the group (`missing`),
 * commits Removes for the former and Adds for the latter (Conversation.reconcile).
 *
 * Rules:
 *   - only the `DeviceDirectory` (the verified key directory) is asked, never the server's
 *     account endpoint: a device it does not list is never added;
 *   - a user whose lookup fails is left alone (an unreachable directory removes nobody);
 *   - a device that is not itself listed does not reconcile (it is the one being replaced);
 *   - this device is never removed by itself; a user's last devices go only when the entry lists
 *     none (account deleted) or a listed one joins in the same commit (`removable`);
 *   - a conversation is checked at most once per `CONVERSATION_LIMITS.reconcileIntervalMs` per
 *     session (`ReconcileSchedule`), not on every message.
 */
import type { ConversationEvent } from './events.ts';
import { type DeviceDirectory, type DeviceRef, deviceKey } from './identity.ts';
import { CONVERSATION_LIMITS } from './limits.ts';

/** How a group's roster differs from the directory. */
export interface RosterDrift {
  /** In the group, no longer listed: to remove. */
  readonly stale: readonly DeviceRef[];
  /** Listed, not in the group: to add (if each has a KeyPackage). */
  readonly missing: readonly DeviceRef[];
}

const NO_DRIFT: RosterDrift = { stale: [], missing: [] };

/**
 * Compares `members` with the directory's lists of their users. Empty when this device (`self`)
 * is not listed in its own user's entry, or that entry could not be looked up.
 */
export async function rosterDrift(
  members: readonly DeviceRef[],
  self: DeviceRef,
  directory: Pick<DeviceDirectory, 'devicesOf'>,
): Promise<RosterDrift> {
  const stale: DeviceRef[] = [];
  const missing: DeviceRef[] = [];
  const users = [...new Set(members.map((d) => d.username))];
  for (const username of users) {
    let listed: readonly string[];
    try {
      listed = (await directory.devicesOf(username)).map((d) => d.deviceId);
    } catch {
      if (username === self.username) return NO_DRIFT;
      continue;
    }
    if (username === self.username && !listed.includes(self.deviceId)) return NO_DRIFT;
    const present = members.filter((d) => d.username === username);
    for (const d of present) {
      if (!listed.includes(d.deviceId) && deviceKey(d) !== deviceKey(self)) stale.push(d);
    }
    for (const deviceId of listed) {
      if (!present.some((d) => d.deviceId === deviceId)) missing.push({ username, deviceId });
    }
  }
  return { stale, missing };
}

/**
 * The stale devices to remove now, as `deviceKey`s: a user's last devices in the group go only
 * when the directory lists none of the user's devices (account deleted) or one of them joins in
 * the same commit (`joiners`). A user whose new device cannot be added yet (no KeyPackage) is
 * not dropped from the conversation: nobody would add the user back.
 */
export function removable(
  drift: RosterDrift,
  members: readonly DeviceRef[],
  joiners: readonly DeviceRef[],
): Set<string> {
  const stale = new Set(drift.stale.map(deviceKey));
  const out = new Set<string>();
  for (const d of drift.stale) {
    const u = d.username;
    const keepsOne = members.some((m) => m.username === u && !stale.has(deviceKey(m)));
    const listedElsewhere = drift.missing.some((m) => m.username === u);
    if (keepsOne || !listedElsewhere || joiners.some((j) => j.username === u)) out.add(deviceKey(d));
  }
  return out;
}

/**
 * Adds the directory's reason to the roster events of one commit made by another user's device
 * (a user's own removal of its device is its own decision, told as such): a removed device the
 * user's entry no longer lists, a removed user whose entry lists no device, a device added to a
 * user already in the group (the directory lists it, or the authentication service would have
 * refused the Add).
 * A lookup that fails adds no reason.
 */
export async function withDirectoryReasons(
  events: readonly ConversationEvent[],
  directory: Pick<DeviceDirectory, 'devicesOf'>,
): Promise<ConversationEvent[]> {
  const lists = new Map<string, readonly string[] | undefined>();
  const listOf = async (username: string): Promise<readonly string[] | undefined> => {
    if (!lists.has(username)) {
      const found = await directory.devicesOf(username).then(
        (ds) => ds.map((d) => d.deviceId),
        () => undefined,
      );
      lists.set(username, found);
    }
    return lists.get(username);
  };
  const usersAdded = new Set(events.flatMap((e) => (e.kind === 'user-added' ? [e.username] : [])));
  const out: ConversationEvent[] = [];
  for (const e of events) {
    if (e.kind === 'device-removed' && e.by.username !== e.device.username) {
      const listed = await listOf(e.device.username);
      out.push(
        listed !== undefined && !listed.includes(e.device.deviceId) ? { ...e, reason: 'directory' } : e,
      );
    } else if (e.kind === 'user-removed' && e.by.username !== e.username) {
      const listed = await listOf(e.username);
      out.push(listed !== undefined && listed.length === 0 ? { ...e, reason: 'directory' } : e);
    } else if (
      e.kind === 'device-added' &&
      e.by.username !== e.device.username &&
      !usersAdded.has(e.device.username)
    ) {
      out.push({ ...e, reason: 'directory' });
    } else {
      out.push(e);
    }
  }
  return out;
}

/** Which conversations are due for a reconciliation check (the rate limit). */
export class ReconcileSchedule {
  readonly #last = new Map<string, number>();
  readonly #intervalMs: number;
  readonly #now: () => number;

  constructor(intervalMs: number = CONVERSATION_LIMITS.reconcileIntervalMs, now: () => number = Date.now) {
    this.#intervalMs = intervalMs;
    this.#now = now;
  }

  /** True (and the check recorded as made now) when `groupId` was not checked within the interval. */
  take(groupId: Uint8Array): boolean {
    const k = groupId.join(',');
    const at = this.#last.get(k);
    const now = this.#now();
    if (at !== undefined && now - at < this.#intervalMs) return false;
    this.#last.set(k, now);
    return true;
  }
}
