/**
 * The backup engine's own sizes, in one table (STYLE.md §5). The format's limits (chunk, pack, index
 * and tree sizes) are core's `LIMITS.backup*`; these are the engine's choices on top of them.
 */
import { LIMITS } from '@sealpost/core';

export const BACKUP_ENGINE_LIMITS = {
  /** Bytes read from a source file at a time (with the 8 MiB chunk buffer, a run's file memory). */
  readBufferBytes: 1024 * 1024,
  /**
   * Files a backup reads and chunks at once (backup.ts). Each lane reads straight into its chunk
   * buffer (up to LIMITS.backupChunkMaxBytes, touched only as far as its largest chunk, in reads of
   * readBufferBytes); one file at a time left both cores idle most of a run over small files.
   */
  backupFilesInFlight: 4,
  /**
   * Files a backup has with its sealer at once when the sealer reads whole files (worker threads:
   * BlobSealer.sealFile): a file waiting there holds no memory, and enough must wait for every
   * worker to go from one file to the next without a round trip to this thread, while the walk
   * reads directories ahead (Debian set, 2 workers: 16 left them idle ~40% of backup 1, 64 ~20%,
   * and 256 cost more CPU on this thread for its pending promises).
   */
  backupFileJobsInFlight: 64,
  /**
   * New files a backup leaves with its sealer (sealing on worker threads) before this thread
   * reads and seals one itself (backup.ts `file`, `#fileHere`): the CLI runs one sealing worker
   * fewer than there are cores, and the engine thread fills the rest of its core. A worker thread
   * costs ~70 MiB of RSS (docs/backup-engine.md "Memory, session 9").
   */
  backupFilesHereAbove: 32,
  /**
   * New files this thread reads and seals at once when it takes them from the sealer (each holds
   * a chunk buffer, 8 MiB at most). Debian set, 2 cores, one worker: 1 at a time 6.96-7.10 s and
   * 207 MiB, 2 at a time 7.16-8.67 s and 209-224 MiB, 4 at a time 6.19-6.26 s and 215-235 MiB;
   * two workers and none taken 5.98-6.75 s and 243-261 MiB.
   */
  backupFilesTakenMax: 1,
  /**
   * Ids a backup shares with its sealing workers so that they skip chunks the repository holds
   * (BlobReader.liveIdWords, SealerFactory `known`): 32 bytes each, in memory the workers share. A
   * larger repository's workers seal every chunk of a new file and the engine thread drops the
   * known ones, as before (2 million ids: 64 MiB, ~2 TB of 1 MiB chunks).
   */
  knownIdsSharedMax: 2_000_000,
  /**
   * Slots of the table in which a run's sealing workers claim the ids of the chunks they seal
   * (packages/client/node/backup-claims.ts), so that a chunk repeated within the run is sealed
   * once: 16 bytes a slot (2 MiB, in memory the workers share), claims stop at three quarters full
   * (98,304 chunks: the Debian set's first backup makes ~80,000), and later repeats are sealed
   * again and dropped by the engine thread, as without the table.
   */
  backupClaimSlots: 1 << 17,
  /**
   * How much lower than the engine thread's the backup worker threads' scheduling priority is (a
   * nice increment, Linux): the engine thread feeds them, and waiting behind them for a time slice
   * left them without work (backup-workers.ts `lowerThreadPriority`).
   */
  workerNiceIncrement: 5,
  /**
   * How long an object being written to a local repository's tmp/ may go untouched before a later
   * backup removes it as a killed run's leftover (packages/client/node/backup-local-repo.ts: a
   * pack is appended to as it fills, so a live one is touched every few seconds at most).
   */
  localTmpStaleMs: 24 * 60 * 60 * 1000,
  /** lstat calls a backup has in flight at once (each costs a round trip to the thread pool). */
  backupStatsInFlight: 16,
  /**
   * Blobs added (backup) or opened (restore, check) between calls to `deps.reclaim`, which frees dead zstd contexts
   * (backup-reclaim.ts): each holds up to a few MiB of native memory until it is collected.
   */
  reclaimEveryBlobs: 16,
  /**
   * Plaintext bytes a backup adds between calls to `deps.reclaim` when workers seal: this thread
   * then makes no zstd context, and what dies here is its read copies and the sealed blobs it has
   * copied into packs: a GC per MiB holds RSS where one per 16 blobs did, and over small files
   * costs less (one per 16 blobs took ~5% of a run; none at all added ~40 MiB of RSS).
   */
  reclaimEveryBytes: 1024 * 1024,
  /**
   * Bytes from the end of an unlisted pack that resuming reads to find its header (resume.ts): the
   * same for every pack, so the range shows nothing; the header holds 45 bytes a blob plus the
   * pack's Padmé padding (under 512 KiB at 16 MiB, backup-format.md §Padding): a full pack's fits.
   */
  resumeTailBytes: 4 * 1024 * 1024,
  /**
   * Packs `check --read-data` has in flight (check.ts): being read and hashed here, or verified
   * (pack-verifier.ts, on workers); each holds its pack (16 MiB, LIMITS.backupPackMaxBytes at most).
   * One at a time left the second core idle (check ran at half restic's speed). With two (one on a
   * worker, one here) the worker sat idle a third of the run, waiting for this thread to finish its
   * pack and hand it the next; three (two for the worker) took the Debian set's check from 4.7-4.8 s
   * to 4.1-4.2 s for ~40 MiB more RSS (still under backup 1's peak); four gained nothing more.
   * Two again (session 8), now that the engine thread verifies a pack itself as soon as the worker
   * has one (backup-workers.ts BUSY_BEFORE_INLINE.verify = 1, was 2: the third pack waited in the
   * worker's queue): Debian set, 3 alternating rounds, 4.39-4.79 -> 4.51-4.85 s, peak RSS 229-254
   * -> 221-223 MiB.
   */
  checkPacksInFlight: 2,
  /** Whole packs a reader keeps for trees and lookups (each at most LIMITS.backupPackMaxBytes). */
  packCacheCount: 2,
  /**
   * Bytes of a pack a restore reads at once (restore.ts): the blobs it needs from a pack are read
   * in ranges of consecutive blobs spanning at most this (a longer blob alone), each range into a
   * reused buffer, where whole packs (16 MiB) took ~50 MiB of buffers for the restorer's lanes and
   * the read ahead. A chunk's most, so that a range takes at least any one blob.
   */
  restoreReadBytes: LIMITS.backupChunkMaxBytes,
  /** Chunk writes a restore runs at once, across files (each holds its chunk, 8 MiB at most). */
  restoreWritesInFlight: 8,
  /** Partial files a restore keeps open; beyond this the least recently written is closed. */
  restoreOpenFilesMax: 64,
  /** Restore leaves aligned runs of zeros this long as holes (sparse files). */
  holeBlockBytes: 64 * 1024,
  /** An index file is split once its content would pass this (half the format's maximum). */
  indexContentBudgetBytes: LIMITS.backupIndexFileMaxBytes / 2,
  /** zstd level for new blobs (level 1 ~360 MB/s, level 3 ~270 MB/s here: DESIGN.md "Backups"). */
  zstdLevel: 1,
  /** zstd level of runs that compress for size (sealer.ts CompressionEffort `small`: runs with a parent). */
  zstdLevelSmall: 3,
  /**
   * New blobs being sealed at once (sealer.ts), across all workers. Each holds a copy of its chunk
   * (1 MiB on average, 8 MiB at most) until it is added to a pack, so this bounds that memory.
   */
  sealQueueBlobs: 8,
  /**
   * Full packs a backup stores at once while it fills the next (pack-sink.ts): an upload or fsync
   * awaited in line stopped reading, chunking and sealing meanwhile. Each holds its pack's buffer
   * (16 MiB, LIMITS.backupPackTargetBytes, plus its last blob).
   */
  packsStoringMax: 1,
  /**
   * How long a pack stays condemned before a prune may delete it (grace.ts). It must exceed, by far,
   * the clock difference between devices plus the seconds a backup takes from its final check to
   * its snapshot; a backup running longer than half of it while a prune condemns its packs walks
   * again. A day, so that prunes free space a day late and no backup of a day's length is disturbed.
   */
  pruneGraceMs: 24 * 60 * 60 * 1000,
  /** A pack whose unused bytes reach this share of it is rewritten by prune (restic: 5% overall). */
  pruneRepackUnusedShare: 0.2,
  /** Times the index files are read afresh when a prune replaces them during the reading. */
  indexReadAttempts: 5,
  /** Walks a backup makes before giving up when prunes keep condemning what it needs. */
  backupAttempts: 3,
} as const;
