import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { DEFAULT_CHUNKER_PARAMS, createGearTable, cutPoints } from '../src/chunker.js';
import { Box, parseCompression } from '../src/format/box.js';
import { newMasterKeys } from '../src/format/keys.js';
import { toHex } from '../src/format/util.js';
import { Processor, type ProcessorHost, type SealedBlob } from '../src/processor.js';
import { codecs } from './helpers.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'strata-proc-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const keys = newMasterKeys(32);
const box = new Box(null, keys, codecs());
const setup = { params: { min: DEFAULT_CHUNKER_PARAMS.min, avg: DEFAULT_CHUNKER_PARAMS.avg, max: DEFAULT_CHUNKER_PARAMS.max }, secret: keys.chunker };

/** Random runs, zero runs (cut only at max) and a repeated block, so every kind of cut occurs. */
function content(size: number, seed: number): Buffer {
  const out = Buffer.alloc(size);
  let pos = 0;
  let i = seed;
  while (pos < size) {
    const len = Math.min(size - pos, [3 << 20, 9 << 20, 700_000, 1 << 20][i++ % 4]);
    if (i % 3 !== 1) randomBytes(len).copy(out, pos);
    pos += len;
  }
  return out;
}

describe('Processor file reading', () => {
  test('chunks files exactly like cutPoints over the whole file, whatever their size', async () => {
    const gear = createGearTable(keys.chunker);
    const sizes = [0, 1, 100, 600_000, (1 << 20) - 1, 1 << 20, (1 << 20) + 1, 3_500_000, 21 << 20];
    const files = sizes.map((size, i) => {
      const data = content(size, i);
      const p = path.join(dir, `f${i}`);
      fs.writeFileSync(p, data);
      return { p, data };
    });
    const stored: SealedBlob[] = [];
    const host: ProcessorHost = {
      async query(ids) {
        return new Uint8Array(ids.length / 32).fill(1);
      },
      async store(blobs) {
        stored.push(...blobs);
      },
    };
    const processor = new Processor(box, parseCompression('auto', codecs()), setup);
    const results = await processor.backupFiles(
      files.map((f) => ({ path: f.p, size: f.data.length })),
      host,
    );
    files.forEach((f, i) => {
      const r = results[i];
      expect(r.ok).toBe(true);
      if (!r.ok) return;
      const cuts = cutPoints(f.data, setup.params, gear);
      const expected = cuts.map((end, j) => toHex(box.blobId(f.data.subarray(j === 0 ? 0 : cuts[j - 1], end))));
      expect(r.content).toEqual(expected);
      expect(r.size).toBe(f.data.length);
    });
    // Every chunk reached the store intact.
    for (const b of stored) expect(box.decodeBlob(b.type, b.id, b.sealed, b.rawLength).length).toBe(b.rawLength);
  });

  test('a file that grew after lstat is read to its end with the same cuts', async () => {
    const gear = createGearTable(keys.chunker);
    const data = content(5 << 20, 7);
    const p = path.join(dir, 'grown');
    fs.writeFileSync(p, data);
    const host: ProcessorHost = { query: async (ids) => new Uint8Array(ids.length / 32), store: async () => undefined };
    const processor = new Processor(box, parseCompression('auto', codecs()), setup);
    // The size hint says 1000 bytes: the small-file read sees more and goes on.
    const [r] = await processor.backupFiles([{ path: p, size: 1000 }], host);
    expect(r.ok && r.size).toBe(data.length);
    const cuts = cutPoints(data, setup.params, gear);
    if (r.ok) expect(r.content).toEqual(cuts.map((end, j) => toHex(box.blobId(data.subarray(j === 0 ? 0 : cuts[j - 1], end)))));
  });
});
