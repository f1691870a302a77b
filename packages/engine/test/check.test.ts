import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, test } from 'vitest';
import { makeRepo, randomData, tmpDir, write } from './helpers.js';

type Repo = Awaited<ReturnType<typeof makeRepo>>;

/** Pack ids by the type of blobs they hold (data and tree blobs never share a pack). */
async function packsByType(t: Repo): Promise<{ tree: string[]; data: string[] }> {
  const { files } = await t.repo.internals.loadIndexFiles();
  const out = { tree: [] as string[], data: [] as string[] };
  for (const f of files) {
    for (const p of f.content.packs) (p.blobs[0].type === 1 ? out.tree : out.data).push(Buffer.from(p.id).toString('hex'));
  }
  return out;
}

/** Many folders (many tree blobs) and files over many small packs. */
function makeSource(): string {
  const src = tmpDir();
  for (let d = 0; d < 12; d++) {
    for (let f = 0; f < 6; f++) write(src, `dir${d}/sub${f % 3}/file${f}.bin`, randomData(3000 + d * 500 + f * 96, d * 100 + f + 1));
  }
  return src;
}

function flipByte(repoDir: string, pack: string, at: (size: number) => number): void {
  const file = path.join(repoDir, 'data', pack.slice(0, 2), pack);
  const bytes = fs.readFileSync(file);
  bytes[at(bytes.length)] ^= 0x10;
  fs.writeFileSync(file, bytes);
}

describe('check --read-data', () => {
  test('an unencrypted, uncompressed repository of many packs checks clean (tree plaintexts outlive the reused pack buffers)', async () => {
    // Without cipher and compression a verified plaintext is a view of the pack buffer read.
    const t = await makeRepo({ cipher: null, compression: 'none', packSize: 8 * 1024 });
    try {
      const src = makeSource();
      await t.repo.backup([src]);
      const { tree, data } = await packsByType(t);
      expect(tree.length).toBeGreaterThan(1);
      expect(data.length).toBeGreaterThan(4);
      const c = await t.repo.check({ readData: true });
      expect(c.errors).toEqual([]);
      expect(c.packsChecked).toBe(tree.length + data.length);
    } finally {
      await t.repo.close();
    }
  });

  test('damage found in data packs after the snapshot walk is still attributed to files', async () => {
    const t = await makeRepo({ packSize: 16 * 1024 });
    try {
      const src = makeSource();
      const snap = (await t.repo.backup([src])).snapshotId;
      const { data } = await packsByType(t);
      expect(data.length).toBeGreaterThan(8);
      // The walk starts once the tree packs are verified; most data packs are read after it.
      for (const pack of data) flipByte(t.dir, pack, () => 20);
      const c = await t.repo.check({ readData: true });
      expect(c.ok).toBe(false);
      for (const pack of data) {
        const p = c.errors.find((e) => e.pack === pack)!;
        expect(p.kind).toBe('corrupt-pack');
        expect(p.snapshots).toEqual([snap]);
        expect(p.files!.length).toBeGreaterThan(0);
        expect(p.message).toContain(pack);
      }
    } finally {
      await t.repo.close();
    }
  });

  test('a damaged tree pack is named, with the snapshot and the folders it hits', async () => {
    const t = await makeRepo({ packSize: 16 * 1024 });
    try {
      const src = makeSource();
      const snap = (await t.repo.backup([src])).snapshotId;
      const { tree } = await packsByType(t);
      flipByte(t.dir, tree[0], () => 20);
      const c = await t.repo.check({ readData: true });
      expect(c.ok).toBe(false);
      expect(c.errors.find((e) => e.pack === tree[0])?.kind).toBe('corrupt-pack');
      expect(c.errors.some((e) => e.snapshots?.includes(snap) && e.files!.length > 0)).toBe(true);
    } finally {
      await t.repo.close();
    }
  });
});
