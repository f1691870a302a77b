import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, expect, test } from 'vitest';
import { setTimeNs } from '../src/fsx.js';
import { compareTrees, makeRepo, randomData, tmpDir, type TestRepo } from './helpers.js';

let t: TestRepo;
afterAll(async () => {
  await t?.repo.close();
});

const isRoot = process.getuid?.() === 0;


test('a tree of awkward entries restores exactly', async () => {
  t = await makeRepo();
  const src = tmpDir('strata-awkward-');
  const b = (s: string) => Buffer.from(s);
  const j = (...parts: (string | Buffer)[]) => Buffer.concat(parts.flatMap((p, i) => (i === 0 ? [Buffer.from(p)] : [Buffer.from('/'), Buffer.from(p)])));

  // Names that are not UTF-8, with a newline, 255 bytes long.
  const latin = Buffer.from([0x63, 0x61, 0x66, 0xe9, 0xff, 0x2e, 0x74]);
  fs.writeFileSync(j(src, latin), 'latin1 name');
  fs.mkdirSync(j(src, Buffer.from([0x64, 0x69, 0x72, 0x80])));
  fs.writeFileSync(j(src, Buffer.from([0x64, 0x69, 0x72, 0x80]), b('inside')), 'x');
  fs.writeFileSync(path.join(src, 'new\nline'), 'newline in the name');
  fs.writeFileSync(path.join(src, 'x'.repeat(255)), 'long name');
  fs.writeFileSync(path.join(src, 'ü'.repeat(127) + 'a'), 'long utf-8 name');
  // Deep paths.
  let deep = path.join(src, 'deep');
  for (let i = 0; i < 30; i++) deep = path.join(deep, `level-${i}-${'d'.repeat(40)}`);
  fs.mkdirSync(deep, { recursive: true });
  fs.writeFileSync(path.join(deep, 'bottom.txt'), 'bottom');
  // Hardlinks.
  fs.writeFileSync(path.join(src, 'hard-a'), randomData(200_000, 3));
  fs.linkSync(path.join(src, 'hard-a'), path.join(src, 'hard-b'));
  fs.mkdirSync(path.join(src, 'other'));
  fs.linkSync(path.join(src, 'hard-a'), path.join(src, 'other', 'hard-c'));
  // Symlinks: dangling, self-loop, to a directory, non-UTF-8 target.
  fs.symlinkSync('does/not/exist', path.join(src, 'dangling'));
  fs.symlinkSync('loop', path.join(src, 'loop'));
  fs.symlinkSync('other', path.join(src, 'to-dir'));
  fs.symlinkSync(Buffer.from([0x74, 0xfe, 0x67]), j(src, b('odd-target')));
  // FIFO.
  execFileSync('mkfifo', ['-m', '0640', path.join(src, 'fifo')]);
  // Sparse file: 8 MiB hole, 4 KiB data, 8 MiB hole.
  const sparse = path.join(src, 'sparse.img');
  const fd = fs.openSync(sparse, 'w');
  fs.writeSync(fd, randomData(4096, 9), 0, 4096, 8 * 1024 * 1024);
  fs.ftruncateSync(fd, 16 * 1024 * 1024 + 4096);
  fs.closeSync(fd);
  // Empty file and directories.
  fs.writeFileSync(path.join(src, 'empty'), '');
  fs.mkdirSync(path.join(src, 'emptydir'));
  fs.mkdirSync(path.join(src, 'nested-empty', 'a', 'b'), { recursive: true });
  // Modes.
  fs.writeFileSync(path.join(src, 'script.sh'), '#!/bin/sh\n');
  fs.chmodSync(path.join(src, 'script.sh'), 0o4755);
  fs.writeFileSync(path.join(src, 'private'), 'secret');
  fs.chmodSync(path.join(src, 'private'), 0o600);
  fs.mkdirSync(path.join(src, 'sticky'));
  fs.chmodSync(path.join(src, 'sticky'), 0o1777);
  fs.writeFileSync(path.join(src, 'readonly'), 'ro');
  fs.chmodSync(path.join(src, 'readonly'), 0o444);
  // Owners.
  if (isRoot) {
    fs.writeFileSync(path.join(src, 'owned'), 'owned');
    fs.chownSync(path.join(src, 'owned'), 1234, 5678);
    fs.symlinkSync('owned', path.join(src, 'owned-link'));
    fs.lchownSync(path.join(src, 'owned-link'), 4321, 8765);
  }
  // Nanosecond mtimes, on everything (directories last).
  const all: Buffer[] = [];
  const collect = (p: Buffer) => {
    all.push(p);
    if (fs.lstatSync(p).isDirectory()) for (const n of fs.readdirSync(p, { encoding: 'buffer' }) as Buffer[]) collect(j(p, n));
  };
  collect(Buffer.from(src));
  let ns = 1_600_000_000_123_456_789n;
  for (const p of all.reverse()) await setTimeNs(p, (ns += 1_000_000_007n), fs.lstatSync(p).isSymbolicLink());

  const r = await t.repo.backup([src]);
  expect(r.errors).toEqual([]);
  const out = tmpDir('strata-awkward-out-');
  const rr = await t.repo.restore('latest', out);
  expect(rr.damaged).toEqual([]);
  expect(rr.errors).toEqual([]);
  expect(rr.success).toBe(true);
  const dest = path.join(out, src);
  expect(compareTrees(src, dest)).toEqual([]);

  // Hardlinks come back as links, the sparse file with holes, owners when root.
  const ha = fs.statSync(path.join(dest, 'hard-a'));
  expect(fs.statSync(path.join(dest, 'hard-b')).ino).toBe(ha.ino);
  expect(fs.statSync(path.join(dest, 'other', 'hard-c')).ino).toBe(ha.ino);
  expect(ha.nlink).toBe(3);
  const sp = fs.statSync(path.join(dest, 'sparse.img'));
  expect(sp.size).toBe(16 * 1024 * 1024 + 4096);
  expect(sp.blocks * 512).toBeLessThan(1024 * 1024);
  expect(fs.lstatSync(path.join(dest, 'fifo')).isFIFO()).toBe(true);
  if (isRoot) {
    const o = fs.statSync(path.join(dest, 'owned'));
    expect([o.uid, o.gid]).toEqual([1234, 5678]);
    const l = fs.lstatSync(path.join(dest, 'owned-link'));
    expect([l.uid, l.gid]).toEqual([4321, 8765]);
  }

  // ls shows the odd names; a second restore with if-changed skips everything.
  const names: string[] = [];
  for await (const e of t.repo.ls('latest', src)) names.push(e.path);
  expect(names).toContain(`${src}/new\nline`);
  const again = await t.repo.restore('latest', out, { overwrite: 'if-changed' });
  expect(again.filesRestored).toBe(0);
  expect(again.filesSkipped).toBeGreaterThan(10);
});
