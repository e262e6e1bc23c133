/**
 * The `DeliveryService` of delivery.ts over a live `Connection` (docs/protocol.md "MLS delivery"):
 *   - a commit is a `COMMIT` for (group, epoch); `EPOCH_CONFLICT` becomes
 *     CONVERSATION_EPOCH_CONFLICT, and the group's current epoch is remembered so the caller can
 *     wait for the winner (`conflictEpoch`);
 *   - its Welcome travels in the same `COMMIT` frame, to the joiners, and is stored by the server
 *     in the commit's transaction: a committer that stops right after submitting never leaves
 *     joiners in the tree without their Welcome, and a commit that loses its epoch delivers none;
 *   - application messages are a `SEND` to the other members.
 *
 * Message ids are the first `LIMITS.messageIdBytes` bytes of the suite hash of the payload, so
 * resubmitting the same commit byte for byte (conversations rule 4) is recognised by the server
 * as a resend, even across a restart, and is stored once.
 */
import { type DeviceAddress, LIMITS, SealpostError, fromBase64urlExact } from '@sealpost/core';
import type { CiphersuiteImpl } from 'ts-mls';
import type { CommitOptions, CommitResult, SendOptions } from '../connection.ts';
import type { OutgoingCommit, OutgoingMessage } from './conversation.ts';
import { type DeliveryService, epochConflict } from './delivery.ts';
import { ConversationError } from './errors.ts';
import type { DeviceRef } from './identity.ts';

/** The part of `Connection` this needs. */
export interface DeliveryConnection {
  commit(options: CommitOptions): Promise<CommitResult>;
  send(options: SendOptions): Promise<{ duplicate: boolean; messageId: Uint8Array }>;
}

function hex(b: Uint8Array): string {
  let s = '';
  for (const x of b) s += x.toString(16).padStart(2, '0');
  return s;
}

/** A credential's device id (base64url of the 8-byte server id) as a wire address. */
export function addressOf(d: DeviceRef): DeviceAddress {
  return {
    username: d.username,
    deviceId: fromBase64urlExact(d.deviceId, LIMITS.deviceIdBytes, 'device id'),
  };
}

export class ServerDelivery implements DeliveryService {
  readonly #connection: DeliveryConnection;
  readonly #cs: CiphersuiteImpl;
  readonly #conflicts = new Map<string, bigint>();

  constructor(connection: DeliveryConnection, cs: CiphersuiteImpl) {
    this.#connection = connection;
    this.#cs = cs;
  }

  /** The epoch the server said the group is at when our last commit to it lost, if any. */
  conflictEpoch(groupId: Uint8Array): bigint | undefined {
    return this.#conflicts.get(hex(groupId));
  }

  async submitCommit(c: OutgoingCommit): Promise<void> {
    if (c.epoch > BigInt(Number.MAX_SAFE_INTEGER)) {
      throw new ConversationError('CONVERSATION_STATE_INVALID', 'epoch beyond what the protocol carries');
    }
    const welcome =
      c.welcome !== undefined && c.joiners.length > 0
        ? { recipients: c.joiners.map(addressOf), payload: c.welcome, messageId: await this.#idOf(c.welcome) }
        : undefined;
    try {
      await this.#connection.commit({
        groupId: c.groupId,
        epoch: Number(c.epoch),
        recipients: c.recipients.map(addressOf),
        payload: c.commit,
        messageId: await this.#idOf(c.commit),
        welcome,
      });
    } catch (e) {
      if (e instanceof SealpostError && e.code === 'MLS_EPOCH_CONFLICT') {
        const current = BigInt(Number(e.details['currentEpoch'] ?? 0));
        this.#conflicts.set(hex(c.groupId), current);
        throw epochConflict(current, c.epoch);
      }
      throw e;
    }
  }

  async sendMessage(m: OutgoingMessage): Promise<void> {
    if (m.recipients.length === 0) return;
    await this.#connection.send({
      recipients: m.recipients.map(addressOf),
      payload: m.message,
      messageId: await this.#idOf(m.message),
    });
  }

  async #idOf(payload: Uint8Array): Promise<Uint8Array> {
    return (await this.#cs.hash.digest(payload)).slice(0, LIMITS.messageIdBytes);
  }
}
