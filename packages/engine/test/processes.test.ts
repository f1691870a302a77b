import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, test } from 'vitest';
import { compareTrees, makeRepo, randomData, tmpDir, write } from './helpers.js';

const child = fileURLToPath(new URL('./fixtures/backup-child.ts', import.meta.url));
const killChild = fileURLToPath(new URL('./fixtures/backup-kill-child.ts', import.meta.url));

interface Run {
  done: Promise<{ code: number | null; signal: NodeJS.Signals | null; out: string }>;
  kill(): void;
  /** Resolves when the child printed `n` progress lines (or exited). */
  progress(n: number): Promise<void>;
}

function runChild(repoDir: string, src: string, host = 'test-host'): Run {
  const p = spawn(process.execPath, ['--conditions=strata-source', '--import', 'tsx', child, repoDir, src, host], { cwd: path.dirname(path.dirname(child)), stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let lines = 0;
  const waiters: { n: number; resolve: () => void }[] = [];
  p.stdout.on('data', (d) => {
    out += d;
    lines = (out.match(/^progress /gm) ?? []).length;
    for (const w of waiters.splice(0)) (lines >= w.n ? w.resolve : () => waiters.push(w))();
  });
  let err = '';
  p.stderr.on('data', (d) => (err += d));
  const done = new Promise<{ code: number | null; signal: NodeJS.Signals | null; out: string }>((resolve) =>
    p.on('close', (code, signal) => {
      for (const w of waiters.splice(0)) w.resolve();
      resolve({ code, signal, out: out + err });
    }),
  );
  return {
    done,
    kill: () => p.kill('SIGKILL'),
    progress: (n) => new Promise((resolve) => (lines >= n || p.exitCode !== null ? resolve() : waiters.push({ n, resolve }))),
  };
}

function dataset(): string {
  const src = tmpDir('strata-proc-src-');
  for (let i = 0; i < 40; i++) write(src, `d${i % 4}/f${i}.bin`, randomData(300_000 + i * 1000, 500 + i));
  write(src, 'text.txt', 'some text\n'.repeat(50_000));
  return src;
}

/** Runs a backup in a child that kills itself right after its `killAfter`-th pack upload. */
function runKillChild(repoDir: string, src: string, killAfter: number): Promise<{ signal: NodeJS.Signals | null; out: string }> {
  const p = spawn(process.execPath, ['--conditions=strata-source', '--import', 'tsx', killChild, repoDir, src, 'test-host', String(killAfter)], { cwd: path.dirname(path.dirname(killChild)), stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  p.stdout.on('data', (d) => (out += d));
  p.stderr.on('data', (d) => (out += d));
  return new Promise((resolve) => p.on('close', (_code, signal) => resolve({ signal, out })));
}

describe('processes', () => {
  test('packs a killed backup uploaded after its last index file are reused by the next backup and indexed before its snapshot', async () => {
    const t = await makeRepo({ packSize: 256 * 1024 });
    try {
      const src = tmpDir('strata-proc-src-');
      // About 7 packs of incompressible data: every pack but the last is uploaded before the kill, and
      // no index file is written before the 8th pack.
      for (let i = 0; i < 6; i++) write(src, `f${i}.bin`, randomData(300_000, 900 + i));
      const dataSize = 6 * 300_000;
      const killed = await runKillChild(t.dir, src, 5);
      expect(killed.signal, killed.out).toBe('SIGKILL');
      const r = await t.open();
      try {
        let indexFiles = 0;
        for await (const _ of r.internals.listIds('index/')) indexFiles++;
        let packs = 0;
        for await (const _ of r.internals.listIds('data/')) packs++;
        expect(indexFiles).toBe(0);
        expect(packs).toBeGreaterThanOrEqual(5);
        expect(await r.unlock()).toBeGreaterThanOrEqual(1);

        const b = await r.backup([src], { host: 'test-host' });
        expect(b.errors).toEqual([]);
        // Only what the killed run had not uploaded yet is added (without reuse: all of it again).
        expect(b.summary.dataAddedPacked).toBeLessThan(dataSize / 3);
        const c = await r.check({ readData: true });
        expect(c.errors).toEqual([]);
        // Every pack is indexed now: nothing is left for prune.
        expect(c.notes.join('\n')).not.toMatch(/not referenced by any index/);
        const out = tmpDir();
        const rr = await r.restore(b.snapshotId, out);
        expect(rr.success).toBe(true);
        expect(compareTrees(src, path.join(out, src))).toEqual([]);
      } finally {
        await r.close();
      }
      // A fresh process (index loaded from the store only) finds every blob of the snapshot.
      const again = await t.open();
      try {
        const b2 = await again.backup([src], { host: 'test-host', type: 'full' });
        // (Only trees above src may change: restoring made a folder beside it.)
        expect(b2.summary.dataBlobs).toBe(0);
      } finally {
        await again.close();
      }
    } finally {
      await t.repo.close();
    }
  });

  test('a pack no index lists whose header does not authenticate is skipped by the next backup, not fatal', async () => {
    const t = await makeRepo({ packSize: 256 * 1024 });
    try {
      const src = tmpDir('strata-proc-src-');
      for (let i = 0; i < 6; i++) write(src, `f${i}.bin`, randomData(300_000, 700 + i));
      const dataSize = 6 * 300_000;
      const killed = await runKillChild(t.dir, src, 5);
      expect(killed.signal, killed.out).toBe('SIGKILL');
      const r = await t.open();
      try {
        const packs: string[] = [];
        for await (const o of r.internals.listIds('data/')) packs.push(o.key);
        // Flip a byte of one pack's sealed header (just before its 4-byte length).
        const file = path.join(t.dir, packs[0]);
        const bytes = fs.readFileSync(file);
        bytes[bytes.length - 10] ^= 0x40;
        fs.writeFileSync(file, bytes);
        await r.unlock();
        const b = await r.backup([src], { host: 'test-host' });
        expect(b.errors).toEqual([]);
        // The other packs are reused; the damaged one's blobs are stored again.
        expect(b.summary.dataAddedPacked).toBeLessThan(dataSize / 2);
        const c = await r.check({ readData: true });
        expect(c.errors).toEqual([]);
        expect(c.notes.join('\n')).toMatch(/1 pack\(s\) are not referenced by any index/);
        const out = tmpDir();
        expect((await r.restore(b.snapshotId, out)).success).toBe(true);
        expect(compareTrees(src, path.join(out, src))).toEqual([]);
      } finally {
        await r.close();
      }
    } finally {
      await t.repo.close();
    }
  });

  test('a backup killed with SIGKILL at several moments leaves a repository that checks clean; the next backup restores exactly', async () => {
    const t = await makeRepo({ packSize: 256 * 1024 });
    try {
      const src = dataset();
      let indexedBlobs = 0;
      for (const moment of [0, 3, 10, 25]) {
        const run = runChild(t.dir, src);
        if (moment > 0) await run.progress(moment);
        else await new Promise((r) => setTimeout(r, 300));
        run.kill();
        const res = await run.done;
        const r = await t.open();
        try {
          const c = await r.check({ readData: true });
          expect(c.errors).toEqual([]);
          // The killed process left its lock; it is stale (same host, pid gone) and unlock removes it.
          if (moment > 0 && res.signal === 'SIGKILL') expect(await r.unlock()).toBeGreaterThanOrEqual(1);
          indexedBlobs = r.internals.index.blobCount;
        } finally {
          await r.close();
        }
      }
      const r = await t.open();
      try {
        const b = await r.backup([src], { host: 'test-host' });
        expect(b.errors).toEqual([]);
        // What the killed runs uploaded and indexed is reused.
        expect(indexedBlobs).toBeGreaterThan(0);
        expect(b.summary.dataAdded).toBeLessThan(b.summary.totalBytesProcessed);
        const out = tmpDir();
        const rr = await r.restore(b.snapshotId, out);
        expect(rr.success).toBe(true);
        expect(compareTrees(src, path.join(out, src))).toEqual([]);
        expect((await r.check({ readData: true })).ok).toBe(true);
      } finally {
        await r.close();
      }
    } finally {
      await t.repo.close();
    }
  });

  test('two backups at once from two processes both succeed and check clean', async () => {
    const t = await makeRepo({ packSize: 256 * 1024 });
    try {
      const a = dataset();
      const b = dataset();
      write(b, 'only-b.txt', 'b');
      const [ra, rb] = await Promise.all([runChild(t.dir, a, 'host-a').done, runChild(t.dir, b, 'host-b').done]);
      expect(ra.out).toMatch(/done [0-9a-f]{64} 0/);
      expect(rb.out).toMatch(/done [0-9a-f]{64} 0/);
      const r = await t.open();
      try {
        const c = await r.check({ readData: true });
        expect(c.errors).toEqual([]);
        expect((await r.snapshots()).length).toBe(2);
        for (const [host, src] of [['host-a', a], ['host-b', b]] as const) {
          const s = (await r.snapshots({ host }))[0];
          const out = tmpDir();
          expect((await r.restore(s.id, out)).success).toBe(true);
          expect(compareTrees(src, path.join(out, src))).toEqual([]);
        }
      } finally {
        await r.close();
      }
    } finally {
      await t.repo.close();
    }
  });
});
