/**
 * A walk over the zstd frame format (RFC 8878) without decoding: it finds where each frame ends,
 * so truncated input and trailing bytes are caught before the decoder runs (node:zlib's decoder
 * returns short output for a cut frame instead of failing), and it reads the declared content
 * sizes, so an oversized output is refused before it is allocated.
 */
export interface ZstdFrame {
  /** Byte offset of the frame in the input. */
  offset: number;
  /** Length of the frame in bytes. */
  length: number;
  /** The content size the frame header declares, or null when it does not declare one. */
  contentSize: number | null;
}

export interface ZstdFrames {
  /** The data frames in order (skippable frames are left out). */
  frames: ZstdFrame[];
  /** Sum of the content sizes the frames declare, or null when a frame does not declare one. */
  contentSize: number | null;
}

const MAGIC = 0xfd2fb528;
const SKIPPABLE_MASK = 0xfffffff0;
const SKIPPABLE_MAGIC = 0x184d2a50;
const MAX_BLOCK_SIZE = 128 * 1024;

function u32(data: Uint8Array, pos: number): number {
  return (data[pos] | (data[pos + 1] << 8) | (data[pos + 2] << 16) | (data[pos + 3] << 24)) >>> 0;
}

/** Throws an Error (with a message fit for a CorruptError) when the input is not whole zstd frames. */
export function zstdFrames(data: Uint8Array): ZstdFrames {
  const length = data.byteLength;
  if (length === 0) throw new Error('the input is empty, a zstd frame has at least a 4-byte magic number');
  let pos = 0;
  const frames: ZstdFrame[] = [];
  let contentSize: number | null = 0;
  while (pos < length) {
    if (length - pos < 4) throw new Error(`${length - pos} stray bytes at offset ${pos}, where a zstd frame should start`);
    const magic = u32(data, pos);
    if (((magic & SKIPPABLE_MASK) >>> 0) === SKIPPABLE_MAGIC) {
      if (length - pos < 8) throw new Error(`a skippable frame at offset ${pos} is cut short`);
      const size = u32(data, pos + 4);
      if (pos + 8 + size > length) throw new Error(`a skippable frame at offset ${pos} is cut short`);
      pos += 8 + size;
      continue;
    }
    if (magic !== MAGIC) throw new Error(`no zstd magic number at offset ${pos}`);
    const offset = pos;
    pos += 4;
    if (pos >= length) throw new Error('the frame header is cut short');
    const descriptor = data[pos++];
    const fcsFlag = descriptor >> 6;
    const singleSegment = (descriptor >> 5) & 1;
    if (descriptor & 0x08) throw new Error('the frame header sets a reserved bit');
    const hasChecksum = (descriptor >> 2) & 1;
    const dictIdSize = [0, 1, 2, 4][descriptor & 3];
    const fcsSize = fcsFlag === 0 ? singleSegment : [0, 2, 4, 8][fcsFlag];
    const headerRest = (singleSegment ? 0 : 1) + dictIdSize + fcsSize;
    if (pos + headerRest > length) throw new Error('the frame header is cut short');
    pos += (singleSegment ? 0 : 1) + dictIdSize;
    let frameSize: number | null;
    if (fcsSize === 0) frameSize = null;
    else if (fcsSize === 1) frameSize = data[pos];
    else if (fcsSize === 2) frameSize = (data[pos] | (data[pos + 1] << 8)) + 256;
    else if (fcsSize === 4) frameSize = u32(data, pos);
    else frameSize = u32(data, pos) + u32(data, pos + 4) * 2 ** 32;
    pos += fcsSize;
    // Blocks: a 3-byte header each; the last one ends the frame.
    for (;;) {
      if (pos + 3 > length) throw new Error(`the data ends inside zstd frame ${frames.length + 1} (block header at offset ${pos})`);
      const header = data[pos] | (data[pos + 1] << 8) | (data[pos + 2] << 16);
      pos += 3;
      const last = header & 1;
      const type = (header >> 1) & 3;
      const size = header >>> 3;
      if (type === 3) throw new Error(`a block at offset ${pos - 3} has the reserved type`);
      if (size > MAX_BLOCK_SIZE) throw new Error(`a block at offset ${pos - 3} is larger than 128 KiB`);
      const stored = type === 1 ? 1 : size;
      if (pos + stored > length) throw new Error(`the data ends inside zstd frame ${frames.length + 1} (block at offset ${pos - 3})`);
      pos += stored;
      if (last) break;
    }
    if (hasChecksum) {
      if (pos + 4 > length) throw new Error(`the data ends inside the checksum of zstd frame ${frames.length + 1}`);
      pos += 4;
    }
    frames.push({ offset, length: pos - offset, contentSize: frameSize });
    contentSize = contentSize === null || frameSize === null ? null : contentSize + frameSize;
  }
  if (frames.length === 0) throw new Error('the input holds no zstd data frame');
  return { frames, contentSize };
}
