/**
 * Packs (data/<2 hex>/<id>): blobs back to back, then the sealed header, then the sealed header's
 * length as uint32 little-endian. Header plaintext: 'SPH1', uint32 count, then per blob
 * type u8 | id 32 | offset u32 | length u32 | rawLength u32 (45 bytes), all little-endian.
 * Index files (index/<id>) use the same entry encoding: 'SIX1', uint32 count of superseded index
 * ids + those ids, uint32 count of packs, then per pack: id 32 | uint32 count | entries.
 */
import { ID_SIZE, corrupt } from './util.js';

export interface PackEntry {
  type: number;
  id: Uint8Array;
  offset: number;
  length: number;
  rawLength: number;
}

export const ENTRY_SIZE = 1 + ID_SIZE + 12;
const HEADER_MAGIC = 0x31485053; // 'SPH1' little-endian
const INDEX_MAGIC = 0x31584953; // 'SIX1'
export const MAX_BLOB_TYPE = 1;

function writeEntry(view: DataView, out: Uint8Array, pos: number, e: PackEntry): number {
  out[pos] = e.type;
  out.set(e.id, pos + 1);
  view.setUint32(pos + 33, e.offset, true);
  view.setUint32(pos + 37, e.length, true);
  view.setUint32(pos + 41, e.rawLength, true);
  return pos + ENTRY_SIZE;
}

function readEntry(view: DataView, buf: Uint8Array, pos: number, what: string): PackEntry {
  const type = buf[pos];
  if (type > MAX_BLOB_TYPE) throw corrupt(what, `unknown blob type ${type}`);
  return {
    type,
    id: buf.slice(pos + 1, pos + 33),
    offset: view.getUint32(pos + 33, true),
    length: view.getUint32(pos + 37, true),
    rawLength: view.getUint32(pos + 41, true),
  };
}

export function encodePackHeader(entries: PackEntry[]): Uint8Array {
  const out = new Uint8Array(8 + entries.length * ENTRY_SIZE);
  const view = new DataView(out.buffer);
  view.setUint32(0, HEADER_MAGIC, true);
  view.setUint32(4, entries.length, true);
  let pos = 8;
  for (const e of entries) pos = writeEntry(view, out, pos, e);
  return out;
}

/** Decodes a header's plaintext; every blob must lie inside the first `dataLength` bytes. */
export function decodePackHeader(buf: Uint8Array, dataLength: number, what = 'pack header'): PackEntry[] {
  if (buf.length < 8) throw corrupt(what, 'too short');
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  if (view.getUint32(0, true) !== HEADER_MAGIC) throw corrupt(what, 'bad magic');
  const count = view.getUint32(4, true);
  if (buf.length !== 8 + count * ENTRY_SIZE) throw corrupt(what, 'length does not match its blob count');
  const entries: PackEntry[] = [];
  for (let i = 0, pos = 8; i < count; i++, pos += ENTRY_SIZE) {
    const e = readEntry(view, buf, pos, what);
    if (e.offset + e.length > dataLength) throw corrupt(what, 'a blob lies outside the pack');
    entries.push(e);
  }
  return entries;
}

/** Splits a pack's tail: returns the sealed header and where the blob data ends. */
export function splitPackTail(tail: Uint8Array, packSize: number, what = 'pack'): { sealedHeader: Uint8Array; dataLength: number } {
  if (packSize < 4 || tail.length < 4) throw corrupt(what, 'too short to hold a header');
  const view = new DataView(tail.buffer, tail.byteOffset, tail.byteLength);
  const headerLength = view.getUint32(tail.length - 4, true);
  if (headerLength + 4 > packSize) throw corrupt(what, 'header length points outside the pack');
  if (headerLength + 4 > tail.length) return { sealedHeader: new Uint8Array(0), dataLength: -(headerLength + 4) };
  return { sealedHeader: tail.subarray(tail.length - 4 - headerLength, tail.length - 4), dataLength: packSize - headerLength - 4 };
}

export function packTrailer(sealedHeaderLength: number): Uint8Array {
  const t = new Uint8Array(4);
  new DataView(t.buffer).setUint32(0, sealedHeaderLength, true);
  return t;
}

export interface IndexPack {
  id: Uint8Array;
  blobs: PackEntry[];
}

export interface IndexFileContent {
  /** Index files this one replaces (written by prune); readers may ignore them once this exists. */
  supersedes: Uint8Array[];
  packs: IndexPack[];
}

export function encodeIndex(content: IndexFileContent): Uint8Array {
  let size = 4 + 4 + content.supersedes.length * ID_SIZE + 4;
  for (const p of content.packs) size += ID_SIZE + 4 + p.blobs.length * ENTRY_SIZE;
  const out = new Uint8Array(size);
  const view = new DataView(out.buffer);
  view.setUint32(0, INDEX_MAGIC, true);
  view.setUint32(4, content.supersedes.length, true);
  let pos = 8;
  for (const s of content.supersedes) {
    out.set(s, pos);
    pos += ID_SIZE;
  }
  view.setUint32(pos, content.packs.length, true);
  pos += 4;
  for (const p of content.packs) {
    out.set(p.id, pos);
    view.setUint32(pos + ID_SIZE, p.blobs.length, true);
    pos += ID_SIZE + 4;
    for (const e of p.blobs) pos = writeEntry(view, out, pos, e);
  }
  return out;
}

export function decodeIndex(buf: Uint8Array, what = 'index file'): IndexFileContent {
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const need = (pos: number, n: number) => {
    if (pos + n > buf.length) throw corrupt(what, 'truncated');
  };
  need(0, 8);
  if (view.getUint32(0, true) !== INDEX_MAGIC) throw corrupt(what, 'bad magic');
  const ns = view.getUint32(4, true);
  let pos = 8;
  need(pos, ns * ID_SIZE + 4);
  const supersedes: Uint8Array[] = [];
  for (let i = 0; i < ns; i++, pos += ID_SIZE) supersedes.push(buf.slice(pos, pos + ID_SIZE));
  const np = view.getUint32(pos, true);
  pos += 4;
  const packs: IndexPack[] = [];
  for (let i = 0; i < np; i++) {
    need(pos, ID_SIZE + 4);
    const id = buf.slice(pos, pos + ID_SIZE);
    const n = view.getUint32(pos + ID_SIZE, true);
    pos += ID_SIZE + 4;
    need(pos, n * ENTRY_SIZE);
    const blobs: PackEntry[] = [];
    for (let j = 0; j < n; j++, pos += ENTRY_SIZE) blobs.push(readEntry(view, buf, pos, what));
    packs.push({ id, blobs });
  }
  if (pos !== buf.length) throw corrupt(what, 'trailing bytes');
  return { supersedes, packs };
}
