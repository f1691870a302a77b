/**
 * Restore: walks a snapshot's trees, creates directories, writes files through the worker pool
 * (each blob checked against its id, each file against its SHA-256; a failing file is removed or
 * kept as NAME.strata-damaged), then links, special files, owners, modes and times (directories
 * last, deepest first). Absolute snapshot paths land under the target (/srv/app -> DIR/srv/app).
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { InvalidArgumentError, StrataError } from '@strata/core';
import { compilePatterns } from './glob.js';
import { pathText } from './backup/archiver.js';
import { type TreeNode } from './format/tree.js';
import { fromHexId, keys } from './format/util.js';
import { makeNode, setTimesNs } from './fsx.js';
import { type RepoInternals, mapLimit } from './internals.js';
import type { RestoreBlob, RestoreFileResult, RestoreSegment } from './restorer.js';
import type { FileError, RestoreOptions, RestoreResult, Snapshot } from './types.js';
import { transferList } from './transfer.js';

/**
 * Stored bytes per segment sent to a worker. With 2 x workers units in flight, each prefetching its
 * next segment, this bounds restore's buffered data (4 MiB: about 45 MiB less peak RSS than 16).
 */
const SEGMENT_BYTES = 4 * 1024 * 1024;
const SMALL_BATCH_FILES = 64;

interface Item {
  node: TreeNode;
  /** Path on disk. */
  dest: Buffer;
  /** Path inside the snapshot (for messages). */
  snapPath: string;
}

function join(dir: Buffer, name: Uint8Array): Buffer {
  return Buffer.concat([dir, dir[dir.length - 1] === 0x2f ? Buffer.alloc(0) : Buffer.from('/'), name]);
}

function nsToSeconds(ns: bigint): number {
  return Number(ns / 1_000_000_000n) + Number(ns % 1_000_000_000n) / 1e9;
}

function devMajorMinor(rdev: bigint): [number, number] {
  const major = Number(((rdev >> 8n) & 0xfffn) | ((rdev >> 32n) & ~0xfffn));
  const minor = Number((rdev & 0xffn) | ((rdev >> 12n) & ~0xffn));
  return [major, minor];
}

export async function runRestore(ri: RepoInternals, snapshot: Snapshot, target: string, options: RestoreOptions = {}): Promise<RestoreResult> {
  const started = Date.now();
  const overwrite = options.overwrite ?? 'always';
  if (!['always', 'if-changed', 'never'].includes(overwrite)) throw new InvalidArgumentError('engine', `overwrite policy "${overwrite}" is unknown; use always, if-changed or never.`);
  const includes = compilePatterns(options.includes ?? []);
  const excludes = compilePatterns(options.excludes ?? []);
  const result: RestoreResult = { success: true, filesRestored: 0, dirsRestored: 0, bytesRestored: 0, filesSkipped: 0, damaged: [], errors: [], durationMs: 0 };
  const targetBuf = Buffer.from(path.resolve(target));
  await fs.promises.mkdir(targetBuf, { recursive: true });

  // 1. Walk the trees: collect what to restore.
  const dirs: Item[] = [];
  const files: Item[] = [];
  const others: Item[] = [];
  const walk = async (treeId: string, destDir: Buffer, snapDir: string, depth: number): Promise<void> => {
    let nodes: TreeNode[];
    try {
      nodes = await ri.loadTree(treeId);
    } catch (err) {
      result.errors.push({ path: snapDir || '/', message: `directory listing cannot be read: ${(err as Error).message}` });
      return;
    }
    for (const node of nodes) {
      const name = pathText(Buffer.from(node.name));
      const snapPath = `${snapDir}/${name}`;
      const isDir = node.type === 'dir';
      if (!excludes.empty && excludes.matches(snapPath, isDir)) continue;
      const included = includes.empty || includes.matches(snapPath, isDir);
      if (!included && !(isDir && includes.matchesChildOf(snapPath))) continue;
      const dest = join(destDir, node.name);
      if (isDir) {
        // A directory only on the way to an included path gets no metadata of its own.
        if (included) dirs.push({ node, dest, snapPath });
        else dirs.push({ node: { ...node, mode: -1 }, dest, snapPath });
        await walk(node.subtree!, dest, snapPath, depth + 1);
      } else if (node.type === 'file') files.push({ node, dest, snapPath });
      else others.push({ node, dest, snapPath });
    }
  };
  await walk(snapshot.tree, targetBuf, '', 0);

  // 2. Directories.
  for (const d of dirs) {
    try {
      await fs.promises.mkdir(d.dest, { recursive: true, mode: 0o700 });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EEXIST' || (err as NodeJS.ErrnoException).code === 'ENOTDIR') {
        // A non-directory is in the way.
        if (overwrite === 'always') {
          await fs.promises.rm(d.dest, { force: true });
          await fs.promises.mkdir(d.dest, { recursive: true, mode: 0o700 }).catch((e) => result.errors.push({ path: d.snapPath, message: (e as Error).message }));
        } else result.errors.push({ path: d.snapPath, message: 'a file is in the way of this directory' });
      } else result.errors.push({ path: d.snapPath, message: (err as Error).message });
    }
  }

  // 3. Files: the first path of each hardlinked inode carries the data, the others are linked.
  const primaries: Item[] = [];
  const links: { item: Item; primary: Item }[] = [];
  const byInode = new Map<string, Item>();
  for (const f of files) {
    if (f.node.nlink > 1 && f.node.inode !== 0n) {
      const k = `${f.node.device}:${f.node.inode}`;
      const first = byInode.get(k);
      if (first) {
        links.push({ item: f, primary: first });
        continue;
      }
      byInode.set(k, f);
    }
    primaries.push(f);
  }
  const toWrite: Item[] = [];
  for (const f of primaries) {
    const skip = await shouldSkip(f, overwrite);
    if (skip) {
      result.filesSkipped++;
      continue;
    }
    toWrite.push(f);
  }
  const failed = new Set<Item>();
  const pool = ri.workers();
  let key = 0;
  let doneFiles = 0;
  let doneBytes = 0;
  const totalBytes = toWrite.reduce((n, f) => n + f.node.size, 0);
  const progress = () => options.onProgress?.({ phase: 'restore', filesDone: doneFiles, filesTotal: toWrite.length, bytesDone: doneBytes, bytesTotal: totalBytes, elapsedMs: Date.now() - started });

  const wantOwner = process.getuid?.() === 0;
  const metaOf = (f: Item): RestoreSegment['meta'] => ({ mode: f.node.mode, mtimeNs: f.node.mtimeNs.toString(), ...(wantOwner ? { uid: f.node.uid, gid: f.node.gid } : {}) });
  const nsFixFiles: Item[] = [];

  /**
   * Fetches blobs with as few reads as possible: blobs of one pack that lie close together are read
   * as one range. Returns the blobs in order and the buffers that may be transferred to a worker.
   */
  const fetchBlobs = async (ids: string[]): Promise<{ blobs: RestoreBlob[]; transfer: ArrayBuffer[]; error?: string }> => {
    const locs = ids.map((id) => ({ id, loc: ri.index.getHex(id) }));
    const missing = locs.find((l) => !l.loc);
    if (missing) return { blobs: [], transfer: [], error: `blob ${missing.id} is not in the index` };
    const byPack = new Map<string, { i: number; offset: number; length: number }[]>();
    locs.forEach((l, i) => {
      const list = byPack.get(l.loc!.pack) ?? [];
      list.push({ i, offset: l.loc!.offset, length: l.loc!.length });
      byPack.set(l.loc!.pack, list);
    });
    const ranges: { pack: string; offset: number; end: number; members: { i: number; offset: number; length: number }[] }[] = [];
    for (const [pack, list] of byPack) {
      list.sort((x, y) => x.offset - y.offset);
      let cur: (typeof ranges)[number] | undefined;
      for (const m of list) {
        if (cur && m.offset - cur.end <= 256 * 1024 && m.offset + m.length - cur.offset <= 32 * 1024 * 1024) {
          cur.end = Math.max(cur.end, m.offset + m.length);
          cur.members.push(m);
        } else {
          cur = { pack, offset: m.offset, end: m.offset + m.length, members: [m] };
          ranges.push(cur);
        }
      }
    }
    const blobs = new Array<RestoreBlob>(ids.length);
    const transfer: ArrayBuffer[] = [];
    try {
      await mapLimit(ranges, 4, async (r) => {
        const buf = await ri.store.get(keys.pack(r.pack), { offset: r.offset, length: r.end - r.offset });
        if (buf.length !== r.end - r.offset) throw new Error(`pack ${r.pack} is shorter than the index says`);
        transfer.push(...transferList([buf]));
        for (const m of r.members) {
          const loc = locs[m.i].loc!;
          blobs[m.i] = { type: loc.type, id: fromHexId(locs[m.i].id), stored: buf.subarray(m.offset - r.offset, m.offset - r.offset + m.length), rawLength: loc.rawLength };
        }
      });
      return { blobs, transfer };
    } catch (err) {
      return { blobs: [], transfer: [], error: `data cannot be read: ${(err as Error).message}` };
    }
  };

  const damagedPath = (f: Item) => (options.keepDamaged ? Buffer.concat([f.dest, Buffer.from('.strata-damaged')]) : undefined);
  const record = (f: Item, r: RestoreFileResult) => {
    doneFiles++;
    if (r.ok) {
      result.filesRestored++;
      result.bytesRestored += r.bytes;
      doneBytes += r.bytes;
      if (r.nsFix) nsFixFiles.push(f);
      if (r.metaError) result.errors.push({ path: f.snapPath, message: `metadata: ${r.metaError}` });
    } else {
      failed.add(f);
      result.damaged.push({ path: f.snapPath, message: r.error ?? 'damaged' });
    }
    progress();
  };

  // Small files travel in batches, large ones alone in segments.
  const units: Item[][] = [];
  let batch: Item[] = [];
  let batchBytes = 0;
  for (const f of toWrite) {
    if (f.node.size > SEGMENT_BYTES / 4) {
      units.push([f]);
      continue;
    }
    batch.push(f);
    batchBytes += f.node.size;
    if (batch.length >= SMALL_BATCH_FILES || batchBytes >= SEGMENT_BYTES) {
      units.push(batch);
      batch = [];
      batchBytes = 0;
    }
  }
  if (batch.length) units.push(batch);

  await mapLimit(units, Math.max(2, pool.size * 2), async (unit) => {
    if (options.signal?.aborted) throw new StrataError('ABORTED', 'engine', 'the restore was cancelled.');
    if (unit.length > 1 || (unit[0].node.content?.length ?? 0) <= 1) {
      // One read plan for the whole batch, then split per file.
      const all = unit.flatMap((f) => f.node.content ?? []);
      const fetched = await fetchBlobs(all);
      const segs: RestoreSegment[] = [];
      const transfer = [...fetched.transfer];
      let at = 0;
      for (const f of unit) {
        const n = f.node.content?.length ?? 0;
        let blobs = fetched.blobs.slice(at, at + n);
        let error: string | undefined;
        at += n;
        if (fetched.error) {
          // Something in the batch cannot be read: find out file by file which ones are hit.
          const own = await fetchBlobs(f.node.content ?? []);
          blobs = own.blobs;
          error = own.error;
          transfer.push(...own.transfer);
        }
        segs.push({ key: key++, path: f.dest, first: true, last: true, blobs, size: f.node.size, sha256: f.node.sha256, damagedPath: damagedPath(f), error, meta: metaOf(f) });
      }
      const keyOf = new Map(segs.map((s, i) => [s.key, unit[i]]));
      const out = await pool.restoreSegments(segs, segs[0].key, transfer);
      for (const r of out) record(keyOf.get(r.key)!, r);
      return;
    }
    const f = unit[0];
    const k = key++;
    const content = f.node.content ?? [];
    // Cut the content into segments of about SEGMENT_BYTES stored bytes.
    const segments: string[][] = [];
    let cur: string[] = [];
    let curBytes = 0;
    for (const id of content) {
      const loc = ri.index.getHex(id);
      cur.push(id);
      curBytes += loc?.length ?? 0;
      if (curBytes >= SEGMENT_BYTES) {
        segments.push(cur);
        cur = [];
        curBytes = 0;
      }
    }
    if (cur.length || segments.length === 0) segments.push(cur);
    let next = fetchBlobs(segments[0]);
    let partial = 0;
    for (let i = 0; i < segments.length; i++) {
      if (i > 0 && options.signal?.aborted) {
        // Cancelled inside a large file: the worker closes and removes the partial file.
        await next.catch(() => undefined);
        await pool.restoreSegments([{ key: k, path: f.dest, first: false, last: true, blobs: [], error: 'the restore was cancelled' }], k);
        throw new StrataError('ABORTED', 'engine', 'the restore was cancelled.');
      }
      const { blobs, transfer, error } = await next;
      // Fetch the next segment while this one is decoded and written.
      if (i + 1 < segments.length) next = fetchBlobs(segments[i + 1]);
      const last = i === segments.length - 1;
      const out = await pool.restoreSegments([{ key: k, path: f.dest, first: i === 0, last, blobs, size: f.node.size, sha256: f.node.sha256, damagedPath: damagedPath(f), error, meta: last ? metaOf(f) : undefined }], k, transfer);
      if (out.length === 0) {
        // Progress inside a large file; the file's own count replaces it when it is done.
        const segBytes = blobs.reduce((n, b) => n + b.rawLength, 0);
        partial += segBytes;
        doneBytes += segBytes;
        progress();
      } else doneBytes -= partial;
      for (const r of out) record(f, r);
      if (!last && out.length > 0) {
        // The worker gave up on the file early (could not create it).
        break;
      }
    }
  });

  // Optionally read every written file back and compare it again with its recorded SHA-256.
  if (options.verify) {
    await mapLimit(toWrite.filter((f) => !failed.has(f) && f.node.sha256), 4, async (f) => {
      const h = createHash('sha256');
      try {
        for await (const chunk of fs.createReadStream(f.dest)) h.update(chunk as Buffer);
      } catch (err) {
        result.errors.push({ path: f.snapPath, message: `verify: ${(err as Error).message}` });
        return;
      }
      if (h.digest('hex') !== f.node.sha256) {
        failed.add(f);
        result.filesRestored--;
        result.damaged.push({ path: f.snapPath, message: 'verify: the file read back does not match its recorded SHA-256' });
        await fs.promises.rm(f.dest, { force: true });
      }
    });
  }

  // 4. Hardlinks.
  for (const { item, primary } of links) {
    if (failed.has(primary)) {
      result.damaged.push({ path: item.snapPath, message: `hard link to ${primary.snapPath}, whose data is damaged` });
      continue;
    }
    try {
      if (overwrite !== 'always' && (await exists(item.dest))) {
        const [a, b] = await Promise.all([fs.promises.lstat(item.dest), fs.promises.lstat(primary.dest)]);
        if (overwrite === 'never' || (a.ino === b.ino && a.dev === b.dev)) {
          result.filesSkipped++;
          continue;
        }
      }
      await fs.promises.rm(item.dest, { force: true });
      await fs.promises.link(primary.dest, item.dest);
      result.filesRestored++;
    } catch (err) {
      result.errors.push({ path: item.snapPath, message: (err as Error).message });
    }
  }

  // 5. Symlinks and special files.
  const isRoot = process.getuid?.() === 0;
  for (const o of others) {
    const n = o.node;
    try {
      if (overwrite !== 'always' && (await exists(o.dest)) && (overwrite === 'never' || (await sameSpecial(o.dest, n)))) {
        result.filesSkipped++;
        continue;
      }
      await fs.promises.rm(o.dest, { force: true }).catch(() => undefined);
      if (n.type === 'symlink') await fs.promises.symlink(Buffer.from(n.linkTarget!), o.dest);
      else if (n.type === 'fifo') await makeNode(o.dest, 'fifo', n.mode);
      else if ((n.type === 'chardev' || n.type === 'blockdev') && isRoot && n.rdev !== undefined) {
        const [major, minor] = devMajorMinor(n.rdev);
        await makeNode(o.dest, n.type, n.mode, major, minor);
      } else {
        result.errors.push({ path: o.snapPath, message: `${n.type} entries are not restored${n.type.endsWith('dev') ? ' unless running as root' : ''}` });
        continue;
      }
      result.filesRestored++;
    } catch (err) {
      result.errors.push({ path: o.snapPath, message: (err as Error).message });
    }
  }

  // 6. Metadata: files and others, then directories deepest first.
  const fixups: { dest: Buffer; ns: bigint; symlink: boolean }[] = [];
  const meta = async (item: Item, errors: FileError[]) => {
    const n = item.node;
    if (n.mode < 0) return;
    try {
      if (isRoot) await fs.promises.lchown(item.dest, n.uid, n.gid);
      if (n.type !== 'symlink') await fs.promises.chmod(item.dest, n.mode & 0o7777);
      const t = nsToSeconds(n.mtimeNs);
      await fs.promises.lutimes(item.dest, t, t);
      const st = await fs.promises.lstat(item.dest, { bigint: true });
      if (st.mtimeNs !== n.mtimeNs) fixups.push({ dest: item.dest, ns: n.mtimeNs, symlink: n.type === 'symlink' });
    } catch (err) {
      errors.push({ path: item.snapPath, message: `metadata: ${(err as Error).message}` });
    }
  };
  await mapLimit(others, 16, (i) => meta(i, result.errors));
  for (const f of nsFixFiles) fixups.push({ dest: f.dest, ns: f.node.mtimeNs, symlink: false });
  await fixNanoseconds(fixups);
  fixups.length = 0;
  // Directories deepest first, each fixed before its parent is touched. Setting a time inside a
  // directory leaves the directory's own times alone, so the exact times are set in one batch at
  // the end, except before a directory loses its search permission (paths below stop resolving).
  const byDepth = [...dirs].sort((a, b) => b.dest.length - a.dest.length);
  for (const d of byDepth) {
    if (!isRoot && d.node.mode >= 0 && (d.node.mode & 0o100) === 0 && fixups.length > 0) {
      await fixNanoseconds(fixups);
      fixups.length = 0;
    }
    await meta(d, result.errors);
    if (d.node.mode >= 0) result.dirsRestored++;
  }
  await fixNanoseconds(fixups);

  result.success = result.damaged.length === 0 && result.errors.length === 0;
  result.durationMs = Date.now() - started;
  progress();
  return result;
}

/** True when the entry on disk is already what the node describes (type, and target for symlinks). */
async function sameSpecial(p: Buffer, n: TreeNode): Promise<boolean> {
  const st = await fs.promises.lstat(p);
  if (n.type === 'symlink') return st.isSymbolicLink() && (await fs.promises.readlink(p, { encoding: 'buffer' })).equals(Buffer.from(n.linkTarget!));
  if (n.type === 'fifo') return st.isFIFO();
  if (n.type === 'chardev') return st.isCharacterDevice() && BigInt(st.rdev) === n.rdev;
  if (n.type === 'blockdev') return st.isBlockDevice() && BigInt(st.rdev) === n.rdev;
  return false;
}

async function exists(p: Buffer): Promise<boolean> {
  try {
    await fs.promises.lstat(p);
    return true;
  } catch {
    return false;
  }
}

/**
 * fs.lutimes takes seconds as a double (about 0.2 µs resolution today); where that missed the exact
 * nanoseconds, touch (GNU coreutils, run through xargs) sets them. Without touch the close time stays.
 */
async function fixNanoseconds(list: { dest: Buffer; ns: bigint; symlink: boolean }[]): Promise<void> {
  if (list.length === 0) return;
  // Entries that still fail keep the close time.
  await setTimesNs(list.map((f) => ({ path: f.dest, ns: f.ns, symlink: f.symlink })));
}

async function shouldSkip(f: Item, overwrite: string): Promise<boolean> {
  if (overwrite === 'always') return false;
  let st: fs.BigIntStats;
  try {
    st = await fs.promises.lstat(f.dest, { bigint: true });
  } catch {
    return false;
  }
  if (overwrite === 'never') return true;
  if (!st.isFile() || Number(st.size) !== f.node.size) return false;
  if (st.mtimeNs === f.node.mtimeNs) return true;
  if (!f.node.sha256) return false;
  const h = createHash('sha256');
  try {
    for await (const chunk of fs.createReadStream(f.dest)) h.update(chunk as Buffer);
  } catch {
    return false;
  }
  return h.digest('hex') === f.node.sha256;
}
