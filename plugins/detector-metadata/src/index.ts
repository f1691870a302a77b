import type { ChangeDetector, DetectContext, Detection, DetectorDescriptor, FileRecord, FileState, PluginDescriptor } from '@strata/core';

export interface MetadataDetectorOptions {
  /**
   * Do not compare inode numbers. Default false. Set it for file systems whose inode numbers are
   * not stable across mounts (some network and FUSE file systems), as restic's --ignore-inode.
   */
  ignoreInode?: boolean;
  /** Do not compare the change time (ctime). Default false. As restic's --ignore-ctime. */
  ignoreCtime?: boolean;
}

/**
 * Decides from metadata alone, as restic does: a file is changed when its size, mtime (in
 * nanoseconds), ctime (in nanoseconds) or inode differ from the parent snapshot's record, and
 * unchanged otherwise. Never reads the file, so new content written with the same size while
 * keeping both times (possible only by setting the clock or the times back) goes unnoticed;
 * the sha256 detector catches that.
 */
export class MetadataDetector implements ChangeDetector {
  readonly name = 'metadata';
  readonly readsContent = false;
  private readonly ignoreInode: boolean;
  private readonly ignoreCtime: boolean;

  constructor(options: MetadataDetectorOptions = {}) {
    this.ignoreInode = options.ignoreInode ?? false;
    this.ignoreCtime = options.ignoreCtime ?? false;
  }

  /** Compares the record with the current stat; the reason names the first field that differs. Never calls `context`. */
  async detect(previous: FileRecord | undefined, current: FileState, _context: DetectContext): Promise<Detection> {
    if (!previous) return { changed: true, reason: 'new' };
    if (previous.size !== current.size) return { changed: true, reason: 'size' };
    if (previous.mtimeNs !== current.mtimeNs) return { changed: true, reason: 'mtime' };
    if (!this.ignoreCtime && previous.ctimeNs !== current.ctimeNs) return { changed: true, reason: 'ctime' };
    if (!this.ignoreInode && previous.inode !== current.inode) return { changed: true, reason: 'inode' };
    return { changed: false, reason: 'unchanged' };
  }
}

/** The `metadata` change detector (the default for incremental backups). */
export function metadataDetector(options?: MetadataDetectorOptions): MetadataDetector {
  return new MetadataDetector(options);
}

export const metadataDetectorDescriptor: DetectorDescriptor = {
  kind: 'detector',
  name: 'metadata',
  create: () => metadataDetector(),
};

/** What apps load from this package. */
export const plugins: PluginDescriptor[] = [metadataDetectorDescriptor];
