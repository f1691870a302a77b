/**
 * A ChangeDetector decides whether a file may reuse the content recorded in the parent snapshot
 * without being read. It is asked once per regular file that has a record in the parent.
 */

/** What the parent snapshot recorded about a file (from its tree node). */
export interface FileRecord {
  size: number;
  /** Nanoseconds since the epoch. */
  mtimeNs: bigint;
  ctimeNs: bigint;
  inode: bigint;
  device: bigint;
  /** Hex SHA-256 of the whole content, as recorded at backup. */
  sha256?: string;
}

/** The file as it is now (from lstat with bigint times). */
export interface FileState {
  size: number;
  mtimeNs: bigint;
  ctimeNs: bigint;
  inode: bigint;
  device: bigint;
}

export interface DetectContext {
  /** Reads the file now and returns its hex SHA-256. Costs a full read; call only when needed. */
  sha256(): Promise<string>;
}

export interface Detection {
  changed: boolean;
  /** Why, for verbose output: 'size', 'mtime', 'ctime', 'inode', 'content', 'new', 'unchanged'. */
  reason: string;
}

export interface ChangeDetector {
  /** Name used on the command line: `metadata`, `sha256`. */
  readonly name: string;
  /** True when the detector notices a change that keeps size and mtime (it reads content). */
  readonly readsContent: boolean;

  /**
   * Compares the recorded file with its current state. `previous` undefined means the file is
   * new. Must not modify the file. May call `context.sha256()`.
   */
  detect(previous: FileRecord | undefined, current: FileState, context: DetectContext): Promise<Detection>;
}
