/**
 * The CPU side of backup, restore and check: reading and chunking files, hashing, compressing,
 * sealing, and the reverse. Runs inside worker threads (worker.ts) or, when a plugin cannot be
 * rebuilt in a worker, on the main thread. Talks to the repository through a small Host interface.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import { Chunker, createGearTable } from './chunker.js';
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
  private pending: PendingChunk[] = [];
  private pendingBytes = 0;

  constructor(box: Box, choice: CompressionChoice, chunker: ChunkerSetup) {
    this.box = box;
    this.choice = choice;
    this.chunker = new Chunker(chunker.params, createGearTable(chunker.secret));
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

  /** Backs up a batch of files; the chunks of all of them share dedup queries. */
  async backupFiles(files: BackupFileSpec[], host: ProcessorHost): Promise<BackupFileResult[]> {
    const results: BackupFileResult[] = [];
    for (const f of files) {
      let result: BackupFileResult;
      try {
        result = await this.backupFile(f, host);
      } catch (err) {
        // Drop the partial chunk of the failed file so the next file starts clean.
        this.chunker.finish();
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
        r = await this.consume(readFd(fd, f.size), host);
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

function* readFd(fd: number, sizeHint?: number): Generator<Uint8Array> {
  // A small file is read into a buffer of its size (+1 to see it grew); big ones in READ_SIZE pieces.
  let want = sizeHint !== undefined && sizeHint < READ_SIZE ? sizeHint + 1 : READ_SIZE;
  for (;;) {
    // A fresh buffer each time: the chunker keeps views of pushed buffers.
    const buf = new Uint8Array(new ArrayBuffer(want));
    let n = 0;
    while (n < want) {
      const got = fs.readSync(fd, buf, n, want - n, null);
      if (got === 0) break;
      n += got;
    }
    if (n === 0) return;
    yield n === want ? buf : buf.subarray(0, n);
    if (n < want) return;
    want = READ_SIZE;
  }
}

// ---------------------------------------------------------------- restore

export interface RestoreBlob {
  type: number;
  id: Uint8Array;
  stored: Uint8Array;
  rawLength: number;
}

export interface RestoreSegment {
  /** Identifies the file across segments (same worker). */
  key: number;
  path: Uint8Array | string;
  first: boolean;
  last: boolean;
  blobs: RestoreBlob[];
  /** On the last segment: the recorded size and SHA-256. */
  size?: number;
  sha256?: string;
  /** Where to keep a damaged file; undefined removes it. */
  damagedPath?: Uint8Array | string;
  /** The main thread could not fetch this segment's blobs: the file is damaged. */
  error?: string;
  /** On the last segment: metadata set through the open descriptor before it is closed. */
  meta?: { mode: number; uid?: number; gid?: number; mtimeNs: string };
}

export interface RestoreFileResult {
  key: number;
  ok: boolean;
  bytes: number;
  error?: string;
  /** The mtime could not be set to the exact nanosecond through futimes (the caller fixes it). */
  nsFix?: boolean;
  /** Setting metadata failed (the data is fine). */
  metaError?: string;
}

/** Opens a file for writing, replacing whatever is in the way (a symlink is never followed). */
function openForWrite(p: Buffer | string): number {
  const flags = fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_TRUNC | (fs.constants.O_NOFOLLOW ?? 0);
  try {
    return fs.openSync(p, flags, 0o600);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'ELOOP' && code !== 'EISDIR' && code !== 'EACCES' && code !== 'ETXTBSY' && code !== 'EPERM') throw err;
    fs.rmSync(p, { recursive: true, force: true });
    return fs.openSync(p, flags, 0o600);
  }
}

interface OpenRestore {
  fd: number;
  hash: ReturnType<typeof createHash>;
  pos: number;
  error?: string;
  path: Uint8Array | string;
  /** Writes not yet completed. */
  writes: Promise<void>[];
}

const ZERO_BLOCK = 64 * 1024;
const zeros = Buffer.alloc(ZERO_BLOCK);

function isZero(b: Uint8Array, start: number, end: number): boolean {
  return Buffer.from(b.buffer, b.byteOffset + start, end - start).equals(end - start === ZERO_BLOCK ? zeros : zeros.subarray(0, end - start));
}

export class Restorer {
  private readonly box: Box;
  private readonly open = new Map<number, OpenRestore>();

  constructor(box: Box) {
    this.box = box;
  }

  /**
   * Writes segments of files; returns results for files whose last segment was handled. Writes go
   * out asynchronously so decoding the next blob overlaps the kernel's work on the previous one.
   */
  async restoreSegments(segments: RestoreSegment[]): Promise<RestoreFileResult[]> {
    const finishing: Promise<RestoreFileResult>[] = [];
    for (const s of segments) {
      let f = this.open.get(s.key);
      if (s.first || !f) {
        try {
          const fd = openForWrite(fsPath(s.path));
          f = { fd, hash: createHash('sha256'), pos: 0, path: s.path, writes: [] };
        } catch (err) {
          finishing.push(Promise.resolve({ key: s.key, ok: false, bytes: 0, error: `cannot create the file: ${(err as Error).message}` }));
          continue;
        }
        this.open.set(s.key, f);
      }
      if (s.error && !f.error) f.error = s.error;
      if (!f.error) {
        for (const b of s.blobs) {
          let plain: Uint8Array;
          try {
            // Every blob is checked against its id here, and the whole file against its SHA-256 at the end.
            plain = this.box.decodeBlob(b.type, b.id, b.stored, b.rawLength);
          } catch (err) {
            f.error = (err as Error).message;
            break;
          }
          f.hash.update(plain);
          const file = f;
          file.writes.push(
            writeSparse(file.fd, plain, file.pos).catch((err) => {
              file.error ??= `write failed: ${(err as Error).message}`;
            }),
          );
          f.pos += plain.length;
          // Bound the data waiting in the kernel queue per file.
          if (f.writes.length >= 8) await Promise.all(f.writes.splice(0));
        }
      }
      if (s.last) {
        this.open.delete(s.key);
        finishing.push(this.finish(f, s));
      }
    }
    return Promise.all(finishing);
  }

  private async finish(f: OpenRestore, s: RestoreSegment): Promise<RestoreFileResult> {
    await Promise.all(f.writes.splice(0));
    let error = f.error;
    let nsFix = false;
    let metaError: string | undefined;
    try {
      if (!error && s.size !== undefined && f.pos !== s.size) error = `restored ${f.pos} bytes instead of ${s.size}`;
      fs.ftruncateSync(f.fd, f.pos);
      if (!error && s.sha256 !== undefined) {
        const got = f.hash.digest('hex');
        if (got !== s.sha256) error = `SHA-256 ${got.slice(0, 16)}... does not match the recorded ${s.sha256.slice(0, 16)}...`;
      }
      if (!error && s.meta) {
        try {
          // Owner before mode: chown clears setuid/setgid bits.
          if (s.meta.uid !== undefined && s.meta.gid !== undefined) fs.fchownSync(f.fd, s.meta.uid, s.meta.gid);
          fs.fchmodSync(f.fd, s.meta.mode & 0o7777);
          const ns = BigInt(s.meta.mtimeNs);
          const t = Number(ns / 1_000_000_000n) + Number(ns % 1_000_000_000n) / 1e9;
          fs.futimesSync(f.fd, t, t);
          if (ns % 1_000_000_000n !== 0n) nsFix = fs.fstatSync(f.fd, { bigint: true }).mtimeNs !== ns;
        } catch (err) {
          metaError = (err as Error).message;
        }
      }
    } finally {
      fs.closeSync(f.fd);
    }
    if (error) {
      try {
        if (s.damagedPath !== undefined) fs.renameSync(fsPath(f.path), fsPath(s.damagedPath));
        else fs.rmSync(fsPath(f.path), { force: true });
      } catch {
        // reported below either way
      }
    }
    return { key: s.key, ok: !error, bytes: f.pos, error, nsFix, metaError };
  }
}

/** Writes the data at pos, skipping 64 KiB blocks of zeros so the file keeps holes. */
async function writeSparse(fd: number, data: Uint8Array, pos: number): Promise<void> {
  const n = data.length;
  let start = 0;
  while (start < n) {
    // Find a run of non-zero blocks and write it in one call.
    let end = start;
    while (end < n) {
      const blockEnd = Math.min(end + ZERO_BLOCK, n);
      if (blockEnd - end === ZERO_BLOCK && isZero(data, end, blockEnd)) break;
      end = blockEnd;
    }
    let off = start;
    while (off < end) off += await writeAt(fd, data, off, end - off, pos + off);
    // Skip zero blocks.
    start = end;
    while (start < n) {
      const blockEnd = Math.min(start + ZERO_BLOCK, n);
      if (blockEnd - start !== ZERO_BLOCK || !isZero(data, start, blockEnd)) break;
      start = blockEnd;
    }
  }
}

function writeAt(fd: number, data: Uint8Array, offset: number, length: number, position: number): Promise<number> {
  return new Promise((resolve, reject) => fs.write(fd, data, offset, length, position, (err, written) => (err ? reject(err) : resolve(written))));
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
