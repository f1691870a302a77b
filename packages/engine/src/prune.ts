/**
 * prune: gives back the space of data no snapshot needs any more, safely.
 *
 * 1. Mark: every tree and data blob reachable from the snapshots is "used". A snapshot that cannot
 *    be read, or a used blob that is not in the index, stops prune before anything is written:
 *    deleting around damage could turn a repairable repository into a lost one.
 * 2. Account, one index file at a time: each used blob is claimed by one copy (the first seen in a
 *    pack that exists); every other indexed byte is unused. Per pack: used and unused bytes.
 * 3. Plan: a pack without used blobs is deleted; a pack whose unused share is above `maxUnused`
 *    (default 5%) is repacked (its used blobs copied, still sealed, into new packs); packs in the
 *    store that no index lists (left by an interrupted backup) are deleted.
 * 4. Write, in this order, so that a process killed at any moment leaves a repository that checks
 *    clean and misses nothing a snapshot needs:
 *      a. new packs with the repacked blobs (each verified against its id first);
 *      b. the new index: every pack that stays, all of its blobs, plus the new packs, in files of
 *         at most MAX_INDEX_BLOBS blobs; the last file written names the files it supersedes;
 *      c. only then delete the old index files, then the packs that are no longer indexed.
 *    A kill before (c) leaves old and new index side by side (duplicates, harmless); a kill during
 *    (c) leaves packs no index lists, which the next prune deletes.
 * All of this under the exclusive lock (a dry run takes a shared one and writes nothing).
 *
 * Memory: the set of used blobs is a compact BlobIndex (typed arrays, about 70 bytes a blob) that
 * also records each blob's claimed location; index files are read one at a time.
 */
import { CorruptError, InvalidArgumentError, StrataError, isNotFound } from '@strata/core';
import { BlobIndex } from './blob-index.js';
import { BLOB_TREE } from './format/box.js';
import type { IndexFileContent, IndexPack, PackEntry } from './format/pack.js';
import { decodeTree } from './format/tree.js';
import { keys, toHex } from './format/util.js';
import { type RepoInternals, mapLimit } from './internals.js';
import { MasterIndex } from './master-index.js';
import { MAX_INDEX_BLOBS, Packer, writeIndexFile } from './packer.js';
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
  indexed: boolean;
}

/** "not claimed yet" marker in the used set's pack table. */
const UNCLAIMED = '0'.repeat(64);

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
    return await run(internals, maxUnused, dryRun, options.onProgress);
  } finally {
    await lock?.release();
  }
}

async function run(internals: RepoInternals, maxUnused: number, dryRun: boolean, onProgress: PruneOptions['onProgress']): Promise<PruneReport> {
  const started = Date.now();
  const progress = (filesDone: number, bytesDone: number, filesTotal?: number, bytesTotal?: number) =>
    onProgress?.({ phase: 'prune', filesDone, bytesDone, filesTotal, bytesTotal, elapsedMs: Date.now() - started });

  // ---- what the store holds
  const packSizes = new Map<string, number>();
  for await (const o of internals.listIds('data/')) packSizes.set(o.id, o.size);
  const indexFiles: { id: string; size: number }[] = [];
  for await (const o of internals.listIds('index/')) indexFiles.push({ id: o.id, size: o.size });
  // Load the index one file at a time (never every file's decoded entries at once).
  await mapLimit(
    indexFiles.filter((f) => !internals.indexFiles.has(f.id)),
    4,
    async (f) => {
      const content = await readIndexOrAbort(internals, f.id);
      for (const p of content.packs) internals.index.addPack(toHex(p.id), p.blobs);
      internals.indexFiles.add(f.id);
    },
  );

  // ---- mark
  const snapshotIds: string[] = [];
  for await (const o of internals.listIds('snapshots/')) snapshotIds.push(o.id);
  const used = new BlobIndex({ capacity: Math.max(1024, internals.index.blobCount) });
  const unclaimed = used.packs.intern(UNCLAIMED);
  const mark = (id: Uint8Array, type: 'data' | 'tree'): boolean => used.add(id, { pack: unclaimed, offset: 0, length: 0, rawLength: 0, type });
  let treesDone = 0;
  for (const [n, snapId] of snapshotIds.entries()) {
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
      if (!internals.index.has(treeId)) throw abort(`tree ${treeHex} of snapshot ${snapId} is not in the index`);
      if (!mark(treeId, 'tree')) continue;
      let nodes;
      try {
        // Decoded here, not through loadTree: each tree is needed once, and its cache would grow.
        nodes = decodeTree(await internals.loadBlob(treeHex));
      } catch (err) {
        throw abort(`tree ${treeHex} of snapshot ${snapId} cannot be read (${(err as Error).message})`, err);
      }
      treesDone++;
      for (const node of nodes) {
        if (node.subtree) stack.push(node.subtree);
        for (const c of node.content ?? []) {
          const id = Buffer.from(c, 'hex');
          if (!internals.index.has(id)) throw abort(`data blob ${c} of snapshot ${snapId} is not in the index`);
          mark(id, 'data');
        }
      }
      if (treesDone % 256 === 0) progress(n, 0, snapshotIds.length);
    }
    progress(n + 1, 0, snapshotIds.length);
  }

  // ---- account, one index file at a time
  const stats = new Map<string, PackStat>();
  const statOf = (pack: string): PackStat => {
    let s = stats.get(pack);
    if (!s) stats.set(pack, (s = { size: packSizes.get(pack) ?? 0, usedBytes: 0, unusedBytes: 0, usedBlobs: 0, blobs: 0, indexed: true }));
    return s;
  };
  const claim = (packHex: string, e: PackEntry): boolean => {
    const u = used.get(e.id);
    if (!u || u.pack !== unclaimed) return false;
    used.set(e.id, { pack: used.packs.intern(packHex), offset: e.offset, length: e.length, rawLength: e.rawLength, type: e.type === BLOB_TREE ? 'tree' : 'data' });
    return true;
  };
  await forEachIndexPack(internals, indexFiles, (p, packHex) => {
    const s = statOf(packHex);
    const present = packSizes.has(packHex);
    for (const e of p.blobs) {
      s.blobs++;
      if (present && claim(packHex, e)) {
        s.usedBytes += e.length;
        s.usedBlobs++;
      } else {
        s.unusedBytes += e.length;
      }
    }
  });
  let unclaimedCount = 0;
  let firstUnclaimed = '';
  used.forEach((id, e) => {
    if (e.pack === unclaimed) {
      if (unclaimedCount++ === 0) firstUnclaimed = toHex(id);
    }
  });
  if (unclaimedCount > 0) {
    throw abort(`${unclaimedCount} blob${unclaimedCount === 1 ? '' : 's'} that snapshots need (e.g. ${firstUnclaimed}) ${unclaimedCount === 1 ? 'is' : 'are'} only in packs missing from the store`);
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
    usedBlobs: used.size,
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

  // ---- a. repack: copy used blobs, still sealed, into new packs (verified on the way)
  const fresh = new MasterIndex();
  const packer = new Packer(
    { store: internals.store, box: internals.box, index: fresh, cache: internals.cache, indexCompression: internals.metaCompression() },
    internals.config.packSize,
  );
  let copied = 0;
  let copiedBytes = 0;
  for (const pack of repack) {
    const bytes = await internals.readVerified(keys.pack(pack), false).catch((err) => {
      throw abort(`pack ${pack}, which holds blobs that snapshots need, cannot be read (${(err as Error).message})`, err);
    });
    let header: PackEntry[];
    try {
      header = internals.parsePack(pack, bytes);
    } catch (err) {
      throw abort(`the header of pack ${pack} cannot be read (${(err as Error).message})`, err);
    }
    // Copy the blobs this pack holds the claimed copy of.
    const packNo = used.packs.lookup(pack);
    for (const e of header) {
      const u = used.get(e.id);
      if (!u || u.pack !== packNo || u.offset !== e.offset) continue;
      const sealed = bytes.slice(e.offset, e.offset + e.length);
      try {
        internals.box.decodeBlob(e.type, e.id, sealed, e.rawLength);
      } catch (err) {
        throw abort(`blob ${toHex(e.id)} in pack ${pack} is damaged (${(err as Error).message})`, err);
      }
      await packer.add({ type: e.type, id: e.id, sealed, rawLength: e.rawLength });
      copied++;
      copiedBytes += e.length;
    }
    progress(copied, copiedBytes, blobsRepacked, bytesRepacked);
  }
  if (copied !== blobsRepacked) throw abort(`repacking found ${copied} of the ${blobsRepacked} blobs the index places in the packs to repack`);
  await packer.flush();
  report.packsWritten = packer.packsWritten.length;
  // The packer indexed its packs in small files of its own; the consolidated index replaces them.
  const superseded = [...indexFiles.map((f) => f.id), ...packer.indexFiles];

  // ---- b. the new index: kept packs with all their blobs, then the new packs
  const newIndexFiles: string[] = [];
  let group: IndexPack[] = [];
  let groupBlobs = 0;
  let newIndexBytes = 0;
  const deps = { store: internals.store, box: internals.box, index: fresh, cache: internals.cache, indexCompression: internals.metaCompression() };
  const emit = async (last: boolean) => {
    if (group.length === 0) return;
    const id = await writeIndexFile(deps, { supersedes: last ? superseded.map((s) => Buffer.from(s, 'hex')) : [], packs: group });
    newIndexFiles.push(id);
    group = [];
    groupBlobs = 0;
  };
  const add = async (p: IndexPack) => {
    if (groupBlobs + p.blobs.length > MAX_INDEX_BLOBS && group.length > 0) await emit(false);
    group.push(p);
    groupBlobs += p.blobs.length;
  };
  const keep = new Set(keptPacks);
  const pending: IndexPack[] = [];
  await forEachIndexPack(internals, indexFiles, (p, packHex) => {
    if (keep.has(packHex)) pending.push(p);
  }, async () => {
    for (const p of pending.splice(0)) await add(p);
  });
  // The new packs, from the packer's own index files (read back one at a time).
  await forEachIndexPack(internals, packer.indexFiles.map((id) => ({ id })), (p) => pending.push(p), async () => {
    for (const p of pending.splice(0)) await add(p);
  });
  // The file that names the superseded ones is written last: when it exists, all of the new index does.
  await emit(true);
  for (const id of newIndexFiles) newIndexBytes += (await internals.store.stat(keys.index(id))).size;

  // ---- c. delete the old index files, then the packs nothing indexes any more
  await internals.deleteIndexFiles(superseded.filter((id) => !newIndexFiles.includes(id)));
  await internals.deletePacks(doomed);

  // ---- keep this process's view of the repository right for what it does next
  const doomedNumbers: number[] = [];
  for (const p of doomed) {
    const n = internals.index.blobs.packs.lookup(p);
    if (n >= 0) doomedNumbers.push(n);
  }
  internals.index.blobs.deletePacks(doomedNumbers);
  used.forEach((id, e) => {
    const pack = used.packs.hex(e.pack);
    const loc = repack.has(pack) ? fresh.get(id) : { pack, type: e.type === 'tree' ? BLOB_TREE : 0, offset: e.offset, length: e.length, rawLength: e.rawLength };
    if (!loc) return;
    internals.index.blobs.set(id, { pack: internals.index.blobs.packs.intern(loc.pack), offset: loc.offset, length: loc.length, rawLength: loc.rawLength, type: loc.type === BLOB_TREE ? 'tree' : 'data' });
  });
  for (const id of newIndexFiles) internals.indexFiles.add(id);

  report.indexFilesAfter = newIndexFiles.length;
  report.packsAfter = packSizes.size - doomed.length + packer.packsWritten.length;
  report.bytesAfter = bytesBefore - doomedBytes - sum(indexFiles.map((f) => f.size)) + packer.stats.bytesStored + newIndexBytes;
  report.bytesFreed = bytesBefore - report.bytesAfter;
  internals.logger.info({ ...report, durationMs: Date.now() - started }, 'prune finished');
  return report;
}

/**
 * Calls `fn` for every pack of every index file, reading the files one at a time; a pack listed in
 * several files (an earlier prune was interrupted) is seen once. `after` runs after each file.
 */
async function forEachIndexPack(
  internals: RepoInternals,
  files: { id: string }[],
  fn: (pack: IndexPack, packHex: string) => void,
  after?: () => Promise<void>,
): Promise<void> {
  const seen = new Set<string>();
  for (const f of files) {
    const content = await readIndexOrAbort(internals, f.id);
    for (const p of content.packs) {
      const hex = toHex(p.id);
      if (seen.has(hex)) continue;
      seen.add(hex);
      fn(p, hex);
    }
    await after?.();
  }
}

async function readIndexOrAbort(internals: RepoInternals, id: string): Promise<IndexFileContent> {
  try {
    return await internals.readIndexFile(id);
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
