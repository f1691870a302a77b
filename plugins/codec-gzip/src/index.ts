import { deflateSync, inflateSync } from 'fflate';
import { CorruptError, InvalidArgumentError, type Codec, type CodecDescriptor } from '@strata/core';
import { crc32 } from './crc32.js';

export { crc32 } from './crc32.js';

const COMPONENT = 'gzip';
const LEVELS = { min: 0, max: 9, default: 6 } as const;
const HEADER_SIZE = 10;
const TRAILER_SIZE = 8;
// gzip records the size modulo 2^32; blobs are far smaller, and larger input is refused on compress.
const MAX_INPUT = 0xffffffff;
// Deflate expands at most 1032:1 (a 258-byte match costs at least 2 bits), so a trailer claiming
// more is a lie: refuse it before allocating the output.
const MAX_RATIO = 1032;

type FflateLevel = 0 | 1 | 2 | 3 | 4 | 5 | 6 | 7 | 8 | 9;
type FflateMem = FflateLevel | 10 | 11 | 12;

/** Options of {@link gzipCodec}. */
export interface GzipOptions {
  /**
   * Memory level of the deflate encoder, 0..12 (fflate's `mem`): higher is a little better and
   * slower. Default: fflate's choice for the level.
   */
  mem?: number;
}

function clampLevel(level: number | undefined): FflateLevel {
  if (level === undefined || Number.isNaN(level)) return LEVELS.default;
  return Math.min(LEVELS.max, Math.max(LEVELS.min, Math.round(level))) as FflateLevel;
}

function corrupt(message: string, cause?: unknown): CorruptError {
  return new CorruptError(COMPONENT, `${message}; the blob is damaged, run a repository check.`, cause === undefined ? undefined : { cause });
}

function writeU32(out: Uint8Array, pos: number, value: number): void {
  out[pos] = value & 0xff;
  out[pos + 1] = (value >>> 8) & 0xff;
  out[pos + 2] = (value >>> 16) & 0xff;
  out[pos + 3] = (value >>> 24) & 0xff;
}

function readU32(data: Uint8Array, pos: number): number {
  return (data[pos] | (data[pos + 1] << 8) | (data[pos + 2] << 16) | (data[pos + 3] << 24)) >>> 0;
}

/** Length of a gzip member header (RFC 1952) starting at 0, checking every bound. */
function headerLength(data: Uint8Array): number {
  if (data.byteLength < HEADER_SIZE + TRAILER_SIZE) throw corrupt(`${data.byteLength} bytes is shorter than a gzip header and trailer`);
  if (data[0] !== 0x1f || data[1] !== 0x8b) throw corrupt('no gzip magic number');
  if (data[2] !== 8) throw corrupt(`unknown gzip compression method ${data[2]}`);
  const flags = data[3];
  if (flags & 0xe0) throw corrupt('the gzip header sets reserved flag bits');
  let pos = HEADER_SIZE;
  const limit = data.byteLength - TRAILER_SIZE;
  if (flags & 4) {
    if (pos + 2 > limit) throw corrupt('the gzip extra field is cut short');
    pos += 2 + (data[pos] | (data[pos + 1] << 8));
  }
  for (const flag of [8, 16]) {
    if (flags & flag) {
      while (pos < limit && data[pos] !== 0) pos++;
      pos++; // the terminating zero
    }
  }
  if (flags & 2) pos += 2;
  if (pos > limit) throw corrupt('the gzip header runs into the trailer');
  return pos;
}

/**
 * gzip codec (id 2) on fflate. Levels 0..9, default 6. Writes a standard gzip member (mtime 0,
 * so equal input gives equal bytes); `decompress` checks the trailer's CRC-32 and size, so garbage,
 * truncated and trailing bytes are refused, and refuses a declared size over `maxSize` before
 * inflating into a buffer of exactly that size.
 */
export function gzipCodec(options: GzipOptions = {}): Codec {
  const mem = options.mem;
  return {
    id: 2,
    name: 'gzip',
    levels: { ...LEVELS },
    portable: { module: import.meta.url, exportName: 'gzipCodec', args: [{ ...options }] },

    compress(data: Uint8Array, level?: number): Uint8Array {
      if (data.byteLength > MAX_INPUT) {
        throw new InvalidArgumentError(COMPONENT, `cannot compress ${data.byteLength} bytes: gzip records sizes up to 4 GiB; split the input.`);
      }
      const body = deflateSync(data, mem === undefined ? { level: clampLevel(level) } : { level: clampLevel(level), mem: mem as FflateMem });
      const out = new Uint8Array(HEADER_SIZE + body.byteLength + TRAILER_SIZE);
      // Header: magic, deflate, no flags, mtime 0, no extra flags, OS 255 (unknown).
      out.set([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255]);
      out.set(body, HEADER_SIZE);
      writeU32(out, HEADER_SIZE + body.byteLength, crc32(data));
      writeU32(out, HEADER_SIZE + body.byteLength + 4, data.byteLength);
      return out;
    },

    decompress(data: Uint8Array, maxSize?: number): Uint8Array {
      const start = headerLength(data);
      const end = data.byteLength - TRAILER_SIZE;
      const expectedCrc = readU32(data, end);
      const size = readU32(data, end + 4);
      if (maxSize !== undefined && size > maxSize) {
        throw new CorruptError(COMPONENT, `the data declares ${size} bytes, more than the allowed ${maxSize}; the blob is damaged or hostile, run a repository check.`);
      }
      if (size > (end - start) * MAX_RATIO + 1024) {
        throw corrupt(`the trailer records ${size} bytes, more than ${end - start} bytes of deflate data can hold`);
      }
      let out: Uint8Array;
      try {
        // A fixed output buffer: fflate never grows it, so a lying size cannot exhaust memory.
        out = inflateSync(data.subarray(start, end), { out: new Uint8Array(size) });
      } catch (cause) {
        throw corrupt(`the deflate stream is invalid (${(cause as Error).message})`, cause);
      }
      if (out.byteLength !== size) throw corrupt(`inflated ${out.byteLength} bytes where the trailer records ${size}`);
      if (crc32(out) !== expectedCrc) throw corrupt('the CRC-32 of the inflated data does not match the trailer');
      return out;
    },
  };
}

/** What the apps load: `plugins` lists this package's codec. */
export const plugins: CodecDescriptor[] = [{ kind: 'codec', name: 'gzip', create: () => gzipCodec() }];
