/**
 * Every size, rate, count and timeout of Sealpost in one table (STYLE.md rule 5).
 * Handlers and decoders name an entry here; no magic number lives anywhere else.
 * Changing a value is a protocol decision: the server advertises the ones clients need.
 */
export const LIMITS = {
  // --- identities
  usernameMinLength: 3,
  usernameMaxLength: 32,
  /** Devices per account (Signal allows 5 linked devices plus the primary). */
  devicesPerAccount: 16,
  /** Ed25519 public keys and signatures (RFC 8032). */
  publicKeyBytes: 32,
  signatureBytes: 64,
  deviceIdBytes: 8,
  /**
   * Largest ECVRF input (RFC 9381 alpha) proved or verified: a key-transparency VRF input is a short
   * label and a version (draft-ietf-keytrans-protocol); the bound caps the hashing one call can cost.
   */
  vrfAlphaMaxBytes: 1024,

  // --- identity: signed device lists (docs/identity.md)
  /** A device's MLS credential public key (room for ML-DSA-87, FIPS 204: 2592 bytes; Ed25519 needs 32). */
  identityMlsKeyMaxBytes: 2_592,
  /** One encoded signed device list; it is a key-transparency value, so it fits `ktUpdateValueMaxBytes`. */
  identityDeviceListMaxBytes: 64 * 1024,
  /** SHA-512 iterations of a safety code half (libsignal NumericFingerprintGenerator uses 5200). */
  safetyCodeIterations: 5_200,

  // --- authentication
  challengeBytes: 32,
  /** A challenge is single-use and expires after this long. */
  challengeTtlMs: 60_000,
  /**
   * Challenges one `POST /v1/challenges` may ask for (`{"count": n}`): a blob client takes a batch
   * and spends one per request, so a blob request costs one round trip (docs/protocol.md).
   */
  challengesPerRequestMax: 64,
  /** A WebSocket must authenticate within this long or is closed with CLOSE.authTimeout. */
  authTimeoutMs: 10_000,

  // --- delivery
  messageIdBytes: 16,
  /** Largest payload of one application message (a SEND's ciphertext). */
  messageMaxBytes: 256 * 1024,
  /**
   * A COMMIT frame's commit and Welcome payloads together (RFC 9420 §12.4, §12.4.3.1); also the
   * largest DELIVER payload, since a delivered message can be a commit or a Welcome. Measured at
   * 1,000 members (docs/BENCHMARKS.md, MLS): a Welcome with the ratchet tree is 299 KB with X25519
   * and 2.7 MB with X-Wing, a batch-add commit with X-Wing 1.2 MB; `messageMaxBytes` would stop
   * such a group from adding anyone.
   */
  handshakeMaxBytes: 4 * 1024 * 1024,
  recipientsPerSend: 1_000,
  /** Unacknowledged messages pushed to one connection at once (DESIGN.md "Delivery"). */
  inFlightPerDevice: 256,
  /** Messages waiting in one device's mailbox before sends to it are refused. */
  mailboxMaxMessages: 100_000,
  messageTtlDefaultSecs: 30 * 24 * 3600,
  messageTtlMaxSecs: 90 * 24 * 3600,
  /** A lost bus hint delays delivery by at most this long: each connection re-reads its mailbox. */
  mailboxPollMs: 5_000,
  expirySweepMs: 60_000,
  acksPerFrame: 1_024,
  /** Recipient addresses -> device keys remembered per server instance (send path). */
  recipientCacheEntries: 100_000,

  // --- MLS delivery service (docs/protocol.md "MLS delivery")
  /**
   * One encoded KeyPackage (RFC 9420 §10). X25519/Ed25519 ones are ~300 bytes; room for a hybrid
   * ML-KEM init key and an ML-DSA-87 credential key and signature (FIPS 204: 2592 + 4627 bytes).
   */
  keyPackageMaxBytes: 16 * 1024,
  /** One-time KeyPackages one upload frame carries (with the last-resort one it fits a frame). */
  keyPackagesPerUpload: 16,
  /** One-time KeyPackages the server keeps per device (Signal keeps 100 one-time prekeys). */
  keyPackagesPerDevice: 100,
  /** An MLS group id (RFC 9420 `opaque group_id<V>`); Sealpost clients use 32 random bytes. */
  mlsGroupIdMaxBytes: 255,

  // --- frames and bodies
  /**
   * One WebSocket frame: the largest is a commit with its Welcome (`handshakeMaxBytes`) plus
   * recipients (1,000 addresses of at most 41 bytes) and framing. Each frame type bounds its own
   * fields tighter: a SEND's payload stays within `messageMaxBytes`.
   */
  wsFrameMaxBytes: 4 * 1024 * 1024 + 64 * 1024,
  /** One HTTP request body (account and device operations are small). */
  httpBodyMaxBytes: 64 * 1024,
  /**
   * Upper bound for any length-prefixed field a decoder accepts without a tighter limit; at least
   * `handshakeMaxBytes`, since a COMMIT frame's Welcome is one field.
   */
  codecFieldMaxBytes: 4 * 1024 * 1024,
  codecVectorMaxItems: 10_000,

  // --- rates (token buckets: capacity, refill per second)
  ratePerDeviceBurst: 200,
  ratePerDevicePerSec: 100,
  ratePerAddressBurst: 60,
  ratePerAddressPerSec: 20,
  /**
   * Challenges issued per address, one token each (a batch of n takes n): every blob request spends
   * one, so this is at least the blob rate below; it bounds the challenge rows one address creates.
   */
  rateChallengesPerAddressBurst: 1_024,
  rateChallengesPerAddressPerSec: 512,
  /**
   * Blob requests (/v1/blobs) are charged here instead of the address bucket above: per address
   * before authentication (several devices may share one address), then per device once signed.
   * A backup moves packs of 1-80 MiB, a restore or check may read many objects one request each.
   */
  ratePerAddressBlobBurst: 1_024,
  ratePerAddressBlobPerSec: 512,
  ratePerDeviceBlobBurst: 512,
  ratePerDeviceBlobPerSec: 256,
  /**
   * Account recoveries (`POST /v1/accounts/:username/recovery`) per username, on top of the address
   * bucket: a recovery key is 256 bits, so this is not about guessing; it caps the directory
   * submissions and account rewrites one account can be made to go through. A user recovers once.
   */
  rateRecoveryPerAccountBurst: 5,
  /** One more attempt every 12 minutes once the burst is spent. */
  rateRecoveryPerAccountPerSec: 1 / 720,
  rateBucketsMax: 100_000,

  // --- reconnects (client)
  reconnectBaseMs: 250,
  reconnectMaxMs: 30_000,

  // --- shutdown
  shutdownDrainMs: 10_000,

  // --- key transparency (draft-ietf-keytrans-protocol-04; docs/key-transparency.md)
  /** `opaque label<0..2^8-1>` (§10.6, §10.7). */
  ktLabelMaxBytes: 255,
  /** `UpdateValue.value` (§10.5): the draft allows 2^32-1 bytes; a signed device list is far smaller. */
  ktUpdateValueMaxBytes: 64 * 1024,
  /** Public keys and signatures in KT structures (`opaque<0..2^16-1>`); Ed25519 needs 32 and 64. */
  ktKeyOrSignatureMaxBytes: 1_024,
  /** Node values in one log-tree `InclusionProof` (§11.1): ~2 log2(size) per proved leaf. */
  ktLogProofMaxElements: 4_096,
  /** Lookups in one `PrefixProof` (§11.2, `results<0..2^8-1>`). */
  ktPrefixProofMaxResults: 255,
  /** Copath values in one `PrefixProof` (§11.2): ~log2(entries) per lookup, shared in a batch. */
  ktPrefixProofMaxElements: 16_384,
  /** Reuse bitmap of one prefix proof in a combined proof: one bit per copath value (docs/key-transparency.md). */
  ktPrefixReuseMaxBytes: 2_048,
  /** Entries of each list of a `CombinedTreeProof` (§11.3, `<0..2^8-1>`). */
  ktCombinedProofMaxItems: 255,
  /** Largest encoded KT proof or tree head a decoder reads. */
  ktProofMaxBytes: 1024 * 1024,
  /** Distinguished entries checked in one owner-monitoring response (§8.3 step 4, "SHOULD limit"). */
  ktMonitorMaxLadders: 32,
  /** Label versions whose search keys and commitments one search response carries. */
  ktSearchMaxLookups: 255,
  /** Witness keys a client trusts, or a server accepts cosignatures from (docs/witness.md). */
  ktWitnessKeysMax: 64,
  /** Cosignatures a client reads with one head; a head carries one per witness, more is an attack on CPU. */
  ktCosignaturesMax: 64,
  /**
   * Earlier cosigned heads served with the newest (draft-ietf-keytrans-protocol-04 §10.3 FullTreeHead,
   * with witnesses in the auditor's place): each witness's newest cosignature is on one head, so a few
   * cover the witnesses that poll at different moments.
   */
  ktCosignedHeadsMax: 8,
  /**
   * A request naming a tree size an instance has not replayed (`atLeast`, `last`, a consistency
   * proof's `to`, a cosigned head: another instance showed it newer) replays the store once, at once,
   * before answering; NOT_READY when that takes longer than this (docs/key-transparency.md "Server").
   */
  ktCatchUpMaxMs: 2_000,
  /** Head requests a client makes before it refuses a head smaller than the accepted one as `rollback`. */
  ktHeadAttempts: 3,
  /** Pause before a client's second head request, doubled before each next (300 + 600 ms). */
  ktHeadRetryMs: 300,

  // --- local key store
  /** Argon2id parameters (RFC 9106 §4, second recommended option: 64 MiB, t=3, p=4). */
  argon2MemoryKiB: 64 * 1024,
  argon2Iterations: 3,
  argon2Parallelism: 4,
  keystoreMaxBytes: 1024 * 1024,

  // --- backups (docs/backup-format.md)
  /**
   * FastCDC chunk sizes (Xia et al., USENIX ATC 2016, §4.4 normalized chunking): restic's 512 KiB /
   * 1 MiB / 8 MiB. Large chunks keep the index small (~1 M entries per TiB) and the per-blob overhead
   * (nonce, tag, header entry) under 0.01%. The average must be a power of two (it sets the masks).
   */
  backupChunkMinBytes: 512 * 1024,
  backupChunkAvgBytes: 1024 * 1024,
  backupChunkMaxBytes: 8 * 1024 * 1024,
  /** Largest tree blob (one directory listing; a 1 TB file's chunk list is ~32 MB). */
  backupTreeMaxBytes: 64 * 1024 * 1024,
  /** A writer closes a pack once it holds this much; one blob larger than this gets a pack alone. */
  backupPackTargetBytes: 16 * 1024 * 1024,
  /** Packs are padded to at least this (every smaller pack looks the same to the server). */
  backupPackMinBytes: 1024 * 1024,
  /** Largest pack a reader accepts (a lone largest tree blob, padded, fits). */
  backupPackMaxBytes: 80 * 1024 * 1024,
  backupBlobsPerPackMax: 100_000,
  /** Index files: pack and blob entries, padded. */
  backupIndexFileMaxBytes: 64 * 1024 * 1024,
  backupIndexPacksPerFileMax: 100_000,
  backupSnapshotMaxBytes: 1024 * 1024,
  backupSnapshotPathsMax: 1_024,
  backupSnapshotTagsMax: 256,
  backupSnapshotTagMaxBytes: 256,
  backupHostnameMaxBytes: 255,
  /** Names are bytes (POSIX names need not be UTF-8); 255 UTF-16 units (macOS, Windows) fit. */
  backupNameMaxBytes: 1_024,
  /** PATH_MAX on Linux. */
  backupPathMaxBytes: 4_096,
  /** Argon2id bounds for repository key files: a hostile file cannot ask for gigabytes or hours. */
  backupArgon2MemoryKiBMax: 4 * 64 * 1024,
  backupArgon2IterationsMax: 16,
  backupArgon2ParallelismMax: 16,
} as const;

export type LimitName = keyof typeof LIMITS;
