import { constants as bufferConstants } from 'node:buffer';
import { brotliCompressSync, brotliDecompressSync, constants, type BrotliOptions as ZlibBrotliOptions } from 'node:zlib';
import { CorruptError, type Codec, type CodecDescriptor } from '@strata/core';

const COMPONENT = 'brotli';
const LEVELS = { min: 0, max: 11, default: 5 } as const;
// 7 varint bytes hold 49 bits: far past any blob, and still an exact JavaScript number.
const MAX_VARINT_BYTES = 7;

/** Options of {@link brotliCodec}. */
export interface BrotliOptions {
  /**
   * Window size as log2 of bytes, 10..24 (BROTLI_PARAM_LGWIN). Larger finds matches further back in
   * big blobs and costs memory on both sides. Default 22 (4 MiB), brotli's own default.
   */
  windowBits?: number;
  /** Tune for UTF-8 text (`'text'`) or anything (`'generic'`, the default). */
  mode?: 'generic' | 'text';
}

// node:zlib's sync calls produce output in chunkSize pieces (16 KiB by default) and join them at
// the end; one piece sized to the expected output is markedly faster for 1 MiB blobs.
const MIN_CHUNK = 64 * 1024;
const MAX_CHUNK = 32 * 1024 * 1024;
function chunkFor(expected: number): number {
  return Math.min(MAX_CHUNK, Math.max(MIN_CHUNK, expected));
}

function clampLevel(level: number | undefined): number {
  if (level === undefined || Number.isNaN(level)) return LEVELS.default;
  return Math.min(LEVELS.max, Math.max(LEVELS.min, Math.round(level)));
}

function corrupt(message: string, cause?: unknown): CorruptError {
  return new CorruptError(COMPONENT, `${message}; the blob is damaged, run a repository check.`, cause === undefined ? undefined : { cause });
}

function writeVarint(value: number): Uint8Array {
  const bytes: number[] = [];
  while (value >= 0x80) {
    bytes.push((value % 0x80) | 0x80);
    value = Math.floor(value / 0x80);
  }
  bytes.push(value);
  return Uint8Array.from(bytes);
}

function readVarint(data: Uint8Array): { value: number; length: number } {
  let value = 0;
  let scale = 1;
  for (let i = 0; i < MAX_VARINT_BYTES && i < data.byteLength; i++) {
    const byte = data[i];
    value += (byte & 0x7f) * scale;
    if (byte < 0x80) {
      // A zero final byte after others would be a second encoding of the same number.
      if (byte === 0 && i > 0) throw corrupt('the size prefix is not in its shortest form');
      return { value, length: i + 1 };
    }
    scale *= 0x80;
  }
  throw corrupt(data.byteLength === 0 ? 'the input is empty' : 'the size prefix is cut short or too long');
}

/**
 * Brotli codec (id 3) on node:zlib. Quality 0..11, default 5.
 * Format: the uncompressed size as an unsigned LEB128 varint, then one brotli stream. Brotli has no
 * checksum, so the size prefix is what lets `decompress` refuse garbage (which often decodes as a
 * valid tiny stream), truncation and trailing bytes, and refuse a size over `maxSize` up front.
 */
export function brotliCodec(options: BrotliOptions = {}): Codec {
  const windowBits = Math.min(24, Math.max(10, Math.round(options.windowBits ?? 22)));
  const mode = options.mode === 'text' ? constants.BROTLI_MODE_TEXT : constants.BROTLI_MODE_GENERIC;
  return {
    id: 3,
    name: 'brotli',
    levels: { ...LEVELS },
    portable: { module: import.meta.url, exportName: 'brotliCodec', args: [{ ...options }] },

    compress(data: Uint8Array, level?: number): Uint8Array {
      const prefix = writeVarint(data.byteLength);
      const stream = brotliCompressSync(data, {
        params: {
          [constants.BROTLI_PARAM_QUALITY]: clampLevel(level),
          [constants.BROTLI_PARAM_SIZE_HINT]: data.byteLength,
          [constants.BROTLI_PARAM_LGWIN]: windowBits,
          [constants.BROTLI_PARAM_MODE]: mode,
        },
        chunkSize: chunkFor(data.byteLength + (data.byteLength >>> 8) + 1024),
      });
      const out = new Uint8Array(prefix.byteLength + stream.byteLength);
      out.set(prefix);
      out.set(stream, prefix.byteLength);
      return out;
    },

    decompress(data: Uint8Array, maxSize?: number): Uint8Array {
      const { value: size, length: prefixLength } = readVarint(data);
      if (maxSize !== undefined && size > maxSize) {
        throw new CorruptError(COMPONENT, `the data declares ${size} bytes, more than the allowed ${maxSize}; the blob is damaged or hostile, run a repository check.`);
      }
      if (size > bufferConstants.MAX_LENGTH) throw corrupt(`the size prefix declares ${size} bytes, more than a buffer can hold`);
      const stream = data.subarray(prefixLength);
      if (stream.byteLength === 0) throw corrupt('the brotli stream is missing');
      let result: { buffer: Buffer; engine: { bytesWritten: number } };
      try {
        // maxOutputLength bounds the work and memory by the declared size (it must be >= 1).
        const zlibOptions = { info: true, maxOutputLength: Math.max(1, size), chunkSize: chunkFor(size) } as ZlibBrotliOptions;
        result = brotliDecompressSync(stream, zlibOptions) as unknown as typeof result;
      } catch (cause) {
        throw corrupt(`the brotli stream is invalid (${(cause as Error).message})`, cause);
      }
      if (result.buffer.byteLength !== size) throw corrupt(`decoded ${result.buffer.byteLength} bytes where the prefix declares ${size}`);
      if (result.engine.bytesWritten !== stream.byteLength) {
        throw corrupt(`${stream.byteLength - result.engine.bytesWritten} bytes follow the end of the brotli stream`);
      }
      return result.buffer;
    },
  };
}

/** What the apps load: `plugins` lists this package's codec. */
export const plugins: CodecDescriptor[] = [{ kind: 'codec', name: 'brotli', create: () => brotliCodec() }];
