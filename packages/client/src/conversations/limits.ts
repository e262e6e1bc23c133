/**
 * Every bound of the conversation layer, in one table (STYLE.md rule 5). To be merged into
 * `@sealpost/core`'s `limits.ts` when that package takes the conversation codes.
 */
export const CONVERSATION_LIMITS = {
  /** Messages for a future epoch kept until the commit that leads there arrives. */
  futureEpochBuffer: 256,
  /** How far ahead of the current epoch a buffered message may be (more is a broken or hostile DS). */
  futureEpochWindow: 16,
  /** Digests of processed messages remembered to drop duplicates (oldest forgotten first). */
  seenMessages: 4096,
  /** Bytes of a username or device id inside an MLS credential. */
  credentialFieldBytes: 255,
  /** Bytes of a serialised conversation state accepted by `decodeConversationState`. */
  stateBytes: 64 * 1024 * 1024,
  /** UTF-8 bytes of one text message (content.ts); far under the server's 256 KiB message bound. */
  textBytes: 64 * 1024,
  /** UTF-8 bytes of a group's title (content.ts). */
  titleBytes: 128,
  /** One-time KeyPackages a device keeps on the server (topped up to this many). */
  keyPackageStock: 8,
  /** Top up when the server holds fewer one-time KeyPackages of this device than this. */
  keyPackageLowWater: 4,
  /**
   * How often a connected device asks the server for its KeyPackage count: others claim them
   * without telling it, and a device that joins no group would otherwise never notice.
   */
  keyPackageCheckMs: 60_000,
  /**
   * Messages per conversation an existing device sends a newly linked one (its recent history,
   * end to end encrypted, link.ts): the newest ones, older ones are not sent.
   */
  historyMessages: 200,
  /**
   * A conversation's roster is compared with the verified directory (reconcile.ts) at most once
   * per this long per session: each check looks up every user of the group.
   */
  reconcileIntervalMs: 60_000,
} as const;
