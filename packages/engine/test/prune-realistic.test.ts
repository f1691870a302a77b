/**
 * A realistic history: 40 daily snapshots of a small tree whose files change a little every day
 * (edits inside files, a growing log, files added and deleted), then forget with
 * keep-daily 7 / keep-weekly 4 / keep-monthly 3, then prune. Prints bytes before, after and
 * reclaimed; checks every byte and restores every kept snapshot exactly.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, expect, test } from 'vitest';
import { prune } from '../src/prune.js';
import { forgetSnapshots } from '../src/retention/forget.js';
import { compareTrees, makeRepo, randomData, tmpDir, write } from './helpers.js';
import { freeze, repoBytes, verifyRepository } from './prune-helpers.js';

const dirs: string[] = [];
const originalTz = process.env.TZ;
afterAll(() => {
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
  if (originalTz === undefined) delete process.env.TZ;
  else process.env.TZ = originalTz;
});

/** Deterministic choices for the day's changes. */
function rng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x / 0x100000000;
  };
}

test('40 snapshots with changing data: forget keeps a subset, prune reclaims the rest', async () => {
  const t = await makeRepo();
  const src = tmpDir('strata-real-src-');
  const states = tmpDir('strata-real-states-');
  dirs.push(src, states);
  const rand = rng(2024);
  let next = 0;
  const files: string[] = [];
  const addFile = () => {
    const name = `dir${next % 4}/file${next}.bin`;
    write(src, name, randomData(4 * (1_000 + Math.floor(rand() * 30_000)), 10_000 + next));
    files.push(name);
    next++;
  };
  for (let i = 0; i < 30; i++) addFile();
  const snaps: { id: string; expected: string }[] = [];
  for (let day = 0; day < 40; day++) {
    if (day > 0) {
      // Edit a region inside three files, grow the log, delete one file, add one.
      for (let k = 0; k < 3; k++) {
        const f = path.join(src, files[Math.floor(rand() * files.length)]);
        const buf = fs.readFileSync(f);
        const at = Math.floor(rand() * Math.max(1, buf.length - 2_000));
        randomData(2_000, day * 100 + k).copy(buf, at);
        fs.writeFileSync(f, buf);
      }
      fs.appendFileSync(path.join(src, 'app.log'), `day ${day}: ${'x'.repeat(3_000)}\n`);
      const gone = files.splice(Math.floor(rand() * files.length), 1)[0];
      fs.rmSync(path.join(src, gone));
      addFile();
    } else {
      write(src, 'app.log', 'start\n');
    }
    const r = await t.repo.backup([src], { time: new Date(Date.UTC(2024, 0, 1 + day, 3, 0, 0)) });
    snaps.push({ id: r.snapshotId, expected: freeze(src, path.join(states, `day${day}`)) });
  }

  process.env.TZ = 'UTC';
  const groups = await forgetSnapshots(t.repo.internals, { keepDaily: 7, keepWeekly: 4, keepMonthly: 3 });
  const kept = new Set(groups[0].keep.map((s) => s.id));
  // Days run from Mon 2024-01-01 (day 0) to Fri 2024-02-09 (day 39). Daily 7: Feb 3-9 (days 33-39).
  // Weekly 4: ISO weeks 6 (Feb 9), 5 (Feb 4), 4 (Jan 28, day 27), 3 (Jan 21, day 20). Monthly 3:
  // February (Feb 9), January (Jan 31, day 30), and the oldest, Jan 1, while a count is left.
  const keptDays = snaps.map((s, day) => (kept.has(s.id) ? day : -1)).filter((d) => d >= 0);
  expect(keptDays).toEqual([0, 20, 27, 30, 33, 34, 35, 36, 37, 38, 39]);

  const bytesBefore = repoBytes(t.dir);
  const report = await prune(t.repo.internals);
  const bytesAfter = repoBytes(t.dir);
  console.log(
    `40 snapshots, ${kept.size} kept: repository ${bytesBefore} bytes before prune, ${bytesAfter} after, ${bytesBefore - bytesAfter} reclaimed ` +
      `(prune reports ${report.bytesFreed}; ${report.packsDeleted} packs deleted, ${report.packsRepacked} repacked into ${report.packsWritten}, ` +
      `${report.blobsRemoved} blobs removed, index ${report.indexFilesRewritten} -> ${report.indexFilesAfter} files)`,
  );
  expect(report.bytesBefore).toBe(bytesBefore);
  expect(report.bytesAfter).toBe(bytesAfter);
  expect(report.bytesFreed).toBe(bytesBefore - bytesAfter);
  expect(report.bytesFreed).toBeGreaterThan(0);

  const sound = await verifyRepository(t.repo.internals);
  expect(sound.problems).toEqual([]);
  expect(sound.unreferencedPacks).toBe(0);
  const check = await t.repo.check({ readData: true });
  expect(check.errors).toEqual([]);
  for (const s of snaps) {
    if (!kept.has(s.id)) continue;
    const out = tmpDir('strata-real-restore-');
    dirs.push(out);
    const r = await t.repo.restore(s.id, out);
    expect(r.success).toBe(true);
    expect(compareTrees(s.expected, path.join(out, src), { mtimes: false })).toEqual([]);
  }
  await t.repo.close();
});
