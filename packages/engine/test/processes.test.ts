import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, test } from 'vitest';
import { compareTrees, makeRepo, randomData, tmpDir, write } from './helpers.js';

const child = fileURLToPath(new URL('./fixtures/backup-child.ts', import.meta.url));

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

describe('processes', () => {
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
