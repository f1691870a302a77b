import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, test } from 'vitest';
import { compareTrees, makeRepo, randomData, tmpDir, write } from './helpers.js';

const cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanup.splice(0)) await c();
});

describe('backup and restore', () => {
  test('a small tree round-trips', async () => {
    const t = await makeRepo();
    cleanup.push(() => t.repo.close());
    const src = tmpDir();
    write(src, 'a.txt', 'hello world\n'.repeat(1000));
    write(src, 'sub/b.bin', randomData(300_000, 7));
    write(src, 'sub/deeper/empty', '');
    fs.mkdirSync(path.join(src, 'emptydir'));
    fs.symlinkSync('a.txt', path.join(src, 'link'));
    const events: string[] = [];
    const r = await t.repo.backup([src], { onProgress: (e) => events.push(e.phase) });
    expect(r.errors).toEqual([]);
    expect(r.summary.filesNew).toBe(3);
    expect(events).toContain('backup');
    const out = tmpDir();
    const restoreEvents: number[] = [];
    const rr = await t.repo.restore('latest', out, { onProgress: (e) => restoreEvents.push(e.filesDone) });
    expect(restoreEvents[restoreEvents.length - 1]).toBe(3);
    expect(rr.damaged).toEqual([]);
    expect(rr.errors).toEqual([]);
    expect(rr.success).toBe(true);
    expect(compareTrees(src, path.join(out, src))).toEqual([]);
    const r2 = await t.repo.backup([src]);
    expect(r2.summary.filesUnmodified).toBe(3);
    expect(r2.snapshot.parent).toBe(r.snapshotId);
    // Only the chain of parent directories (their mtimes moved) is new.
    expect(r2.summary.dataBlobs).toBe(0);
    expect(r2.summary.dataAdded).toBeLessThan(4096);
    const sub = await t.repo.check({ readDataSubset: 50 });
    expect(sub.ok).toBe(true);
    expect(sub.packsChecked).toBeGreaterThan(0);
  });
});
