import fs from 'node:fs';
import path from 'node:path';
import { CorruptError, LockedError } from '@strata/core';
import { faultyStore } from '@strata/testkit';
import { localStore } from '@strata/store-local';
import { afterEach, describe, expect, test } from 'vitest';
import { Repository } from '../src/index.js';
import { prune } from '../src/prune.js';
import { forgetSnapshots } from '../src/retention/forget.js';
import { ciphers, codecs, compareTrees, makeRepo, PASSWORD, randomData, tmpDir, write } from './helpers.js';
import { copyTree, freeze, storeListing, verifyRepository } from './prune-helpers.js';

const cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanup.splice(0)) await c();
});

async function restoresExactly(repo: Repository, snapshotId: string, expected: string, src: string): Promise<void> {
  const out = tmpDir('strata-prune-restore-');
  const r = await repo.restore(snapshotId, out);
  expect(r.errors).toEqual([]);
  expect(r.damaged).toEqual([]);
  expect(r.success).toBe(true);
  expect(compareTrees(expected, path.join(out, src), { mtimes: false })).toEqual([]);
  fs.rmSync(out, { recursive: true, force: true });
}

/**
 * Three snapshots: the first holds 30 small files in one data pack; the second drops 12 of them and
 * adds two; the third drops one more. Forgetting the first leaves its pack one third unused.
 */
async function sparseRepo() {
  const t = await makeRepo();
  cleanup.push(() => t.repo.close());
  const src = tmpDir('strata-prune-src-');
  const states = tmpDir('strata-prune-states-');
  for (let i = 0; i < 30; i++) write(src, `f${String(i).padStart(2, '0')}.bin`, randomData(20_000, 100 + i));
  const s1 = await t.repo.backup([src], { time: new Date('2024-01-01T00:00:00Z') });
  const e1 = freeze(src, path.join(states, 's1'));
  for (let i = 0; i < 12; i++) fs.rmSync(path.join(src, `f${String(i).padStart(2, '0')}.bin`));
  write(src, 'new-a.bin', randomData(50_000, 7));
  write(src, 'new-b.bin', randomData(50_000, 8));
  const s2 = await t.repo.backup([src], { time: new Date('2024-01-02T00:00:00Z') });
  const e2 = freeze(src, path.join(states, 's2'));
  fs.rmSync(path.join(src, 'f29.bin'));
  const s3 = await t.repo.backup([src], { time: new Date('2024-01-03T00:00:00Z') });
  const e3 = freeze(src, path.join(states, 's3'));
  return { t, src, snaps: [s1, s2, s3].map((s) => s.snapshotId), expected: [e1, e2, e3] };
}

describe('prune', () => {
  test('deletes unused packs, repacks sparse ones, and kept snapshots restore exactly', async () => {
    const { t, src, snaps, expected } = await sparseRepo();
    const groups = await forgetSnapshots(t.repo.internals, { keepLast: 2 });
    expect(groups[0].remove.map((s) => s.id)).toEqual([snaps[0]]);

    const before = await verifyRepository(t.repo.internals);
    expect(before.problems).toEqual([]);
    const report = await prune(t.repo.internals);
    expect(report.dryRun).toBe(false);
    expect(report.snapshots).toBe(2);
    // The first snapshot's data pack keeps 18 of 30 files: 40% unused, above 5%, so it is repacked.
    expect(report.packsRepacked).toBeGreaterThanOrEqual(1);
    expect(report.blobsRepacked).toBeGreaterThanOrEqual(18);
    expect(report.packsWritten).toBeGreaterThanOrEqual(1);
    // The 12 files only the first snapshot had are gone, and its tree.
    expect(report.blobsRemoved).toBeGreaterThanOrEqual(13);
    expect(report.bytesFreed).toBeGreaterThan(12 * 20_000 * 0.9);
    expect(report.bytesAfter).toBe(report.bytesBefore - report.bytesFreed);
    expect(report.indexFilesAfter).toBe(1);

    const after = await verifyRepository(t.repo.internals);
    expect(after.problems).toEqual([]);
    expect(after.unreferencedPacks).toBe(0);
    // Every indexed blob is now needed by a kept snapshot, except what the 5% rule lets stay.
    expect(after.snapshots).toBe(2);

    // The same process and a fresh one both restore the kept snapshots byte for byte.
    await restoresExactly(t.repo, snaps[1], expected[1], src);
    await restoresExactly(t.repo, snaps[2], expected[2], src);
    const fresh = await t.open();
    cleanup.push(() => fresh.close());
    await restoresExactly(fresh, snaps[1], expected[1], src);
    await restoresExactly(fresh, snaps[2], expected[2], src);

    // Nothing left to do the second time.
    const again = await prune(fresh.internals);
    expect(again.packsDeleted).toBe(0);
    expect(again.packsRepacked).toBe(0);
    expect(again.bytesFreed).toBe(0);
  });

  test('a dry run reports the same plan and writes nothing', async () => {
    const { t, snaps } = await sparseRepo();
    await forgetSnapshots(t.repo.internals, { keepLast: 2 });
    const listing = await storeListing(t.repo.internals.store);
    const dry = await prune(t.repo.internals, { dryRun: true });
    expect(await storeListing(t.repo.internals.store)).toEqual(listing);
    expect(dry.dryRun).toBe(true);
    const real = await prune(t.repo.internals);
    expect(dry.packsDeleted).toBe(real.packsDeleted);
    expect(dry.packsRepacked).toBe(real.packsRepacked);
    expect(dry.blobsRemoved).toBe(real.blobsRemoved);
    expect(dry.blobsRepacked).toBe(real.blobsRepacked);
    // The estimate leaves out index bytes and pack headers: within a few percent of the real figure.
    expect(Math.abs(dry.bytesFreed - real.bytesFreed)).toBeLessThan(real.bytesFreed * 0.05);
    expect(snaps).toHaveLength(3);
  });

  test('maxUnused 1 repacks nothing; maxUnused 0 repacks every pack with unused bytes', async () => {
    const a = await sparseRepo();
    await forgetSnapshots(a.t.repo.internals, { keepLast: 2 });
    const tolerant = await prune(a.t.repo.internals, { maxUnused: 1 });
    expect(tolerant.packsRepacked).toBe(0);
    expect(tolerant.bytesUnusedKept).toBeGreaterThan(12 * 20_000 * 0.9);
    expect((await verifyRepository(a.t.repo.internals)).problems).toEqual([]);
    const strict = await prune(a.t.repo.internals, { maxUnused: 0 });
    expect(strict.packsRepacked).toBeGreaterThanOrEqual(1);
    expect(strict.bytesUnusedKept).toBe(0);
    expect((await verifyRepository(a.t.repo.internals)).problems).toEqual([]);
    await restoresExactly(a.t.repo, a.snaps[2], a.expected[2], a.src);
  });

  test('with every snapshot forgotten, every pack and index file goes', async () => {
    const { t } = await sparseRepo();
    const groups = await forgetSnapshots(t.repo.internals, { keepTags: ['nobody-has-it'] });
    expect(groups[0].keep).toEqual([]);
    const report = await prune(t.repo.internals);
    expect(report.packsAfter).toBe(0);
    expect(report.indexFilesAfter).toBe(0);
    expect(report.bytesAfter).toBe(0);
    expect(await storeListing(t.repo.internals.store)).toEqual((await storeListing(t.repo.internals.store)).filter((k) => k.startsWith('config') || k.startsWith('keys/')));
    const check = await t.repo.check({ readData: true });
    expect(check.errors).toEqual([]);
  });

  test('a bad maxUnused is refused', async () => {
    const t = await makeRepo();
    cleanup.push(() => t.repo.close());
    await expect(prune(t.repo.internals, { maxUnused: 5 })).rejects.toThrow(/fraction/);
  });

  test('after prune, a backup in the same process stores again the data prune removed', async () => {
    const { t, src, snaps, expected } = await sparseRepo();
    await forgetSnapshots(t.repo.internals, { keepLast: 1 });
    await prune(t.repo.internals);
    // Bring back the first state: its 12 dropped files are no longer in the repository.
    fs.rmSync(src, { recursive: true });
    copyTree(expected[0], src);
    const r = await t.repo.backup([src], { type: 'full' });
    expect(r.summary.dataBlobs).toBeGreaterThanOrEqual(12);
    expect((await verifyRepository(t.repo.internals)).problems).toEqual([]);
    await restoresExactly(t.repo, r.snapshotId, expected[0], src);
    expect(snaps).toHaveLength(3);
  });

  test('packs left by an interrupted backup (no index file) are deleted', async () => {
    const t = await makeRepo();
    cleanup.push(() => t.repo.close());
    const src = tmpDir('strata-prune-src-');
    write(src, 'keep.bin', randomData(100_000, 1));
    const kept = await t.repo.backup([src]);
    const keptState = freeze(src, path.join(tmpDir(), 'kept'));
    // A second backup whose index upload fails: its packs reach the store, its index never does.
    write(src, 'lost.bin', randomData(300_000, 2));
    const broken = faultyStore(localStore(t.dir), { fault: 'permanent', operations: ['put'], keyPrefix: 'index/' });
    const r2 = await Repository.open({ store: broken, password: PASSWORD, codecs: codecs(), ciphers: ciphers(), cacheDir: false, workers: 2 });
    await expect(r2.backup([src])).rejects.toThrow();
    await r2.close();
    const before = await verifyRepository(t.repo.internals);
    expect(before.problems).toEqual([]);
    expect(before.unreferencedPacks).toBeGreaterThanOrEqual(1);
    const report = await prune(t.repo.internals);
    expect(report.packsUnreferenced).toBe(before.unreferencedPacks);
    expect(report.bytesFreed).toBeGreaterThan(250_000);
    const after = await verifyRepository(t.repo.internals);
    expect(after.problems).toEqual([]);
    expect(after.unreferencedPacks).toBe(0);
    fs.rmSync(path.join(src, 'lost.bin'));
    await restoresExactly(t.repo, kept.snapshotId, keptState, src);
  });

  test('many small index files are consolidated into one, nothing else changes', async () => {
    const t = await makeRepo();
    cleanup.push(() => t.repo.close());
    const src = tmpDir('strata-prune-src-');
    for (let i = 0; i < 5; i++) {
      write(src, `f${i}.bin`, randomData(30_000, 50 + i));
      await t.repo.backup([src]);
    }
    const before = await verifyRepository(t.repo.internals);
    const indexBefore = (await storeListing(t.repo.internals.store)).filter((k) => k.startsWith('index/'));
    expect(indexBefore.length).toBeGreaterThanOrEqual(5);
    const report = await prune(t.repo.internals);
    expect(report.packsDeleted).toBe(0);
    expect(report.packsRepacked).toBe(0);
    expect(report.indexFilesRewritten).toBe(indexBefore.length);
    expect(report.indexFilesAfter).toBe(1);
    const after = await verifyRepository(t.repo.internals);
    expect(after.problems).toEqual([]);
    expect(after.blobs).toBe(before.blobs);
    expect((await storeListing(t.repo.internals.store)).filter((k) => k.startsWith('index/'))).toHaveLength(1);
  });

  test('a snapshot that needs a missing pack stops prune before anything is deleted', async () => {
    const { t } = await sparseRepo();
    await forgetSnapshots(t.repo.internals, { keepLast: 2 });
    // Delete a data pack that the kept snapshots need.
    const needed = [...t.repo.internals.index.entries()].find((e) => e.type === 0)!;
    fs.rmSync(path.join(t.dir, 'data', needed.pack.slice(0, 2), needed.pack));
    const listing = await storeListing(t.repo.internals.store);
    const err = await prune(t.repo.internals).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CorruptError);
    expect((err as Error).message).toMatch(/nothing was deleted/);
    expect(await storeListing(t.repo.internals.store)).toEqual(listing);
  });

  test('a damaged snapshot file stops prune before anything is deleted', async () => {
    const { t, snaps } = await sparseRepo();
    const file = path.join(t.dir, 'snapshots', snaps[2]);
    const bytes = fs.readFileSync(file);
    bytes[bytes.length - 5] ^= 0x40;
    fs.writeFileSync(file, bytes);
    const listing = await storeListing(t.repo.internals.store);
    await expect(prune(t.repo.internals)).rejects.toThrow(CorruptError);
    expect(await storeListing(t.repo.internals.store)).toEqual(listing);
  });

  test('prune waits for nobody: a live lock of another process makes it fail at once', async () => {
    const t = await makeRepo();
    cleanup.push(() => t.repo.close());
    const other = await t.open();
    cleanup.push(() => other.close());
    const held = await other.internals.lock(false);
    try {
      await expect(prune(t.repo.internals)).rejects.toThrow(LockedError);
    } finally {
      await held.release();
    }
  });
});
