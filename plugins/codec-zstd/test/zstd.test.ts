import { randomBytes } from 'node:crypto';
import { describe, expect, test } from 'vitest';
import fc from 'fast-check';
import { hasCode } from '@strata/core';
import { codecContract, expectCorrupt } from '@strata/testkit';
import { napiAvailable, nodeHasZstd, plugins, zstdBackend, zstdCodec, zstdFrames, type ZstdBackend } from '../src/index.js';

const backends: ZstdBackend[] = [];
if (nodeHasZstd()) backends.push('node:zlib');
if (napiAvailable()) backends.push('zstd-napi');

for (const backend of backends) {
  codecContract({ describe, test, expect }, () => zstdCodec({ backend }));
}

const text = new TextEncoder().encode('strata deduplicates, compresses and encrypts. '.repeat(5000));

describe('zstd', () => {
  test('a backend is available and the default picks node:zlib exactly when Node has zstd', () => {
    expect(backends.length).toBeGreaterThan(0);
    expect(zstdBackend()).toBe(nodeHasZstd() ? 'node:zlib' : 'zstd-napi');
    expect(zstdCodec().backend).toBe(zstdBackend());
  });

  test('Node without zstd in node:zlib falls back to zstd-napi', () => {
    // Node 20 has no zstd in node:zlib; this runs wherever the test runs under an older line.
    if (nodeHasZstd()) expect(zstdBackend()).toBe('node:zlib');
    else {
      expect(napiAvailable()).toBe(true);
      expect(zstdCodec().backend).toBe('zstd-napi');
    }
  });

  test('forcing node:zlib on a Node without zstd is an UnsupportedError', () => {
    if (nodeHasZstd()) {
      expect(zstdCodec({ backend: 'node:zlib' }).backend).toBe('node:zlib');
    } else {
      let err: unknown;
      try {
        zstdCodec({ backend: 'node:zlib' });
      } catch (e) {
        err = e;
      }
      expect(hasCode(err, 'UNSUPPORTED')).toBe(true);
    }
  });

  test('frames record the content size and a checksum', () => {
    const packed = zstdCodec().compress(text);
    expect(zstdFrames(packed)).toEqual({ frames: [{ offset: 0, length: packed.byteLength, contentSize: text.byteLength }], contentSize: text.byteLength });
    // Frame header descriptor: content-checksum flag is bit 2.
    expect(packed[4] & 4).toBe(4);
    expect(zstdCodec({ checksum: false }).compress(text)[4] & 4).toBe(0);
  });

  test('a flipped bit inside the compressed body is caught by the checksum or the decoder', () => {
    const codec = zstdCodec();
    const packed = codec.compress(text);
    for (let i = 0; i < packed.byteLength; i++) {
      const bad = new Uint8Array(packed);
      bad[i] ^= i === 4 ? 0x01 : 0x10; // bit 4 of the frame descriptor is unused by the format
      let err: unknown;
      try {
        codec.decompress(bad);
      } catch (e) {
        err = e;
      }
      expect(hasCode(err, 'CORRUPT'), `byte ${i}`).toBe(true);
    }
  });

  test('concatenated frames decode as one stream', () => {
    const codec = zstdCodec();
    const a = codec.compress(text.subarray(0, 1000));
    const b = codec.compress(text.subarray(1000, 5000));
    const both = new Uint8Array(a.byteLength + b.byteLength);
    both.set(a);
    both.set(b, a.byteLength);
    expect(Buffer.from(codec.decompress(both)).equals(Buffer.from(text.subarray(0, 5000)))).toBe(true);
    expectCorrupt(() => codec.decompress(both, 4999), 'two frames over maxSize');
  });

  test('the other Node line reads and writes the same frames (node:zlib <-> zstd-napi)', () => {
    if (backends.length === 2) {
      const zl = zstdCodec({ backend: 'node:zlib' });
      const na = zstdCodec({ backend: 'zstd-napi' });
      fc.assert(
        fc.property(fc.uint8Array({ maxLength: 20_000 }), fc.integer({ min: 1, max: 19 }), (data, level) => {
          const x = Buffer.from(data);
          return Buffer.from(na.decompress(zl.compress(data, level))).equals(x) && Buffer.from(zl.decompress(na.compress(data, level))).equals(x);
        }),
        { numRuns: 50 },
      );
      return;
    }
    // Only one backend here (Node 20 runs zstd-napi alone): read a frame that Node 22's node:zlib wrote.
    // Under Node 22 both backends load (zstd-napi is N-API), so the property above runs there.
    const codec = zstdCodec();
    // 'strata' x 3 compressed by Node 22.23's node:zlib zstd (level 3, checksum, content size).
    const fromNode22 = Buffer.from(NODE22_FRAME, 'base64');
    expect(Buffer.from(codec.decompress(fromNode22)).toString()).toBe('stratastratastrata');
  });

  test('each result owns its bytes: later calls, bigger or smaller, leave earlier results intact', () => {
    for (const backend of backends) {
      const codec = zstdCodec({ backend });
      const inputs = [text, new Uint8Array(3_000_000).fill(7), text.subarray(0, 999), new Uint8Array(randomBytes(200_000))];
      const outs = inputs.map((d) => codec.compress(d));
      const copies = outs.map((o) => Buffer.from(o));
      outs.forEach((o, i) => {
        expect(Buffer.from(o).equals(copies[i])).toBe(true);
        expect(Buffer.from(codec.decompress(o)).equals(Buffer.from(inputs[i]))).toBe(true);
      });
    }
  });

  test('levels are clamped and the descriptor builds the codec', async () => {
    const codec = zstdCodec();
    expect(codec.id).toBe(1);
    expect(codec.levels).toEqual({ min: 1, max: 19, default: 3 });
    expect(Buffer.from(codec.decompress(codec.compress(text, 99))).equals(Buffer.from(text))).toBe(true);
    expect(plugins[0].kind).toBe('codec');
    expect(plugins[0].create().name).toBe('zstd');
    const spec = codec.portable!;
    const rebuilt = (await import(spec.module))[spec.exportName](...(spec.args ?? []));
    expect(Buffer.from(rebuilt.decompress(codec.compress(text))).equals(Buffer.from(text))).toBe(true);
  });
});

const NODE22_FRAME = 'KLUv/SQSZQAAMHN0cmF0YQEA4UoRZ+cVqw==';
