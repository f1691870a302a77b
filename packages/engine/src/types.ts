/**
 * The public types of @strata/engine: what apps (the CLI, the server) and library users program against.
 * Nothing here mentions packs or keys; those stay inside the Repository.
 */
import type { ChangeDetector, Cipher, Codec, Store } from '@strata/core';

/** pino-compatible structured logger: (fields, message) or (message). */
export interface Logger {
  debug(obj: object | string, msg?: string): void;
  info(obj: object | string, msg?: string): void;
  warn(obj: object | string, msg?: string): void;
  error(obj: object | string, msg?: string): void;
}

export interface RepositoryOptions {
  store: Store;
  /** Password that unlocks one of the repository's keys. Ignored for unencrypted repositories. */
  password: string;
  /** Codecs available to read and write blobs; blobs name their codec by id. */
  codecs?: Codec[];
  /** Ciphers available; the repository's config names the one it uses by id. */
  ciphers?: Cipher[];
  /** Local cache of index, snapshots and tree packs; false disables. Default ~/.cache/strata/<repo id>. */
  cacheDir?: string | false;
  logger?: Logger;
  /** Worker threads for chunking, hashing, compression, encryption. Default: number of CPUs. */
  workers?: number;
  /** Lock timings (tests shorten them). */
  lock?: { staleAfterMs?: number; refreshIntervalMs?: number };
}

export interface InitOptions extends RepositoryOptions {
  /** The cipher to encrypt with; null means no encryption (allowed, warned about). */
  cipher: Cipher | null;
  /** 'auto' (default), 'none', 'zstd', 'zstd:3', 'gzip:6', 'brotli:5' ... */
  compression?: string;
  /** Target pack size in bytes (default 16 MiB). */
  packSize?: number;
  /** scrypt cost; defaults N=2^15, r=8, p=1 (never below in production). */
  kdf?: { N: number; r: number; p: number };
  /** Chunker sizes (defaults 512 KiB / 1 MiB / 8 MiB). */
  chunker?: { min: number; avg: number; max: number };
}

export type BackupType = 'full' | 'incremental' | 'differential' | 'snapshot';

export interface BackupOptions {
  type?: BackupType;
  host?: string;
  tags?: string[];
  /** Snapshot time; default now. */
  time?: Date;
  excludes?: string[];
  excludeFile?: string;
  oneFileSystem?: boolean;
  /** Change detector for incremental/differential/snapshot backups. */
  detector?: ChangeDetector;
  /** Back up a stream as one file named `filename` instead of paths. */
  stdin?: { stream: AsyncIterable<Uint8Array>; filename: string };
  /** For type 'snapshot': shell commands run before reading and after (always, even on failure). */
  hooks?: { pre?: string[]; post?: string[] };
  /** For type 'snapshot': how often a file that changed while being read is read again. Default 3. */
  maxRereads?: number;
  /** Override the compression of the repository config for this backup. */
  compression?: string;
  /** Name of a backup set (recorded in the snapshot). */
  set?: string;
  /** Read back every blob of the new snapshot after writing it. */
  verify?: boolean;
  onProgress?: (event: ProgressEvent) => void;
  signal?: AbortSignal;
}

export interface ProgressEvent {
  phase: 'scan' | 'backup' | 'restore' | 'check' | 'prune' | 'copy';
  filesDone: number;
  filesTotal?: number;
  bytesDone: number;
  bytesTotal?: number;
  currentFile?: string;
  elapsedMs: number;
}

export interface BackupSummary {
  filesNew: number;
  filesChanged: number;
  filesUnmodified: number;
  dirsNew: number;
  dirsChanged: number;
  dirsUnmodified: number;
  totalFilesProcessed: number;
  totalBytesProcessed: number;
  /** Bytes of new blobs before compression and encryption. */
  dataAdded: number;
  /** Bytes those new blobs take in the store. */
  dataAddedPacked: number;
  dataBlobs: number;
  treeBlobs: number;
  durationMs: number;
}

export interface FileError {
  path: string;
  message: string;
}

export interface BackupResult {
  snapshotId: string;
  snapshot: Snapshot;
  summary: BackupSummary;
  /** Files that could not be read; the snapshot completed without them. */
  errors: FileError[];
  /** Files that kept changing while read (type 'snapshot'); recorded as inconsistent. */
  inconsistent: string[];
}

export interface Snapshot {
  id: string;
  /** ISO 8601 with milliseconds, UTC. */
  time: string;
  host: string;
  username: string;
  paths: string[];
  tags: string[];
  type: BackupType;
  parent?: string;
  set?: string;
  tree: string;
  summary: BackupSummary;
  programVersion: string;
  /** For a snapshot made by copy: the id of the snapshot it was copied from. */
  original?: string;
}

export interface SnapshotFilter {
  host?: string;
  tags?: string[];
  paths?: string[];
}

export type NodeType = 'file' | 'dir' | 'symlink' | 'fifo' | 'socket' | 'chardev' | 'blockdev';

/** One entry of `ls`: a path inside the snapshot and its metadata. */
export interface NodeEntry {
  path: string;
  type: NodeType;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  mtime: string;
  linkTarget?: string;
  sha256?: string;
}

export interface RestoreOptions {
  includes?: string[];
  excludes?: string[];
  /** Re-read every restored file and compare with its recorded SHA-256 (done while writing anyway). */
  verify?: boolean;
  overwrite?: 'always' | 'if-changed' | 'never';
  /** Keep a file whose data failed verification as NAME.strata-damaged instead of removing it. */
  keepDamaged?: boolean;
  onProgress?: (event: ProgressEvent) => void;
  signal?: AbortSignal;
}

export interface RestoreResult {
  success: boolean;
  filesRestored: number;
  dirsRestored: number;
  bytesRestored: number;
  filesSkipped: number;
  /** Files whose data could not be verified; removed (or kept as .strata-damaged). */
  damaged: FileError[];
  errors: FileError[];
  durationMs: number;
}

export interface CheckOptions {
  readData?: boolean;
  /** Read this percentage (0-100] of packs, chosen at random. */
  readDataSubset?: number;
  onProgress?: (event: ProgressEvent) => void;
}

export interface CheckProblem {
  kind: 'missing-pack' | 'corrupt-pack' | 'missing-blob' | 'corrupt-blob' | 'index' | 'snapshot' | 'tree' | 'config' | 'key';
  message: string;
  pack?: string;
  blob?: string;
  /** Snapshots and files that the damage hits. */
  snapshots?: string[];
  files?: string[];
}

export interface CheckResult {
  ok: boolean;
  errors: CheckProblem[];
  /** Things worth knowing that are not damage (unreferenced packs from an interrupted backup). */
  notes: string[];
  packsChecked: number;
  blobsChecked: number;
  snapshotsChecked: number;
}

export interface DiffEntry {
  path: string;
  change: '+' | '-' | 'M' | 'T';
}

export interface DiffResult {
  entries: DiffEntry[];
  added: number;
  removed: number;
  modified: number;
}

export interface RepositoryStats {
  snapshots: number;
  files: number;
  totalSize: number;
  uniqueBlobs: number;
  /** Bytes of referenced blobs before compression. */
  rawSize: number;
  /** Bytes in the store. */
  storedSize: number;
  packs: number;
}

export interface KeyInfo {
  id: string;
  created: string;
  host: string;
  username: string;
  current: boolean;
}

/** Retention policy: restic's semantics. Counts of -1 mean unlimited. */
export interface RetentionPolicy {
  keepLast?: number;
  keepHourly?: number;
  keepDaily?: number;
  keepWeekly?: number;
  keepMonthly?: number;
  keepYearly?: number;
  /** Durations like '30d', '1y6m', '2h' relative to the newest snapshot. */
  keepWithin?: string;
  keepWithinHourly?: string;
  keepWithinDaily?: string;
  keepWithinWeekly?: string;
  keepWithinMonthly?: string;
  keepWithinYearly?: string;
  keepTags?: string[];
}

export interface ForgetGroup {
  key: { host?: string; paths?: string[]; tags?: string[] };
  keep: Snapshot[];
  remove: Snapshot[];
  /** For every kept snapshot (in the order of keep): the rules that matched, in restic's wording. */
  reasons: {
    snapshot: string;
    matches: string[];
    /** Counts left in each counted rule after this snapshot (-1 unlimited; absent 0), as restic reports. */
    counters?: { last?: number; hourly?: number; daily?: number; weekly?: number; monthly?: number; yearly?: number };
  }[];
}

export interface ForgetOptions {
  groupBy?: ('host' | 'paths' | 'tags')[];
  dryRun?: boolean;
  filter?: SnapshotFilter;
  /** Only snapshots of this backup set (the `set` recorded at backup). */
  set?: string;
}

export interface PruneOptions {
  dryRun?: boolean;
  /** Repack packs whose unused share is above this fraction (default 0.05). */
  maxUnused?: number;
  onProgress?: (event: ProgressEvent) => void;
}

export interface PruneResult {
  packsDeleted: number;
  packsRepacked: number;
  blobsRemoved: number;
  bytesFreed: number;
  indexFilesRewritten: number;
  dryRun: boolean;
  /** Snapshots whose trees were walked, and the blobs they need. */
  snapshots?: number;
  usedBlobs?: number;
  /** Packs, and bytes of packs plus index files, in the store before and after (estimated with dryRun). */
  packsBefore?: number;
  packsAfter?: number;
  bytesBefore?: number;
  bytesAfter?: number;
  /** Packs no index listed (left by an interrupted backup); counted in packsDeleted. */
  packsUnreferenced?: number;
  /** New packs holding the repacked blobs. */
  packsWritten?: number;
  blobsRepacked?: number;
  bytesRepacked?: number;
  indexFilesBefore?: number;
  indexFilesAfter?: number;
  /** Indexed packs missing from the store that held nothing needed: dropped from the index. */
  packsMissing?: number;
  /** Unused bytes left in packs below the maxUnused threshold. */
  bytesUnusedKept?: number;
}

export interface CopyOptions {
  /** Snapshots of the source to copy (ids, prefixes, 'latest'); default all. */
  snapshots?: string[];
  onProgress?: (event: ProgressEvent) => void;
}

export interface CopyResult {
  copied: { source: string; target: string }[];
  skipped: string[];
  blobsCopied: number;
  bytesCopied: number;
}
