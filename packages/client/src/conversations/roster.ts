/**
 * The roster of a group: which device sits in which leaf (from its credential, identity.ts), and
 * the events a commit causes, computed from the trees before and after it. Devices are compared
 * by (username, device id); a user is in the group while at least one of its devices is.
 */
import type { ClientState, RatchetTree } from 'ts-mls';
import type { ConversationEvent } from './events.ts';
import { type DeviceRef, deviceKey, deviceOfCredential } from './identity.ts';

/** leaf index -> device, for the leaves whose credential names one. */
export function rosterOf(tree: RatchetTree): Map<number, DeviceRef> {
  const out = new Map<number, DeviceRef>();
  for (let i = 0; i < tree.length; i += 2) {
    const node = tree[i];
    if (node?.nodeType !== 'leaf') continue;
    const who = deviceOfCredential(node.leaf.credential);
    if (who !== undefined) out.set(i / 2, who);
  }
  return out;
}

/** The events from `before` (the tree before a commit) to `after` (the state after it), in this order: devices added, devices removed, users added, users removed, then the new epoch or this device's removal. */
export function rosterEvents(before: RatchetTree, after: ClientState, by: DeviceRef): ConversationEvent[] {
  const events: ConversationEvent[] = [];
  const was = new Map([...rosterOf(before).values()].map((d) => [deviceKey(d), d]));
  const now = new Map([...rosterOf(after.ratchetTree).values()].map((d) => [deviceKey(d), d]));
  const usersWere = new Set([...was.values()].map((d) => d.username));
  const usersNow = new Set([...now.values()].map((d) => d.username));
  for (const [k, device] of now) if (!was.has(k)) events.push({ kind: 'device-added', device, by });
  for (const [k, device] of was) if (!now.has(k)) events.push({ kind: 'device-removed', device, by });
  for (const u of usersNow) if (!usersWere.has(u)) events.push({ kind: 'user-added', username: u, by });
  for (const u of usersWere) if (!usersNow.has(u)) events.push({ kind: 'user-removed', username: u, by });
  if (after.groupActiveState.kind === 'removedFromGroup') events.push({ kind: 'removed', by });
  else events.push({ kind: 'epoch', epoch: after.groupContext.epoch, by });
  return events;
}
