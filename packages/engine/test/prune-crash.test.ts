/**
 * A prune killed with SIGKILL at any moment leaves a repository that checks clean (also reading every
 * byte) and from which every kept snapshot restores exactly; a later prune finishes the job.
 * The kill comes from inside the child: its store wrapper kills the process right after the N-th
 * change (put or delete) completes, for N across the whole run (repack writes, index writes, index
 * deletes, pack deletes).
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { localStore } from '@strata/store-local';
import { Repository } from '../src/index.js';
import { prune } from '../src/prune.js';
import { forgetSnapshots } from '../src/retention/forget.js';
import { ciphers, codecs, compareTrees, makeRepo, PASSWORD, randomData, tmpDir, write } from './helpers.js';
import { type Consistency, copyTree, freeze, verifyRepository } from './prune-helpers.js';

const here = path.dirname(fileURLToPath(import.meta.url));
// tsx as a loader in the same process (its CLI would run the script in a grandchild).
const tsx = pathToFileURL(createRequire(import.meta.url).resolve('tsx/esm')).href;
const child = path.join(here, 'prune-crash-child.ts');

interface Fixture {
  template: string;
  open: (dir: string) => Promise<Repository>;
  src: string;
  kept: { id: string; expected: string }[];
  work: string;
}

let fx: Fixture;

function openAt(dir: string): Promise<Repository> {
  return Repository.open({ store: localStore(dir), password: PASSWORD, codecs: codecs(), ciphers: ciphers(), cacheDir: false, workers: 0 });
}

/** Five snapshots of a changing tree; the two oldest forgotten, so prune deletes and repacks. */
beforeAll(async () => {
  const t = await makeRepo();
  const src = tmpDir('strata-crash-src-');
  const states = tmpDir('strata-crash-states-');
  const snaps: { id: string; expected: string }[] = [];
  for (let i = 0; i < 24; i++) write(src, `a/f${i}.bin`, randomData(15_000, 1000 + i));
  for (let round = 0; round < 5; round++) {
    // Each round drops four old files, rewrites one, adds three.
    for (let i = round * 4; i < round * 4 + 4; i++) fs.rmSync(path.join(src, `a/f${i}.bin`), { force: true });
    write(src, 'b/changing.bin', randomData(40_000, 77 + round));
    for (let i = 0; i < 3; i++) write(src, `c/r${round}-${i}.bin`, randomData(12_000, 5000 + round * 10 + i));
    const r = await t.repo.backup([src], { time: new Date(Date.UTC(2024, 0, 1 + round)) });
    snaps.push({ id: r.snapshotId, expected: freeze(src, path.join(states, `s${round}`)) });
  }
  const groups = await forgetSnapshots(t.repo.internals, { keepLast: 3 });
  expect(groups[0].remove).toHaveLength(2);
  await t.repo.close();
  fx = { template: t.dir, open: openAt, src, kept: snaps.slice(2), work: tmpDir('strata-crash-work-') };
});

afterAll(() => {
  if (fx) fs.rmSync(fx.work, { recursive: true, force: true });
});

function runChild(dir: string, killAfter: number): Promise<{ signal: NodeJS.Signals | null; status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, ['--conditions=strata-source', '--import', tsx, child, dir, String(killAfter), '0.05'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    p.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    p.on('error', reject);
    p.on('close', (status, signal) => resolve({ signal, status, stdout, stderr }));
  });
}

/** check --read-data is clean, our own reading agrees, and (with restore) every kept snapshot restores exactly. */
async function assertSound(dir: string, o: { restore: boolean }): Promise<Consistency> {
  const repo = await fx.open(dir);
  try {
    const mine = await verifyRepository(repo.internals);
    expect(mine.problems).toEqual([]);
    expect(mine.snapshots).toBe(fx.kept.length);
    const check = await repo.check({ readData: true });
    expect(check.errors).toEqual([]);
    expect(check.ok).toBe(true);
    if (!o.restore) return mine;
    for (const k of fx.kept) {
      const out = tmpDir('strata-crash-restore-');
      const r = await repo.restore(k.id, out);
      expect(r.success).toBe(true);
      expect(compareTrees(k.expected, path.join(out, fx.src), { mtimes: false })).toEqual([]);
      fs.rmSync(out, { recursive: true, force: true });
    }
    return mine;
  } finally {
    await repo.close();
  }
}

describe('prune killed at any moment', () => {
  let total = 0;

  test('an uninterrupted run: how many changes prune makes', async () => {
    const dir = path.join(fx.work, 'full');
    copyTree(fx.template, dir);
    const r = await runChild(dir, Number.MAX_SAFE_INTEGER);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const { ops, report } = JSON.parse(r.stdout.trim().split('\n').pop()!);
    expect(report.packsRepacked).toBeGreaterThanOrEqual(1);
    expect(report.packsDeleted).toBeGreaterThanOrEqual(2);
    expect(report.indexFilesRewritten).toBeGreaterThanOrEqual(2);
    // Puts (new packs, index files) and deletes (index files, packs).
    expect(ops).toBeGreaterThanOrEqual(report.packsWritten + report.indexFilesAfter + report.packsDeleted + report.indexFilesRewritten);
    total = ops;
    await assertSound(dir, { restore: true });
  });

  test('killed after every single change, the repository checks clean and kept snapshots restore; a second prune completes', async () => {
    expect(total).toBeGreaterThan(4);
    const points = Array.from({ length: total }, (_, i) => i + 1);
    // Two kill points at a time (the children and the checks each keep a core busy).
    const runPoint = async (n: number) => {
      const dir = path.join(fx.work, `kill-${n}`);
      copyTree(fx.template, dir);
      const r = await runChild(dir, n);
      expect(r.signal, `child killed after change ${n}: status ${r.status} ${r.stderr} ${r.stdout}`).toBe('SIGKILL');
      await assertSound(dir, { restore: true });
      const repo = await fx.open(dir);
      try {
        await prune(repo.internals);
      } finally {
        await repo.close();
      }
      const after = await assertSound(dir, { restore: false });
      expect(after.unreferencedPacks).toBe(0);
      fs.rmSync(dir, { recursive: true, force: true });
    };
    const queue = [...points];
    await Promise.all([0, 1].map(async () => {
      while (queue.length > 0) await runPoint(queue.shift()!);
    }));
  }, 600_000);
});
