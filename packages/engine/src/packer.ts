/**
 * Assembles sealed blobs into packs (one open pack per blob type), uploads them with bounded
 * concurrency, and writes index files for uploaded packs: every `indexEvery` packs during a long
 * backup and at flush(). A blob id handed out by reserve() stays "present" from then on, so two
 * files with the same chunk store it once.
 */
import type { Store } from '@strata/core';
import { BLOB_TREE, type Box, type CompressionChoice } from './format/box.js';
import { type IndexPack, type PackEntry, encodeIndex, encodePackHeader, packTrailer } from './format/pack.js';
import { keys, sha256Hex } from './format/util.js';
import type { Cache } from './cache.js';
import type { MasterIndex } from './master-index.js';
import type { SealedBlob } from './processor.js';

/** Most blobs per index file. */
export const MAX_INDEX_BLOBS = 50_000;

interface PackBuild {
  parts: Uint8Array[];
  entries: PackEntry[];
  size: number;
}

export interface PackerStats {
  packs: number;
  blobs: number;
  dataBlobs: number;
  treeBlobs: number;
  bytesRaw: number;
  bytesStored: number;
}

export interface PackerDeps {
  store: Store;
  box: Box;
  index: MasterIndex;
  cache?: Cache;
  /** How index files are compressed. */
  indexCompression: CompressionChoice;
  /** Told the id of every index file written (the repository tracks what its index holds). */
  onIndexFile?: (id: string) => void;
}

export class Packer {
  private builds = new Map<number, PackBuild>();
  private readonly reserved = new Set<string>();
  private readonly uploads = new Set<Promise<void>>();
  private unindexed: IndexPack[] = [];
  private indexing: Promise<void> = Promise.resolve();
  private failure: unknown;
  readonly indexFiles: string[] = [];
  readonly packsWritten: string[] = [];
  readonly stats: PackerStats = { packs: 0, blobs: 0, dataBlobs: 0, treeBlobs: 0, bytesRaw: 0, bytesStored: 0 };
  private waiters: (() => void)[] = [];

  constructor(
    private readonly deps: PackerDeps,
    private readonly packSize: number,
    private readonly maxUploads = 2,
    private readonly indexEvery = 8,
  ) {}

  private k(id: Uint8Array): string {
    return Buffer.from(id.buffer, id.byteOffset, id.byteLength).toString('latin1');
  }

  /** True if the blob is neither indexed nor already reserved; then reserves it. */
  reserve(id: Uint8Array): boolean {
    const k = this.k(id);
    if (this.reserved.has(k) || this.deps.index.has(id)) return false;
    this.reserved.add(k);
    return true;
  }

  /** True when the blob is indexed or on its way into a pack. */
  has(id: Uint8Array): boolean {
    return this.reserved.has(this.k(id)) || this.deps.index.has(id);
  }

  /**
   * Takes over a pack already in the store that no index file names (uploaded by an interrupted run):
   * its blobs join the index at once, so dedup finds them, and the next index file written lists it.
   */
  adopt(packId: string, entries: PackEntry[]): void {
    this.deps.index.addPack(packId, entries);
    this.unindexed.push({ id: Buffer.from(packId, 'hex'), blobs: entries });
  }

  /** Adds a sealed blob; resolves once the packer has room for more. */
  async add(blob: SealedBlob): Promise<void> {
    if (this.failure) throw this.failure;
    let b = this.builds.get(blob.type);
    if (!b) {
      b = { parts: [], entries: [], size: 0 };
      this.builds.set(blob.type, b);
    }
    b.entries.push({ type: blob.type, id: blob.id, offset: b.size, length: blob.sealed.length, rawLength: blob.rawLength });
    b.parts.push(blob.sealed);
    b.size += blob.sealed.length;
    this.stats.blobs++;
    if (blob.type === BLOB_TREE) this.stats.treeBlobs++;
    else this.stats.dataBlobs++;
    this.stats.bytesRaw += blob.rawLength;
    this.stats.bytesStored += blob.sealed.length;
    if (b.size >= this.packSize || b.entries.length >= MAX_INDEX_BLOBS) {
      this.builds.delete(blob.type);
      this.startUpload(b);
    }
    while (this.uploads.size >= this.maxUploads) {
      await new Promise<void>((resolve) => this.waiters.push(resolve));
      if (this.failure) throw this.failure;
    }
  }

  private startUpload(b: PackBuild): void {
    const header = this.deps.box.sealObject('packHeader', encodePackHeader(b.entries));
    b.parts.push(header, packTrailer(header.length));
    const bytes = Buffer.concat(b.parts);
    b.parts = [];
    const id = sha256Hex(bytes);
    const isTree = b.entries.every((e) => e.type === BLOB_TREE);
    const p = (async () => {
      const key = keys.pack(id);
      await this.deps.store.put(key, bytes);
      if (isTree && this.deps.cache) await this.deps.cache.put(key, bytes);
      this.stats.packs++;
      this.stats.bytesStored += header.length + 4;
      this.packsWritten.push(id);
      this.deps.index.addPack(id, b.entries);
      for (const e of b.entries) this.reserved.delete(this.k(e.id));
      this.unindexed.push({ id: Buffer.from(id, 'hex'), blobs: b.entries });
      if (this.unindexed.length >= this.indexEvery || this.unindexed.reduce((n, x) => n + x.blobs.length, 0) >= MAX_INDEX_BLOBS) this.queueIndex();
    })();
    this.uploads.add(p);
    p.then(
      () => undefined,
      (err) => {
        this.failure ??= err;
      },
    ).finally(() => {
      this.uploads.delete(p);
      // Wake every waiter: each re-checks for room, and one left asleep with no upload to finish
      // later would never wake (two workers storing at once deadlocked with one upload slot).
      for (const w of this.waiters.splice(0)) w();
    });
  }

  private queueIndex(): void {
    const packs = this.unindexed;
    this.unindexed = [];
    if (packs.length === 0) return;
    this.indexing = this.indexing.then(async () => {
      // Split so no index file holds more than MAX_INDEX_BLOBS blobs.
      let group: IndexPack[] = [];
      let n = 0;
      const groups: IndexPack[][] = [];
      for (const p of packs) {
        if (n + p.blobs.length > MAX_INDEX_BLOBS && group.length > 0) {
          groups.push(group);
          group = [];
          n = 0;
        }
        group.push(p);
        n += p.blobs.length;
      }
      if (group.length) groups.push(group);
      for (const g of groups) {
        const id = await writeIndexFile(this.deps, { supersedes: [], packs: g });
        this.indexFiles.push(id);
        this.deps.onIndexFile?.(id);
      }
    });
    this.indexing.catch((err) => {
      this.failure ??= err;
    });
  }

  /** Uploads the open packs and waits for every upload and index file. */
  async flush(): Promise<void> {
    for (const [type, b] of [...this.builds]) {
      this.builds.delete(type);
      if (b.entries.length > 0) this.startUpload(b);
    }
    while (this.uploads.size > 0) await Promise.allSettled([...this.uploads]);
    if (this.failure) throw this.failure;
    this.queueIndex();
    await this.indexing;
    if (this.failure) throw this.failure;
  }
}

/** Seals and stores an index file; returns its id. Only for packs already in the store. */
export async function writeIndexFile(deps: PackerDeps, content: { supersedes: Uint8Array[]; packs: IndexPack[] }): Promise<string> {
  const sealed = deps.box.sealCompressed('index', encodeIndex(content), deps.indexCompression);
  const id = sha256Hex(sealed);
  await deps.store.put(keys.index(id), sealed);
  if (deps.cache) await deps.cache.put(keys.index(id), sealed);
  return id;
}
