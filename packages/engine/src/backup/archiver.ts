/**
 * Backup: walks the paths (lstat, excludes, one-file-system), compares files with the parent
 * snapshot through the ChangeDetector, sends files to read to the worker pool in batches, writes
 * trees bottom-up, then the index, then the snapshot.
 */
import { exec } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { ChangeDetector, FileRecord, FileState } from '@strata/core';
import { InvalidArgumentError, StrataError } from '@strata/core';
import { verifySnapshot } from '../check.js';
import { compilePatterns, readPatternFile, type PatternSet } from '../glob.js';
import { BLOB_TREE, parseCompression } from '../format/box.js';
import { type TreeNode, encodeTree, textOf } from '../format/tree.js';
import { toHex } from '../format/util.js';
import { currentUser } from '../format/keys.js';
import type { RepoInternals } from '../internals.js';
import type { Packer } from '../packer.js';
import { type BackupFileResult, type BackupFileSpec, Processor, type ProcessorHost, type SealedBlob } from '../processor.js';
import type { BackupOptions, BackupResult, BackupSummary, BackupType, FileError, NodeType, Snapshot } from '../types.js';
import { groupName, userName } from './owners.js';

export const PROGRAM_VERSION = 'strata 0.1.0';

/** Files up to this size are grouped into one worker job. */
const SMALL_FILE = 1024 * 1024;
const BATCH_FILES = 256;
const BATCH_BYTES = 8 * 1024 * 1024;

/** The detector used when the caller gives none: size, mtime, ctime and inode. */
export const metadataDetector: ChangeDetector = {
  name: 'metadata',
  readsContent: false,
  async detect(prev, cur) {
    if (!prev) return { changed: true, reason: 'new' };
    if (prev.size !== cur.size) return { changed: true, reason: 'size' };
    if (prev.mtimeNs !== cur.mtimeNs) return { changed: true, reason: 'mtime' };
    if (prev.ctimeNs !== cur.ctimeNs) return { changed: true, reason: 'ctime' };
    if (prev.inode !== cur.inode) return { changed: true, reason: 'inode' };
    return { changed: false, reason: 'unchanged' };
  },
};

/** The path as text for patterns, messages and snapshots (latin1 for bytes that are not UTF-8). */
export function pathText(p: Buffer): string {
  return textOf(p) ?? p.toString('latin1');
}

function nodeType(st: fs.BigIntStats): NodeType | undefined {
  if (st.isFile()) return 'file';
  if (st.isDirectory()) return 'dir';
  if (st.isSymbolicLink()) return 'symlink';
  if (st.isFIFO()) return 'fifo';
  if (st.isSocket()) return 'socket';
  if (st.isCharacterDevice()) return 'chardev';
  if (st.isBlockDevice()) return 'blockdev';
  return undefined;
}

function baseNode(name: Uint8Array, st: fs.BigIntStats, type: NodeType): TreeNode {
  const uid = Number(st.uid);
  const gid = Number(st.gid);
  const n: TreeNode = {
    name,
    type,
    mode: Number(st.mode) & 0o7777,
    uid,
    gid,
    mtimeNs: st.mtimeNs,
    ctimeNs: st.ctimeNs,
    size: type === 'file' ? Number(st.size) : 0,
    inode: st.ino,
    device: st.dev,
    nlink: Number(st.nlink),
  };
  const u = userName(uid);
  if (u !== undefined) n.user = u;
  const g = groupName(gid);
  if (g !== undefined) n.group = g;
  if (type === 'chardev' || type === 'blockdev') n.rdev = st.rdev;
  return n;
}

function cancelled(): StrataError {
  return new StrataError('ABORTED', 'engine', 'the backup was cancelled.');
}

/** Longest gap between two backup progress events while there are listeners. */
const HEARTBEAT_MS = 500;

function runHook(cmd: string, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    exec(cmd, { signal, maxBuffer: 16 * 1024 * 1024 }, (err, _stdout, stderr) => {
      if (err) reject(new StrataError('ABORTED', 'engine', `hook "${cmd}" failed (${err.code ?? err.message})${stderr ? `: ${String(stderr).trim().slice(0, 500)}` : ''}; fix the hook command.`, { cause: err }));
      else resolve();
    });
  });
}

interface FileJob {
  spec: BackupFileSpec;
  size: number;
  resolve: (r: BackupFileResult) => void;
  reject: (e: unknown) => void;
}

/** Sends files to the worker pool in batches, with a bound on jobs in flight. */
class FileQueue {
  private batch: FileJob[] = [];
  private batchBytes = 0;
  private scheduled = false;
  private inFlight = 0;
  private readonly waiters: (() => void)[] = [];

  constructor(
    private readonly ri: RepoInternals,
    private readonly host: ProcessorHost,
    private readonly limit: number,
    /** Jobs that keep every worker busy: a partial batch waits while this many are in flight. */
    private readonly busy: number,
  ) {}

  async room(): Promise<void> {
    while (this.inFlight >= this.limit) await new Promise<void>((r) => this.waiters.push(r));
  }

  read(spec: BackupFileSpec, size: number): Promise<BackupFileResult> {
    return new Promise((resolve, reject) => {
      const job: FileJob = { spec, size, resolve, reject };
      if (size > SMALL_FILE) {
        this.send([job]);
        return;
      }
      this.batch.push(job);
      this.batchBytes += size;
      if (this.batch.length >= BATCH_FILES || this.batchBytes >= BATCH_BYTES) this.flush();
      else if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(() => {
          this.scheduled = false;
          // With every worker busy the batch keeps filling; the next job to finish sends it. Fewer,
          // fuller jobs: fewer messages and dedup round trips, and less idle time between jobs.
          if (this.inFlight < this.busy) this.flush();
        });
      }
    });
  }

  flush(): void {
    if (this.batch.length === 0) return;
    const jobs = this.batch;
    this.batch = [];
    this.batchBytes = 0;
    this.send(jobs);
  }

  private send(jobs: FileJob[]): void {
    this.inFlight++;
    this.ri
      .workers()
      .backupFiles(
        jobs.map((j) => j.spec),
        this.host,
      )
      .then(
        (results) => results.forEach((r, i) => jobs[i].resolve(r)),
        (err) => jobs.forEach((j) => j.reject(err)),
      )
      .finally(() => {
        this.inFlight--;
        if (this.inFlight < this.busy) this.flush();
        this.waiters.shift()?.();
      });
  }
}

interface DirOutcome {
  node: TreeNode;
}

export async function runBackup(ri: RepoInternals, paths: string[], options: BackupOptions = {}): Promise<BackupResult> {
  const started = Date.now();
  const type: BackupType = options.type ?? 'incremental';
  if (!['full', 'incremental', 'differential', 'snapshot'].includes(type)) throw new InvalidArgumentError('engine', `backup type "${type}" is unknown; use full, incremental, differential or snapshot.`);
  if (!options.stdin && paths.length === 0) throw new InvalidArgumentError('engine', 'backup needs at least one path (or a stdin source).');
  if (options.time && Number.isNaN(options.time.getTime())) throw new InvalidArgumentError('engine', 'the backup time is not a valid date.');
  const host = options.host ?? os.hostname();
  const compression = options.compression ?? ri.config.compression;
  parseCompression(compression, ri.codecs);
  const absPaths = options.stdin ? [`/${options.stdin.filename}`] : dedupePaths(paths.map((p) => path.resolve(p)));
  const patterns = [...(options.excludes ?? [])];
  if (options.excludeFile) patterns.push(...(await readPatternFile(options.excludeFile)));
  const excludes = compilePatterns(patterns);

  const lock = await ri.lock(false);
  try {
    await ri.loadIndex();
    const parent = type === 'full' || options.stdin ? undefined : await findParent(ri, host, absPaths, type);
    const packer = ri.newPacker();
    // Packs a killed backup uploaded after its last index file: reuse their blobs, and list the packs
    // in this backup's index files (written before the snapshot, so snapshot -> index -> packs holds).
    // A pack whose blobs are all indexed already adds nothing and is left to prune.
    for (const p of await ri.readUnindexedPacks()) {
      if (p.entries.some((e) => !packer.has(e.id))) packer.adopt(p.id, p.entries);
    }
    const host_: ProcessorHost = {
      async query(ids) {
        const flags = new Uint8Array(ids.length / 32);
        for (let i = 0; i < flags.length; i++) flags[i] = packer.reserve(ids.subarray(i * 32, i * 32 + 32)) ? 1 : 0;
        return flags;
      },
      async store(blobs: SealedBlob[]) {
        for (const b of blobs) await packer.add(b);
      },
    };
    const w = new Walker(ri, packer, host_, options, excludes, compression, type === 'snapshot');
    let rootTree: string;
    const hooks = type === 'snapshot' ? options.hooks : undefined;
    let hookError: unknown;
    // Events otherwise come per file: without a beat, a long hook or one big file shows nothing for minutes.
    const beat = options.onProgress ? setInterval(() => w.heartbeat(), HEARTBEAT_MS) : undefined;
    beat?.unref();
    try {
      for (const cmd of hooks?.pre ?? []) await runHook(cmd, options.signal);
      if (options.stdin) rootTree = await w.stdin(options.stdin.stream, options.stdin.filename, options.time ?? new Date());
      else rootTree = await w.roots(absPaths, parent?.tree);
      await packer.flush();
    } finally {
      clearInterval(beat);
      w.dispose();
      for (const cmd of hooks?.post ?? []) {
        try {
          await runHook(cmd);
        } catch (err) {
          hookError ??= err;
        }
      }
    }
    if (hookError) throw hookError;
    const summary: BackupSummary = {
      ...w.summary,
      dataAdded: packer.stats.bytesRaw,
      dataAddedPacked: packer.stats.bytesStored,
      dataBlobs: packer.stats.dataBlobs,
      treeBlobs: packer.stats.treeBlobs,
      durationMs: Date.now() - started,
    };
    const snapshot: Omit<Snapshot, 'id'> = {
      time: (options.time ?? new Date()).toISOString(),
      host,
      username: currentUser(),
      paths: absPaths,
      tags: [...(options.tags ?? [])].sort(),
      type,
      ...(parent ? { parent: parent.id } : {}),
      ...(options.set !== undefined ? { set: options.set } : {}),
      tree: rootTree,
      summary,
      programVersion: PROGRAM_VERSION,
    };
    // Cancelled while the last files were read: nothing may be saved (the packs stay for the next backup).
    if (options.signal?.aborted) throw cancelled();
    lock.assertValid();
    const id = await ri.saveSnapshot(snapshot);
    if (options.verify) {
      // Read back every blob of the new snapshot; a problem is reported like an unreadable file.
      for (const p of await verifySnapshot(ri, { ...snapshot, id })) w.errors.push({ path: p.files?.[0] ?? '', message: `verify: ${p.message}` });
    }
    return { snapshotId: id, snapshot: { ...snapshot, id }, summary, errors: w.errors, inconsistent: w.inconsistent };
  } finally {
    await lock.release();
  }
}

function dedupePaths(paths: string[]): string[] {
  const sorted = [...new Set(paths)].sort();
  return sorted.filter((p) => !sorted.some((q) => q !== p && (p.startsWith(q.endsWith('/') ? q : `${q}/`))));
}

function samePaths(a: string[], b: string[]): boolean {
  const x = [...a].sort();
  const y = [...b].sort();
  return x.length === y.length && x.every((v, i) => v === y[i]);
}

export async function findParent(ri: RepoInternals, host: string, paths: string[], type: BackupType): Promise<Snapshot | undefined> {
  const all = await ri.listSnapshots();
  const candidates = all.filter((s) => s.host === host && samePaths(s.paths, paths) && (type !== 'differential' || s.type === 'full'));
  return candidates[candidates.length - 1];
}

class Walker {
  readonly errors: FileError[] = [];
  readonly inconsistent: string[] = [];
  readonly summary = { filesNew: 0, filesChanged: 0, filesUnmodified: 0, dirsNew: 0, dirsChanged: 0, dirsUnmodified: 0, totalFilesProcessed: 0, totalBytesProcessed: 0 };
  private readonly queue: FileQueue;
  private readonly detector: ChangeDetector;
  private readonly hardlinks = new Map<string, Promise<BackupFileResult>>();
  private rootDev: bigint | undefined;
  private lastProgress = 0;
  /** Bytes read so far from a stdin source (counted as they arrive, for progress). */
  private streamBytes = 0;
  private readonly started = Date.now();
  private currentFile: string | undefined;

  constructor(
    private readonly ri: RepoInternals,
    private readonly packer: Packer,
    private readonly host: ProcessorHost,
    private readonly options: BackupOptions,
    private readonly excludes: PatternSet,
    private readonly compression: string,
    private readonly consistent: boolean,
  ) {
    const workers = ri.workers(compression).size;
    // One job waiting beside the busy workers keeps them fed; more only holds more files in memory.
    this.queue = new FileQueue(ri, host, Math.max(2, workers + 1), Math.max(1, workers));
    this.detector = options.detector ?? metadataDetector;
  }

  private progress(force = false): void {
    const cb = this.options.onProgress;
    if (!cb) return;
    const now = Date.now();
    if (!force && now - this.lastProgress < 200) return;
    this.lastProgress = now;
    cb({ phase: 'backup', filesDone: this.summary.totalFilesProcessed, bytesDone: this.summary.totalBytesProcessed + this.streamBytes, currentFile: this.currentFile, elapsedMs: now - this.started });
  }

  /** Files being waited for, rejected at once on cancel; one listener on the signal serves them all. */
  private readonly cancelWaiters = new Set<(err: unknown) => void>();
  private readonly onAbort = () => {
    for (const reject of this.cancelWaiters) reject(cancelled());
    this.cancelWaiters.clear();
  };
  private listening = false;

  /** Settles as `p`, or rejects with ABORTED as soon as the backup is cancelled (the work behind `p` goes on unobserved). */
  private cancellable<T>(p: Promise<T>): Promise<T> {
    const signal = this.options.signal;
    if (!signal) return p;
    if (signal.aborted) return Promise.reject(cancelled());
    if (!this.listening) {
      this.listening = true;
      signal.addEventListener('abort', this.onAbort, { once: true });
    }
    return new Promise<T>((resolve, reject) => {
      this.cancelWaiters.add(reject);
      p.then(
        (v) => (this.cancelWaiters.delete(reject), resolve(v)),
        (e) => (this.cancelWaiters.delete(reject), reject(e)),
      );
    });
  }

  /** Stops listening to the caller's signal (it may serve more work after this backup). */
  dispose(): void {
    this.options.signal?.removeEventListener('abort', this.onAbort);
  }

  /** A progress event when none was sent for a while (called on a timer while the backup runs). */
  heartbeat(): void {
    if (Date.now() - this.lastProgress >= HEARTBEAT_MS) this.progress(true);
  }

  /** Stores a tree blob (unless present) and returns its id. */
  async saveTree(nodes: TreeNode[]): Promise<string> {
    const bytes = encodeTree(nodes);
    const id = this.ri.box.blobId(bytes);
    if (this.packer.reserve(id)) {
      const sealed = this.ri.box.encodeBlob(BLOB_TREE, id, bytes, this.ri.metaCompression());
      await this.packer.add({ type: BLOB_TREE, id, sealed, rawLength: bytes.length });
    }
    return toHex(id);
  }

  /** Builds the root tree: the absolute paths with their parent directories. */
  async roots(absPaths: string[], parentTree: string | undefined): Promise<string> {
    interface V {
      children: Map<string, V>;
      target?: string;
    }
    const root: V = { children: new Map() };
    for (const p of absPaths) {
      const parts = p.split('/').filter(Boolean);
      let v = root;
      for (const part of parts) {
        let c = v.children.get(part);
        if (!c) {
          c = { children: new Map() };
          v.children.set(part, c);
        }
        v = c;
      }
      v.target = p;
    }
    const build = async (v: V, dirPath: string, parentNodes: TreeNode[] | undefined): Promise<TreeNode[]> => {
      const nodes: TreeNode[] = [];
      for (const [name, c] of v.children) {
        const full = dirPath === '/' ? `/${name}` : `${dirPath}/${name}`;
        const nameBytes = Buffer.from(name);
        const prev = parentNodes?.find((n) => Buffer.from(n.name).equals(nameBytes));
        if (c.target !== undefined) {
          const node = await this.entry(Buffer.from(full), nameBytes, prev, true);
          if (node) nodes.push(node);
          continue;
        }
        let st: fs.BigIntStats;
        try {
          st = await fs.promises.lstat(full, { bigint: true });
        } catch (err) {
          this.errors.push({ path: full, message: (err as Error).message });
          continue;
        }
        const prevSub = prev?.type === 'dir' && prev.subtree ? await this.ri.loadTree(prev.subtree).catch(() => undefined) : undefined;
        const children = await build(c, full, prevSub);
        const node = baseNode(nameBytes, st, 'dir');
        node.subtree = await this.saveTree(children);
        nodes.push(node);
      }
      return nodes;
    };
    const parentNodes = parentTree ? await this.ri.loadTree(parentTree) : undefined;
    const nodes = await build(root, '/', parentNodes);
    this.progress(true);
    return this.saveTree(nodes);
  }

  /** One directory entry: returns its node, or undefined when excluded or unreadable. */
  private async entry(full: Buffer, name: Uint8Array, prev: TreeNode | undefined, isRoot: boolean, knownStat?: fs.BigIntStats): Promise<TreeNode | undefined> {
    const text = pathText(full);
    let st: fs.BigIntStats;
    try {
      st = knownStat ?? (await fs.promises.lstat(full, { bigint: true }));
    } catch (err) {
      this.errors.push({ path: text, message: (err as Error).message });
      return undefined;
    }
    const type = nodeType(st);
    if (!type) return undefined;
    if (!isRoot && !this.excludes.empty && this.excludes.matches(text, type === 'dir')) return undefined;
    if (isRoot && this.rootDev === undefined) this.rootDev = st.dev;
    const node = baseNode(name, st, type);
    if (type === 'dir') {
      if (this.options.oneFileSystem && !isRoot && this.rootDev !== undefined && st.dev !== this.rootDev) return undefined;
      if (isRoot) this.rootDev = st.dev;
      const sub = await this.dir(full, prev?.type === 'dir' ? prev.subtree : undefined);
      if (sub === undefined) return undefined;
      node.subtree = sub;
      if (prev?.type !== 'dir') this.summary.dirsNew++;
      else if (prev.subtree === sub) this.summary.dirsUnmodified++;
      else this.summary.dirsChanged++;
      return node;
    }
    if (type === 'symlink') {
      try {
        node.linkTarget = new Uint8Array(await fs.promises.readlink(full, { encoding: 'buffer' }));
      } catch (err) {
        this.errors.push({ path: text, message: (err as Error).message });
        return undefined;
      }
      return node;
    }
    if (type !== 'file') return node;
    return this.file(full, text, node, st, prev);
  }

  private async file(full: Buffer, text: string, node: TreeNode, st: fs.BigIntStats, prev: TreeNode | undefined): Promise<TreeNode | undefined> {
    this.summary.totalFilesProcessed++;
    this.summary.totalBytesProcessed += node.size;
    this.currentFile = text;
    const prevFile = prev?.type === 'file' && prev.content ? prev : undefined;
    const record: FileRecord | undefined = prevFile ? { size: prevFile.size, mtimeNs: prevFile.mtimeNs, ctimeNs: prevFile.ctimeNs, inode: prevFile.inode, device: prevFile.device, sha256: prevFile.sha256 } : undefined;
    const state: FileState = { size: node.size, mtimeNs: st.mtimeNs, ctimeNs: st.ctimeNs, inode: st.ino, device: st.dev };
    if (record) {
      let detection;
      try {
        detection = await this.detector.detect(record, state, { sha256: () => hashFile(full) });
      } catch (err) {
        this.errors.push({ path: text, message: (err as Error).message });
        return undefined;
      }
      if (!detection.changed && !prevFile!.inconsistent) {
        this.summary.filesUnmodified++;
        node.content = prevFile!.content;
        if (prevFile!.sha256) node.sha256 = prevFile!.sha256;
        this.progress();
        return node;
      }
    }
    await this.queue.room();
    let pending: Promise<BackupFileResult>;
    const linkKey = node.nlink > 1 ? `${st.dev}:${st.ino}` : undefined;
    const linked = linkKey ? this.hardlinks.get(linkKey) : undefined;
    if (linked) pending = linked;
    else {
      pending = this.queue.read({ path: full, size: node.size, consistent: this.consistent, maxRereads: this.options.maxRereads ?? 3 }, node.size);
      if (linkKey) this.hardlinks.set(linkKey, pending);
    }
    // A cancel must not wait for a big file to be read to its end.
    const r = await this.cancellable(pending);
    if (!r.ok) {
      this.summary.totalFilesProcessed--;
      this.summary.totalBytesProcessed -= node.size;
      this.errors.push({ path: text, message: r.error });
      return undefined;
    }
    if (record) this.summary.filesChanged++;
    else this.summary.filesNew++;
    node.content = r.content;
    node.sha256 = r.sha256;
    this.summary.totalBytesProcessed += r.size - node.size;
    node.size = r.size;
    if (r.inconsistent) {
      node.inconsistent = true;
      this.inconsistent.push(text);
    }
    this.progress();
    return node;
  }

  /** A directory: returns its tree id, or undefined when it cannot be read. */
  private async dir(full: Buffer, prevSubtree: string | undefined): Promise<string | undefined> {
    if (this.options.signal?.aborted) throw cancelled();
    let names: Buffer[];
    try {
      // Synchronous metadata calls: each takes microseconds, far less than a promise round trip.
      names = fs.readdirSync(full, { encoding: 'buffer' }) as Buffer[];
    } catch (err) {
      this.errors.push({ path: pathText(full), message: (err as Error).message });
      return undefined;
    }
    let prevNodes: TreeNode[] | undefined;
    if (prevSubtree) {
      try {
        prevNodes = await this.ri.loadTree(prevSubtree);
      } catch (err) {
        this.ri.logger.warn({ tree: prevSubtree, err: (err as Error).message }, 'parent tree unreadable; reading the directory in full');
      }
    }
    const prevByName = new Map<string, TreeNode>();
    for (const n of prevNodes ?? []) prevByName.set(Buffer.from(n.name).toString('latin1'), n);
    const sep = full.length > 0 && full[full.length - 1] === 0x2f ? '' : '/';
    // Files first (they go to the workers), then subdirectories a few at a time.
    const sepBuf = Buffer.from(sep);
    const stats = names.map((n) => {
      const p = Buffer.concat([full, sepBuf, n]);
      try {
        return { n, p, st: fs.lstatSync(p, { bigint: true }) as fs.BigIntStats | undefined };
      } catch (err) {
        this.errors.push({ path: pathText(p), message: (err as Error).message });
        return { n, p, st: undefined };
      }
    });
    const results: Promise<TreeNode | undefined>[] = [];
    const dirs: typeof stats = [];
    for (const e of stats) {
      if (!e.st) continue;
      if (e.st.isDirectory()) dirs.push(e);
      else results.push(this.entry(e.p, new Uint8Array(e.n), prevByName.get(e.n.toString('latin1')), false, e.st));
    }
    let next = 0;
    const runDirs = async () => {
      while (next < dirs.length) {
        const e = dirs[next++];
        results.push(this.entry(e.p, new Uint8Array(e.n), prevByName.get(e.n.toString('latin1')), false, e.st));
        await results[results.length - 1];
      }
    };
    await Promise.all(Array.from({ length: Math.min(4, dirs.length) }, runDirs));
    const nodes = (await Promise.all(results)).filter((n): n is TreeNode => n !== undefined);
    // An unchanged directory keeps the parent's tree: same bytes, so no need to encode and hash it.
    if (prevSubtree && prevNodes && sameNodes(nodes, prevNodes) && this.ri.index.getHex(prevSubtree)) return prevSubtree;
    return this.saveTree(nodes);
  }

  async stdin(stream: AsyncIterable<Uint8Array>, filename: string, time: Date): Promise<string> {
    if (!filename || filename.includes('/') || filename === '.' || filename === '..') throw new InvalidArgumentError('engine', `stdin file name "${filename}" must be a single path element.`);
    const processor = new Processor(this.ri.box, parseCompression(this.compression, this.ri.codecs), { params: this.ri.config.chunker, secret: this.ri.keys.chunker });
    this.currentFile = `/${filename}`;
    const counted = async function* (self: Walker) {
      for await (const piece of stream) {
        self.streamBytes += piece.length;
        self.progress();
        yield piece;
      }
    };
    const r = await processor.consume(counted(this), this.host);
    await flushProcessor(processor, this.host);
    this.streamBytes = 0;
    const ns = BigInt(time.getTime()) * 1_000_000n;
    const uid = process.getuid?.() ?? 0;
    const gid = process.getgid?.() ?? 0;
    const node: TreeNode = { name: Buffer.from(filename), type: 'file', mode: 0o644, uid, gid, mtimeNs: ns, ctimeNs: ns, size: r.size, inode: 0n, device: 0n, nlink: 1, content: r.acc.content, sha256: r.sha256 };
    const u = userName(uid);
    if (u) node.user = u;
    const g = groupName(gid);
    if (g) node.group = g;
    this.summary.filesNew++;
    this.summary.totalFilesProcessed++;
    this.summary.totalBytesProcessed += r.size;
    return this.saveTree([node]);
  }
}

function sameBytes(a: Uint8Array | undefined, b: Uint8Array | undefined): boolean {
  if (a === b) return true;
  if (!a || !b || a.length !== b.length) return false;
  return Buffer.from(a.buffer, a.byteOffset, a.length).equals(Buffer.from(b.buffer, b.byteOffset, b.length));
}

function sameList(a: string[] | undefined, b: string[] | undefined): boolean {
  if (a === b) return true;
  if (!a || !b || a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** True when the nodes (any order) encode to exactly the tree `prev` (sorted, as decoded). */
export function sameNodes(nodes: TreeNode[], prev: TreeNode[]): boolean {
  if (nodes.length !== prev.length) return false;
  const sorted = [...nodes].sort((x, y) => Buffer.compare(x.name, y.name));
  for (let i = 0; i < sorted.length; i++) {
    const a = sorted[i];
    const b = prev[i];
    if (
      a.type !== b.type || a.mode !== b.mode || a.uid !== b.uid || a.gid !== b.gid || a.user !== b.user || a.group !== b.group ||
      a.mtimeNs !== b.mtimeNs || a.ctimeNs !== b.ctimeNs || a.size !== b.size || a.inode !== b.inode || a.device !== b.device ||
      a.nlink !== b.nlink || a.rdev !== b.rdev || a.subtree !== b.subtree || a.sha256 !== b.sha256 || (a.inconsistent ?? false) !== (b.inconsistent ?? false) ||
      !sameBytes(a.name, b.name) || !sameBytes(a.linkTarget, b.linkTarget) || !sameList(a.content, b.content)
    ) {
      return false;
    }
  }
  return true;
}

async function flushProcessor(p: Processor, host: ProcessorHost): Promise<void> {
  await p.backupFiles([], host);
}

function hashFile(p: Buffer): Promise<string> {
  return new Promise((resolve, reject) => {
    const h = createHash('sha256');
    fs.createReadStream(p)
      .on('data', (d) => h.update(d))
      .on('end', () => resolve(h.digest('hex')))
      .on('error', reject);
  });
}
