import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, test } from 'vitest';
import { compareTrees, makeRepo, randomData, tmpDir, treeBytes, write } from './helpers.js';

function packFiles(repoDir: string): string[] {
  const out: string[] = [];
  const data = path.join(repoDir, 'data');
  for (const d of fs.readdirSync(data)) for (const f of fs.readdirSync(path.join(data, d))) out.push(path.join(data, d, f));
  return out;
}

describe('dedup', () => {
  test('a duplicate and a byte-shifted copy of a 40 MiB file add under 10 MiB; a no-change backup under 256 KiB', async () => {
    // Default chunk sizes here: this is the case the acceptance names.
    const t = await makeRepo({ chunker: undefined, packSize: 16 * 1024 * 1024 });
    try {
      const src = tmpDir();
      const big = randomData(40 * 1024 * 1024, 42);
      write(src, 'big.bin', big);
      await t.repo.backup([src]);
      const first = treeBytes(t.dir);
      write(src, 'copy.bin', big);
      write(src, 'shifted.bin', Buffer.concat([Buffer.from('x'), big]));
      const r2 = await t.repo.backup([src]);
      const second = treeBytes(t.dir);
      expect(second - first).toBeLessThan(10 * 1024 * 1024);
      expect(r2.summary.filesNew).toBe(2);
      const r3 = await t.repo.backup([src]);
      expect(treeBytes(t.dir) - second).toBeLessThan(256 * 1024);
      expect(r3.summary.filesUnmodified).toBe(3);
      const out = tmpDir();
      expect((await t.repo.restore('latest', out)).success).toBe(true);
      expect(compareTrees(src, path.join(out, src))).toEqual([]);
    } finally {
      await t.repo.close();
    }
  });
});

describe('damage', () => {
  async function setup() {
    const t = await makeRepo({ packSize: 64 * 1024 });
    const src = tmpDir();
    for (let i = 0; i < 12; i++) write(src, `f${i}.bin`, randomData(50_000, 100 + i));
    write(src, 'same-a.txt', 'shared content\n'.repeat(100));
    const r = await t.repo.backup([src]);
    expect((await t.repo.check({ readData: true })).ok).toBe(true);
    return { t, src, snap: r.snapshotId };
  }

  /** The data packs (not tree packs) of the repository, by id. */
  async function dataPacks(t: Awaited<ReturnType<typeof makeRepo>>): Promise<string[]> {
    const ri = t.repo.internals;
    await ri.loadIndex();
    const packs = new Set<string>();
    for (const e of ri.index.entries()) if (e.type === 0) packs.add(e.pack);
    return [...packs];
  }

  async function restoreFails(t: Awaited<ReturnType<typeof makeRepo>>, src: string, expectFile: string | undefined, opts = {}) {
    const out = tmpDir();
    const r = await t.repo.restore('latest', out, opts);
    expect(r.success).toBe(false);
    expect(r.damaged.length).toBeGreaterThan(0);
    // Every file that is there is whole; damaged ones are gone.
    for (const d of r.damaged) expect(fs.existsSync(path.join(out, d.path))).toBe(false);
    for (const f of fs.readdirSync(path.join(out, src))) {
      if (f.endsWith('.strata-damaged')) continue;
      expect(fs.readFileSync(path.join(out, src, f)).equals(fs.readFileSync(path.join(src, f)))).toBe(true);
    }
    if (expectFile) expect(r.damaged.map((d) => d.path)).toContain(expectFile);
    return { r, out };
  }

  test('a flipped byte is named by check --read-data and restore removes the file', async () => {
    const { t, src, snap } = await setup();
    try {
      const [pack] = await dataPacks(t);
      const file = path.join(t.dir, 'data', pack.slice(0, 2), pack);
      const bytes = fs.readFileSync(file);
      bytes[100] ^= 0x40;
      fs.writeFileSync(file, bytes);
      const structural = await t.repo.check();
      expect(structural.ok).toBe(true); // headers still fine: only reading the data finds it
      const c = await t.repo.check({ readData: true });
      expect(c.ok).toBe(false);
      const p = c.errors.find((e) => e.pack === pack)!;
      expect(p.kind).toBe('corrupt-pack');
      expect(p.snapshots).toEqual([snap]);
      expect(p.files!.length).toBeGreaterThan(0);
      expect(p.message).toContain(pack);
      const hit = p.files![0];
      const { out } = await restoreFails(t, src, hit);
      // keepDamaged keeps it under another name only.
      const r2 = await t.repo.restore('latest', out, { keepDamaged: true });
      expect(r2.success).toBe(false);
      expect(fs.existsSync(path.join(out, `${hit}.strata-damaged`))).toBe(true);
      expect(fs.existsSync(path.join(out, hit))).toBe(false);
    } finally {
      await t.repo.close();
    }
  });

  test('a truncated pack and a deleted pack are named by check', async () => {
    const { t, src, snap } = await setup();
    try {
      const [a, b] = await dataPacks(t);
      const fa = path.join(t.dir, 'data', a.slice(0, 2), a);
      fs.truncateSync(fa, Math.floor(fs.statSync(fa).size / 2));
      fs.rmSync(path.join(t.dir, 'data', b.slice(0, 2), b));
      const c = await t.repo.check();
      expect(c.ok).toBe(false);
      const ea = c.errors.find((e) => e.pack === a)!;
      const eb = c.errors.find((e) => e.pack === b)!;
      expect(ea.kind).toBe('corrupt-pack');
      expect(eb.kind).toBe('missing-pack');
      expect(eb.snapshots).toEqual([snap]);
      expect(ea.files!.length + eb.files!.length).toBeGreaterThan(1);
      await restoreFails(t, src, eb.files![0]);
    } finally {
      await t.repo.close();
    }
  });

  test('a deleted index file is named by check (its packs become unreferenced, blobs missing)', async () => {
    const { t, src } = await setup();
    try {
      const idx = fs.readdirSync(path.join(t.dir, 'index'));
      fs.rmSync(path.join(t.dir, 'index', idx[0]));
      const t2 = await t.open();
      try {
        const c = await t2.check();
        expect(c.ok).toBe(false);
        expect(c.errors.some((e) => e.kind === 'missing-blob' && e.files && e.files.length > 0)).toBe(true);
        expect(c.notes.join(' ')).toMatch(/not referenced/);
        // Those packs hold the missing blobs: the note must not send the user to prune them.
        expect(c.notes.join(' ')).not.toMatch(/prune" removes/);
        expect(c.notes.join(' ')).toMatch(/do not prune/);
        const out = tmpDir();
        const r = await t2.restore('latest', out);
        expect(r.success).toBe(false);
      } finally {
        await t2.close();
      }
    } finally {
      await t.repo.close();
    }
  });

  test('unreferenced packs are a note, not an error', async () => {
    const { t } = await setup();
    try {
      // A pack that no index lists, as an interrupted backup leaves.
      const [pack] = await dataPacks(t);
      const bytes = fs.readFileSync(path.join(t.dir, 'data', pack.slice(0, 2), pack));
      const copy = Buffer.concat([bytes]);
      const { createHash } = await import('node:crypto');
      copy[0] ^= 1;
      const id = createHash('sha256').update(copy).digest('hex');
      fs.mkdirSync(path.join(t.dir, 'data', id.slice(0, 2)), { recursive: true });
      fs.writeFileSync(path.join(t.dir, 'data', id.slice(0, 2), id), copy);
      const c = await t.repo.check({ readData: true });
      expect(c.ok).toBe(true);
      expect(c.notes.length).toBe(1);
    } finally {
      await t.repo.close();
    }
  });
});
