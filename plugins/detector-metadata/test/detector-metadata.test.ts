import { chmod, lstat, mkdtemp, rename, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { FileRecord } from '@strata/core';
import { countingContext, detectorContract, fileStateOf, sha256File } from '@strata/testkit';
import { metadataDetector, metadataDetectorDescriptor, plugins } from '@strata/detector-metadata';

detectorContract({ describe, test, expect }, () => metadataDetector(), { catchesContentChange: false });

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'strata-detector-metadata-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const T = 1_700_000_000;

async function fileWithRecord(name: string, content = 'some content\n'): Promise<{ path: string; record: FileRecord }> {
  const path = join(dir, name);
  await writeFile(path, content);
  await utimes(path, T, T);
  return { path, record: { ...(await fileStateOf(path)), sha256: await sha256File(path) } };
}

async function detect(path: string, record: FileRecord, options?: Parameters<typeof metadataDetector>[0]) {
  const context = countingContext(path);
  const result = await metadataDetector(options).detect(record, await fileStateOf(path), context);
  expect(context.calls, 'never reads').toBe(0);
  return result;
}

/** Changes the file's ctime and nothing else; waits for the file system clock to tick if it must. */
async function bumpCtime(path: string, before: bigint): Promise<void> {
  for (let mode = 0o600; (await lstat(path, { bigint: true })).ctimeNs === before; mode ^= 0o040) await chmod(path, mode);
}

describe('metadata detector', () => {
  test('names the field that changed: size, then mtime', async () => {
    const { path, record } = await fileWithRecord('a');
    expect(await detect(path, record)).toEqual({ changed: false, reason: 'unchanged' });
    await writeFile(path, 'some content, longer\n');
    await utimes(path, T + 1, T + 1);
    expect(await detect(path, record)).toEqual({ changed: true, reason: 'size' });
    await writeFile(path, 'SOME CONTENT\n');
    expect(await detect(path, record)).toEqual({ changed: true, reason: 'mtime' });
  });

  test('mtime is compared to the nanosecond', async () => {
    const { path, record } = await fileWithRecord('ns');
    await utimes(path, T, T + 0.000_01);
    const now = await fileStateOf(path);
    expect(now.mtimeNs - record.mtimeNs).toBeGreaterThan(0n);
    expect(now.mtimeNs - record.mtimeNs).toBeLessThan(1_000_000n);
    expect(await detect(path, record)).toEqual({ changed: true, reason: 'mtime' });
  });

  test('a ctime change (chmod) is changed, unless ctime is ignored', async () => {
    const { path, record } = await fileWithRecord('b');
    await bumpCtime(path, record.ctimeNs);
    expect(await detect(path, record)).toEqual({ changed: true, reason: 'ctime' });
    expect(await detect(path, record, { ignoreCtime: true })).toEqual({ changed: false, reason: 'unchanged' });
  });

  test('a file replaced by another with the same size and mtime is changed by inode', async () => {
    const { path, record } = await fileWithRecord('c');
    const other = join(dir, 'c.new');
    await writeFile(other, 'SOME CONTENT\n');
    await utimes(other, T, T);
    await rename(other, path);
    expect((await fileStateOf(path)).inode).not.toBe(record.inode);
    expect(await detect(path, record, { ignoreCtime: true })).toEqual({ changed: true, reason: 'inode' });
    expect(await detect(path, record, { ignoreCtime: true, ignoreInode: true })).toEqual({ changed: false, reason: 'unchanged' });
  });

  test('exports its descriptor in plugins', () => {
    expect(plugins).toEqual([metadataDetectorDescriptor]);
    expect(metadataDetectorDescriptor).toMatchObject({ kind: 'detector', name: 'metadata' });
    const made = metadataDetectorDescriptor.create();
    expect(made.name).toBe('metadata');
    expect(made.readsContent).toBe(false);
  });
});
