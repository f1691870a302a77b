/**
 * check: the index files and pack headers agree, every indexed pack exists, every snapshot's trees
 * and blobs resolve; with readData (or a subset) every pack hashes to its name and every blob
 * decrypts and matches its id. Damage is attributed to the snapshots and files it hits.
 * Packs that no index lists (an interrupted backup) are notes, not errors.
 */
import { CorruptError, isNotFound } from '@strata/core';
import { BLOB_TREE } from './format/box.js';
import type { PackEntry } from './format/pack.js';
import { type TreeNode, decodeTree } from './format/tree.js';
import { equalBytes, keys, sha256Hex, toHex } from './format/util.js';
import { type RepoInternals, mapLimit } from './internals.js';
import type { DecodeRequest, DecodeResult, Pool } from './pool.js';
import { pathText } from './backup/archiver.js';
import type { CheckOptions, CheckProblem, CheckResult, Snapshot } from './types.js';

interface BadBlob {
  problem: CheckProblem;
}

export async function runCheck(ri: RepoInternals, options: CheckOptions = {}): Promise<CheckResult> {
  const started = Date.now();
  const errors: CheckProblem[] = [];
  const notes: string[] = [];
  let blobsChecked = 0;
  const progress = (phase: string, done: number, total?: number) => options.onProgress?.({ phase: 'check', filesDone: done, filesTotal: total, bytesDone: 0, elapsedMs: Date.now() - started, currentFile: phase });

  const readsData = !!options.readData || (options.readDataSubset ?? 0) > 0;
  // An empty job starts the worker threads now: they boot while the index files load.
  if (readsData) ri.workers().decode([]).catch(() => undefined);

  // 1. Index files.
  const { files, damaged } = await ri.loadIndexFiles();
  for (const d of damaged) errors.push({ kind: 'index', message: `index file ${d.id} is damaged: ${d.error.message}` });
  // The master index serves only the snapshot walk: it loads while the packs are read.
  const indexLoaded = ri.loadIndex();
  indexLoaded.catch(() => undefined); // awaited before the walk; not unhandled if reading the data fails first
  const indexed = new Map<string, PackEntry[]>();
  for (const f of files) {
    for (const p of f.content.packs) {
      const id = toHex(p.id);
      const prev = indexed.get(id);
      if (!prev) indexed.set(id, p.blobs);
    }
  }

  // 2. Packs in the store.
  const stored = new Map<string, number>();
  for await (const o of ri.listIds('data/')) stored.set(o.id, o.size);
  const bad = new Map<string, BadBlob>();
  // Counts marks, so the snapshot walk (which runs while data packs are still read) knows when to run again.
  let marks = 0;
  const markBad = (id: string, problem: CheckProblem) => {
    bad.set(id, { problem });
    marks++;
  };
  const markPack = (pack: string, problem: CheckProblem) => {
    errors.push(problem);
    for (const e of indexed.get(pack) ?? []) markBad(toHex(e.id), problem);
  };
  for (const [pack] of indexed) {
    if (!stored.has(pack)) markPack(pack, { kind: 'missing-pack', pack, message: `pack ${pack} is listed in the index but missing from the store` });
  }
  let unreferenced = 0;
  for (const [pack] of stored) if (!indexed.has(pack)) unreferenced++;
  if (unreferenced > 0) notes.push(`${unreferenced} pack(s) are not referenced by any index (left by an interrupted backup or prune); "strata prune" removes them.`);

  // 3. Pack headers agree with the index. Packs read in full below are checked there, from the bytes read.
  const present = [...indexed.keys()].filter((p) => stored.has(p));
  const subset = options.readData ? 100 : options.readDataSubset;
  let chosen: string[] = [];
  if (subset !== undefined && subset > 0) {
    chosen = present;
    if (subset < 100) {
      const n = Math.max(1, Math.ceil((present.length * subset) / 100));
      chosen = [...present].sort(() => Math.random() - 0.5).slice(0, n);
    }
  }
  const checkHeader = (pack: string, header: PackEntry[]) => {
    const missing = headerMissing(indexed.get(pack)!, header);
    if (missing.length > 0) {
      const problem: CheckProblem = { kind: 'index', pack, message: `pack ${pack}: ${missing.length} blob(s) listed in the index are not in its header` };
      errors.push(problem);
      for (const e of missing) markBad(toHex(e.id), problem);
    }
  };
  const headerUnreadable = (pack: string, err: unknown) => {
    if (err instanceof CorruptError || isNotFound(err)) markPack(pack, { kind: 'corrupt-pack', pack, message: `pack ${pack}: header cannot be read: ${(err as Error).message}` });
    else throw err;
  };
  const readInFull = new Set(chosen);
  const headerOnly = present.filter((p) => !readInFull.has(p));
  let headersDone = 0;
  await mapLimit(headerOnly, 8, async (pack) => {
    try {
      checkHeader(pack, await ri.readPackHeader(pack, stored.get(pack)));
    } catch (err) {
      headerUnreadable(pack, err);
    }
    progress('pack headers', ++headersDone, headerOnly.length);
  });

  // 4. Snapshots and trees; attribute damage to snapshots and files (walked below).
  const snapIds: string[] = [];
  for await (const o of ri.listIds('snapshots/')) snapIds.push(o.id);
  const snapshots: Snapshot[] = [];
  for (const id of snapIds) {
    try {
      snapshots.push(await ri.loadSnapshot(id));
    } catch (err) {
      errors.push({ kind: 'snapshot', message: `snapshot ${id} cannot be read: ${(err as Error).message}`, snapshots: [id] });
    }
  }
  const treePlain = new Map<string, Uint8Array>();
  let treePlainBytes = 0;
  const missingBlobProblems = new Map<string, CheckProblem>();
  const treeOk = new Map<string, boolean>();
  let lastYield = performance.now();
  const walk = async (snap: string, treeId: string, dir: string): Promise<boolean> => {
    if (treeOk.get(treeId) === true) return true;
    if (performance.now() - lastYield > 4) {
      // Trees decoded from memory never wait: let worker replies and reads in between.
      await new Promise((resolve) => setImmediate(resolve));
      lastYield = performance.now();
    }
    const badTree = bad.get(treeId);
    if (badTree || !ri.index.getHex(treeId)) {
      const problem = badTree?.problem ?? missingBlob(treeId, 'tree');
      hit(problem, snap, dir || '/');
      return false;
    }
    let nodes: TreeNode[];
    try {
      const plain = treePlain.get(treeId);
      nodes = plain ? decodeTree(plain) : await ri.loadTree(treeId);
    } catch (err) {
      const problem: CheckProblem = { kind: 'tree', blob: treeId, message: `tree ${treeId} cannot be read: ${(err as Error).message}` };
      errors.push(problem);
      bad.set(treeId, { problem }); // found by the walk itself: no reason to walk again
      hit(problem, snap, dir || '/');
      return false;
    }
    let ok = true;
    for (const n of nodes) {
      // A file's path is spelled only when a problem names it.
      const path = () => `${dir}/${pathText(Buffer.from(n.name))}`;
      if (n.type === 'dir') {
        if (!(await walk(snap, n.subtree!, path()))) ok = false;
      } else if (n.type === 'file') {
        for (const c of n.content ?? []) {
          blobsChecked += subset ? 0 : 1;
          const b = bad.get(c);
          if (b) {
            hit(b.problem, snap, path());
            ok = false;
            break;
          }
          if (!ri.index.getHex(c)) {
            hit(missingBlob(c, 'data'), snap, path());
            ok = false;
            break;
          }
        }
      }
    }
    treeOk.set(treeId, ok);
    return ok;
  };
  const missingBlob = (id: string, what: string): CheckProblem => {
    let p = missingBlobProblems.get(id);
    if (!p) {
      p = { kind: 'missing-blob', blob: id, message: `${what} blob ${id} is not in the index` };
      missingBlobProblems.set(id, p);
      errors.push(p);
    }
    return p;
  };
  const hit = (problem: CheckProblem, snap: string, file: string) => {
    problem.snapshots ??= [];
    if (!problem.snapshots.includes(snap)) problem.snapshots.push(snap);
    problem.files ??= [];
    if (!problem.files.includes(file) && problem.files.length < 1000) problem.files.push(file);
  };
  const walkAll = async () => {
    treeOk.clear();
    let snapsDone = 0;
    for (const s of snapshots) {
      // Trees of an earlier snapshot marked fine are fine for this one; damaged ones are walked again to name files.
      for (const [k, v] of treeOk) if (!v) treeOk.delete(k);
      await walk(s.id, s.tree, '');
      progress('snapshots', ++snapsDone, snapshots.length);
    }
  };
  // Walked once the trees are verified, while the data packs are still read; again at the end only
  // when data damage found meanwhile must be attributed to files (hits and problems are not repeated).
  let walkedAt = -1;
  const walkSnapshots = async () => {
    await indexLoaded;
    walkedAt = marks;
    await walkAll();
  };

  // 5. Read data. Tree packs go first and their verified plaintexts are kept for the walk below.
  let packsChecked = present.length;
  let walking: Promise<void> | undefined;
  if (chosen.length > 0) {
    const isTreePack = (p: string) => indexed.get(p)!.some((e) => e.type === BLOB_TREE);
    chosen = [...chosen.filter(isTreePack), ...chosen.filter((p) => !isTreePack(p))];
    packsChecked = chosen.length;
    const pool = ri.workers();
    const buffers = new PackBuffers();
    let done = 0;
    let treePacksLeft = chosen.filter(isTreePack).length;
    const startWalk = () => {
      walking = walkSnapshots();
      walking.catch(() => undefined); // awaited below; not unhandled if reading the data fails first
    };
    if (treePacksLeft === 0) startWalk();
    await mapLimit(chosen, Math.max(2, pool.size + 1), async (pack) => {
      try {
        await checkPack(pack);
      } finally {
        if (isTreePack(pack) && --treePacksLeft === 0) startWalk();
      }
    });
    async function checkPack(pack: string) {
      // The pack is read into a reused shared buffer; a store that ignores `into` costs one copy.
      let buffer = buffers.take(stored.get(pack)!);
      let bytes: Uint8Array;
      try {
        const read = await ri.store.get(keys.pack(pack), undefined, { into: buffer });
        if (read.buffer !== buffer.buffer) {
          buffers.give(buffer);
          buffer = buffers.take(read.length);
          buffer.set(read);
          bytes = buffer.subarray(0, read.length);
        } else bytes = read;
      } catch (err) {
        buffers.give(buffer);
        if (isNotFound(err)) {
          markPack(pack, { kind: 'missing-pack', pack, message: `pack ${pack} disappeared during the check` });
          return;
        }
        throw err;
      }
      const size = bytes.length;
      try {
        const entries = indexed.get(pack)!;
        const hashOk = sha256Hex(bytes) === pack;
        try {
          checkHeader(pack, ri.parsePack(pack, bytes));
        } catch (err) {
          headerUnreadable(pack, err);
        }
        const keepPlain = hashOk && entries.some((e) => e.type === BLOB_TREE);
        const results = await decodePack(pool, entries, bytes, keepPlain);
        if (!hashOk) {
          // Name the blobs hit, so the damage is attributed precisely.
          const problem: CheckProblem = { kind: 'corrupt-pack', pack, message: `pack ${pack}: its bytes do not hash to its name (${size} bytes${size !== stored.get(pack) ? ', size changed' : ''}); ${results.filter((r) => !r.ok).length} blob(s) fail to decode` };
          errors.push(problem);
          entries.forEach((e, i) => {
            if (!results[i].ok || e.offset + e.length > size) markBad(toHex(e.id), problem);
          });
          // Without any failing blob, the header or the padding was hit: every blob is suspect.
          if (results.every((r) => r.ok)) for (const e of entries) markBad(toHex(e.id), problem);
          blobsChecked += entries.length;
          return;
        }
        entries.forEach((e, i) => {
          const r = results[i];
          if (!r.ok) {
            const problem: CheckProblem = { kind: 'corrupt-blob', pack, blob: toHex(e.id), message: `blob ${toHex(e.id)} in pack ${pack}: ${r.error}` };
            errors.push(problem);
            markBad(toHex(e.id), problem);
          } else if (keepPlain && e.type === BLOB_TREE && treePlainBytes + r.data.length <= TREE_PLAIN_BUDGET) {
            // A plaintext may view the shared pack buffer (no cipher, stored raw): copy it before the buffer is reused.
            const plain = r.data.buffer instanceof SharedArrayBuffer ? r.data.slice() : r.data;
            treePlain.set(toHex(e.id), plain);
            treePlainBytes += plain.length;
          }
        });
        blobsChecked += entries.length;
        progress('read data', ++done, chosen.length);
      } finally {
        buffers.give(buffer);
      }
    }
  }
  await (walking ?? walkSnapshots());
  if (marks !== walkedAt) await walkAll();

  for (const e of errors) {
    if (e.snapshots?.length) e.message += `; hits snapshot(s) ${e.snapshots.map((x) => x.slice(0, 8)).join(', ')}${e.files?.length ? `, file(s) ${e.files.slice(0, 5).join(', ')}${e.files.length > 5 ? ` and ${e.files.length - 5} more` : ''}` : ''}`;
  }
  // Unlisted packs next to blobs missing from the index are likely where those blobs are (an index file
  // was lost): pruning would delete them, so the note must not suggest it.
  if (unreferenced > 0 && errors.some((e) => e.kind === 'missing-blob')) {
    const i = notes.findIndex((n) => n.includes('not referenced by any index'));
    if (i >= 0) notes[i] = `${unreferenced} pack(s) are not referenced by any index while blobs are missing from it: an index file may be lost and these packs may hold the missing data; do not prune, restore the index files from another copy of the repository.`;
  }
  return { ok: errors.length === 0, errors, notes, packsChecked, blobsChecked, snapshotsChecked: snapshots.length };
}

/** Tree plaintexts kept from reading the data for the snapshot walk, at most this many bytes. */
const TREE_PLAIN_BUDGET = 64 * 1024 * 1024;
/** A pack is verified in jobs of about this many stored bytes (or JOB_BLOBS blobs), so both workers share each pack. */
const JOB_BYTES = 2 * 1024 * 1024;
const JOB_BLOBS = 1024;

/**
 * Pack buffers on SharedArrayBuffers, reused from pack to pack: the workers read the blobs where they
 * lie, without a copy or a transfer, and no fresh memory is mapped for each pack.
 */
class PackBuffers {
  private readonly free: SharedArrayBuffer[] = [];

  /** A buffer of at least `size` bytes (the whole shared buffer). */
  take(size: number): Uint8Array {
    const i = this.free.findIndex((b) => b.byteLength >= size);
    if (i >= 0) return new Uint8Array(this.free.splice(i, 1)[0]);
    // None fits: one too small is dropped, so there are never more buffers than packs in flight. Packs
    // run somewhat over the pack size; the headroom spares a new buffer for each slightly larger one.
    this.free.pop();
    return new Uint8Array(new SharedArrayBuffer(Math.ceil((size * 1.125) / 65536) * 65536 || 65536));
  }

  give(buffer: Uint8Array): void {
    this.free.push(buffer.buffer as SharedArrayBuffer);
  }
}

/** Blobs listed in the index that the pack's header does not list with the same type, id, place and sizes. */
function headerMissing(want: PackEntry[], header: PackEntry[]): PackEntry[] {
  const same = (a: PackEntry, b: PackEntry) => a.type === b.type && a.offset === b.offset && a.length === b.length && a.rawLength === b.rawLength && equalBytes(a.id, b.id);
  // Index and header list a pack's blobs in the same order when both come from one packer.
  if (want.length === header.length && want.every((e, i) => same(e, header[i]))) return [];
  const key = (e: PackEntry) => `${e.type}:${toHex(e.id)}:${e.offset}:${e.length}:${e.rawLength}`;
  const have = new Set(header.map(key));
  return want.filter((e) => !have.has(key(e)));
}

/**
 * Verifies every blob of a pack held in memory, in jobs of about JOB_BYTES spread over the workers.
 * Plaintexts come back only with `keepPlain`; otherwise results carry empty arrays.
 */
async function decodePack(pool: Pool, entries: PackEntry[], bytes: Uint8Array, keepPlain: boolean): Promise<DecodeResult[]> {
  const view = (e: PackEntry) => (e.offset + e.length <= bytes.length ? bytes.subarray(e.offset, e.offset + e.length) : bytes.subarray(Math.min(e.offset, bytes.length)));
  const jobs: Promise<DecodeResult[]>[] = [];
  for (let start = 0; start < entries.length; ) {
    let end = start;
    let jobBytes = 0;
    while (end < entries.length && end - start < JOB_BLOBS && (end === start || jobBytes + entries[end].length <= JOB_BYTES)) jobBytes += entries[end++].length;
    // One id buffer per job: a postMessage clones one ArrayBuffer, not one per blob.
    const ids = new Uint8Array((end - start) * 32);
    const requests: DecodeRequest[] = [];
    for (let i = start; i < end; i++) {
      const id = ids.subarray((i - start) * 32, (i - start + 1) * 32);
      id.set(entries[i].id);
      const stored = view(entries[i]);
      requests.push({ type: entries[i].type, id, stored: stored.buffer instanceof SharedArrayBuffer ? stored : stored.slice(), rawLength: entries[i].rawLength });
    }
    jobs.push(pool.decode(requests, { verifyOnly: !keepPlain, transfer: [ids.buffer] }));
    start = end;
  }
  return (await Promise.all(jobs)).flat();
}

/** Reads back every blob of one snapshot and checks it (backup --verify, validateAfterBackup). */
export async function verifySnapshot(ri: RepoInternals, snapshot: Snapshot): Promise<CheckProblem[]> {
  const problems: CheckProblem[] = [];
  const seen = new Set<string>();
  const data: { id: string; path: string }[] = [];
  const walk = async (treeId: string, dir: string) => {
    if (seen.has(treeId)) return;
    seen.add(treeId);
    let nodes: TreeNode[];
    try {
      nodes = await ri.loadTree(treeId);
    } catch (err) {
      problems.push({ kind: 'tree', blob: treeId, message: `tree ${treeId} (${dir || '/'}) cannot be read: ${(err as Error).message}`, snapshots: [snapshot.id] });
      return;
    }
    for (const n of nodes) {
      const p = `${dir}/${pathText(Buffer.from(n.name))}`;
      if (n.type === 'dir') await walk(n.subtree!, p);
      else for (const c of n.content ?? []) if (!seen.has(c)) {
        seen.add(c);
        data.push({ id: c, path: p });
      }
    }
  };
  await walk(snapshot.tree, '');
  const pool = ri.workers();
  const BATCH = 32;
  const batches: (typeof data)[] = [];
  for (let i = 0; i < data.length; i += BATCH) batches.push(data.slice(i, i + BATCH));
  await mapLimit(batches, Math.max(2, pool.size * 2), async (batch) => {
    const reqs: { b: { id: string; path: string }; req: DecodeRequest }[] = [];
    for (const b of batch) {
      try {
        const s = await ri.readStoredBlob(b.id);
        reqs.push({ b, req: { type: s.type, id: Buffer.from(b.id, 'hex'), stored: s.stored.slice(), rawLength: s.rawLength } });
      } catch (err) {
        problems.push({ kind: 'missing-blob', blob: b.id, message: `blob ${b.id} of ${b.path} cannot be read: ${(err as Error).message}`, snapshots: [snapshot.id], files: [b.path] });
      }
    }
    const results = await pool.decode(reqs.map((r) => r.req));
    results.forEach((r, i) => {
      if (!r.ok) problems.push({ kind: 'corrupt-blob', blob: reqs[i].b.id, message: `blob ${reqs[i].b.id} of ${reqs[i].b.path}: ${r.error}`, snapshots: [snapshot.id], files: [reqs[i].b.path] });
    });
  });
  return problems;
}
