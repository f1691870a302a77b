import { describe, expect, test } from 'vitest';
import { brotliCompressSync, brotliDecompressSync } from 'node:zlib';
import { hasCode } from '@strata/core';
import { codecContract, errorOf, expectCorrupt } from '@strata/testkit';
import { brotliCodec, plugins } from '../src/index.js';

codecContract({ describe, test, expect }, () => brotliCodec());

const text = new TextEncoder().encode('strata deduplicates, compresses and encrypts. '.repeat(3000));

describe('brotli', () => {
  test('the body after the size prefix is a standard brotli stream', () => {
    const packed = brotliCodec().compress(text);
    // 138,000 needs three varint bytes.
    expect(Array.from(packed.subarray(0, 3))).toEqual([0x90, 0xb6, 0x08]);
    expect(Buffer.from(brotliDecompressSync(packed.subarray(3))).equals(Buffer.from(text))).toBe(true);
    const foreign = brotliCompressSync(text);
    const framed = Buffer.concat([Buffer.from([0x90, 0xb6, 0x08]), foreign]);
    expect(Buffer.from(brotliCodec().decompress(framed)).equals(Buffer.from(text))).toBe(true);
  });

  test('a size prefix that lies, or is not in shortest form, is refused', () => {
    const codec = brotliCodec();
    const packed = codec.compress(text);
    const lie = new Uint8Array(packed);
    lie[0] ^= 1;
    expectCorrupt(() => codec.decompress(lie), 'a size prefix that lies');
    const small = codec.compress(Uint8Array.of(7));
    const padded = new Uint8Array([small[0] | 0x80, 0x00, ...small.subarray(1)]);
    expectCorrupt(() => codec.decompress(padded), 'a size prefix not in shortest form');
  });

  test('a flipped byte never yields wrong output silently when the size changes', () => {
    // Brotli has no checksum: a flip may decode to other bytes of the same length. The repository's
    // content hashes (and the cipher's tag) catch that; here every flip must either throw CorruptError
    // or still give the declared length.
    const codec = brotliCodec();
    const packed = codec.compress(text.subarray(0, 4000));
    let caught = 0;
    for (let i = 0; i < packed.byteLength; i++) {
      const bad = new Uint8Array(packed);
      bad[i] ^= 0x04;
      let out: Uint8Array | undefined;
      const err = errorOf(() => (out = codec.decompress(bad)));
      if (err === undefined) expect(out!.byteLength).toBe(4000);
      else {
        expect(hasCode(err, 'CORRUPT'), String(err)).toBe(true);
        caught++;
      }
    }
    expect(caught).toBeGreaterThan(packed.byteLength / 2);
  });

  test('options: text mode and a small window still round-trip; levels clamp', async () => {
    const codec = brotliCodec({ mode: 'text', windowBits: 16 });
    expect(Buffer.from(codec.decompress(codec.compress(text, 11))).equals(Buffer.from(text))).toBe(true);
    expect(Buffer.from(codec.decompress(codec.compress(text, -4))).equals(Buffer.from(text))).toBe(true);
    expect(codec.id).toBe(3);
    expect(codec.levels).toEqual({ min: 0, max: 11, default: 5 });
    expect(plugins[0].create().name).toBe('brotli');
    const spec = codec.portable!;
    expect(spec.args).toEqual([{ mode: 'text', windowBits: 16 }]);
    const rebuilt = (await import(spec.module))[spec.exportName](...(spec.args ?? []));
    expect(Buffer.from(rebuilt.decompress(codec.compress(text))).equals(Buffer.from(text))).toBe(true);
  });
});
