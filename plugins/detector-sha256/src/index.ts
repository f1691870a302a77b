import type { ChangeDetector, DetectContext, Detection, DetectorDescriptor, FileRecord, FileState, PluginDescriptor } from '@strata/core';

/**
 * Decides by content: a file whose size differs is changed without being read; otherwise its
 * SHA-256 is computed now (`context.sha256()`, a full read) and compared with the one recorded at
 * backup. Catches new content that keeps the size and the mtime, at the cost of reading every
 * file of the same size. A record without a SHA-256 counts as changed.
 */
export class Sha256Detector implements ChangeDetector {
  readonly name = 'sha256';
  readonly readsContent = true;

  /** Reads the file (through `context.sha256()`) only when the size matches the record. */
  async detect(previous: FileRecord | undefined, current: FileState, context: DetectContext): Promise<Detection> {
    if (!previous) return { changed: true, reason: 'new' };
    if (previous.size !== current.size) return { changed: true, reason: 'size' };
    if (!previous.sha256) return { changed: true, reason: 'content' };
    const now = await context.sha256();
    return now.toLowerCase() === previous.sha256.toLowerCase() ? { changed: false, reason: 'unchanged' } : { changed: true, reason: 'content' };
  }
}

/** The `sha256` change detector. */
export function sha256Detector(): Sha256Detector {
  return new Sha256Detector();
}

export const sha256DetectorDescriptor: DetectorDescriptor = {
  kind: 'detector',
  name: 'sha256',
  create: () => sha256Detector(),
};

/** What apps load from this package. */
export const plugins: PluginDescriptor[] = [sha256DetectorDescriptor];
