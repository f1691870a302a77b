import { createHash } from 'node:crypto';
import { InvalidArgumentError } from '@strata/core';
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { type BlobEntry, BlobIndex, PackTable, fromHex, toHex } from '../src/blob-index.js';

function id(n: number | string): Uint8Array {
  return new Uint8Array(createHash('sha256').update(String(n)).digest());
}

/** Ids that share their first 4 bytes (same home slot), differing only at byte `at`. */
function collidingId(n: number, at = 31): Uint8Array {
  const b = new Uint8Array(32);
  b.set([0xde, 0xad, 0xbe, 0xef]);
  b[at] = n;
  return b;
}

function entry(pack: number, n: number, type: 'data' | 'tree' = 'data'): BlobEntry {
  return { pack, offset: n * 7, length: n + 1, rawLength: n * 3 + 2, type };
}

describe('hex helpers', () => {
  test('round trip and reject bad input', () => {
    const i = id(1);
    expect(fromHex(toHex(i))).toEqual(i);
    expect(toHex(fromHex('AB'.repeat(32)))).toBe('ab'.repeat(32));
    expect(() => fromHex('ab')).toThrow(InvalidArgumentError);
    expect(() => fromHex('zz'.repeat(32))).toThrow(InvalidArgumentError);
  });
});

describe('PackTable', () => {
  test('interns pack ids as stable small numbers', () => {
    const t = new PackTable();
    const numbers = Array.from({ length: 200 }, (_, i) => t.intern(id(`p${i}`)));
    expect(numbers).toEqual(Array.from({ length: 200 }, (_, i) => i));
    expect(t.intern(toHex(id('p5')))).toBe(5);
    expect(t.lookup(id('p7'))).toBe(7);
    expect(t.lookup(toHex(id('p7')).toUpperCase())).toBe(7);
    expect(t.lookup(id('nope'))).toBe(-1);
    expect(t.id(150)).toEqual(id('p150'));
    expect(t.hex(3)).toBe(toHex(id('p3')));
    expect(() => t.id(200)).toThrow(InvalidArgumentError);
  });
});

describe('BlobIndex', () => {
  test('add, get, has, set, delete', () => {
    const index = new BlobIndex();
    const p = index.packs.intern(id('pack'));
    expect(index.add(id(1), entry(p, 1))).toBe(true);
    expect(index.add(id(1), entry(p, 2))).toBe(false);
    expect(index.get(id(1))).toEqual(entry(p, 1));
    expect(index.has(id(2))).toBe(false);
    expect(index.get(id(2))).toBeUndefined();
    expect(index.set(id(1), entry(p, 3, 'tree'))).toBe(false);
    expect(index.get(id(1))).toEqual(entry(p, 3, 'tree'));
    expect(index.size).toBe(1);
    expect(index.delete(id(1))).toBe(true);
    expect(index.delete(id(1))).toBe(false);
    expect(index.size).toBe(0);
  });

  test('the id is copied: mutating the caller buffer changes nothing', () => {
    const index = new BlobIndex();
    const p = index.packs.intern(id('pack'));
    const k = id(9);
    index.add(k, entry(p, 9));
    k[5] ^= 1;
    expect(index.has(k)).toBe(false);
    expect(index.has(id(9))).toBe(true);
  });

  test('rejects bad ids and fields', () => {
    const index = new BlobIndex();
    const p = index.packs.intern(id('pack'));
    expect(() => index.add(new Uint8Array(31), entry(p, 1))).toThrow(InvalidArgumentError);
    expect(() => index.has(new Uint8Array(33))).toThrow(InvalidArgumentError);
    expect(() => index.add(id(1), entry(p + 1, 1))).toThrow(InvalidArgumentError);
    expect(() => index.add(id(1), { ...entry(p, 1), offset: 2 ** 32 })).toThrow(InvalidArgumentError);
    expect(() => index.add(id(1), { ...entry(p, 1), length: -1 })).toThrow(InvalidArgumentError);
    expect(() => index.add(id(1), { ...entry(p, 1), type: 'x' as 'data' })).toThrow(InvalidArgumentError);
    expect(index.size).toBe(0);
  });

  test('ids that share a home slot are told apart, including after deletes', () => {
    const index = new BlobIndex({ capacity: 16 });
    const p = index.packs.intern(id('pack'));
    for (let n = 0; n < 40; n++) index.add(collidingId(n), entry(p, n));
    for (let n = 0; n < 40; n += 3) expect(index.delete(collidingId(n))).toBe(true);
    for (let n = 0; n < 40; n++) {
      if (n % 3 === 0) expect(index.has(collidingId(n))).toBe(false);
      else expect(index.get(collidingId(n))).toEqual(entry(p, n));
    }
  });

  test('deletePacks removes exactly the blobs of those packs', () => {
    const index = new BlobIndex({ capacity: 16 });
    const packs = [0, 1, 2, 3].map((i) => index.packs.intern(id(`pack${i}`)));
    for (let n = 0; n < 1000; n++) index.add(id(n), entry(packs[n % 4], n));
    expect(index.deletePacks([packs[1], packs[3]])).toBe(500);
    expect(index.size).toBe(500);
    for (let n = 0; n < 1000; n++) expect(index.has(id(n))).toBe(n % 2 === 0);
    expect(index.deletePacks([])).toBe(0);
    const seen = [...index].map(([k, e]) => [toHex(k), e.pack]);
    expect(seen.length).toBe(500);
    expect(new Set(seen.map(([, pk]) => pk))).toEqual(new Set([packs[0], packs[2]]));
  });

  test('behaves like a Map (property test)', () => {
    const pool = [
      ...Array.from({ length: 24 }, (_, i) => id(`pool${i}`)),
      ...Array.from({ length: 12 }, (_, i) => collidingId(i, 4 + (i % 28))),
    ];
    const op = fc.oneof(
      fc.record({ kind: fc.constant('add' as const), k: fc.nat(pool.length - 1), pack: fc.nat(3), n: fc.nat(1e6) }),
      fc.record({ kind: fc.constant('set' as const), k: fc.nat(pool.length - 1), pack: fc.nat(3), n: fc.nat(1e6) }),
      fc.record({ kind: fc.constant('delete' as const), k: fc.nat(pool.length - 1) }),
      fc.record({ kind: fc.constant('deletePacks' as const), packs: fc.uniqueArray(fc.nat(3), { maxLength: 2 }) }),
    );
    fc.assert(
      fc.property(fc.array(op, { maxLength: 300 }), (ops) => {
        const index = new BlobIndex({ capacity: 1 });
        for (let i = 0; i < 4; i++) index.packs.intern(id(`pack${i}`));
        const ref = new Map<string, BlobEntry>();
        for (const o of ops) {
          if (o.kind === 'add') {
            const key = toHex(pool[o.k]);
            expect(index.add(pool[o.k], entry(o.pack, o.n))).toBe(!ref.has(key));
            if (!ref.has(key)) ref.set(key, entry(o.pack, o.n));
          } else if (o.kind === 'set') {
            const key = toHex(pool[o.k]);
            expect(index.set(pool[o.k], entry(o.pack, o.n, 'tree'))).toBe(!ref.has(key));
            ref.set(key, entry(o.pack, o.n, 'tree'));
          } else if (o.kind === 'delete') {
            expect(index.delete(pool[o.k])).toBe(ref.delete(toHex(pool[o.k])));
          } else {
            let removed = 0;
            for (const [key, e] of ref) if (o.packs.includes(e.pack)) (ref.delete(key), removed++);
            expect(index.deletePacks(o.packs)).toBe(removed);
          }
          expect(index.size).toBe(ref.size);
        }
        for (const k of pool) expect(index.get(k)).toEqual(ref.get(toHex(k)));
        const listed = new Map([...index.entries()].map(([k, e]) => [toHex(k), e]));
        expect(listed).toEqual(ref);
        let visited = 0;
        index.forEach((k, e) => {
          expect(e).toEqual(ref.get(toHex(k)));
          visited++;
        });
        expect(visited).toBe(ref.size);
      }),
      { numRuns: 200 },
    );
  });

  test('1,000,000 blobs fit in under 100 bytes each', () => {
    const index = new BlobIndex();
    for (let i = 0; i < 1000; i++) index.packs.intern(id(`pack${i}`));
    // Random-looking ids, made cheaply: a counter mixed into a fixed random prefix.
    const base = new Uint8Array(createHash('sha512').update('ids').digest());
    const k = new Uint8Array(32);
    const view = new DataView(k.buffer);
    const N = 1_000_000;
    for (let i = 0; i < N; i++) {
      k.set(base.subarray(0, 32));
      view.setUint32(0, Math.imul(i, 0x9e3779b1) >>> 0, true);
      view.setUint32(28, i, true);
      index.add(k, { pack: i % 1000, offset: i, length: 1 << 20, rawLength: 1 << 20, type: 'data' });
    }
    expect(index.size).toBe(N);
    const perBlob = index.memoryBytes / N;
    console.log(`blob index: ${perBlob.toFixed(1)} bytes per blob for ${N} blobs (${(index.memoryBytes / 2 ** 20).toFixed(1)} MiB)`);
    expect(perBlob).toBeLessThan(100);
    view.setUint32(0, Math.imul(123456, 0x9e3779b1) >>> 0, true);
    view.setUint32(28, 123456, true);
    expect(index.get(k)?.offset).toBe(123456);
  });
});
