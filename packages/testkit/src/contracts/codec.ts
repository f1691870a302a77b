import { Buffer } from 'node:buffer';
import fc from 'fast-check';
import { hasCode, type Codec } from '@strata/core';

/** The parts of a test runner the codec and cipher suites use; pass vitest's own functions. */
export interface ContractExpectation {
  toBe(expected: unknown): void;
  toEqual(expected: unknown): void;
  toBeGreaterThan(expected: number): void;
  toBeGreaterThanOrEqual(expected: number): void;
  toBeLessThanOrEqual(expected: number): void;
  toMatch(expected: RegExp): void;
}

export interface CodecContractRunner {
  describe(name: string, fn: () => void): void;
  test(name: string, fn: () => unknown, timeout?: number): void;
  expect(actual: unknown, message?: string): ContractExpectation;
}

export interface CodecContractOptions {
  /** Timeout of the large-input tests in ms (default 120,000); bounds a decoder that hangs, too. */
  largeTimeout?: number;
  /** fast-check runs of the round-trip property (default 100). */
  propertyRuns?: number;
  /** Size of the large round-trip input in bytes. Default 32 MiB; lower it only to test this suite itself. */
  largeInputSize?: number;
}

const MiB = 1024 * 1024;

/** Deterministic pseudo-random bytes (xorshift32), so a failing case reproduces from its seed. */
export function pseudoRandomBytes(size: number, seed: number): Uint8Array {
  const out = new Uint8Array(size);
  const words = new Uint32Array(out.buffer, 0, size >>> 2);
  let x = seed >>> 0 || 0x9e3779b9;
  for (let i = 0; i < words.length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    words[i] = x >>> 0;
  }
  for (let i = words.length * 4; i < size; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

/** Text-like bytes with a lot of repetition (ratio well above 2 for any real codec). */
function compressibleBytes(size: number): Uint8Array {
  const words = ['strata ', 'backup ', 'chunk ', 'snapshot ', 'pack ', 'index\n', 'tree ', 'blob '];
  const out = new Uint8Array(size);
  const rnd = pseudoRandomBytes(Math.ceil(size / 4) + 8, 7);
  let pos = 0;
  let r = 0;
  while (pos < size) {
    const w = words[rnd[r++ % rnd.length] & 7];
    for (let i = 0; i < w.length && pos < size; i++) out[pos++] = w.charCodeAt(i);
  }
  return out;
}

/** Half incompressible, half repetitive, in 64 KiB stripes: like a real pack. */
function mixedBytes(size: number): Uint8Array {
  const out = compressibleBytes(size);
  const noise = pseudoRandomBytes(size, 42);
  for (let off = 0; off < size; off += 128 * 1024) {
    out.set(noise.subarray(off, Math.min(off + 64 * 1024, size)), off);
  }
  return out;
}

export function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));
}

/** What fn throws, or undefined when it returns normally (for tests that accept either outcome). */
export function errorOf(fn: () => unknown): unknown {
  try {
    fn();
  } catch (err) {
    return err ?? new Error('undefined was thrown');
  }
  return undefined;
}

/** Runs fn and fails unless it throws an error whose code is CORRUPT. */
export function expectCorrupt(fn: () => unknown, what: string): void {
  const thrown = errorOf(fn);
  if (thrown === undefined) throw new Error(`${what}: expected CorruptError, but the call returned normally`);
  if (!hasCode(thrown, 'CORRUPT')) {
    throw new Error(`${what}: expected CorruptError (code CORRUPT), got ${String(thrown)}`, { cause: thrown });
  }
}

/**
 * The contract every Codec passes. Call it from the plugin's test file with vitest's functions:
 * `codecContract({ describe, test, expect }, () => zstdCodec())`.
 *
 * Checks: identity (id byte 1..255, lower-case name, ordered levels), round trips of empty, 1-byte,
 * incompressible, highly compressible and 32 MiB inputs, a fast-check round-trip property, garbage
 * and truncated input throwing CorruptError, and `maxSize` refusing a decompression bomb.
 * A decoder that hangs fails by the test timeout.
 */
export function codecContract(
  runner: CodecContractRunner,
  makeCodec: () => Codec,
  options: CodecContractOptions = {},
): void {
  const { describe, test, expect } = runner;
  const largeTimeout = options.largeTimeout ?? 120_000;
  const propertyRuns = options.propertyRuns ?? 100;
  const largeSize = options.largeInputSize ?? 32 * MiB;
  const largeLabel = largeSize % MiB === 0 ? `${largeSize / MiB} MiB` : `${largeSize} bytes`;
  const probe = makeCodec();
  const levels = [...new Set([probe.levels.min, probe.levels.default, probe.levels.max])];

  const roundTrip = (codec: Codec, data: Uint8Array, level: number | undefined, what: string): Uint8Array => {
    const packed = codec.compress(data, level);
    expect(packed instanceof Uint8Array, `${what}: compress returns a Uint8Array`).toBe(true);
    const back = codec.decompress(packed);
    expect(back.byteLength, `${what}: decompressed length`).toBe(data.byteLength);
    expect(sameBytes(back, data), `${what}: decompressed bytes equal the input`).toBe(true);
    return packed;
  };

  describe(`codec contract: ${probe.name}`, () => {
    test('identity: id byte, lower-case name, ordered integer levels', () => {
      const codec = makeCodec();
      expect(Number.isInteger(codec.id), 'id is an integer').toBe(true);
      expect(codec.id).toBeGreaterThanOrEqual(1);
      expect(codec.id).toBeLessThanOrEqual(255);
      expect(codec.name).toMatch(/^[a-z0-9][a-z0-9-]*$/);
      const { min, max } = codec.levels;
      expect(Number.isInteger(min) && Number.isInteger(max) && Number.isInteger(codec.levels.default)).toBe(true);
      expect(min).toBeLessThanOrEqual(codec.levels.default);
      expect(codec.levels.default).toBeLessThanOrEqual(max);
      if (codec.portable) {
        expect(typeof codec.portable.module, 'portable.module').toBe('string');
        expect(typeof codec.portable.exportName, 'portable.exportName').toBe('string');
        // Workers receive the spec by structured clone.
        expect(structuredClone(codec.portable)).toEqual(codec.portable);
      }
    });

    for (const level of levels) {
      test(`round trip at level ${level}: empty, 1 byte, incompressible, compressible`, () => {
        const codec = makeCodec();
        roundTrip(codec, new Uint8Array(0), level, 'empty');
        roundTrip(codec, Uint8Array.of(0x61), level, '1 byte');
        roundTrip(codec, Uint8Array.of(0x00), level, '1 zero byte');
        // The slow ends of the range (brotli 11, zstd 19) get smaller inputs.
        const size = level === codec.levels.default ? 1 * MiB : 256 * 1024;
        const noise = pseudoRandomBytes(size / 4 + 3, level + 11);
        const packedNoise = roundTrip(codec, noise, level, 'incompressible');
        // Incompressible input may grow, but only by framing overhead.
        expect(packedNoise.byteLength).toBeLessThanOrEqual(noise.byteLength + noise.byteLength / 64 + 1024);
        const text = compressibleBytes(size);
        const packedText = roundTrip(codec, text, level, 'compressible');
        if (level > codec.levels.min) expect(packedText.byteLength * 2).toBeLessThanOrEqual(text.byteLength);
        const zeros = new Uint8Array(size);
        const packedZeros = roundTrip(codec, zeros, level, 'zeros');
        if (level > codec.levels.min) expect(packedZeros.byteLength * 20).toBeLessThanOrEqual(zeros.byteLength);
      }, largeTimeout);
    }

    test('compress without a level uses the default level; out-of-range levels are clamped', () => {
      const codec = makeCodec();
      const text = compressibleBytes(64 * 1024);
      expect(sameBytes(codec.compress(text), codec.compress(text, codec.levels.default)), 'no level = default level').toBe(true);
      for (const level of [codec.levels.min - 1, codec.levels.max + 1]) {
        roundTrip(codec, text, level, `level ${level}`);
      }
    });

    test(`round trip of ${largeLabel} of mixed data at the default level`, () => {
      const codec = makeCodec();
      const data = mixedBytes(largeSize);
      const packed = roundTrip(codec, data, undefined, largeLabel);
      expect(packed.byteLength).toBeLessThanOrEqual(data.byteLength);
    }, largeTimeout);

    test('property: arbitrary byte arrays round-trip at any level', () => {
      const codec = makeCodec();
      fc.assert(
        fc.property(
          fc.uint8Array({ maxLength: 4096 }),
          fc.integer({ min: codec.levels.min, max: codec.levels.max }),
          (data, level) => {
            const back = codec.decompress(codec.compress(data, level));
            return sameBytes(back, data);
          },
        ),
        { numRuns: propertyRuns },
      );
    }, largeTimeout);

    test('garbage input throws CorruptError', () => {
      const codec = makeCodec();
      expectCorrupt(() => codec.decompress(new Uint8Array(0)), 'empty input');
      for (const size of [1, 2, 3, 7, 16, 64, 1000, 4096, 65536]) {
        for (let seed = 1; seed <= 8; seed++) {
          expectCorrupt(() => codec.decompress(pseudoRandomBytes(size, seed * 7919 + size)), `${size} random bytes (seed ${seed})`);
        }
      }
      expectCorrupt(() => codec.decompress(new Uint8Array(100)), '100 zero bytes');
      expectCorrupt(() => codec.decompress(new Uint8Array(100).fill(0xff)), '100 0xff bytes');
      // A valid start followed by garbage.
      const packed = codec.compress(compressibleBytes(64 * 1024));
      for (let seed = 1; seed <= 8; seed++) {
        const bad = new Uint8Array(packed);
        bad.set(pseudoRandomBytes(packed.byteLength - 16, seed), 16);
        expectCorrupt(() => codec.decompress(bad), `valid header then garbage (seed ${seed})`);
      }
    }, largeTimeout);

    test('truncated input throws CorruptError at every shorter length', () => {
      const codec = makeCodec();
      for (const data of [new Uint8Array(0), Uint8Array.of(1, 2, 3), compressibleBytes(20_000), pseudoRandomBytes(3000, 5)]) {
        const packed = codec.compress(data);
        for (let len = 0; len < packed.byteLength; len++) {
          expectCorrupt(() => codec.decompress(packed.subarray(0, len)), `${data.byteLength}-byte input compressed to ${packed.byteLength}, cut to ${len}`);
        }
      }
      // Large input: cut at a few points, including inside the last bytes (trailers, checksums).
      const big = codec.compress(mixedBytes(2 * MiB));
      for (const len of [1, big.byteLength >> 1, big.byteLength - 9, big.byteLength - 4, big.byteLength - 1]) {
        expectCorrupt(() => codec.decompress(big.subarray(0, len)), `2 MiB input compressed, cut to ${len}`);
      }
    }, largeTimeout);

    test('trailing bytes after a complete stream throw CorruptError', () => {
      const codec = makeCodec();
      const packed = codec.compress(compressibleBytes(10_000));
      const extended = new Uint8Array(packed.byteLength + 5);
      extended.set(packed);
      extended.set([1, 2, 3, 4, 5], packed.byteLength);
      expectCorrupt(() => codec.decompress(extended), 'compressed stream followed by 5 bytes');
    });

    test('decompress(data, maxSize) refuses output larger than maxSize (decompression bomb)', () => {
      const codec = makeCodec();
      const zeros = new Uint8Array(16 * MiB);
      const bomb = codec.compress(zeros);
      expectCorrupt(() => codec.decompress(bomb, 1 * MiB), '16 MiB bomb with maxSize 1 MiB');
      expectCorrupt(() => codec.decompress(bomb, zeros.byteLength - 1), '16 MiB bomb with maxSize one byte short');
      expectCorrupt(() => codec.decompress(codec.compress(Uint8Array.of(1)), 0), '1 byte with maxSize 0');
      expect(codec.decompress(bomb, zeros.byteLength).byteLength, 'maxSize equal to the size').toBe(zeros.byteLength);
      expect(codec.decompress(codec.compress(new Uint8Array(0)), 0).byteLength, 'empty with maxSize 0').toBe(0);
    }, largeTimeout);
  });
}
