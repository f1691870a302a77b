/**
 * A streaming tar writer (ustar headers, pax extended headers where ustar falls short), for `dump`.
 *
 * Entries are written one at a time to a Node Writable, honouring backpressure (`write` returning
 * false waits for 'drain'). A file's size is given up front and its body streamed from an async
 * iterable; nothing is buffered beyond one 512-byte header and the caller's chunks.
 *
 * A pax header (typeflag `x`) is added for an entry when its path or link target is longer than ustar
 * allows or not ASCII, when the mtime has a fraction of a second or is negative, when uid/gid/size
 * overflow their octal fields, or when a user/group name is long or not ASCII. Paths and link targets
 * given as bytes that are not valid UTF-8 are written raw under `hdrcharset=BINARY` (GNU tar and
 * bsdtar restore such names byte for byte).
 */
import type { Writable } from 'node:stream';
import { InvalidArgumentError, StrataError } from '@strata/core';

export type TarEntryType = 'file' | 'dir' | 'symlink' | 'hardlink' | 'fifo' | 'chardev' | 'blockdev';

/** One tar entry. Paths are relative (a leading `/` is stripped, as tar does). */
export interface TarEntry {
  /** Path in the archive; bytes for names that are not valid UTF-8. Directories may end in `/` or not. */
  path: string | Uint8Array;
  type: TarEntryType;
  /** Permission bits (and setuid/setgid/sticky); the file type bits are ignored. */
  mode: number;
  uid?: number;
  gid?: number;
  uname?: string;
  gname?: string;
  /** Modification time in nanoseconds since the epoch (wins over `mtime`). */
  mtimeNs?: bigint;
  /** Modification time, when nanoseconds are not known. Default: the epoch. */
  mtime?: Date;
  /** Body length in bytes; required for files, ignored otherwise. */
  size?: number;
  /** Target of a symlink, or the archive path of the entry a hardlink points to. */
  linkname?: string | Uint8Array;
  devmajor?: number;
  devminor?: number;
}

const BLOCK = 512;
const TYPEFLAG: Record<TarEntryType, string> = {
  file: '0',
  hardlink: '1',
  symlink: '2',
  chardev: '3',
  blockdev: '4',
  dir: '5',
  fifo: '6',
};
const MAX_OCTAL_7 = 0o7777777;
const MAX_OCTAL_11 = 0o77777777777;
const ZEROS = new Uint8Array(BLOCK * 2);
const utf8 = new TextEncoder();

/**
 * Writes a tar stream. Call `add` for each entry (awaiting each: entries must not interleave), then
 * `finish` to write the end-of-archive blocks. The Writable is not ended: call `out.end()` yourself
 * (so `process.stdout` can be used).
 */
export class TarWriter {
  private busy = false;
  private finished = false;
  private paxCount = 0;

  constructor(private readonly out: Writable) {}

  /**
   * Writes one entry. For a file, `body` yields exactly `entry.size` bytes (an empty or missing body
   * for size 0); a body of any other length is an InvalidArgumentError and leaves the archive
   * unusable. Rejects with the stream's error if the Writable fails.
   */
  async add(entry: TarEntry, body?: AsyncIterable<Uint8Array> | Iterable<Uint8Array>): Promise<void> {
    if (this.finished) throw new InvalidArgumentError('tar', 'the archive is finished; create a new TarWriter');
    if (this.busy) throw new InvalidArgumentError('tar', 'an entry is still being written; await add() before the next');
    this.busy = true;
    try {
      const size = entry.type === 'file' ? (entry.size ?? -1) : 0;
      if (!Number.isSafeInteger(size) || size < 0) {
        throw new InvalidArgumentError('tar', `file "${show(entry.path)}" needs a non-negative integer size`);
      }
      const { header, pax } = buildHeaders(entry, size, ++this.paxCount);
      if (pax) {
        await this.write(pax);
      }
      await this.write(header);
      if (entry.type === 'file') {
        let written = 0;
        if (body) {
          for await (const piece of body) {
            if (piece.length === 0) continue;
            written += piece.length;
            if (written > size) break;
            await this.write(piece);
          }
        }
        if (written !== size) {
          throw new InvalidArgumentError(
            'tar',
            `file "${show(entry.path)}" has ${written > size ? 'more' : 'fewer'} bytes than its declared size ${size}; the archive is truncated`,
          );
        }
        const pad = (BLOCK - (size % BLOCK)) % BLOCK;
        if (pad > 0) await this.write(ZEROS.subarray(0, pad));
      }
    } finally {
      this.busy = false;
    }
  }

  /** Writes the two zero blocks that end an archive and waits until the Writable accepted them. */
  async finish(): Promise<void> {
    if (this.finished) return;
    this.finished = true;
    await this.write(ZEROS);
  }

  private write(chunk: Uint8Array): Promise<void> {
    return writeChunk(this.out, chunk, 'tar');
  }
}

/**
 * Writes a chunk and, when the Writable asks for it, waits for 'drain'. Rejects when the stream
 * errors or closes first (a reader that went away), so a writer never waits forever.
 */
export async function writeChunk(out: Writable, chunk: Uint8Array, component: string): Promise<void> {
  if (out.destroyed) throw new StrataError('ABORTED', component, 'the output stream is closed; the output is incomplete');
  if (out.write(chunk)) return;
  await new Promise<void>((resolve, reject) => {
    const cleanup = () => {
      out.off('drain', onDrain);
      out.off('error', onError);
      out.off('close', onClose);
    };
    const onDrain = () => (cleanup(), resolve());
    const onError = (err: Error) => (cleanup(), reject(err));
    const onClose = () => (cleanup(), reject(new StrataError('ABORTED', component, 'the output stream closed; the output is incomplete')));
    out.on('drain', onDrain);
    out.on('error', onError);
    out.on('close', onClose);
  });
}

/** Writes a whole archive from an iterable of entries with their bodies, then the end blocks. */
export async function writeTar(
  out: Writable,
  entries: AsyncIterable<{ entry: TarEntry; body?: AsyncIterable<Uint8Array> | Iterable<Uint8Array> }>,
): Promise<void> {
  const tar = new TarWriter(out);
  for await (const { entry, body } of entries) await tar.add(entry, body);
  await tar.finish();
}

function show(p: string | Uint8Array): string {
  return typeof p === 'string' ? p : Buffer.from(p).toString('latin1');
}

function toBytes(s: string | Uint8Array): Uint8Array {
  return typeof s === 'string' ? utf8.encode(s) : s;
}

function isAscii(b: Uint8Array): boolean {
  for (let i = 0; i < b.length; i++) if (b[i] === 0 || b[i] > 0x7e) return false;
  return true;
}

function isUtf8(b: Uint8Array): boolean {
  try {
    new TextDecoder('utf-8', { fatal: true }).decode(b);
    return true;
  } catch {
    return false;
  }
}

/** Strips leading slashes (and `./`), normalises a directory to end in `/`. */
function archivePath(entry: TarEntry): Uint8Array {
  let b = toBytes(entry.path);
  let start = 0;
  while (start < b.length && b[start] === 0x2f) start++;
  b = b.subarray(start);
  if (b.length === 0) b = utf8.encode('.');
  if (entry.type === 'dir' && b[b.length - 1] !== 0x2f) {
    const d = new Uint8Array(b.length + 1);
    d.set(b);
    d[b.length] = 0x2f;
    b = d;
  }
  return b;
}

/** Splits a path into ustar (prefix, name), or returns null if it does not fit. */
function splitUstar(p: Uint8Array): { prefix: Uint8Array; name: Uint8Array } | null {
  if (p.length <= 100) return { prefix: new Uint8Array(0), name: p };
  if (p.length > 256) return null;
  // The split slash must leave a name of at most 100 bytes and a prefix of at most 155.
  for (let i = Math.max(0, p.length - 101); i < Math.min(p.length, 156); i++) {
    if (p[i] === 0x2f && i > 0 && p.length - i - 1 > 0 && p.length - i - 1 <= 100) {
      return { prefix: p.subarray(0, i), name: p.subarray(i + 1) };
    }
  }
  return null;
}

function paxRecord(key: string, value: Uint8Array): Uint8Array {
  const body = utf8.encode(` ${key}=`);
  const rest = body.length + value.length + 1;
  let len = rest + 1;
  while (String(len).length + rest !== len) len = String(len).length + rest;
  const out = new Uint8Array(len);
  const lenBytes = utf8.encode(String(len));
  out.set(lenBytes, 0);
  out.set(body, lenBytes.length);
  out.set(value, lenBytes.length + body.length);
  out[len - 1] = 0x0a;
  return out;
}

function nsToPaxTime(ns: bigint): string {
  const neg = ns < 0n;
  const abs = neg ? -ns : ns;
  const sec = abs / 1_000_000_000n;
  const frac = abs % 1_000_000_000n;
  let s = sec.toString();
  if (frac !== 0n) s += `.${frac.toString().padStart(9, '0').replace(/0+$/, '')}`;
  return neg ? `-${s}` : s;
}

function buildHeaders(entry: TarEntry, size: number, seq: number): { header: Uint8Array; pax: Uint8Array | null } {
  const records: Uint8Array[] = [];
  let binary = false;

  const path = archivePath(entry);
  let split = isAscii(path) ? splitUstar(path) : null;
  if (!split) {
    if (!isUtf8(path)) binary = true;
    records.push(paxRecord('path', path));
    split = { prefix: new Uint8Array(0), name: asciiFallback(path, 100) };
  }

  let linkname: Uint8Array = new Uint8Array(0);
  if (entry.type === 'symlink' || entry.type === 'hardlink') {
    if (entry.linkname === undefined) {
      throw new InvalidArgumentError('tar', `${entry.type} "${show(entry.path)}" needs a linkname`);
    }
    linkname = toBytes(entry.linkname);
    if (entry.type === 'hardlink') {
      let s = 0;
      while (s < linkname.length && linkname[s] === 0x2f) s++;
      linkname = linkname.subarray(s);
    }
    if (linkname.length > 100 || !isAscii(linkname)) {
      if (!isUtf8(linkname)) binary = true;
      records.push(paxRecord('linkpath', linkname));
      linkname = asciiFallback(linkname, 100);
    }
  }

  const uid = entry.uid ?? 0;
  const gid = entry.gid ?? 0;
  for (const [k, v] of [['uid', uid], ['gid', gid]] as const) {
    if (!Number.isSafeInteger(v) || v < 0) throw new InvalidArgumentError('tar', `${k} ${v} of "${show(entry.path)}" is not a non-negative integer`);
    if (v > MAX_OCTAL_7) records.push(paxRecord(k, utf8.encode(String(v))));
  }
  if (size > MAX_OCTAL_11) records.push(paxRecord('size', utf8.encode(String(size))));

  const ns = entry.mtimeNs ?? (entry.mtime ? BigInt(entry.mtime.getTime()) * 1_000_000n : 0n);
  let mtimeSec = ns >= 0n ? ns / 1_000_000_000n : 0n;
  if (ns < 0n || ns % 1_000_000_000n !== 0n || mtimeSec > BigInt(MAX_OCTAL_11)) {
    records.push(paxRecord('mtime', utf8.encode(nsToPaxTime(ns))));
    if (mtimeSec > BigInt(MAX_OCTAL_11)) mtimeSec = BigInt(MAX_OCTAL_11);
  }

  let uname: Uint8Array = entry.uname ? utf8.encode(entry.uname) : new Uint8Array(0);
  let gname: Uint8Array = entry.gname ? utf8.encode(entry.gname) : new Uint8Array(0);
  if (uname.length > 31 || !isAscii(uname)) {
    records.push(paxRecord('uname', uname));
    uname = asciiFallback(uname, 31);
  }
  if (gname.length > 31 || !isAscii(gname)) {
    records.push(paxRecord('gname', gname));
    gname = asciiFallback(gname, 31);
  }
  // hdrcharset must come first so readers apply it to path and linkpath.
  if (binary) records.unshift(paxRecord('hdrcharset', utf8.encode('BINARY')));

  const header = new Uint8Array(BLOCK);
  header.set(split.name, 0);
  writeOctal(header, 100, 8, entry.mode & 0o7777);
  writeOctal(header, 108, 8, Math.min(uid, MAX_OCTAL_7));
  writeOctal(header, 116, 8, Math.min(gid, MAX_OCTAL_7));
  writeOctal(header, 124, 12, size > MAX_OCTAL_11 ? 0 : size);
  writeOctal(header, 136, 12, Number(mtimeSec));
  header[156] = TYPEFLAG[entry.type].charCodeAt(0);
  header.set(linkname, 157);
  header.set(utf8.encode('ustar\x0000'), 257);
  header.set(uname, 265);
  header.set(gname, 297);
  if (entry.type === 'chardev' || entry.type === 'blockdev') {
    writeOctal(header, 329, 8, Math.min(entry.devmajor ?? 0, MAX_OCTAL_7));
    writeOctal(header, 337, 8, Math.min(entry.devminor ?? 0, MAX_OCTAL_7));
  }
  header.set(split.prefix, 345);
  setChecksum(header);

  if (records.length === 0) return { header, pax: null };

  let paxLength = 0;
  for (const r of records) paxLength += r.length;
  const paxPadded = Math.ceil(paxLength / BLOCK) * BLOCK;
  const pax = new Uint8Array(BLOCK + paxPadded);
  const paxName = utf8.encode(`PaxHeaders/${seq}`);
  pax.set(paxName, 0);
  writeOctal(pax, 100, 8, 0o644);
  writeOctal(pax, 108, 8, 0);
  writeOctal(pax, 116, 8, 0);
  writeOctal(pax, 124, 12, paxLength);
  writeOctal(pax, 136, 12, Number(mtimeSec));
  pax[156] = 'x'.charCodeAt(0);
  pax.set(utf8.encode('ustar\x0000'), 257);
  setChecksum(pax.subarray(0, BLOCK));
  let off = BLOCK;
  for (const r of records) {
    pax.set(r, off);
    off += r.length;
  }
  return { header, pax };
}

/** A stand-in for the ustar field when the real value lives in the pax header. */
function asciiFallback(b: Uint8Array, max: number): Uint8Array {
  const out = new Uint8Array(Math.min(b.length, max));
  for (let i = 0; i < out.length; i++) out[i] = b[i] >= 0x20 && b[i] <= 0x7e ? b[i] : 0x5f;
  return out;
}

function writeOctal(buf: Uint8Array, off: number, width: number, value: number): void {
  const s = value.toString(8).padStart(width - 1, '0');
  for (let i = 0; i < width - 1; i++) buf[off + i] = s.charCodeAt(i);
  buf[off + width - 1] = 0;
}

function setChecksum(header: Uint8Array): void {
  header.fill(0x20, 148, 156);
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += header[i];
  const s = sum.toString(8).padStart(6, '0');
  for (let i = 0; i < 6; i++) header[148 + i] = s.charCodeAt(i);
  header[154] = 0;
  header[155] = 0x20;
}
