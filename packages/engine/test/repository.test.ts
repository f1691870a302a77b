import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { LockedError, RepositoryExistsError, RepositoryNotFoundError, WrongPasswordError } from '@strata/core';
import { localStore } from '@strata/store-local';
import { metadataDetector } from '@strata/detector-metadata';
import { describe, expect, test } from 'vitest';
import { Repository, createBackupManager } from '../src/index.js';
import { ciphers, codecs, compareTrees, KDF, makeRepo, PASSWORD, randomData, tmpDir, write } from './helpers.js';

describe('keys and passwords', () => {
  test('wrong password, several keys, passwd, remove', async () => {
    const t = await makeRepo();
    try {
      await expect(t.open('wrong')).rejects.toBeInstanceOf(WrongPasswordError);
      const k2 = await t.repo.addKey('second');
      const r2 = await t.open('second');
      expect((await r2.listKeys()).find((k) => k.current)?.id).toBe(k2);
      await expect(r2.removeKey(k2)).rejects.toThrow(/in use/);
      await r2.changePassword('third');
      await expect(t.open('second')).rejects.toBeInstanceOf(WrongPasswordError);
      const r3 = await t.open('third');
      expect(r3.id).toBe(t.repo.id);
      const first = (await r3.listKeys()).find((k) => !k.current)!;
      await r3.removeKey(first.id.slice(0, 10));
      await expect(t.open(PASSWORD)).rejects.toBeInstanceOf(WrongPasswordError);
      expect((await r3.listKeys()).length).toBe(1);
      await r2.close();
      await r3.close();
    } finally {
      await t.repo.close();
    }
  });

  test('init refuses an existing repository; open a missing one is RepositoryNotFound', async () => {
    const t = await makeRepo();
    try {
      await expect(Repository.init({ store: localStore(t.dir), password: 'x', cipher: ciphers()[0], kdf: KDF, cacheDir: false })).rejects.toBeInstanceOf(RepositoryExistsError);
      await expect(Repository.open({ store: localStore(tmpDir()), password: 'x', cacheDir: false })).rejects.toBeInstanceOf(RepositoryNotFoundError);
    } finally {
      await t.repo.close();
    }
  });

  test('an unencrypted repository round-trips and uses plain SHA-256 ids', async () => {
    const t = await makeRepo({ cipher: null });
    try {
      const src = tmpDir();
      write(src, 'a', 'plain');
      const r = await t.repo.backup([src]);
      const out = tmpDir();
      expect((await t.repo.restore(r.snapshotId, out)).success).toBe(true);
      expect(fs.readFileSync(path.join(out, src, 'a'), 'utf8')).toBe('plain');
      const tree = await t.repo.internals.loadBlob(r.snapshot.tree);
      expect(r.snapshot.tree).toBe((await import('node:crypto')).createHash('sha256').update(tree).digest('hex'));
      expect(fs.readFileSync(path.join(t.dir, 'config'))[0]).toBe(0x50);
    } finally {
      await t.repo.close();
    }
  });
});

describe('locks', () => {
  test('exclusive against a live shared lock fails at once naming the holder; stale locks are removed', async () => {
    const t = await makeRepo({ lock: { staleAfterMs: 60_000, refreshIntervalMs: 10_000 } });
    try {
      const shared = await t.repo.internals.lock(false);
      const other = await t.open();
      const shared2 = await other.internals.lock(false); // shared with shared is fine
      const err = await other.internals.lock(true).catch((e) => e);
      expect(err).toBeInstanceOf(LockedError);
      expect(err.message).toContain(`pid ${process.pid}`);
      expect(err.message).toMatch(/shared lock/);
      await shared2.release();
      await shared.release();
      const ex = await other.internals.lock(true);
      await expect(t.repo.internals.lock(false)).rejects.toBeInstanceOf(LockedError);
      await expect(t.repo.backup([tmpDir()])).rejects.toBeInstanceOf(LockedError);
      await ex.release();
      // A lock of a process that is gone (same host) is stale.
      const child = execFileSync(process.execPath, ['-e', 'console.log(process.pid)']).toString().trim();
      const box = t.repo.internals.box;
      const info = { host: (await import('node:os')).hostname(), pid: Number(child), username: 'x', time: new Date().toISOString(), exclusive: true, expires: new Date(Date.now() + 3600_000).toISOString(), nonce: 'n' };
      const sealed = box.sealObject('lock', new TextEncoder().encode(JSON.stringify(info)));
      const { createHash } = await import('node:crypto');
      await t.repo.internals.store.put(`locks/${createHash('sha256').update(sealed).digest('hex')}`, sealed);
      const l = await t.repo.internals.lock(true); // the dead exclusive lock does not block
      await l.release();
      expect(await t.repo.unlock()).toBe(1);
      expect(await t.repo.unlock()).toBe(0);
      await other.close();
    } finally {
      await t.repo.close();
    }
  });

  test('a lock that could not be refreshed before it expired stops the commit', async () => {
    const t = await makeRepo({ lock: { staleAfterMs: 150, refreshIntervalMs: 60_000 } });
    try {
      const held = await t.repo.internals.lock(false);
      expect(() => held.assertValid()).not.toThrow();
      await new Promise((r) => setTimeout(r, 200));
      expect(() => held.assertValid()).toThrow(LockedError);
      await held.release();
    } finally {
      await t.repo.close();
    }
  });

  test('a held lock is refreshed and expired locks are stale', async () => {
    const t = await makeRepo({ lock: { staleAfterMs: 400, refreshIntervalMs: 100 } });
    try {
      const held = await t.repo.internals.lock(true);
      const first = held.key;
      for (let i = 0; i < 50 && held.key === first; i++) await new Promise((r) => setTimeout(r, 50));
      expect(held.key).not.toBe(first);
      const other = await t.open();
      await expect(other.internals.lock(false)).rejects.toBeInstanceOf(LockedError);
      await held.release();
      await other.close();
    } finally {
      await t.repo.close();
    }
  });
});

describe('backup types and options', () => {
  test('full, incremental, differential and their parents; detector; time, host, tags', async () => {
    const t = await makeRepo();
    try {
      const src = tmpDir();
      write(src, 'a.txt', 'one');
      write(src, 'b.txt', 'two');
      const full = await t.repo.backup([src], { type: 'full', host: 'h', tags: ['x', 'a'], time: new Date('2024-01-02T03:04:05.678Z') });
      expect(full.snapshot.parent).toBeUndefined();
      expect(full.snapshot.time).toBe('2024-01-02T03:04:05.678Z');
      expect(full.snapshot.tags).toEqual(['a', 'x']);
      write(src, 'a.txt', 'one changed');
      const inc = await t.repo.backup([src], { host: 'h', detector: metadataDetector() });
      expect(inc.snapshot.parent).toBe(full.snapshotId);
      expect(inc.summary.filesChanged).toBe(1);
      expect(inc.summary.filesUnmodified).toBe(1);
      write(src, 'c.txt', 'three');
      const inc2 = await t.repo.backup([src], { host: 'h' });
      expect(inc2.snapshot.parent).toBe(inc.snapshotId);
      const diff = await t.repo.backup([src], { type: 'differential', host: 'h' });
      expect(diff.snapshot.parent).toBe(full.snapshotId);
      expect(diff.summary.filesNew).toBe(1);
      expect(diff.summary.filesChanged).toBe(1);
      const again = await t.repo.backup([src], { type: 'full', host: 'h' });
      expect(again.summary.filesNew).toBe(3);
      const other = await t.repo.backup([src], { host: 'elsewhere' });
      expect(other.snapshot.parent).toBeUndefined();
      expect((await t.repo.snapshots({ host: 'h' })).length).toBe(5);
      expect((await t.repo.snapshots({ tags: ['x'] })).map((s) => s.id)).toEqual([full.snapshotId]);
      expect((await t.repo.findSnapshot(full.snapshotId.slice(0, 8))).id).toBe(full.snapshotId);
      expect((await t.repo.findSnapshot('latest')).id).toBe(other.snapshotId);
    } finally {
      await t.repo.close();
    }
  });

  test('snapshot type runs hooks and re-reads or marks files that change while read', async () => {
    const t = await makeRepo();
    try {
      const src = tmpDir();
      const marks = tmpDir();
      write(src, 'steady.txt', 'steady');
      const r = await t.repo.backup([src], { type: 'snapshot', hooks: { pre: [`echo pre > ${marks}/pre`, `echo frozen > ${src}/from-hook.txt`], post: [`echo post > ${marks}/post`] } });
      expect(fs.existsSync(path.join(marks, 'pre'))).toBe(true);
      expect(fs.existsSync(path.join(marks, 'post'))).toBe(true);
      expect(r.inconsistent).toEqual([]);
      const names: string[] = [];
      for await (const e of t.repo.ls(r.snapshotId, src)) names.push(path.basename(e.path));
      expect(names).toContain('from-hook.txt');
      // A failing pre hook fails the backup, and the post hook still runs.
      fs.rmSync(path.join(marks, 'post'));
      await expect(t.repo.backup([src], { type: 'snapshot', hooks: { pre: ['exit 3'], post: [`echo post > ${marks}/post`] } })).rejects.toThrow(/hook/);
      expect(fs.existsSync(path.join(marks, 'post'))).toBe(true);
      // A file that another process appends to all the time: every read sees a change, so after the
      // re-reads it is recorded as inconsistent.
      const grow = path.join(src, 'growing.log');
      fs.writeFileSync(grow, randomData(3_000_000, 5));
      const writer = spawn('sh', ['-c', `while :; do echo more >> '${grow}'; done`], { stdio: 'ignore' });
      try {
        await new Promise((r) => setTimeout(r, 100));
        const r2 = await t.repo.backup([src], { type: 'snapshot', maxRereads: 2 });
        expect(r2.inconsistent).toEqual([grow]);
        const e = (await t.repo.internals.loadTree((await findDir(t.repo, r2.snapshot.tree, src))!)).find((n) => Buffer.from(n.name).toString() === 'growing.log');
        expect(e?.inconsistent).toBe(true);
      } finally {
        writer.kill('SIGKILL');
      }
    } finally {
      await t.repo.close();
    }
  });

  test('excludes, exclude file, unreadable files reported, stdin source', async () => {
    const t = await makeRepo();
    try {
      const src = tmpDir();
      write(src, 'keep.txt', 'k');
      write(src, 'skip.log', 'l');
      write(src, 'cache/big.bin', 'c');
      write(src, 'sub/also.tmp', 't');
      const ex = write(tmpDir(), 'excludes', '# comment\n*.tmp\n');
      const locked = write(src, 'locked.txt', 'no');
      fs.chmodSync(locked, 0);
      const canRead = (() => {
        try {
          fs.readFileSync(locked);
          return true;
        } catch {
          return false;
        }
      })();
      const r = await t.repo.backup([src], { excludes: ['*.log', 'cache'], excludeFile: ex });
      const names: string[] = [];
      for await (const e of t.repo.ls('latest', src)) names.push(path.relative(src, e.path));
      expect(names.sort()).toEqual(canRead ? ['', 'keep.txt', 'locked.txt', 'sub'] : ['', 'keep.txt', 'sub']);
      if (!canRead) expect(r.errors.map((e) => e.path)).toEqual([locked]);
      async function* gen() {
        yield Buffer.from('from ');
        yield Buffer.from('stdin');
      }
      const s = await t.repo.backup([], { stdin: { stream: gen(), filename: 'dump.sql' } });
      expect(s.snapshot.paths).toEqual(['/dump.sql']);
      const out = new PassThrough();
      const chunks: Buffer[] = [];
      out.on('data', (d) => chunks.push(d));
      await t.repo.dump(s.snapshotId, '/dump.sql', out);
      expect(Buffer.concat(chunks).toString()).toBe('from stdin');
    } finally {
      await t.repo.close();
    }
  });
});

async function findDir(repo: Repository, tree: string, abs: string): Promise<string | undefined> {
  let cur: string | undefined = tree;
  for (const part of abs.split('/').filter(Boolean)) {
    const nodes = await repo.internals.loadTree(cur!);
    cur = nodes.find((n) => Buffer.from(n.name).toString() === part)?.subtree;
  }
  return cur;
}

describe('long-lived repositories', () => {
  test('a prune by another process is noticed: the next backup does not reuse deleted data', async () => {
    const t = await makeRepo();
    try {
      const src = tmpDir();
      write(src, 'f.bin', randomData(200_000, 11));
      await t.repo.backup([src]);
      const other = await t.open();
      // Forget every snapshot, then prune: all packs go.
      for (const s of await other.snapshots()) await other.internals.deleteSnapshot(s.id);
      const pr = await other.prune();
      expect(pr.packsDeleted).toBeGreaterThan(0);
      await other.close();
      // Same process as the first backup, same in-memory index: it must see the new state.
      const r = await t.repo.backup([src]);
      expect(r.summary.dataBlobs).toBeGreaterThan(0);
      expect((await t.repo.check({ readData: true })).ok).toBe(true);
      const out = tmpDir();
      expect((await t.repo.restore(r.snapshotId, out)).success).toBe(true);
    } finally {
      await t.repo.close();
    }
  });
});

describe('looking inside and moving snapshots', () => {
  test('ls, diff, stats, dump of a folder as tar, restore with include/exclude and overwrite never', async () => {
    const t = await makeRepo();
    try {
      const src = tmpDir();
      write(src, 'a/one.txt', 'one');
      write(src, 'a/two.txt', 'two');
      write(src, 'b/three.bin', randomData(100_000, 3));
      const s1 = await t.repo.backup([src]);
      write(src, 'a/one.txt', 'one!');
      fs.rmSync(path.join(src, 'a/two.txt'));
      write(src, 'c/new.txt', 'new');
      const s2 = await t.repo.backup([src]);
      const d = await t.repo.diff(s1.snapshotId, s2.snapshotId);
      const rel = (p: string) => p.slice(src.length);
      expect(d.entries.filter((e) => e.path.startsWith(src)).map((e) => `${e.change} ${rel(e.path)}`).sort()).toEqual(['+ /c/', '+ /c/new.txt', '- /a/two.txt', 'M /', 'M /a/', 'M /a/one.txt'].sort());
      const st = await t.repo.stats();
      expect(st.snapshots).toBe(2);
      expect(st.files).toBe(6);
      expect(st.storedSize).toBeGreaterThan(0);
      const one = await t.repo.stats(s1.snapshotId);
      expect(one.totalSize).toBe(3 + 3 + 100_000);
      // dump a folder as tar, read back with tar(1).
      const tarFile = path.join(tmpDir(), 'x.tar');
      const ws = fs.createWriteStream(tarFile);
      await t.repo.dump('latest', `${src}/a`, ws);
      await new Promise((r) => ws.end(r));
      const listing = execFileSync('tar', ['-tvf', tarFile]).toString();
      expect(listing).toContain('one.txt');
      // include / exclude
      const out = tmpDir();
      const r = await t.repo.restore('latest', out, { includes: [`${src}/a`, `${src}/c/new.txt`], excludes: ['*.bin'] });
      expect(r.success).toBe(true);
      expect(fs.readFileSync(path.join(out, src, 'a/one.txt'), 'utf8')).toBe('one!');
      expect(fs.existsSync(path.join(out, src, 'c/new.txt'))).toBe(true);
      expect(fs.existsSync(path.join(out, src, 'b'))).toBe(false);
      fs.writeFileSync(path.join(out, src, 'a/one.txt'), 'local edit');
      const never = await t.repo.restore('latest', out, { overwrite: 'never' });
      expect(fs.readFileSync(path.join(out, src, 'a/one.txt'), 'utf8')).toBe('local edit');
      expect(never.filesSkipped).toBeGreaterThan(0);
      await t.repo.restore('latest', out, { overwrite: 'if-changed' });
      expect(fs.readFileSync(path.join(out, src, 'a/one.txt'), 'utf8')).toBe('one!');
    } finally {
      await t.repo.close();
    }
  });

  test('dump of a folder keeps names that are not UTF-8 as their bytes in the tar', async () => {
    const t = await makeRepo();
    try {
      const src = tmpDir();
      const j = (...p: Buffer[]) => Buffer.concat(p.flatMap((x, i) => (i ? [Buffer.from('/'), x] : [x])));
      const dir = Buffer.from([0x64, 0xe9]); // "d\xe9": latin1, not UTF-8
      const file = Buffer.from([0x66, 0xff, 0xfe]);
      fs.mkdirSync(j(Buffer.from(src), dir));
      fs.writeFileSync(j(Buffer.from(src), dir, file), 'bytes');
      fs.linkSync(j(Buffer.from(src), dir, file), j(Buffer.from(src), dir, Buffer.from('link')));
      await t.repo.backup([src]);
      const tarFile = path.join(tmpDir(), 'x.tar');
      const ws = fs.createWriteStream(tarFile);
      await t.repo.dump('latest', src, ws);
      await new Promise((r) => ws.end(r));
      const out = tmpDir();
      execFileSync('tar', ['-xf', tarFile, '-C', out]);
      const got = j(Buffer.from(out), Buffer.from(src.slice(1)), dir, file);
      expect(fs.readFileSync(got, 'utf8')).toBe('bytes');
      expect(fs.statSync(j(Buffer.from(out), Buffer.from(src.slice(1)), dir, Buffer.from('link'))).ino).toBe(fs.statSync(got).ino);
    } finally {
      await t.repo.close();
    }
  });

  test('copy between repositories with different keys; a second copy skips', async () => {
    const a = await makeRepo();
    const b = await makeRepo();
    try {
      const src = tmpDir();
      write(src, 'f.bin', randomData(500_000, 77));
      write(src, 'g.txt', 'g');
      const s = await a.repo.backup([src], { tags: ['t'] });
      const c = await b.repo.copyFrom(a.repo);
      expect(c.copied.length).toBe(1);
      expect(c.blobsCopied).toBeGreaterThan(2);
      const again = await b.repo.copyFrom(a.repo);
      expect(again.copied).toEqual([]);
      expect(again.skipped).toEqual([s.snapshotId]);
      const out = tmpDir();
      const target = (await b.repo.snapshots())[0];
      expect(target.tags).toEqual(['t']);
      expect((await b.repo.restore(target.id, out)).success).toBe(true);
      expect(compareTrees(src, path.join(out, src))).toEqual([]);
      expect((await b.repo.check({ readData: true })).ok).toBe(true);
    } finally {
      await a.repo.close();
      await b.repo.close();
    }
  });

  test('backup manager: validated config, backups with retention and validation, restore, list', async () => {
    const dir = tmpDir();
    const src = tmpDir();
    write(src, 'x.txt', 'x');
    await expect(createBackupManager({ repository: { store: localStore(dir), password: 'p' }, sources: [] })).rejects.toThrow(/sources/);
    await expect(createBackupManager({ repository: { store: localStore(dir), password: 'p' }, sources: [src], retention: { keepLast: -5 } as never })).rejects.toThrow(/retention/);
    const m = await createBackupManager({
      repository: { store: localStore(dir), password: 'p', codecs: codecs(), ciphers: ciphers(), cacheDir: false, init: { cipher: ciphers()[0], kdf: KDF } },
      sources: [src],
      retention: { keepLast: 2 },
      validateAfterBackup: true,
    });
    try {
      const r1 = await m.createBackup('full');
      expect(r1.success).toBe(true);
      write(src, 'y.txt', 'y');
      await m.createBackup('incremental');
      const r3 = await m.createBackup('differential');
      expect(r3.removed).toEqual([r1.backupId]);
      const list = await m.listBackups();
      expect(list.length).toBe(2);
      expect(list[1].sizeMb).toBeGreaterThan(0);
      const out = tmpDir();
      expect((await m.restoreBackup(r3.backupId, out)).success).toBe(true);
      expect(fs.readFileSync(path.join(out, src, 'y.txt'), 'utf8')).toBe('y');
      expect((await m.repository.prune()).dryRun).toBe(false);
      expect((await m.repository.check({ readData: true })).ok).toBe(true);
    } finally {
      await m.close();
    }
  });
});
