/**
 * Content-defined chunking, FastCDC style: a gear rolling hash with normalized chunking.
 *
 * Cut rule. For a chunk of length L (counting the byte just consumed), the 32-bit gear hash
 * `h = (h << 1) + gear[byte]` over the chunk's bytes is checked against a mask of its top bits:
 *   - L < min:             never cut; the first `min - 32` bytes are skipped without hashing (FastCDC's
 *                          cut-point skipping), the next 31 bytes only prime the hash;
 *   - min <= L < avg:      cut when `h & maskS == 0` (maskS has log2(avg) + level bits: harder);
 *   - avg <= L < max:      cut when `h & maskL == 0` (maskL has log2(avg) - level bits: easier);
 *   - L == max:            cut.
 * Because the hash is 32 bits wide and shifts left by one per byte, `h` at a check depends on exactly
 * the last 32 bytes, so a cut depends only on local content (and on min/max from the previous cut):
 * after an insertion the cuts resynchronize within a chunk or two.
 *
 * `avg` is the normalization point, not the exact mean: with the defaults (512 KiB / 1 MiB / 8 MiB,
 * level 2) the mean chunk of random data is about 1.2 MiB. Input shorter than `min` is one chunk; an
 * empty input gives no chunk at all.
 *
 * The gear table (256 uint32) is derived from a 32-byte repository secret with HMAC-SHA-256 in counter
 * mode, so the cut points, and thus chunk sizes, leak nothing useful to the store.
 *
 * Streaming use (bounded memory: at most one pending chunk, i.e. `max` bytes, is held):
 * ```ts
 * const chunker = new Chunker(params, createGearTable(secret));
 * for await (const buf of stream) for (const chunk of chunker.push(buf)) handle(chunk);
 * for (const chunk of chunker.finish()) handle(chunk);
 * ```
 * A chunk that lies inside one pushed buffer is returned as a view (`subarray`) of it, with no copy;
 * a chunk spanning several pushes is a fresh copy. So: do not mutate a buffer after pushing it, and do
 * not transfer a returned view to a worker (transfer detaches the whole underlying ArrayBuffer) unless
 * the chunker was created with `{ copy: true }`, which gives each chunk its own exactly-sized buffer.
 *
 * Pure JavaScript plus node:crypto for the table: identical results on the main thread and in
 * worker_threads. `findCut` is the allocation-free core for callers that manage their own buffers.
 */
import { createHmac } from 'node:crypto';
import { InvalidArgumentError } from '@strata/core';

/** Chunk size parameters, in bytes. */
export interface ChunkerParams {
  /** Smallest chunk (except the last one of an input). Default 512 KiB. At least 64. */
  min: number;
  /** Normalization point: the mask gets easier past it. Default 1 MiB. */
  avg: number;
  /** Largest chunk: a cut is forced here. Default 8 MiB. */
  max: number;
  /** Normalization level: bits added to the mask before `avg`, removed after. Default 2. */
  level?: number;
}

export const DEFAULT_CHUNKER_PARAMS: Readonly<Required<ChunkerParams>> = Object.freeze({
  min: 512 * 1024,
  avg: 1024 * 1024,
  max: 8 * 1024 * 1024,
  level: 2,
});

const WINDOW = 32;
const GEAR_LABEL = 'strata gear table v1';

/**
 * Derives the 256-entry gear table from a repository secret (HMAC-SHA-256(secret, label || counter),
 * 32 blocks of 8 little-endian uint32). Deterministic; the same secret gives the same table anywhere.
 */
export function createGearTable(secret: Uint8Array): Uint32Array {
  if (!(secret instanceof Uint8Array) || secret.length < 16) {
    throw new InvalidArgumentError('chunker', 'the gear secret must be a Uint8Array of at least 16 bytes; pass the repository chunker secret');
  }
  const table = new Uint32Array(256);
  const label = Buffer.from(GEAR_LABEL, 'utf8');
  for (let block = 0; block < 32; block++) {
    const counter = Buffer.alloc(4);
    counter.writeUInt32BE(block, 0);
    const digest = createHmac('sha256', secret).update(label).update(counter).digest();
    for (let j = 0; j < 8; j++) table[block * 8 + j] = digest.readUInt32LE(j * 4);
  }
  return table;
}

/** Checks parameters and fills defaults; throws InvalidArgumentError naming the bad one. */
export function normalizeChunkerParams(params: Partial<ChunkerParams> = {}): Required<ChunkerParams> {
  const p = {
    min: params.min ?? DEFAULT_CHUNKER_PARAMS.min,
    avg: params.avg ?? DEFAULT_CHUNKER_PARAMS.avg,
    max: params.max ?? DEFAULT_CHUNKER_PARAMS.max,
    level: params.level ?? DEFAULT_CHUNKER_PARAMS.level,
  };
  for (const k of ['min', 'avg', 'max', 'level'] as const) {
    if (!Number.isSafeInteger(p[k]) || p[k] < 0) throw new InvalidArgumentError('chunker', `${k} must be a non-negative integer, got ${p[k]}`);
  }
  if (p.min < 2 * WINDOW) throw new InvalidArgumentError('chunker', `min must be at least ${2 * WINDOW} bytes, got ${p.min}`);
  if (!(p.min <= p.avg && p.avg <= p.max)) {
    throw new InvalidArgumentError('chunker', `sizes must satisfy min <= avg <= max, got ${p.min}/${p.avg}/${p.max}`);
  }
  if (p.max > 0x40000000) throw new InvalidArgumentError('chunker', `max must be at most 1 GiB, got ${p.max}`);
  const bits = Math.round(Math.log2(p.avg));
  if (bits - p.level < 1 || bits + p.level > 31) {
    throw new InvalidArgumentError('chunker', `level ${p.level} is out of range for avg ${p.avg}`);
  }
  return p;
}

/** Mask of the top `n` bits of a 32-bit value, as an int32 (so `&` stays in small-integer arithmetic). */
function topMask(n: number): number {
  return (0xffffffff << (32 - n)) | 0;
}

/**
 * Scan state carried between calls of `findCut` for one chunk. `len` is the number of bytes of the
 * current chunk already consumed, `h` the hash. Reset both to 0 after a cut (`resetCutState`).
 */
export interface CutState {
  len: number;
  h: number;
}

/** Precomputed constants for `findCut`. */
export interface CutConfig {
  readonly min: number;
  readonly avg: number;
  readonly max: number;
  readonly maskS: number;
  readonly maskL: number;
  /** The gear table as int32 (same bits as the Uint32Array) so loads never box to doubles. */
  readonly gear: Int32Array;
}

export function createCutConfig(params: Partial<ChunkerParams>, gear: Uint32Array): CutConfig {
  const p = normalizeChunkerParams(params);
  if (!(gear instanceof Uint32Array) || gear.length !== 256) {
    throw new InvalidArgumentError('chunker', 'the gear table must be a Uint32Array of 256 entries; build it with createGearTable');
  }
  const bits = Math.round(Math.log2(p.avg));
  return {
    min: p.min,
    avg: p.avg,
    max: p.max,
    maskS: topMask(bits + p.level),
    maskL: topMask(bits - p.level),
    gear: new Int32Array(gear.buffer, gear.byteOffset, 256),
  };
}

/**
 * Scans `buf[start, end)` continuing the chunk described by `state`. Returns the index in `buf` just
 * past the cut (the chunk ends there) or -1 when no cut falls in the range; `state` is updated either
 * way (after a cut it holds the finished chunk's length: set `state.len = 0; state.h = 0` before
 * scanning the next chunk). Allocation-free.
 */
export function findCut(cfg: CutConfig, buf: Uint8Array, start: number, end: number, state: CutState): number {
  const gear = cfg.gear;
  // Index i consumes the byte that makes the chunk `base + i + 1` bytes long.
  const base = state.len - start;
  let h = state.h;
  let i = start;

  // Skip: these bytes can influence no check, so they are not hashed.
  let lim = Math.min(end, cfg.min - WINDOW - base);
  if (i < lim) i = lim;
  // Prime: hash the 31 bytes before the first allowed cut without checking.
  lim = Math.min(end, cfg.min - 1 - base);
  for (; i < lim; i++) h = ((h << 1) + gear[buf[i]]) | 0;
  // min <= length < avg: the harder mask.
  const maskS = cfg.maskS;
  lim = Math.min(end, cfg.avg - 1 - base);
  for (; i < lim; i++) {
    h = ((h << 1) + gear[buf[i]]) | 0;
    if ((h & maskS) === 0) return cutAt(state, base, i + 1, h);
  }
  // avg <= length < max: the easier mask.
  const maskL = cfg.maskL;
  lim = Math.min(end, cfg.max - 1 - base);
  for (; i < lim; i++) {
    h = ((h << 1) + gear[buf[i]]) | 0;
    if ((h & maskL) === 0) return cutAt(state, base, i + 1, h);
  }
  // Every phase ran to its limit without reaching `end`: the chunk is max bytes long.
  if (i < end) return cutAt(state, base, i + 1, h);
  state.len = base + end;
  state.h = h;
  return -1;
}

function cutAt(state: CutState, base: number, cut: number, h: number): number {
  state.len = base + cut;
  state.h = h;
  return cut;
}

/** Options of a `Chunker`. */
export interface ChunkerOptions {
  /** Give every chunk its own exactly-sized ArrayBuffer (safe to transfer to a worker). Default false. */
  copy?: boolean;
}

/**
 * Streaming chunker. `push` returns the chunks completed by the new bytes (possibly none), `finish`
 * the last partial chunk (none if the input was empty or ended exactly on a cut). The result does not
 * depend on how the input is split between pushes. Holds at most `max` pending bytes (as views of the
 * pushed buffers, which therefore must not be modified after being pushed). Reusable after `finish`.
 */
export class Chunker {
  readonly params: Readonly<Required<ChunkerParams>>;
  private readonly cfg: CutConfig;
  private readonly copy: boolean;
  private readonly state: CutState = { len: 0, h: 0 };
  private pending: Uint8Array[] = [];
  private pendingBytes = 0;

  constructor(params: Partial<ChunkerParams>, gear: Uint32Array, options: ChunkerOptions = {}) {
    this.params = Object.freeze(normalizeChunkerParams(params));
    this.cfg = createCutConfig(this.params, gear);
    this.copy = options.copy ?? false;
  }

  /** Bytes held for the chunk in progress. */
  get buffered(): number {
    return this.pendingBytes;
  }

  /** Feeds bytes; returns the chunks they complete, in order. */
  push(data: Uint8Array): Uint8Array[] {
    const out: Uint8Array[] = [];
    const end = data.length;
    let pos = 0;
    while (pos < end) {
      const cut = findCut(this.cfg, data, pos, end, this.state);
      if (cut < 0) {
        this.pending.push(data.subarray(pos));
        this.pendingBytes += end - pos;
        break;
      }
      out.push(this.take(data.subarray(pos, cut)));
      this.state.len = 0;
      this.state.h = 0;
      pos = cut;
    }
    return out;
  }

  /** Ends the input: returns the final partial chunk, if any, and resets for a new input. */
  finish(): Uint8Array[] {
    const out = this.pendingBytes > 0 ? [this.take(new Uint8Array(0))] : [];
    this.state.len = 0;
    this.state.h = 0;
    return out;
  }

  private take(tail: Uint8Array): Uint8Array {
    if (this.pending.length === 0) return this.copy ? tail.slice() : tail;
    const chunk = new Uint8Array(this.pendingBytes + tail.length);
    let off = 0;
    for (const piece of this.pending) {
      chunk.set(piece, off);
      off += piece.length;
    }
    chunk.set(tail, off);
    this.pending = [];
    this.pendingBytes = 0;
    return chunk;
  }
}

/**
 * The cut offsets of a whole buffer: the end offset of every chunk, in order (the last equals
 * `data.length`; empty input gives []). Same cuts as a `Chunker` fed the same bytes.
 */
export function cutPoints(data: Uint8Array, params: Partial<ChunkerParams>, gear: Uint32Array): number[] {
  const cfg = createCutConfig(params, gear);
  const state: CutState = { len: 0, h: 0 };
  const cuts: number[] = [];
  let pos = 0;
  while (pos < data.length) {
    const cut = findCut(cfg, data, pos, data.length, state);
    if (cut < 0) break;
    cuts.push(cut);
    state.len = 0;
    state.h = 0;
    pos = cut;
  }
  if (pos < data.length) cuts.push(data.length);
  return cuts;
}
