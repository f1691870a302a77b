import { createCipheriv, createHash } from 'node:crypto';
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import { InvalidArgumentError } from '@strata/core';
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import {
  Chunker,
  DEFAULT_CHUNKER_PARAMS,
  type ChunkerParams,
  createGearTable,
  cutPoints,
  normalizeChunkerParams,
} from '../src/chunker.js';

/** Deterministic pseudo-random bytes (AES-128-CTR keystream of a seed). */
function prng(length: number, seed: number): Uint8Array {
  const key = createHash('sha256').update(`seed ${seed}`).digest().subarray(0, 16);
  const cipher = createCipheriv('aes-128-ctr', key, Buffer.alloc(16));
  return new Uint8Array(cipher.update(Buffer.alloc(length)));
}

function secret(n: number): Uint8Array {
  return new Uint8Array(createHash('sha256').update(`secret ${n}`).digest());
}

function sha(b: Uint8Array): string {
  return createHash('sha256').update(b).digest('hex');
}

function chunkAll(data: Uint8Array, params: Partial<ChunkerParams>, gear: Uint32Array, splits: number[] = []): Uint8Array[] {
  const chunker = new Chunker(params, gear);
  const out: Uint8Array[] = [];
  let pos = 0;
  for (const size of splits) {
    if (pos >= data.length) break;
    out.push(...chunker.push(data.subarray(pos, pos + size)));
    pos += size;
  }
  if (pos < data.length) out.push(...chunker.push(data.subarray(pos)));
  out.push(...chunker.finish());
  return out;
}

function concat(parts: Uint8Array[]): Uint8Array {
  return new Uint8Array(Buffer.concat(parts));
}

const SMALL: ChunkerParams = { min: 256, avg: 1024, max: 4096 };
const gearA = createGearTable(secret(1));
const gearB = createGearTable(secret(2));

describe('createGearTable', () => {
  test('is deterministic per secret and differs between secrets', () => {
    const t1 = createGearTable(secret(1));
    expect(t1).toBeInstanceOf(Uint32Array);
    expect(t1.length).toBe(256);
    expect(Array.from(t1)).toEqual(Array.from(gearA));
    expect(Array.from(gearB)).not.toEqual(Array.from(gearA));
    // A table of distinct entries: no two bytes hash alike.
    expect(new Set(gearA).size).toBe(256);
  });

  test('rejects a short or missing secret', () => {
    expect(() => createGearTable(new Uint8Array(8))).toThrow(InvalidArgumentError);
    expect(() => createGearTable('x' as unknown as Uint8Array)).toThrow(InvalidArgumentError);
  });
});

describe('parameters', () => {
  test('defaults are 512 KiB / 1 MiB / 8 MiB', () => {
    expect(normalizeChunkerParams()).toEqual({ min: 512 * 1024, avg: 1024 * 1024, max: 8 * 1024 * 1024, level: 2 });
    expect(DEFAULT_CHUNKER_PARAMS.avg).toBe(1 << 20);
  });

  test.each([
    [{ min: 32 }],
    [{ min: 2048, avg: 1024 }],
    [{ avg: 4096, max: 2048, min: 1024 }],
    [{ min: 1.5 }],
    [{ level: 40 }],
    [{ max: 2 ** 31 }],
  ])('rejects %j', (p) => {
    expect(() => new Chunker(p, gearA)).toThrow(InvalidArgumentError);
  });

  test('rejects a gear table of the wrong shape', () => {
    expect(() => new Chunker({}, new Uint32Array(10))).toThrow(InvalidArgumentError);
  });
});

describe('Chunker', () => {
  test('empty input gives no chunk; input under min is one chunk', () => {
    expect(chunkAll(new Uint8Array(0), {}, gearA)).toEqual([]);
    const small = prng(100_000, 3);
    const chunks = chunkAll(small, {}, gearA);
    expect(chunks.length).toBe(1);
    expect(sha(chunks[0])).toBe(sha(small));
    expect(cutPoints(small, {}, gearA)).toEqual([small.length]);
  });

  test('same secret gives the same cuts; another secret gives other cuts', () => {
    const data = prng(2 * 1024 * 1024, 4);
    const a1 = cutPoints(data, SMALL, gearA);
    const a2 = cutPoints(data, SMALL, createGearTable(secret(1)));
    const b = cutPoints(data, SMALL, gearB);
    expect(a1).toEqual(a2);
    expect(a1.length).toBeGreaterThan(100);
    expect(b).not.toEqual(a1);
    // Different tables share few cut positions by chance.
    const shared = b.filter((c) => a1.includes(c)).length;
    expect(shared).toBeLessThan(a1.length / 4);
  });

  test('chunk sizes stay in [min, max] except the last, and concatenate to the input', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 200_000 }),
        fc.integer({ min: 0, max: 1000 }),
        fc.constantFrom<ChunkerParams>(SMALL, { min: 64, avg: 64, max: 64 }, { min: 100, avg: 3000, max: 5000, level: 1 }),
        fc.boolean(),
        (length, seed, params, lowEntropy) => {
          const data = lowEntropy ? new Uint8Array(length).fill(seed & 0xff) : prng(length, seed);
          const chunks = chunkAll(data, params, gearA);
          chunks.forEach((c, i) => {
            expect(c.length).toBeLessThanOrEqual(params.max);
            if (i < chunks.length - 1) expect(c.length).toBeGreaterThanOrEqual(params.min);
            expect(c.length).toBeGreaterThan(0);
          });
          expect(Buffer.compare(concat(chunks), data)).toBe(0);
        },
      ),
      { numRuns: 60 },
    );
  });

  test('a run of equal bytes is cut at max', () => {
    const data = new Uint8Array(10 * 4096 + 17);
    const cuts = cutPoints(data, SMALL, gearA);
    expect(cuts.slice(0, 10)).toEqual(Array.from({ length: 10 }, (_, i) => (i + 1) * 4096));
    expect(cuts.at(-1)).toBe(data.length);
  });

  test('cuts do not depend on how the input is split between pushes', () => {
    const data = prng(300_000, 5);
    const reference = cutPoints(data, SMALL, gearA);
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 1, max: 9000 }), { maxLength: 200 }), (splits) => {
        const chunks = chunkAll(data, SMALL, gearA, splits);
        let end = 0;
        const cuts = chunks.map((c) => (end += c.length));
        expect(cuts).toEqual(reference);
      }),
      { numRuns: 100 },
    );
  });

  test('one byte at a time matches whole-buffer chunking', () => {
    const data = prng(20_000, 6);
    const chunker = new Chunker(SMALL, gearA);
    const sizes: number[] = [];
    for (let i = 0; i < data.length; i++) for (const c of chunker.push(data.subarray(i, i + 1))) sizes.push(c.length);
    for (const c of chunker.finish()) sizes.push(c.length);
    let end = 0;
    expect(sizes.map((s) => (end += s))).toEqual(cutPoints(data, SMALL, gearA));
  });

  test('copy mode gives each chunk its own buffer; default mode returns views of the pushed buffer', () => {
    const data = prng(50_000, 7);
    const views = new Chunker(SMALL, gearA).push(data);
    expect(views.length).toBeGreaterThan(3);
    expect(views[1].buffer).toBe(data.buffer);
    const copies = new Chunker(SMALL, gearA, { copy: true }).push(data);
    expect(copies.map(sha)).toEqual(views.map(sha));
    for (const c of copies) {
      expect(c.buffer).not.toBe(data.buffer);
      expect(c.byteLength).toBe(c.buffer.byteLength);
    }
  });

  test('is reusable after finish and holds at most max bytes pending', () => {
    const chunker = new Chunker(SMALL, gearA);
    const data = prng(40_000, 8);
    let maxPending = 0;
    const first: Uint8Array[] = [];
    for (let i = 0; i < data.length; i += 700) {
      first.push(...chunker.push(data.subarray(i, i + 700)));
      maxPending = Math.max(maxPending, chunker.buffered);
    }
    first.push(...chunker.finish());
    expect(chunker.buffered).toBe(0);
    expect(maxPending).toBeLessThan(SMALL.max);
    const second = [...chunker.push(data), ...chunker.finish()];
    expect(second.map(sha)).toEqual(first.map(sha));
  });

  test('the mean chunk of random data with default sizes is near 1.2 MiB', () => {
    const data = prng(64 * 1024 * 1024, 9);
    const cuts = cutPoints(data, {}, gearA);
    const mean = data.length / cuts.length;
    expect(mean).toBeGreaterThan(0.9 * 1024 * 1024);
    expect(mean).toBeLessThan(1.6 * 1024 * 1024);
  });

  test('an insertion in the middle of 40 MiB changes only the chunks near it', () => {
    const data = prng(40 * 1024 * 1024, 10);
    const mid = 20 * 1024 * 1024 + 12345;
    const edited = concat([data.subarray(0, mid), new Uint8Array([1, 2, 3, 4, 5]), data.subarray(mid)]);
    const before = chunkAll(data, {}, gearA, [3_000_001, 5_000_000, 7_777_777]).map(sha);
    const after = chunkAll(edited, {}, gearA, [1 << 20, 1 << 22]).map(sha);
    const old = new Set(before);
    const fresh = after.filter((h) => !old.has(h));
    expect(before.length).toBeGreaterThan(20);
    // The chunk holding the insertion changes; at most one more may before the cuts resynchronize.
    expect(fresh.length).toBeGreaterThanOrEqual(1);
    expect(fresh.length).toBeLessThanOrEqual(2);
    expect(after.length - fresh.length).toBeGreaterThanOrEqual(before.length - 2);
  });
});

describe('in a worker thread', () => {
  test('cuts exactly as on the main thread', async () => {
    const data = prng(3 * 1024 * 1024, 11);
    const here = cutPoints(data, SMALL, createGearTable(secret(3)));
    // Load the TypeScript source in the worker through tsx, as the engine's own pool does in tests.
    const api = createRequire(import.meta.url).resolve('tsx/esm/api');
    const src = new URL('../src/chunker.ts', import.meta.url).href;
    const code = `
      const { parentPort, workerData } = require('node:worker_threads');
      require(${JSON.stringify(api)}).register();
      import(${JSON.stringify(src)}).then(({ cutPoints, createGearTable }) => {
        parentPort.postMessage(cutPoints(workerData.data, workerData.params, createGearTable(workerData.secret)));
      });`;
    const worker = new Worker(code, { eval: true, workerData: { data, params: SMALL, secret: secret(3) } });
    try {
      const there = await new Promise<number[]>((resolve, reject) => {
        worker.once('message', resolve);
        worker.once('error', reject);
      });
      expect(there).toEqual(here);
    } finally {
      await worker.terminate();
    }
  });
});
