import { createRequire } from 'node:module';
import * as zlib from 'node:zlib';
import { CorruptError, InvalidArgumentError, UnsupportedError, type Codec, type CodecDescriptor } from '@strata/core';
import { zstdFrames, type ZstdFrames } from './frames.js';

export { zstdFrames, type ZstdFrame, type ZstdFrames } from './frames.js';

const COMPONENT = 'zstd';
const LEVELS = { min: 1, max: 19, default: 3 } as const;

/** Which zstd library does the work. Both read and write the same standard zstd frames. */
export type ZstdBackend = 'node:zlib' | 'zstd-napi';

export interface ZstdOptions {
  /**
   * Library to use. Default: `'node:zlib'` when the running Node has zstd (22.15+ / 23.8+), else
   * `'zstd-napi'` (an optional dependency, loaded only when needed).
   */
  backend?: ZstdBackend;
  /** Write a content checksum (XXH64) into every frame, checked on decompress. Default true. */
  checksum?: boolean;
}

// The subset of zstd-napi's native binding this codec uses (declared here so the optional
// dependency stays out of the published types).
interface NapiBinding {
  CParameter: { compressionLevel: number; checksumFlag: number; contentSizeFlag: number };
  CCtx: new () => { setParameter(param: number, value: number): void; compress2(dst: Uint8Array, src: Uint8Array): number };
  DCtx: new () => {
    decompress(dst: Uint8Array, src: Uint8Array): number;
    decompressStream(dst: Uint8Array, src: Uint8Array): [number, number, number];
  };
  compressBound(size: number): number;
}

type ZlibWithZstd = typeof zlib & {
  zstdCompressSync?: (data: Uint8Array, options?: object) => Buffer;
  zstdDecompressSync?: (data: Uint8Array, options?: object) => Buffer;
};
const nodeZlib = zlib as ZlibWithZstd;
const zlibConstants = zlib.constants as unknown as Record<string, number>;

/** True when this Node's node:zlib has zstd. */
export function nodeHasZstd(): boolean {
  return typeof nodeZlib.zstdCompressSync === 'function' && typeof nodeZlib.zstdDecompressSync === 'function';
}

let napi: NapiBinding | undefined;
function loadNapi(): NapiBinding {
  if (napi) return napi;
  try {
    napi = createRequire(import.meta.url)('zstd-napi/binding') as NapiBinding;
    return napi;
  } catch (cause) {
    throw new UnsupportedError(
      COMPONENT,
      `this Node (${process.version}) has no zstd in node:zlib and the zstd-napi package could not be loaded; install zstd-napi (it compiles on install) or run Node 22.15 or newer.`,
      { cause },
    );
  }
}

/** True when the zstd-napi package can be loaded. */
export function napiAvailable(): boolean {
  try {
    loadNapi();
    return true;
  } catch {
    return false;
  }
}

/** The backend `zstdCodec()` picks without options: node:zlib where it has zstd, else zstd-napi. */
export function zstdBackend(): ZstdBackend {
  return nodeHasZstd() ? 'node:zlib' : 'zstd-napi';
}

function clampLevel(level: number | undefined): number {
  if (level === undefined || Number.isNaN(level)) return LEVELS.default;
  return Math.min(LEVELS.max, Math.max(LEVELS.min, Math.round(level)));
}

function corrupt(message: string, cause?: unknown): CorruptError {
  return new CorruptError(COMPONENT, `${message}; the blob is damaged, run a repository check.`, cause === undefined ? undefined : { cause });
}

function tooLarge(size: number, maxSize: number): CorruptError {
  return new CorruptError(COMPONENT, `compressed data expands to ${size} bytes, more than the allowed ${maxSize}; the blob is damaged or hostile, run a repository check.`);
}

/**
 * Zstandard codec (id 1). Levels 1..19, default 3. Output is standard zstd frames that record the
 * content size (and, by default, a checksum), so any zstd tool reads them.
 * `decompress` walks the frame structure first: truncated input, trailing bytes and frames that
 * declare more than `maxSize` bytes are refused before any output is allocated.
 */
export function zstdCodec(options: ZstdOptions = {}): Codec & { readonly backend: ZstdBackend } {
  const backend = options.backend ?? zstdBackend();
  const checksum = options.checksum ?? true;
  if (backend !== 'node:zlib' && backend !== 'zstd-napi') {
    throw new InvalidArgumentError(COMPONENT, `unknown backend "${String(backend)}"; use "node:zlib" or "zstd-napi".`);
  }
  if (backend === 'node:zlib' && !nodeHasZstd()) {
    throw new UnsupportedError(COMPONENT, `node:zlib of Node ${process.version} has no zstd; use Node 22.15 or newer, or the "zstd-napi" backend.`);
  }
  const impl = backend === 'node:zlib' ? zlibBackend(checksum) : napiBackend(loadNapi(), checksum);

  return {
    id: 1,
    name: 'zstd',
    levels: { ...LEVELS },
    backend,
    portable: { module: import.meta.url, exportName: 'zstdCodec', args: [{ ...options }] },

    compress(data: Uint8Array, level?: number): Uint8Array {
      return impl.compress(data, clampLevel(level));
    },

    decompress(data: Uint8Array, maxSize?: number): Uint8Array {
      let frames: ZstdFrames;
      try {
        frames = zstdFrames(data);
      } catch (cause) {
        throw corrupt((cause as Error).message, cause);
      }
      if (frames.contentSize !== null && maxSize !== undefined && frames.contentSize > maxSize) {
        throw tooLarge(frames.contentSize, maxSize);
      }
      let out: Uint8Array;
      try {
        out = impl.decompress(data, frames, maxSize);
      } catch (cause) {
        if (cause instanceof CorruptError) throw cause;
        if ((cause as { code?: string }).code === 'ERR_BUFFER_TOO_LARGE' && maxSize !== undefined) {
          throw new CorruptError(COMPONENT, `compressed data expands to more than the allowed ${maxSize} bytes; the blob is damaged or hostile, run a repository check.`, { cause });
        }
        throw corrupt(`the decoder refused the data (${(cause as Error).message})`, cause);
      }
      if (frames.contentSize !== null && out.byteLength !== frames.contentSize) {
        throw corrupt(`decoded ${out.byteLength} bytes where the frames declare ${frames.contentSize}`);
      }
      if (maxSize !== undefined && out.byteLength > maxSize) throw tooLarge(out.byteLength, maxSize);
      return out;
    },
  };
}

interface Backend {
  compress(data: Uint8Array, level: number): Uint8Array;
  /** Decodes whole frames; `frames` is what zstdFrames() found in `data`. */
  decompress(data: Uint8Array, frames: ZstdFrames, maxSize: number | undefined): Uint8Array;
}

// node:zlib's sync calls produce output in chunkSize pieces (16 KiB by default) and join them at
// the end; one piece sized to the expected output is about twice as fast for 1 MiB blobs.
const MIN_CHUNK = 64 * 1024;
const MAX_CHUNK = 32 * 1024 * 1024;
function chunkFor(expected: number): number {
  return Math.min(MAX_CHUNK, Math.max(MIN_CHUNK, expected));
}

function zlibBackend(checksum: boolean): Backend {
  const c = zlibConstants;
  const compressSync = nodeZlib.zstdCompressSync!;
  const decompressSync = nodeZlib.zstdDecompressSync!;
  return {
    compress(data, level) {
      return compressSync(data, {
        params: { [c.ZSTD_c_compressionLevel]: level, [c.ZSTD_c_checksumFlag]: checksum ? 1 : 0 },
        // Lets zstd record the content size in the frame header, which decompress relies on.
        pledgedSrcSize: data.byteLength,
        chunkSize: chunkFor(data.byteLength + (data.byteLength >>> 7) + 1024),
      });
    },
    decompress(data, { frames }, maxSize) {
      // node:zlib stops after the first frame, so each frame is decoded on its own.
      const parts: Buffer[] = [];
      let total = 0;
      for (const frame of frames) {
        const left = maxSize === undefined ? undefined : maxSize - total;
        const limit = frame.contentSize ?? left;
        // maxOutputLength must be >= 1; sizes are checked again by the caller.
        const part = decompressSync(
          data.subarray(frame.offset, frame.offset + frame.length),
          limit === undefined ? {} : { maxOutputLength: Math.max(1, limit), chunkSize: chunkFor(limit) },
        );
        if (frame.contentSize !== null && part.byteLength !== frame.contentSize) {
          throw corrupt(`a frame decoded to ${part.byteLength} bytes where its header declares ${frame.contentSize}`);
        }
        total += part.byteLength;
        if (left !== undefined && part.byteLength > left) throw tooLarge(total, maxSize!);
        parts.push(part);
      }
      return parts.length === 1 ? parts[0] : Buffer.concat(parts, total);
    },
  };
}

function napiBackend(binding: NapiBinding, checksum: boolean): Backend {
  const cctx = new binding.CCtx();
  const dctx = new binding.DCtx();
  let currentLevel = -1;
  let scratch = Buffer.allocUnsafe(0);
  cctx.setParameter(binding.CParameter.checksumFlag, checksum ? 1 : 0);
  cctx.setParameter(binding.CParameter.contentSizeFlag, 1);
  return {
    compress(data, level) {
      if (level !== currentLevel) {
        cctx.setParameter(binding.CParameter.compressionLevel, level);
        currentLevel = level;
      }
      const bound = binding.compressBound(data.byteLength);
      // One output buffer per codec, grown to the largest bound seen: the result is an exact copy, so
      // a backup makes one allocation per blob instead of two (and no compressBound-sized one).
      if (scratch.byteLength < bound) scratch = Buffer.allocUnsafe(Math.max(bound, Math.min(2 * scratch.byteLength, MAX_CHUNK)));
      const length = cctx.compress2(scratch.subarray(0, bound), data);
      const out = new Uint8Array(length);
      out.set(scratch.subarray(0, length));
      return out;
    },
    decompress(data, { contentSize }, maxSize) {
      if (contentSize !== null) {
        const out = Buffer.allocUnsafe(contentSize);
        const written = dctx.decompress(out, data);
        if (written !== contentSize) throw corrupt(`decoded ${written} bytes where the frames declare ${contentSize}`);
        return out;
      }
      // A frame without a content size (written by another tool): stream, bounded by maxSize.
      const chunks: Buffer[] = [];
      let total = 0;
      let rest = data;
      let hint = 1;
      while (rest.byteLength > 0 || hint !== 0) {
        const chunk = Buffer.allocUnsafe(Math.max(128 * 1024, rest.byteLength));
        const [remaining, produced, consumed] = dctx.decompressStream(chunk, rest);
        if (produced === 0 && consumed === 0) throw corrupt('the data ends inside a zstd frame');
        hint = remaining;
        total += produced;
        if (maxSize !== undefined && total > maxSize) throw tooLarge(total, maxSize);
        chunks.push(chunk.subarray(0, produced));
        rest = rest.subarray(consumed);
      }
      return Buffer.concat(chunks, total);
    },
  };
}

/** What the apps load: `plugins` lists this package's codec. */
export const plugins: CodecDescriptor[] = [{ kind: 'codec', name: 'zstd', create: () => zstdCodec() }];
