/**
 * The CPU side of backup: reading and chunking files, hashing, compressing and sealing blobs
 * (restorer.ts is the reverse). Runs inside worker threads (worker.ts) or, when a plugin cannot be
 * rebuilt in a worker, on the main thread. Talks to the repository through a small Host interface.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import { Chunker, type CutConfig, type CutState, createCutConfig, createGearTable, findCut } from './chunker.js';
import { BLOB_DATA, Box, type CompressionChoice } from './format/box.js';
import { toHex } from './format/util.js';
import { transferList } from './transfer.js';

export interface SealedBlob {
  type: number;
  id: Uint8Array;
  sealed: Uint8Array;
  rawLength: number;
}

export interface ProcessorHost {
  /** For each 32-byte id in `ids` (concatenated): 1 if the repository needs it (and reserves it), else 0. */
  query(ids: Uint8Array): Promise<Uint8Array>;
  /** Hands sealed blobs to the packer; resolves when there is room for more (backpressure). */
  store(blobs: SealedBlob[]): Promise<void>;
}

export interface BackupFileSpec {
  path: Uint8Array | string;
  /** Size seen by lstat: small files get a read buffer of their size, not READ_SIZE. */
  size?: number;
  /** 'snapshot' stats before and after reading and reads again when the file changed. */
  consistent?: boolean;
  maxRereads?: number;
}

export interface StatStamp {
  size: number;
  mtimeNs: string;
  ctimeNs: string;
}

export type BackupFileResult =
  | { ok: true; content: string[]; sha256: string; size: number; dataAdded: number; blobsAdded: number; packedAdded: number; inconsistent: boolean; rereads: number; stat?: StatStamp }
  | { ok: false; error: string };

export interface ChunkerSetup {
  params: { min: number; avg: number; max: number };
  secret: Uint8Array;
}

const READ_SIZE = 1024 * 1024;
/** Chunks waiting for a dedup query are flushed at this many bytes. */
const FLUSH_BYTES = 4 * 1024 * 1024;

/** Paths cross the thread boundary as Uint8Array; fs wants a Buffer or a string. */
export function fsPath(p: Uint8Array | string): Buffer | string {
  return typeof p === 'string' ? p : Buffer.from(p.buffer, p.byteOffset, p.byteLength);
}

function exactBuffer(b: Uint8Array): Uint8Array {
  return b.byteOffset === 0 && b.byteLength === b.buffer.byteLength ? b : b.slice();
}

function stamp(st: fs.BigIntStats): StatStamp {
  return { size: Number(st.size), mtimeNs: st.mtimeNs.toString(), ctimeNs: st.ctimeNs.toString() };
}

function sameStamp(a: StatStamp, b: StatStamp): boolean {
  return a.size === b.size && a.mtimeNs === b.mtimeNs && a.ctimeNs === b.ctimeNs;
}

interface PendingChunk {
  id: Uint8Array;
  data: Uint8Array;
  file: FileAcc;
}

interface FileAcc {
  content: string[];
  dataAdded: number;
  blobsAdded: number;
  packedAdded: number;
}

export class Processor {
  readonly box: Box;
  private readonly choice: CompressionChoice;
  private readonly chunker: Chunker;
  private readonly cut: CutConfig;
  /** Reused for every big file: read buffer and the chunk in progress (max chunk + one read). */
  private assembly: Uint8Array | undefined;
  private pending: PendingChunk[] = [];
  private pendingBytes = 0;

  constructor(box: Box, choice: CompressionChoice, chunker: ChunkerSetup) {
    this.box = box;
    this.choice = choice;
    const gear = createGearTable(chunker.secret);
    this.chunker = new Chunker(chunker.params, gear);
    this.cut = createCutConfig(chunker.params, gear);
  }

  /** The flush in progress: chunking goes on while its query and upload are under way. */
  private flushing: Promise<void> = Promise.resolve();

  /** Starts flushing the pending chunks once the previous flush is done (at most one in flight). */
  private async startFlush(host: ProcessorHost): Promise<void> {
    await this.flushing;
    if (this.pending.length === 0) return;
    const batch = this.pending;
    this.pending = [];
    this.pendingBytes = 0;
    this.flushing = this.flushBatch(batch, host);
    // Seen by the next startFlush/flush; this only keeps it from counting as unhandled meanwhile.
    this.flushing.catch(() => undefined);
  }

  /** Flushes everything and waits for it. */
  private async flush(host: ProcessorHost): Promise<void> {
    await this.startFlush(host);
    await this.flushing;
  }

  private async flushBatch(batch: PendingChunk[], host: ProcessorHost): Promise<void> {
    const ids = new Uint8Array(batch.length * 32);
    batch.forEach((c, i) => ids.set(c.id, i * 32));
    const flags = await host.query(ids);
    const blobs: SealedBlob[] = [];
    for (let i = 0; i < batch.length; i++) {
      if (!flags[i]) continue;
      const c = batch[i];
      const sealed = exactBuffer(this.box.encodeBlob(BLOB_DATA, c.id, c.data, this.choice));
      c.file.dataAdded += c.data.length;
      c.file.blobsAdded += 1;
      c.file.packedAdded += sealed.length;
      blobs.push({ type: BLOB_DATA, id: c.id, sealed, rawLength: c.data.length });
    }
    if (blobs.length > 0) await host.store(blobs);
  }

  private async addChunk(chunk: Uint8Array, file: FileAcc, host: ProcessorHost): Promise<void> {
    const id = this.box.blobId(chunk);
    file.content.push(toHex(id));
    this.pending.push({ id, data: chunk, file });
    this.pendingBytes += chunk.length;
    if (this.pendingBytes >= FLUSH_BYTES) await this.startFlush(host);
  }

  /** Reads, chunks and stores one byte source. */
  async consume(source: Iterable<Uint8Array> | AsyncIterable<Uint8Array>, host: ProcessorHost): Promise<{ acc: FileAcc; sha256: string; size: number }> {
    const acc: FileAcc = { content: [], dataAdded: 0, blobsAdded: 0, packedAdded: 0 };
    const hash = createHash('sha256');
    let size = 0;
    for await (const buf of source) {
      hash.update(buf);
      size += buf.length;
      for (const c of this.chunker.push(buf)) await this.addChunk(c, acc, host);
    }
    for (const c of this.chunker.finish()) await this.addChunk(c, acc, host);
    return { acc, sha256: hash.digest('hex'), size };
  }

  /**
   * Reads, chunks and stores one open file; same chunks as consume(). A file that fits one read is
   * read into a buffer of its size and chunked as views of it. A bigger one is read into the reused
   * assembly buffer and each chunk is copied out at its exact size: one allocation per chunk instead
   * of one per read plus one per chunk that spans reads, so the worker makes far less garbage.
   */
  async consumeFile(fd: number, sizeHint: number | undefined, host: ProcessorHost): Promise<{ acc: FileAcc; sha256: string; size: number }> {
    const acc: FileAcc = { content: [], dataAdded: 0, blobsAdded: 0, packedAdded: 0 };
    const hash = createHash('sha256');
    const state: CutState = { len: 0, h: 0 };
    let first: Uint8Array | undefined;
    let size = 0;
    if (sizeHint !== undefined && sizeHint < READ_SIZE) {
      // +1 to see that the file grew.
      const buf = new Uint8Array(new ArrayBuffer(sizeHint + 1));
      const n = readFull(fd, buf, 0, buf.length);
      const data = buf.subarray(0, n);
      if (n <= sizeHint) {
        hash.update(data);
        let start = 0;
        while (start < n) {
          const cut = findCut(this.cut, data, start, n, state);
          const end = cut < 0 ? n : cut;
          await this.addChunk(data.subarray(start, end), acc, host);
          state.len = 0;
          state.h = 0;
          start = end;
        }
        return { acc, sha256: hash.digest('hex'), size: n };
      }
      first = data;
    }
    const capacity = this.cut.max + READ_SIZE;
    // A second file at once (main-thread mode runs one job at a time, so only by misuse) gets its own.
    let asm = this.assembly && this.assembly.length >= capacity ? this.assembly : new Uint8Array(capacity);
    this.assembly = undefined;
    try {
      let start = 0; // the chunk in progress begins here
      let filled = 0;
      for (;;) {
        if (filled + READ_SIZE > capacity) {
          // Never more than max bytes of a chunk in progress: this makes room for a whole read.
          asm.copyWithin(0, start, filled);
          filled -= start;
          start = 0;
        }
        let got: number;
        if (first) {
          asm.set(first, filled);
          got = first.length;
          first = undefined;
        } else got = readFull(fd, asm, filled, READ_SIZE);
        if (got === 0) break;
        hash.update(asm.subarray(filled, filled + got));
        size += got;
        let pos = filled;
        filled += got;
        while (pos < filled) {
          const cut = findCut(this.cut, asm, pos, filled, state);
          if (cut < 0) break;
          await this.addChunk(asm.slice(start, cut), acc, host);
          state.len = 0;
          state.h = 0;
          start = pos = cut;
        }
      }
      if (filled > start) await this.addChunk(asm.slice(start, filled), acc, host);
    } finally {
      this.assembly = asm;
    }
    return { acc, sha256: hash.digest('hex'), size };
  }

  /** Backs up a batch of files; the chunks of all of them share dedup queries. */
  async backupFiles(files: BackupFileSpec[], host: ProcessorHost): Promise<BackupFileResult[]> {
    const results: BackupFileResult[] = [];
    for (const f of files) {
      let result: BackupFileResult;
      try {
        result = await this.backupFile(f, host);
      } catch (err) {
        result = { ok: false, error: (err as Error).message };
      }
      results.push(result);
    }
    await this.flush(host);
    return results;
  }

  private async backupFile(f: BackupFileSpec, host: ProcessorHost): Promise<BackupFileResult> {
    const maxRereads = f.consistent ? (f.maxRereads ?? 3) : 0;
    let rereads = 0;
    let totalAdded = { dataAdded: 0, blobsAdded: 0, packedAdded: 0 };
    for (;;) {
      const fd = fs.openSync(fsPath(f.path), fs.constants.O_RDONLY | (fs.constants.O_NOFOLLOW ?? 0));
      let before: StatStamp;
      let r: { acc: FileAcc; sha256: string; size: number };
      try {
        before = f.consistent ? stamp(fs.fstatSync(fd, { bigint: true })) : { size: 0, mtimeNs: '', ctimeNs: '' };
        r = await this.consumeFile(fd, f.size, host);
      } finally {
        fs.closeSync(fd);
      }
      totalAdded = { dataAdded: totalAdded.dataAdded + r.acc.dataAdded, blobsAdded: totalAdded.blobsAdded + r.acc.blobsAdded, packedAdded: totalAdded.packedAdded + r.acc.packedAdded };
      let inconsistent = false;
      if (f.consistent) {
        let after: StatStamp | undefined;
        try {
          after = stamp(fs.lstatSync(fsPath(f.path), { bigint: true }));
        } catch {
          after = undefined;
        }
        if (!after || !sameStamp(before, after) || after.size !== r.size) {
          if (rereads < maxRereads) {
            rereads++;
            continue;
          }
          inconsistent = true;
        }
      }
      return { ok: true, content: r.acc.content, sha256: r.sha256, size: r.size, ...totalAdded, inconsistent, rereads, ...(f.consistent ? { stat: before } : {}) };
    }
  }

  /** Decodes and verifies one blob. */
  decode(type: number, id: Uint8Array, stored: Uint8Array, rawLength: number): Uint8Array {
    return this.box.decodeBlob(type, id, stored, rawLength);
  }
}

/** Reads up to `length` bytes at `offset`; fewer only at the end of the file. */
function readFull(fd: number, buf: Uint8Array, offset: number, length: number): number {
  let n = 0;
  while (n < length) {
    const got = fs.readSync(fd, buf, offset + n, length - n, null);
    if (got === 0) break;
    n += got;
  }
  return n;
}

// ---------------------------------------------------------------- messages between threads

/** Many small objects cost more to clone than to copy into one buffer: file lists and small blobs travel packed. */
export interface PackedSpecs {
  paths: Uint8Array;
  ends: Uint32Array;
  sizes: Float64Array;
  consistent: boolean;
  maxRereads: number;
}

export function packSpecs(files: BackupFileSpec[]): PackedSpecs {
  const parts = files.map((f) => (typeof f.path === 'string' ? Buffer.from(f.path) : Buffer.from(f.path.buffer, f.path.byteOffset, f.path.byteLength)));
  const ends = new Uint32Array(files.length);
  let end = 0;
  parts.forEach((p, i) => (ends[i] = end += p.length));
  return {
    paths: new Uint8Array(Buffer.concat(parts)),
    ends,
    sizes: Float64Array.from(files, (f) => f.size ?? -1),
    consistent: files.some((f) => f.consistent === true),
    maxRereads: files[0]?.maxRereads ?? 3,
  };
}

export function unpackSpecs(p: PackedSpecs): BackupFileSpec[] {
  const out: BackupFileSpec[] = [];
  let start = 0;
  for (let i = 0; i < p.ends.length; i++) {
    const size = p.sizes[i];
    out.push({ path: p.paths.subarray(start, p.ends[i]), ...(size >= 0 ? { size } : {}), consistent: p.consistent, maxRereads: p.maxRereads });
    start = p.ends[i];
  }
  return out;
}

export interface PackedBlobs {
  /** Blobs under SMALL_BLOB bytes, back to back in `data`. */
  ids: Uint8Array;
  types: Uint8Array;
  raws: Float64Array;
  ends: Uint32Array;
  data: Uint8Array;
  /** Larger blobs, each in its own transferred buffer. */
  large: SealedBlob[];
}

const SMALL_BLOB = 64 * 1024;

export function packBlobs(blobs: SealedBlob[]): { packed: PackedBlobs; transfer: ArrayBuffer[] } {
  const small = blobs.filter((b) => b.sealed.length < SMALL_BLOB);
  const large = blobs.filter((b) => b.sealed.length >= SMALL_BLOB);
  const ids = new Uint8Array(small.length * 32);
  const types = new Uint8Array(small.length);
  const raws = new Float64Array(small.length);
  const ends = new Uint32Array(small.length);
  let total = 0;
  small.forEach((b, i) => {
    ids.set(b.id, i * 32);
    types[i] = b.type;
    raws[i] = b.rawLength;
    ends[i] = total += b.sealed.length;
  });
  const data = new Uint8Array(total);
  let at = 0;
  for (const b of small) {
    data.set(b.sealed, at);
    at += b.sealed.length;
  }
  const transfer = transferList([ids, data, ...large.map((b) => b.sealed)]);
  return { packed: { ids, types, raws, ends, data, large }, transfer };
}

export function unpackBlobs(p: PackedBlobs): SealedBlob[] {
  const out: SealedBlob[] = [...p.large];
  let start = 0;
  for (let i = 0; i < p.ends.length; i++) {
    out.push({ type: p.types[i], id: p.ids.subarray(i * 32, i * 32 + 32), sealed: p.data.subarray(start, p.ends[i]), rawLength: p.raws[i] });
    start = p.ends[i];
  }
  return out;
}
