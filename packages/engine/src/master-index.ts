/**
 * The in-memory index: blob id -> pack, offset, length (a compact BlobIndex). Built from the index
 * files at open and extended as packs are written.
 */
import { BlobIndex } from './blob-index.js';
import { BLOB_TREE } from './format/box.js';
import type { PackEntry } from './format/pack.js';
import { toHex } from './format/util.js';

export interface BlobLocation {
  pack: string;
  /** 0 data, 1 tree (as in pack headers). */
  type: number;
  offset: number;
  length: number;
  rawLength: number;
}

export class MasterIndex {
  readonly blobs = new BlobIndex();

  get blobCount(): number {
    return this.blobs.size;
  }

  get packCount(): number {
    return this.blobs.packs.size;
  }

  hasPack(pack: string): boolean {
    return this.blobs.packs.lookup(pack) >= 0;
  }

  /** Adds a pack's blobs. A blob already indexed keeps its first location. */
  addPack(pack: string, entries: PackEntry[]): void {
    const no = this.blobs.packs.intern(pack);
    for (const e of entries) {
      this.blobs.add(e.id, { pack: no, offset: e.offset, length: e.length, rawLength: e.rawLength, type: e.type === BLOB_TREE ? 'tree' : 'data' });
    }
  }

  has(id: Uint8Array): boolean {
    return this.blobs.has(id);
  }

  get(id: Uint8Array): BlobLocation | undefined {
    const r = this.blobs.get(id);
    if (!r) return undefined;
    return { pack: this.blobs.packs.hex(r.pack), type: r.type === 'tree' ? BLOB_TREE : 0, offset: r.offset, length: r.length, rawLength: r.rawLength };
  }

  getHex(id: string): BlobLocation | undefined {
    return this.get(Buffer.from(id, 'hex'));
  }

  *entries(): Generator<{ id: string } & BlobLocation> {
    for (const [id, r] of this.blobs.entries()) {
      yield { id: toHex(id), pack: this.blobs.packs.hex(r.pack), type: r.type === 'tree' ? BLOB_TREE : 0, offset: r.offset, length: r.length, rawLength: r.rawLength };
    }
  }
}
