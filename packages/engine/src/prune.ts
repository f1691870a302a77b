/**
 * prune: gives back the space of data no snapshot needs any more, safely.
 *
 * 1. Mark: every tree and data blob reachable from the snapshots is "used". A snapshot that cannot
 *    be read, or a used blob that is not in the index, stops prune before anything is written:
 *    deleting around damage could turn a repairable repository into a lost one.
 * 2. Account, one index file at a time: a used blob counts as used in one pack (its first copy
 *    in a pack that exists); every other indexed byte, duplicates included, is unused. Per pack:
 *    used and unused bytes.
 * 3. Plan: a pack without used blobs is deleted; a pack whose unused share is above `maxUnused`
 *    (default 5%) is repacked (its used blobs copied, still sealed, into new packs); packs in the
 *    store that no index lists (left by an interrupted backup) are deleted.
 * 4. Write, in this order, so that a process killed at any moment leaves a repository that checks
 *    clean and misses nothing a snapshot needs:
 *      a. new packs with the repacked blobs (copied still sealed from packs whose bytes were
 *         checked against their names), and the new index files that list them, each written
 *         after the packs it lists;
 *      b. the rest of the new index: every pack that stays, with all of its blobs, in files of at
 *         most MAX_INDEX_BLOBS blobs; the last file written names the files it supersedes;
 *      c. only then delete the old index files, then the packs that are no longer indexed.
 *    A kill before (c) leaves old and new index side by side (duplicates, harmless); a kill during
 *    (c) leaves packs no index lists, which the next prune deletes.
 * All of this under the exclusive lock (a dry run takes a shared one and writes nothing).
 *
 * Memory: prune keeps its own compact table of the index (BlobTable, about 50 bytes a blob) instead
 * of the repository's in-memory index, and a few numbers per pack; index files, tree packs and packs
 * to repack are read one at a time, and new packs are built in one buffer each.
 */
import { CorruptError, InvalidArgumentError, StrataError, isNotFound } from '@strata/core';
import { BLOB_TREE } from './format/box.js';
import { ENTRY_SIZE, MAX_BLOB_TYPE, type PackEntry, encodeIndex, encodePackHeader, packTrailer, splitPackTail } from './format/pack.js';
import { type TreeNode, decodeTree } from './format/tree.js';
import { corrupt, keys, sha256Hex, toHex } from './format/util.js';
import type { RepoInternals } from './internals.js';
import { MAX_INDEX_BLOBS } from './packer.js';
import type { PruneOptions, PruneResult } from './types.js';

export interface PruneRunOptions extends PruneOptions {
  /** The caller already holds the repository's exclusive lock (a shared one for a dry run). */
  lockHeld?: boolean;
}

/** What prune did (or, with dryRun, would do). Byte figures are bytes in the store. */
export interface PruneReport extends PruneResult {
  /** Snapshots whose trees were walked. */
  snapshots: number;
  /** Blobs reachable from the snapshots. */
  usedBlobs: number;
  /** Packs and bytes (packs + index files) in the store before. */
  packsBefore: number;
  bytesBefore: number;
  /** After (with dryRun: estimated). */
  packsAfter: number;
  bytesAfter: number;
  /** Packs no index listed (left by an interrupted backup); deleted too. */
  packsUnreferenced: number;
  /** Packs written with repacked blobs. */
  packsWritten: number;
  blobsRepacked: number;
  bytesRepacked: number;
  indexFilesBefore: number;
  indexFilesAfter: number;
  /** Indexed packs that are missing from the store but held nothing needed: dropped from the index. */
  packsMissing: number;
  /** Unused bytes left in packs under the maxUnused threshold. */
  bytesUnusedKept: number;
}

interface PackStat {
  size: number;
  usedBytes: number;
  unusedBytes: number;
  usedBlobs: number;
  blobs: number;
}

/**
 * Prune's own view of the index: for every indexed blob its id, the pack and offset of the copy that
 * counts, whether it is a tree, and whether a snapshot uses it; in typed arrays (ids back to back,
 * an open-addressing table keyed by the id's first word, which is uniform since ids are hashes),
 * about 50 bytes a blob. Trees also keep their lengths, in a map (they are few).
 */
export class BlobTable {
  private cap: number;
  private count = 0;
  private bytes: Uint8Array;
  private words: Uint32Array;
  private packNos: Uint32Array;
  private offsets: Uint32Array;
  /** bit 0: used by a snapshot; bit 1: a tree blob. */
  private flags: Uint8Array;
  private slots: Uint32Array;
  private mask: number;
  private readonly probe = new Uint8Array(32);
  private readonly probe32 = new Uint32Array(this.probe.buffer);
  private readonly treeLengths = new Map<number, { length: number; rawLength: number }>();
  /** Pack ids (hex) by number, and whether each is in the store. */
  readonly packs: string[] = [];
  readonly packPresent: boolean[] = [];
  private readonly packNumbers = new Map<string, number>();
  usedCount = 0;

  constructor(capacity = 1024) {
    this.cap = Math.max(16, Math.ceil(capacity));
    this.bytes = new Uint8Array(this.cap * 32);
    this.words = new Uint32Array(this.bytes.buffer);
    this.packNos = new Uint32Array(this.cap);
    this.offsets = new Uint32Array(this.cap);
    this.flags = new Uint8Array(this.cap);
    this.slots = new Uint32Array(slotCount(this.cap));
    this.mask = this.slots.length - 1;
  }

  get size(): number {
    return this.count;
  }

  /** The number of a pack, adding it. */
  pack(hex: string, present: boolean): number {
    let n = this.packNumbers.get(hex);
    if (n === undefined) {
      n = this.packs.length;
      this.packNumbers.set(hex, n);
      this.packs.push(hex);
      this.packPresent.push(present);
    }
    return n;
  }

  packNumber(hex: string): number {
    return this.packNumbers.get(hex) ?? -1;
  }

  /**
   * Records a copy of a blob. The first copy counts; a later one replaces it only when the counted
   * copy's pack is missing from the store and this one's is not.
   */
  put(recs: Uint8Array, i: number, packNo: number): void {
    const base = i * ENTRY_SIZE;
    let n = this.findRaw(recs, base + 1);
    if (n >= 0) {
      if (this.packPresent[this.packNos[n]] || !this.packPresent[packNo]) return;
    } else {
      if (this.count === this.cap) this.grow(Math.ceil(this.cap * 1.5));
      n = this.count++;
      this.bytes.set(this.probe, n * 32);
      this.place(n);
    }
    this.packNos[n] = packNo;
    this.offsets[n] = u32(recs, base + 33);
    const tree = recs[base] === BLOB_TREE;
    this.flags[n] = (this.flags[n] & 1) | (tree ? 2 : 0);
    if (tree) this.treeLengths.set(n, { length: u32(recs, base + 37), rawLength: u32(recs, base + 41) });
  }

  /** The entry number of an id, or -1. */
  find(id: Uint8Array): number {
    return id.length === 32 ? this.findRaw(id, 0) : -1;
  }

  /** The entry number of the id at buf[pos..pos+32], or -1 (copies no more than 32 bytes). */
  findRaw(buf: Uint8Array, pos: number): number {
    for (let k = 0; k < 32; k++) this.probe[k] = buf[pos + k];
    const q = this.probe32;
    const w = this.words;
    for (let s = q[0] & this.mask; ; s = (s + 1) & this.mask) {
      const v = this.slots[s];
      if (v === 0) return -1;
      const b = (v - 1) * 8;
      if (w[b] === q[0] && w[b + 1] === q[1] && w[b + 2] === q[2] && w[b + 3] === q[3] && w[b + 4] === q[4] && w[b + 5] === q[5] && w[b + 6] === q[6] && w[b + 7] === q[7]) return v - 1;
    }
  }

  /** Marks entry n used; false when it was already. */
  use(n: number): boolean {
    if (this.flags[n] & 1) return false;
    this.flags[n] |= 1;
    this.usedCount++;
    return true;
  }

  isUsed(n: number): boolean {
    return (this.flags[n] & 1) === 1;
  }

  /** True when entry n is used and its counted copy is at `offset` in pack `packNo`. */
  countsAt(n: number, packNo: number, offset: number): boolean {
    return (this.flags[n] & 1) === 1 && this.packNos[n] === packNo && this.offsets[n] === offset;
  }

  /** Where a tree blob's counted copy is. */
  treeAt(n: number): { pack: string; offset: number; length: number; rawLength: number } | undefined {
    const l = this.treeLengths.get(n);
    return l && (this.flags[n] & 2) ? { pack: this.packs[this.packNos[n]], offset: this.offsets[n], ...l } : undefined;
  }

  /** Calls fn for each used entry whose counted copy is in a pack missing from the store. */
  forEachUsedMissing(fn: (id: Uint8Array) => void): void {
    for (let n = 0; n < this.count; n++) {
      if (this.flags[n] & 1 && !this.packPresent[this.packNos[n]]) fn(this.bytes.subarray(n * 32, n * 32 + 32));
    }
  }

  private place(n: number): void {
    let s = this.words[n * 8] & this.mask;
    while (this.slots[s] !== 0) s = (s + 1) & this.mask;
    this.slots[s] = n + 1;
  }

  private grow(cap: number): void {
    this.bytes = growTo(this.bytes, cap * 32, true);
    this.words = new Uint32Array(this.bytes.buffer);
    this.packNos = growTo(this.packNos, cap, true);
    this.offsets = growTo(this.offsets, cap, true);
    this.flags = growTo(this.flags, cap, true);
    this.cap = cap;
    this.slots = new Uint32Array(slotCount(cap));
    this.mask = this.slots.length - 1;
    for (let n = 0; n < this.count; n++) this.place(n);
  }
}

function slotCount(entries: number): number {
  let n = 16;
  while (n * 3 < entries * 4) n *= 2;
  return n;
}

function abort(message: string, cause?: unknown): CorruptError {
  return new CorruptError('prune', `${message}; nothing was deleted. Run "strata check" and repair the repository before pruning.`, cause === undefined ? undefined : { cause });
}

/**
 * Removes unreferenced data and repacks sparse packs (see the note at the top of this file).
 * Throws CorruptError, before changing anything, when a snapshot, an index file or a needed blob
 * cannot be read; LockedError when another process holds the repository.
 */
export async function prune(internals: RepoInternals, options: PruneRunOptions = {}): Promise<PruneReport> {
  const maxUnused = options.maxUnused ?? 0.05;
  if (typeof maxUnused !== 'number' || !(maxUnused >= 0 && maxUnused <= 1)) {
    throw new InvalidArgumentError('prune', `maxUnused must be a fraction from 0 to 1 (0.05 is 5%); got ${String(maxUnused)}.`);
  }
  const dryRun = options.dryRun ?? false;
  const lock = options.lockHeld ? undefined : await internals.lock(!dryRun);
  try {
    // Before the first delete the lock must still be ours: had it expired unrefreshed, another
    // process could have started a backup that reuses blobs of the packs about to go.
    return await run(internals, maxUnused, dryRun, options.onProgress, () => lock?.assertValid());
  } finally {
    await lock?.release();
  }
}

async function run(
  internals: RepoInternals,
  maxUnused: number,
  dryRun: boolean,
  onProgress: PruneOptions['onProgress'],
  assertLocked: () => void,
): Promise<PruneReport> {
  const started = Date.now();
  const progress = (filesDone: number, bytesDone: number, filesTotal?: number, bytesTotal?: number) =>
    onProgress?.({ phase: 'prune', filesDone, bytesDone, filesTotal, bytesTotal, elapsedMs: Date.now() - started });

  // Whether this process has the index in memory (then it must follow what prune changes).
  const indexInMemory = internals.indexFiles.size > 0;
  // ---- what the store holds
  const packSizes = new Map<string, number>();
  for await (const o of internals.listIds('data/')) packSizes.set(o.id, o.size);
  const indexFiles: { id: string; size: number }[] = [];
  for await (const o of internals.listIds('index/')) indexFiles.push({ id: o.id, size: o.size });
  // Load the index one file at a time (never every file's decoded entries at once). Index files are
  // mostly 32-byte ids that do not compress: about 40 stored bytes a blob sizes the table.
  const table = new BlobTable(Math.max(1024, Math.ceil(sum(indexFiles.map((f) => f.size)) / 40)));
  await forEachIndexPack(internals, indexFiles, (p) => {
    const packNo = table.pack(p.hex, packSizes.has(p.hex));
    for (let i = 0; i < p.count; i++) table.put(p.recs, i, packNo);
  });

  // ---- mark
  const snapshotIds: string[] = [];
  for await (const o of internals.listIds('snapshots/')) snapshotIds.push(o.id);
  // Trees are read from their packs; the last pack read stays at hand (trees of one backup sit together).
  let treePack: { pack: string; bytes: Uint8Array } | undefined;
  const readTree = async (n: number, id: Uint8Array): Promise<TreeNode[]> => {
    const at = table.treeAt(n);
    if (!at) throw new CorruptError('prune', 'the index lists it as a data blob');
    if (treePack?.pack !== at.pack) {
      treePack = undefined;
      treePack = { pack: at.pack, bytes: await internals.readVerified(keys.pack(at.pack), internals.cache !== undefined) };
    }
    if (at.offset + at.length > treePack.bytes.length) throw new CorruptError('prune', `pack ${at.pack} is shorter than the index says`);
    return decodeTree(internals.box.decodeBlob(BLOB_TREE, id, treePack.bytes.subarray(at.offset, at.offset + at.length), at.rawLength));
  };
  let treesDone = 0;
  for (const [i, snapId] of snapshotIds.entries()) {
    let snapshot;
    try {
      snapshot = await internals.loadSnapshot(snapId);
    } catch (err) {
      if (err instanceof StrataError && (err.code === 'CORRUPT' || err.code === 'NOT_FOUND')) {
        throw abort(`snapshot ${snapId} cannot be read (${err.message}); prune would delete the data it needs. Remove it with "strata forget" if it is beyond repair`, err);
      }
      throw err;
    }
    const stack = [snapshot.tree];
    while (stack.length > 0) {
      const treeHex = stack.pop()!;
      const treeId = Buffer.from(treeHex, 'hex');
      const n = table.find(treeId);
      if (n < 0) throw abort(`tree ${treeHex} of snapshot ${snapId} is not in the index`);
      if (!table.use(n)) continue;
      let nodes: TreeNode[];
      try {
        nodes = await readTree(n, treeId);
      } catch (err) {
        throw abort(`tree ${treeHex} of snapshot ${snapId} cannot be read (${(err as Error).message})`, err);
      }
      treesDone++;
      for (const node of nodes) {
        if (node.subtree) stack.push(node.subtree);
        for (const c of node.content ?? []) {
          const d = table.find(Buffer.from(c, 'hex'));
          if (d < 0) throw abort(`data blob ${c} of snapshot ${snapId} is not in the index`);
          table.use(d);
        }
      }
      if (treesDone % 256 === 0) progress(i, 0, snapshotIds.length);
    }
    progress(i + 1, 0, snapshotIds.length);
  }
  treePack = undefined;

  // ---- account, one index file at a time
  const stats = new Map<string, PackStat>();
  const statOf = (pack: string): PackStat => {
    let s = stats.get(pack);
    if (!s) stats.set(pack, (s = { size: packSizes.get(pack) ?? 0, usedBytes: 0, unusedBytes: 0, usedBlobs: 0, blobs: 0 }));
    return s;
  };
  // A used blob counts in the pack of its counted copy (see BlobTable.put); every other copy is unused.
  await forEachIndexPack(internals, indexFiles, (p) => {
    const s = statOf(p.hex);
    const packNo = table.packNumber(p.hex);
    const here = packSizes.has(p.hex);
    for (let i = 0, base = 0; i < p.count; i++, base += ENTRY_SIZE) {
      const length = u32(p.recs, base + 37);
      s.blobs++;
      const n = here ? table.findRaw(p.recs, base + 1) : -1;
      if (n >= 0 && table.countsAt(n, packNo, u32(p.recs, base + 33))) {
        s.usedBytes += length;
        s.usedBlobs++;
      } else {
        s.unusedBytes += length;
      }
    }
  });
  let unplaced = 0;
  let firstUnplaced = '';
  table.forEachUsedMissing((id) => {
    if (unplaced++ === 0) firstUnplaced = toHex(id);
  });
  if (unplaced > 0) {
    throw abort(`${unplaced} blob${unplaced === 1 ? '' : 's'} that snapshots need (e.g. ${firstUnplaced}) ${unplaced === 1 ? 'is' : 'are'} only in packs missing from the store`);
  }

  // ---- plan
  const remove = new Set<string>();
  const repack = new Set<string>();
  let packsMissing = 0;
  let bytesUnusedKept = 0;
  for (const [pack, s] of stats) {
    if (!packSizes.has(pack)) {
      packsMissing++;
      continue;
    }
    if (s.usedBlobs === 0) remove.add(pack);
    else if (s.unusedBytes > 0 && s.unusedBytes / (s.usedBytes + s.unusedBytes) > maxUnused) repack.add(pack);
    else bytesUnusedKept += s.unusedBytes;
  }
  const unreferenced: string[] = [];
  for (const pack of packSizes.keys()) if (!stats.has(pack)) unreferenced.push(pack);

  let blobsRepacked = 0;
  let bytesRepacked = 0;
  for (const pack of repack) {
    blobsRepacked += stats.get(pack)!.usedBlobs;
    bytesRepacked += stats.get(pack)!.usedBytes;
  }

  const bytesBefore = sum(packSizes.values()) + sum(indexFiles.map((f) => f.size));
  const doomed = [...remove, ...repack, ...unreferenced];
  const doomedBytes = sum(doomed.map((p) => packSizes.get(p) ?? 0));
  const blobsRemoved = sum([...remove, ...repack].map((p) => stats.get(p)!.blobs - stats.get(p)!.usedBlobs));
  const keptPacks = [...stats.keys()].filter((p) => packSizes.has(p) && !remove.has(p) && !repack.has(p));
  const indexBlobs = sum(keptPacks.map((p) => stats.get(p)!.blobs)) + blobsRepacked;
  const neededIndexFiles = Math.ceil(indexBlobs / MAX_INDEX_BLOBS);
  // Rewrite the index when packs go away or when its files could be fewer (many small ones).
  const rewriteIndex = doomed.length > 0 || packsMissing > 0 || indexFiles.length > Math.max(1, neededIndexFiles);

  const report: PruneReport = {
    dryRun,
    snapshots: snapshotIds.length,
    usedBlobs: table.usedCount,
    packsBefore: packSizes.size,
    bytesBefore,
    packsDeleted: doomed.length,
    packsRepacked: repack.size,
    packsUnreferenced: unreferenced.length,
    packsMissing,
    packsWritten: 0,
    blobsRemoved,
    blobsRepacked,
    bytesRepacked,
    bytesUnusedKept,
    indexFilesBefore: indexFiles.length,
    indexFilesRewritten: rewriteIndex ? indexFiles.length : 0,
    indexFilesAfter: rewriteIndex ? neededIndexFiles : indexFiles.length,
    packsAfter: packSizes.size - doomed.length,
    bytesAfter: 0,
    bytesFreed: 0,
  };

  if (dryRun) {
    // Estimate: repacked blobs come back at their stored size plus a header entry each.
    const estimatedNewPacks = repack.size > 0 ? Math.max(1, Math.ceil(bytesRepacked / internals.config.packSize)) : 0;
    report.packsWritten = estimatedNewPacks;
    report.packsAfter += estimatedNewPacks;
    report.bytesAfter = bytesBefore - doomedBytes + bytesRepacked + blobsRepacked * 45;
    report.bytesFreed = bytesBefore - report.bytesAfter;
    return report;
  }
  if (!rewriteIndex) {
    report.bytesAfter = bytesBefore;
    return report;
  }

  // ---- a. repack: copy used blobs, still sealed, into new packs (verified on the way); each new
  //         pack goes into the new index as soon as it is stored
  const superseded = indexFiles.map((f) => f.id);
  const index = new IndexWriter(internals, superseded);
  const builder = new PackBuilder(internals, internals.config.packSize, index);
  let copied = 0;
  let copiedBytes = 0;
  for (const pack of repack) {
    const bytes = await internals.readVerified(keys.pack(pack), false).catch((err) => {
      throw abort(`pack ${pack}, which holds blobs that snapshots need, cannot be read (${(err as Error).message})`, err);
    });
    let header: { recs: Uint8Array; count: number };
    try {
      header = packHeaderRecords(internals, pack, bytes);
    } catch (err) {
      throw abort(`the header of pack ${pack} cannot be read (${(err as Error).message})`, err);
    }
    // Copy the blobs whose counted copy is in this pack.
    const packNo = table.packNumber(pack);
    const recs = header.recs;
    for (let i = 0, base = 0; i < header.count; i++, base += ENTRY_SIZE) {
      const offset = u32(recs, base + 33);
      const n = table.findRaw(recs, base + 1);
      if (n < 0 || !table.countsAt(n, packNo, offset)) continue;
      // Copied as stored: the whole pack was checked against its name (SHA-256) when it was read,
      // so these are exactly the bytes that were written, and they move without being opened.
      const sealed = bytes.subarray(offset, offset + u32(recs, base + 37));
      await builder.add(recs[base], recs.subarray(base + 1, base + 33), sealed, u32(recs, base + 41));
      copied++;
      copiedBytes += sealed.length;
    }
    progress(copied, copiedBytes, blobsRepacked, bytesRepacked);
  }
  if (copied !== blobsRepacked) throw abort(`repacking found ${copied} of the ${blobsRepacked} blobs the index places in the packs to repack`);
  await builder.flush();
  report.packsWritten = builder.packs.length;

  // ---- b. the rest of the new index: every pack that stays, with all of its blobs
  const keep = new Set(keptPacks);
  const pending: RawPack[] = [];
  await forEachIndexPack(internals, indexFiles, (p) => {
    if (keep.has(p.hex)) pending.push(p);
  }, async () => {
    for (const p of pending.splice(0)) await index.add(p.id, p.recs, p.count);
  });
  // The file that names the superseded ones is written last: when it exists, all of the new index does.
  const newIndexFiles = await index.finish();
  let newIndexBytes = 0;
  for (const id of newIndexFiles) newIndexBytes += (await internals.store.stat(keys.index(id))).size;

  // ---- c. delete the old index files, then the packs nothing indexes any more
  assertLocked();
  await internals.deleteIndexFiles(superseded.filter((id) => !newIndexFiles.includes(id)));
  await internals.deletePacks(doomed);

  // This process's in-memory index, if it was loaded, follows: the deleted packs leave it, and the
  // new index is read into it (new packs, and any pack another process indexed since it was loaded).
  // Not loaded, it stays empty and loads the new index when next needed.
  if (indexInMemory) {
    const mem = internals.index.blobs;
    const doomedNumbers: number[] = [];
    for (const p of doomed) {
      const n = mem.packs.lookup(p);
      if (n >= 0) doomedNumbers.push(n);
    }
    mem.deletePacks(doomedNumbers);
    await forEachIndexPack(internals, newIndexFiles.map((id) => ({ id })), (p) => internals.index.addPack(p.hex, entriesOf(p)));
    for (const id of newIndexFiles) internals.indexFiles.add(id);
  }
  report.indexFilesAfter = newIndexFiles.length;
  report.packsAfter = packSizes.size - doomed.length + builder.packs.length;
  report.bytesAfter = bytesBefore - doomedBytes - sum(indexFiles.map((f) => f.size)) + builder.bytesWritten + newIndexBytes;
  report.bytesFreed = bytesBefore - report.bytesAfter;
  internals.logger.info({ ...report, durationMs: Date.now() - started }, 'prune finished');
  return report;
}

/**
 * Writes the new index as a stream of packs: a file every MAX_INDEX_BLOBS blobs; finish() writes the
 * last one, which names the superseded files. Only packs already in the store may be added. The
 * files' bytes are assembled from the packs' raw entry records (format/pack.ts) in one reused buffer.
 */
class IndexWriter {
  private body = new Uint8Array(1 << 20);
  private bodyLength = 0;
  private packs = 0;
  private blobs = 0;
  readonly files: string[] = [];

  constructor(
    private readonly internals: RepoInternals,
    private readonly superseded: string[],
  ) {}

  /** Adds a pack: its id and `count` records of ENTRY_SIZE bytes. */
  async add(id: Uint8Array, recs: Uint8Array, count: number): Promise<void> {
    if (this.blobs + count > MAX_INDEX_BLOBS && this.packs > 0) await this.emit(false);
    const need = this.bodyLength + 36 + recs.length;
    if (need > this.body.length) this.body = growTo(this.body, need);
    this.body.set(id, this.bodyLength);
    putU32(this.body, this.bodyLength + 32, count);
    this.body.set(recs, this.bodyLength + 36);
    this.bodyLength = need;
    this.packs++;
    this.blobs += count;
  }

  async finish(): Promise<string[]> {
    await this.emit(true);
    return this.files;
  }

  private async emit(last: boolean): Promise<void> {
    if (this.packs === 0) return;
    const ri = this.internals;
    const superseded = last ? this.superseded : [];
    const head = 8 + superseded.length * 32;
    const plain = new Uint8Array(head + 4 + this.bodyLength);
    putU32(plain, 0, INDEX_MAGIC);
    putU32(plain, 4, superseded.length);
    superseded.forEach((s, i) => plain.set(Buffer.from(s, 'hex'), 8 + i * 32));
    putU32(plain, head, this.packs);
    plain.set(this.body.subarray(0, this.bodyLength), head + 4);
    const sealed = ri.box.sealCompressed('index', plain, ri.metaCompression());
    const id = sha256Hex(sealed);
    await ri.store.put(keys.index(id), sealed);
    if (ri.cache) await ri.cache.put(keys.index(id), sealed);
    this.files.push(id);
    this.bodyLength = 0;
    this.packs = 0;
    this.blobs = 0;
  }
}

/**
 * Builds packs of copied (still sealed) blobs, tree and data blobs apart. Each kind has one buffer,
 * reused from pack to pack (no source pack stays referenced, and no new buffer per pack): blobs,
 * then the sealed header and its length are written into it, and it is stored from there. The
 * header's records are also what the new index lists for the pack.
 */
class PackBuilder {
  private readonly builds = new Map<number, { buf: Uint8Array; size: number; recs: Uint8Array; count: number }>();
  readonly packs: string[] = [];
  bytesWritten = 0;

  constructor(
    private readonly internals: RepoInternals,
    private readonly packSize: number,
    private readonly index: IndexWriter,
  ) {}

  async add(type: number, id: Uint8Array, sealed: Uint8Array, rawLength: number): Promise<void> {
    let b = this.builds.get(type);
    if (!b) this.builds.set(type, (b = { buf: new Uint8Array(this.packSize + (1 << 16)), size: 0, recs: new Uint8Array(ENTRY_SIZE * 1024), count: 0 }));
    if (b.size + sealed.length > b.buf.length) b.buf = growTo(b.buf, b.size + sealed.length);
    if ((b.count + 1) * ENTRY_SIZE > b.recs.length) b.recs = growTo(b.recs, (b.count + 1) * ENTRY_SIZE);
    const r = b.count * ENTRY_SIZE;
    b.recs[r] = type;
    b.recs.set(id, r + 1);
    putU32(b.recs, r + 33, b.size);
    putU32(b.recs, r + 37, sealed.length);
    putU32(b.recs, r + 41, rawLength);
    b.buf.set(sealed, b.size);
    b.size += sealed.length;
    b.count++;
    if (b.size >= this.packSize || b.count >= MAX_INDEX_BLOBS) await this.store(type);
  }

  async flush(): Promise<void> {
    for (const type of [...this.builds.keys()]) await this.store(type);
  }

  private async store(type: number): Promise<void> {
    const b = this.builds.get(type);
    if (!b || b.count === 0) return;
    const ri = this.internals;
    const recs = b.recs.subarray(0, b.count * ENTRY_SIZE);
    const plain = new Uint8Array(8 + recs.length);
    putU32(plain, 0, HEADER_MAGIC);
    putU32(plain, 4, b.count);
    plain.set(recs, 8);
    const header = ri.box.sealObject('packHeader', plain);
    const total = b.size + header.length + 4;
    if (total > b.buf.length) b.buf = growTo(b.buf, total);
    b.buf.set(header, b.size);
    b.buf.set(packTrailer(header.length), b.size + header.length);
    const bytes = b.buf.subarray(0, total);
    const id = sha256Hex(bytes);
    await ri.store.put(keys.pack(id), bytes);
    if (type === BLOB_TREE && ri.cache) await ri.cache.put(keys.pack(id), bytes);
    this.packs.push(id);
    this.bytesWritten += total;
    await this.index.add(Buffer.from(id, 'hex'), recs, b.count);
    b.size = 0;
    b.count = 0;
  }
}

function putU32(buf: Uint8Array, pos: number, v: number): void {
  buf[pos] = v & 0xff;
  buf[pos + 1] = (v >>> 8) & 0xff;
  buf[pos + 2] = (v >>> 16) & 0xff;
  buf[pos + 3] = (v >>> 24) & 0xff;
}

/** A copy of `buf` with room for `need` items: exactly that many, or doubled until it fits. */
function growTo<T extends Uint8Array | Uint32Array>(buf: T, need: number, exact = false): T {
  let n = Math.max(1, buf.length);
  if (exact) n = need;
  else while (n < need) n *= 2;
  const out = new (buf.constructor as new (n: number) => T)(n);
  out.set(buf);
  return out;
}

/** One pack of an index file: its id and its entries as raw 45-byte records (views, no copies). */
interface RawPack {
  id: Uint8Array;
  hex: string;
  recs: Uint8Array;
  count: number;
}

function u32(buf: Uint8Array, pos: number): number {
  return (buf[pos] | (buf[pos + 1] << 8) | (buf[pos + 2] << 16) | (buf[pos + 3] << 24)) >>> 0;
}

// The magic numbers of index files and pack headers, as the format's own encoders write them.
const INDEX_MAGIC = u32(encodeIndex({ supersedes: [], packs: [] }), 0);
const HEADER_MAGIC = u32(encodePackHeader([]), 0);

/** PackEntry objects for a pack's records (ids are views into the records). */
function entriesOf(p: { recs: Uint8Array; count: number }): PackEntry[] {
  const out: PackEntry[] = new Array(p.count);
  for (let i = 0, b = 0; i < p.count; i++, b += ENTRY_SIZE) {
    out[i] = { type: p.recs[b], id: p.recs.subarray(b + 1, b + 33), offset: u32(p.recs, b + 33), length: u32(p.recs, b + 37), rawLength: u32(p.recs, b + 41) };
  }
  return out;
}

/**
 * Walks an index file's plaintext (format in format/pack.ts) without an object or a buffer per
 * blob: a million blobs read three times would otherwise be millions of small allocations.
 */
function walkIndex(buf: Uint8Array, what: string, fn: (p: RawPack) => void): void {
  const need = (pos: number, n: number) => {
    if (pos + n > buf.length) throw corrupt(what, 'truncated');
  };
  need(0, 12);
  if (u32(buf, 0) !== INDEX_MAGIC) throw corrupt(what, 'bad magic');
  let pos = 8 + u32(buf, 4) * 32;
  need(pos, 4);
  const packs = u32(buf, pos);
  pos += 4;
  for (let i = 0; i < packs; i++) {
    need(pos, 36);
    const id = buf.subarray(pos, pos + 32);
    const count = u32(buf, pos + 32);
    pos += 36;
    need(pos, count * ENTRY_SIZE);
    const recs = buf.subarray(pos, pos + count * ENTRY_SIZE);
    for (let b = 0; b < recs.length; b += ENTRY_SIZE) if (recs[b] > MAX_BLOB_TYPE) throw corrupt(what, `unknown blob type ${recs[b]}`);
    fn({ id, hex: toHex(id), recs, count });
    pos += count * ENTRY_SIZE;
  }
  if (pos !== buf.length) throw corrupt(what, 'trailing bytes');
}

/** A pack's header records, checked: every blob lies inside the pack's data. */
function packHeaderRecords(internals: RepoInternals, pack: string, bytes: Uint8Array): { recs: Uint8Array; count: number } {
  const what = `header of pack ${pack}`;
  const split = splitPackTail(bytes, bytes.length, `pack ${pack}`);
  if (split.dataLength < 0) throw corrupt(`pack ${pack}`, 'truncated');
  const plain = internals.box.openObject('packHeader', split.sealedHeader, what);
  if (plain.length < 8 || u32(plain, 0) !== HEADER_MAGIC) throw corrupt(what, 'bad magic');
  const count = u32(plain, 4);
  if (plain.length !== 8 + count * ENTRY_SIZE) throw corrupt(what, 'length does not match its blob count');
  const recs = plain.subarray(8);
  for (let b = 0; b < recs.length; b += ENTRY_SIZE) {
    if (recs[b] > MAX_BLOB_TYPE) throw corrupt(what, `unknown blob type ${recs[b]}`);
    if (u32(recs, b + 33) + u32(recs, b + 37) > split.dataLength) throw corrupt(what, 'a blob lies outside the pack');
  }
  return { recs, count };
}

/**
 * Calls `fn` for every pack of every index file, reading the files one at a time; a pack listed in
 * several files (an earlier prune was interrupted) is seen once. `after` runs after each file.
 */
async function forEachIndexPack(
  internals: RepoInternals,
  files: { id: string }[],
  fn: (pack: RawPack) => void,
  after?: () => Promise<void>,
): Promise<void> {
  const seen = new Set<string>();
  for (const f of files) {
    const plain = await readIndexOrAbort(internals, f.id);
    try {
      walkIndex(plain, `index file ${f.id}`, (p) => {
        if (seen.has(p.hex)) return;
        seen.add(p.hex);
        fn(p);
      });
    } catch (err) {
      if (err instanceof CorruptError) throw abort(`index file ${f.id} cannot be read (${err.message})`, err);
      throw err;
    }
    await after?.();
  }
}

/** The plaintext of an index file (verified against its name, decrypted, decompressed). */
async function readIndexOrAbort(internals: RepoInternals, id: string): Promise<Uint8Array> {
  try {
    const sealed = await internals.readVerified(keys.index(id), true);
    return internals.box.openCompressed('index', sealed, `index file ${id}`);
  } catch (err) {
    if (err instanceof CorruptError || isNotFound(err)) throw abort(`index file ${id} cannot be read (${(err as Error).message})`, err);
    throw err;
  }
}

function sum(values: Iterable<number>): number {
  let n = 0;
  for (const v of values) n += v;
  return n;
}
