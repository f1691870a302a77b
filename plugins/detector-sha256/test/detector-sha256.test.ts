import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { FileRecord } from '@strata/core';
import { countingContext, detectorContract, fileStateOf, sha256File } from '@strata/testkit';
import { sha256Detector, sha256DetectorDescriptor, plugins } from '@strata/detector-sha256';

detectorContract({ describe, test, expect }, () => sha256Detector(), { catchesContentChange: true });

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'strata-detector-sha256-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const T = 1_700_000_000;

async function fileWithRecord(name: string, content: Uint8Array | string): Promise<{ path: string; record: FileRecord }> {
  const path = join(dir, name);
  await writeFile(path, content);
  await utimes(path, T, T);
  return { path, record: { ...(await fileStateOf(path)), sha256: await sha256File(path) } };
}

async function detect(path: string, record: FileRecord) {
  const context = countingContext(path);
  const result = await sha256Detector().detect(record, await fileStateOf(path), context);
  return { ...result, reads: context.calls };
}

describe('sha256 detector', () => {
  test('a size change is changed without reading the file', async () => {
    const { path, record } = await fileWithRecord('a', 'twelve bytes');
    await writeFile(path, 'thirteen byte');
    expect(await detect(path, record)).toEqual({ changed: true, reason: 'size', reads: 0 });
  });

  test('a touched file with the same content is unchanged (read once)', async () => {
    const { path, record } = await fileWithRecord('b', 'same content');
    await utimes(path, T + 3600, T + 3600);
    expect(await detect(path, record)).toEqual({ changed: false, reason: 'unchanged', reads: 1 });
  });

  test('one byte changed in the middle of 3 MiB, same size and mtime, is changed', async () => {
    const data = randomBytes(3 * 1024 * 1024);
    const { path, record } = await fileWithRecord('c', data);
    data[1_500_000] ^= 0x01;
    await writeFile(path, data);
    await utimes(path, T, T);
    expect(await detect(path, record)).toEqual({ changed: true, reason: 'content', reads: 1 });
  });

  test('a record without a SHA-256 is changed; an upper-case record still matches', async () => {
    const { path, record } = await fileWithRecord('d', 'content');
    const { sha256, ...withoutHash } = record;
    expect(await detect(path, withoutHash)).toEqual({ changed: true, reason: 'content', reads: 0 });
    expect(await detect(path, { ...record, sha256: sha256!.toUpperCase() })).toEqual({ changed: false, reason: 'unchanged', reads: 1 });
  });

  test('exports its descriptor in plugins', () => {
    expect(plugins).toEqual([sha256DetectorDescriptor]);
    expect(sha256DetectorDescriptor).toMatchObject({ kind: 'detector', name: 'sha256' });
    expect(sha256DetectorDescriptor.create().readsContent).toBe(true);
  });
});
