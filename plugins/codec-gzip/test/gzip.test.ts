import { describe, expect, test } from 'vitest';
import { gunzipSync, gzipSync } from 'node:zlib';
import fc from 'fast-check';
import { hasCode } from '@strata/core';
import { codecContract, errorOf, expectCorrupt } from '@strata/testkit';
import { crc32, gzipCodec, plugins } from '../src/index.js';
import { crc32Js } from '../src/crc32.js';

codecContract({ describe, test, expect }, () => gzipCodec());

const text = new TextEncoder().encode('strata deduplicates, compresses and encrypts. '.repeat(3000));

describe('gzip', () => {
  test('output is standard gzip: node:zlib reads ours and we read node:zlib\'s', () => {
    const codec = gzipCodec();
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 10_000 }), fc.integer({ min: 0, max: 9 }), (data, level) => {
        const x = Buffer.from(data);
        return gunzipSync(codec.compress(data, level)).equals(x) && Buffer.from(codec.decompress(gzipSync(data, { level }))).equals(x);
      }),
      { numRuns: 100 },
    );
  });

  test('equal input gives equal bytes (mtime 0)', () => {
    const a = gzipCodec().compress(text);
    expect(Buffer.from(a).equals(Buffer.from(gzipCodec().compress(text)))).toBe(true);
    expect(a.subarray(4, 8)).toEqual(new Uint8Array(4));
  });

  test('a flipped byte never yields wrong output: CorruptError, or (in unused padding bits) the same bytes', () => {
    const codec = gzipCodec();
    const packed = codec.compress(text.subarray(0, 3000));
    for (let i = 0; i < packed.byteLength; i++) {
      // Bytes 4..9 are mtime, extra flags and OS: informational, not checked by any gzip reader.
      if (i >= 4 && i <= 9) continue;
      const bad = new Uint8Array(packed);
      bad[i] ^= 0x20;
      let out: Uint8Array | undefined;
      const err = errorOf(() => (out = codec.decompress(bad)));
      if (err === undefined) expect(Buffer.from(out!).equals(Buffer.from(text.subarray(0, 3000))), `byte ${i}`).toBe(true);
      else expect(hasCode(err, 'CORRUPT'), `byte ${i}: ${String(err)}`).toBe(true);
    }
  });

  test('a trailer that lies about the size is refused', () => {
    const codec = gzipCodec();
    const packed = codec.compress(text);
    const bigger = new Uint8Array(packed);
    new DataView(bigger.buffer).setUint32(bigger.byteLength - 4, text.byteLength + 1, true);
    expectCorrupt(() => codec.decompress(bigger), 'a trailer recording one byte more');
    const smaller = new Uint8Array(packed);
    new DataView(smaller.buffer).setUint32(smaller.byteLength - 4, 10, true);
    expectCorrupt(() => codec.decompress(smaller), 'a trailer recording 10 bytes');
  });

  test('headers with optional fields (name, comment, extra, header CRC) from other tools are read', () => {
    // FLG = FHCRC|FEXTRA|FNAME|FCOMMENT with a 3-byte extra field.
    const body = gzipSync(text).subarray(10);
    const header = Buffer.from([0x1f, 0x8b, 8, 0x1e, 0, 0, 0, 0, 0, 3, 3, 0, 1, 2, 3, ...Buffer.from('a.txt\0note\0'), 0xaa, 0xbb]);
    const member = Buffer.concat([header, body]);
    expect(Buffer.from(gzipCodec().decompress(member)).equals(Buffer.from(text))).toBe(true);
  });

  test('the table CRC-32 matches zlib on assorted lengths', () => {
    for (const n of [0, 1, 7, 8, 9, 63, 64, 65, 1000, 4099]) {
      const data = new Uint8Array(n).map((_, i) => (i * 31 + n) & 0xff);
      const ref = gzipSync(data);
      const want = ref.readUInt32LE(ref.byteLength - 8);
      expect(crc32Js(data), `length ${n}`).toBe(want);
      expect(crc32(data), `length ${n}`).toBe(want);
    }
  });

  test('id, levels, descriptor and portable spec', async () => {
    const codec = gzipCodec({ mem: 8 });
    expect(codec.id).toBe(2);
    expect(codec.levels).toEqual({ min: 0, max: 9, default: 6 });
    expect(plugins[0].create().name).toBe('gzip');
    const spec = codec.portable!;
    expect(spec.args).toEqual([{ mem: 8 }]);
    const rebuilt = (await import(spec.module))[spec.exportName](...(spec.args ?? []));
    expect(Buffer.from(rebuilt.decompress(codec.compress(text))).equals(Buffer.from(text))).toBe(true);
  });
});
