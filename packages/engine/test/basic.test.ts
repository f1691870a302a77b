import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, test } from 'vitest';
import { Repository } from '../src/index.js';
import { ciphers, codecs, compareTrees, makeRepo, PASSWORD, randomData, tmpDir, write } from './helpers.js';

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
    const rr = await t.repo.restore('latest', out, { verify: true, onProgress: (e) => restoreEvents.push(e.filesDone) });
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

describe('progress while work is long', () => {
  test('a stdin source reports its bytes while the stream is still open', async () => {
    const t = await makeRepo();
    cleanup.push(() => t.repo.close());
    let seen!: (bytes: number) => void;
    const firstEvent = new Promise<number>((r) => (seen = r));
    async function* slow() {
      yield randomData(100_000, 4);
      // The stream stays open until an event came: without events during a stream this never ends.
      const bytes = await firstEvent;
      expect(bytes).toBe(100_000);
      yield Buffer.from('end');
    }
    const r = await t.repo.backup([], { stdin: { stream: slow(), filename: 'db.sql' }, onProgress: (e) => e.bytesDone > 0 && seen(e.bytesDone) });
    expect(r.summary.totalBytesProcessed).toBe(100_003);
  });

  test('events keep coming while a pre hook runs, not only when a file is done', async () => {
    const t = await makeRepo();
    cleanup.push(() => t.repo.close());
    const src = tmpDir();
    write(src, 'a.txt', 'a');
    const fifo = path.join(tmpDir(), 'gate');
    execFileSync('mkfifo', [fifo]);
    let opened = false;
    // The hook waits on the FIFO; the first progress event opens it, so the hook (and the backup) can end.
    const r = await t.repo.backup([src], {
      type: 'snapshot',
      hooks: { pre: [`cat ${fifo} > /dev/null`] },
      onProgress: () => {
        if (opened) return;
        opened = true;
        fs.open(fifo, 'w', (err, fd) => (err ? undefined : fs.close(fd, () => {})));
      },
    });
    expect(opened).toBe(true);
    expect(r.summary.filesNew).toBe(1);
  });
});

describe('cancel', () => {
  test('a backup cancelled while a big file is read rejects with ABORTED and saves no snapshot', async () => {
    const t = await makeRepo();
    cleanup.push(() => t.repo.close());
    const src = tmpDir();
    write(src, 'big.bin', randomData(24 * 1024 * 1024, 5));
    const ac = new AbortController();
    // The first event comes while the file is read (or, at the latest, right after it): cancel there.
    const err = await t.repo.backup([src], { signal: ac.signal, onProgress: () => ac.abort() }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toMatchObject({ code: 'ABORTED' });
    expect(await t.repo.snapshots()).toEqual([]);
    // The lock was released: a new backup runs and restores the file.
    const r = await t.repo.backup([src]);
    expect(r.summary.filesNew).toBe(1);
  });
});

describe('cancel restore', () => {
  test('a restore cancelled inside a big file rejects with ABORTED and leaves no partial file', async () => {
    const t = await makeRepo();
    cleanup.push(() => t.repo.close());
    const src = tmpDir();
    write(src, 'big.bin', randomData(24 * 1024 * 1024, 6));
    await t.repo.backup([src]);
    const out = tmpDir();
    const ac = new AbortController();
    const seen: number[] = [];
    // Progress arrives inside the file (bytes done, no file done yet): cancel at the first such event.
    const err = await t.repo
      .restore('latest', out, {
        signal: ac.signal,
        onProgress: (e) => {
          seen.push(e.bytesDone);
          if (e.filesDone === 0 && e.bytesDone > 0) ac.abort();
        },
      })
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    expect(err).toMatchObject({ code: 'ABORTED' });
    expect(seen.some((b) => b > 0 && b < 24 * 1024 * 1024)).toBe(true);
    expect(fs.existsSync(path.join(out, src, 'big.bin'))).toBe(false);
    // The lock was released and the repository still restores the whole file.
    const again = tmpDir();
    expect((await t.repo.restore('latest', again)).success).toBe(true);
    expect(compareTrees(src, path.join(again, src))).toEqual([]);
  });
});

describe('cancel listeners', () => {
  test('a backup of many files with a signal adds one listener, not one per file (no MaxListeners warning)', async () => {
    const t = await makeRepo();
    cleanup.push(() => t.repo.close());
    const src = tmpDir();
    for (let i = 0; i < 300; i++) write(src, `d${i % 7}/f${i}.txt`, `file ${i}`);
    const warnings: string[] = [];
    const onWarning = (w: Error) => warnings.push(w.name);
    process.on('warning', onWarning);
    try {
      const r = await t.repo.backup([src], { signal: new AbortController().signal });
      expect(r.summary.filesNew).toBe(300);
      // Warnings are emitted on the next tick.
      await new Promise((resolve) => setImmediate(resolve));
    } finally {
      process.off('warning', onWarning);
    }
    expect(warnings).not.toContain('MaxListenersExceededWarning');
  });
});

describe('modes', () => {
  test('with a local cache: index, snapshots and tree packs come from it; a damaged cache file is ignored', async () => {
    const cacheDir = tmpDir('strata-cache-');
    const t = await makeRepo({ cacheDir });
    cleanup.push(() => t.repo.close());
    const src = tmpDir();
    for (let i = 0; i < 5; i++) write(src, `d${i}/f.txt`, `file ${i}\n`.repeat(500));
    await t.repo.backup([src]);
    const cached = path.join(cacheDir, t.repo.id);
    const listed = (sub: string) => (fs.existsSync(path.join(cached, sub)) ? fs.readdirSync(path.join(cached, sub), { recursive: true }).length : 0);
    expect(listed('index')).toBeGreaterThan(0);
    expect(listed('snapshots')).toBe(1);
    expect(listed('data')).toBeGreaterThan(0);
    // Damage every cached index file: they are refetched from the store.
    for (const f of fs.readdirSync(path.join(cached, 'index'))) fs.writeFileSync(path.join(cached, 'index', f), 'garbage');
    const again = await Repository.open({ store: t.repo.internals.store, password: PASSWORD, codecs: codecs(), ciphers: ciphers(), cacheDir, workers: 2 });
    cleanup.push(() => again.close());
    const r = await again.backup([src]);
    expect(r.summary.filesUnmodified).toBe(5);
    expect(r.summary.dataBlobs).toBe(0);
    const out = tmpDir();
    expect((await again.restore('latest', out)).success).toBe(true);
    expect(compareTrees(src, path.join(out, src))).toEqual([]);
  });

  test('on the main thread (no workers, or a codec that cannot be rebuilt in a worker) the results are the same', async () => {
    const local = codecs().map((c) => ({ ...c, portable: undefined, compress: c.compress.bind(c), decompress: c.decompress.bind(c) }));
    for (const extra of [{ workers: 0 }, { codecs: local }]) {
      const t = await makeRepo(extra);
      cleanup.push(() => t.repo.close());
      const src = tmpDir();
      write(src, 'text.txt', 'compressible '.repeat(20_000));
      write(src, 'random.bin', randomData(400_000, 5));
      const r = await t.repo.backup([src]);
      expect(r.summary.dataAddedPacked).toBeLessThan(r.summary.dataAdded);
      const out = tmpDir();
      expect((await t.repo.restore('latest', out)).success).toBe(true);
      expect(compareTrees(src, path.join(out, src))).toEqual([]);
      expect((await t.repo.check({ readData: true })).ok).toBe(true);
    }
  });
});
