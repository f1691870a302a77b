import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { lstat, mkdtemp, readFile, rm, utimes, writeFile, appendFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ChangeDetector, DetectContext, Detection, FileRecord, FileState } from '@strata/core';
import type { ContractRunner } from './store.js';

export interface DetectorContractOptions {
  /**
   * True when the detector claims to notice new content that keeps the size and the mtime
   * (it must then also declare `readsContent: true`). Only then is that case asserted.
   */
  catchesContentChange: boolean;
}

/** Makes the detector under test; called once per test. */
export type DetectorFactory = () => Promise<ChangeDetector> | ChangeDetector;

/** A fixed, whole-second mtime, so restoring it with utimes() gives back the very same nanoseconds. */
const FIXED_MTIME = 1_700_000_000;

/** The file as lstat (with bigint times) sees it now. */
export async function fileStateOf(path: string): Promise<FileState> {
  const st = await lstat(path, { bigint: true });
  return { size: Number(st.size), mtimeNs: st.mtimeNs, ctimeNs: st.ctimeNs, inode: st.ino, device: st.dev };
}

/** Hex SHA-256 of a file, read as a stream. */
export async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** A DetectContext that really reads and hashes `path`, counting how often it was asked to. */
export function countingContext(path: string): DetectContext & { calls: number } {
  const context = {
    calls: 0,
    async sha256() {
      context.calls += 1;
      return sha256File(path);
    },
  };
  return context;
}

/** What a backup would have recorded for the file now: its lstat and its SHA-256. */
async function recordOf(path: string): Promise<FileRecord> {
  return { ...(await fileStateOf(path)), sha256: await sha256File(path) };
}

/** Rewrites a file in place (same inode) with `content`. */
async function rewrite(path: string, content: string): Promise<void> {
  await writeFile(path, content, { flag: 'r+' });
}

/**
 * The suite every ChangeDetector runs, on real files in a temporary folder: an unchanged file is
 * unchanged; a new file, a size change and an mtime change are changed; new content with the same
 * size and mtime is asserted changed only for detectors that read content. A detector that does
 * not read content must never call `context.sha256()`, and no detector may modify the file.
 */
export function detectorContract(runner: ContractRunner, makeDetector: DetectorFactory, opts: DetectorContractOptions): void {
  const { describe, expect } = runner;

  function t(name: string, body: (detector: ChangeDetector, dir: string) => Promise<void>): void {
    runner.test(name, async () => {
      const dir = await mkdtemp(join(tmpdir(), 'strata-detector-'));
      try {
        await body(await makeDetector(), dir);
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    });
  }

  /** Calls detect and checks what every detector owes: a well-formed answer, an untouched file, no reads it did not claim. */
  async function detect(detector: ChangeDetector, path: string, previous: FileRecord | undefined): Promise<Detection & { reads: number }> {
    const before = await readFile(path);
    const stateBefore = await fileStateOf(path);
    const context = countingContext(path);
    const result = await detector.detect(previous, stateBefore, context);
    expect(typeof result.changed, 'detect() answers changed: boolean').toBe('boolean');
    expect(typeof result.reason === 'string' && result.reason.length > 0, 'detect() gives a reason').toBe(true);
    expect((await readFile(path)).equals(before), 'detect() leaves the content alone').toBe(true);
    expect((await fileStateOf(path)).mtimeNs, 'detect() leaves the mtime alone').toBe(stateBefore.mtimeNs);
    if (!detector.readsContent) expect(context.calls, 'a detector that does not read content never calls sha256()').toBe(0);
    return { ...result, reads: context.calls };
  }

  async function fixture(dir: string, content: string): Promise<string> {
    const path = join(dir, 'file.txt');
    await writeFile(path, content);
    await utimes(path, FIXED_MTIME, FIXED_MTIME);
    return path;
  }

  describe('detector contract', () => {
    t('declares a name and readsContent as claimed', async (detector) => {
      expect(typeof detector.name === 'string' && /^[a-z0-9-]+$/.test(detector.name), 'name is a short lower-case word').toBe(true);
      expect(detector.readsContent, 'readsContent matches catchesContentChange').toBe(opts.catchesContentChange);
    });

    t('a file with no record is changed', async (detector, dir) => {
      const path = await fixture(dir, 'hello');
      expect((await detect(detector, path, undefined)).changed, 'new file').toBe(true);
    });

    t('an unchanged file is unchanged', async (detector, dir) => {
      const path = await fixture(dir, 'hello, world\n');
      const record = await recordOf(path);
      const result = await detect(detector, path, record);
      expect(result.changed, `unchanged file (reason "${result.reason}")`).toBe(false);
      // A second look gives the same answer: detect() has no hidden state.
      expect((await detect(detector, path, record)).changed, 'unchanged file, asked again').toBe(false);
    });

    t('a size change is changed', async (detector, dir) => {
      const path = await fixture(dir, 'hello, world\n');
      const record = await recordOf(path);
      await appendFile(path, 'more\n');
      await utimes(path, FIXED_MTIME, FIXED_MTIME);
      expect((await detect(detector, path, record)).changed, 'grown file with the same mtime').toBe(true);
    });

    t('an mtime change with new content of the same size is changed', async (detector, dir) => {
      const path = await fixture(dir, 'hello, world\n');
      const record = await recordOf(path);
      await rewrite(path, 'HELLO, WORLD\n');
      await utimes(path, FIXED_MTIME + 60, FIXED_MTIME + 60);
      expect((await detect(detector, path, record)).changed, 'edited file').toBe(true);
    });

    t('an mtime change alone (touch)', async (detector, dir) => {
      const path = await fixture(dir, 'hello, world\n');
      const record = await recordOf(path);
      await utimes(path, FIXED_MTIME + 60, FIXED_MTIME + 60);
      const result = await detect(detector, path, record);
      // Without reading, a touched file cannot be told from an edited one; a content reader may keep it.
      if (!detector.readsContent) expect(result.changed, 'touched file').toBe(true);
    });

    t('new content with the same size and mtime', async (detector, dir) => {
      const path = await fixture(dir, 'hello, world\n');
      const record = await recordOf(path);
      await rewrite(path, 'jello, world\n');
      await utimes(path, FIXED_MTIME, FIXED_MTIME);
      const now = await fileStateOf(path);
      expect(now.size === record.size && now.mtimeNs === record.mtimeNs, 'size and mtime are as recorded').toBe(true);
      const result = await detect(detector, path, record);
      // Only a detector that reads content can see this; for the others either answer is allowed.
      if (opts.catchesContentChange) {
        expect(result.changed, 'same size and mtime, new content').toBe(true);
        expect(result.reads > 0, 'the content was read to find it').toBe(true);
      }
    });
  });
}
