import { randomBytes } from 'node:crypto';
import { describe, expect, test } from 'vitest';
import { BLOB_DATA, Box, CODEC_NONE, parseCompression, sampleEntropy } from '../src/format/box.js';
import { newMasterKeys } from '../src/format/keys.js';
import { ciphers, codecs } from './helpers.js';

// Without a cipher the sealed blob is the payload itself: its first byte is the codec id.
const box = new Box(null, newMasterKeys(32), codecs());
const auto = parseCompression('auto', codecs());

function codecOf(data: Uint8Array): number {
  const id = box.blobId(data);
  const sealed = box.encodeBlob(BLOB_DATA, id, data, auto);
  expect(Buffer.from(box.decodeBlob(BLOB_DATA, id, sealed, data.length)).equals(Buffer.from(data))).toBe(true);
  return sealed[0];
}

describe("compression 'auto'", () => {
  test('random bytes are stored raw', () => {
    const data = randomBytes(300_000);
    expect(sampleEntropy(data)).toBeGreaterThan(7.8);
    expect(codecOf(data)).toBe(CODEC_NONE);
  });

  test('text is compressed with zstd', () => {
    const data = Buffer.from('the quick brown fox jumps over the lazy dog\n'.repeat(5000));
    expect(codecOf(data)).toBe(1);
  });

  test('random-looking data with long repeats is still compressed (the byte sample cannot see repeats)', () => {
    const block = randomBytes(64 * 1024);
    const data = Buffer.concat(Array.from({ length: 16 }, () => block));
    expect(sampleEntropy(data)).toBeGreaterThan(7.2);
    expect(codecOf(data)).toBe(1);
    expect(box.encodeBlob(BLOB_DATA, box.blobId(data), data, auto).length).toBeLessThan(data.length / 4);
  });

  test('a small sample of random bytes still measures as incompressible', () => {
    for (const n of [1024, 8192, 8193, 65536, 1 << 20]) expect(sampleEntropy(randomBytes(n))).toBeGreaterThan(7.2);
  });

  test('sealed blobs stay intact when later blobs reuse the payload buffer', () => {
    const sealing = new Box(ciphers()[0], newMasterKeys(32), codecs());
    const inputs = [randomBytes(2_000_000), Buffer.alloc(100_000, 3), randomBytes(50), Buffer.from('abc'.repeat(300_000)), randomBytes(700_000)];
    const sealed = inputs.map((d) => ({ id: sealing.blobId(d), s: sealing.encodeBlob(BLOB_DATA, sealing.blobId(d), d, auto) }));
    sealed.forEach(({ id, s }, i) => expect(Buffer.from(sealing.decodeBlob(BLOB_DATA, id, s, inputs[i].length)).equals(inputs[i])).toBe(true));
  });
});
