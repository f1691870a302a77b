/**
 * check: the index files and pack headers agree, every indexed pack exists, every snapshot's trees
 * and blobs resolve; with readData (or a subset) every pack hashes to its name and every blob
 * decrypts and matches its id. Damage is attributed to the snapshots and files it hits.
 * Packs that no index lists (an interrupted backup) are notes, not errors.
 */
import { CorruptError, isNotFound } from '@strata/core';
import type { PackEntry } from './format/pack.js';
import { type TreeNode } from './format/tree.js';
import { keys, sha256Hex, toHex } from './format/util.js';
import { type RepoInternals, mapLimit } from './internals.js';
import type { DecodeRequest, Pool } from './pool.js';
import { transferList } from './transfer.js';
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

  // 1. Index files.
  const { files, damaged } = await ri.loadIndexFiles();
  for (const d of damaged) errors.push({ kind: 'index', message: `index file ${d.id} is damaged: ${d.error.message}` });
  await ri.loadIndex();
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
  const markPack = (pack: string, problem: CheckProblem) => {
    errors.push(problem);
    for (const e of indexed.get(pack) ?? []) bad.set(toHex(e.id), { problem });
  };
  for (const [pack] of indexed) {
    if (!stored.has(pack)) markPack(pack, { kind: 'missing-pack', pack, message: `pack ${pack} is listed in the index but missing from the store` });
  }
  let unreferenced = 0;
  for (const [pack] of stored) if (!indexed.has(pack)) unreferenced++;
  if (unreferenced > 0) notes.push(`${unreferenced} pack(s) are not referenced by any index (left by an interrupted backup or prune); "strata prune" removes them.`);

  // 3. Pack headers agree with the index.
  const present = [...indexed.keys()].filter((p) => stored.has(p));
  let headersDone = 0;
  await mapLimit(present, 8, async (pack) => {
    try {
      const header = await ri.readPackHeader(pack, stored.get(pack));
      const want = indexed.get(pack)!;
      const key = (e: PackEntry) => `${e.type}:${toHex(e.id)}:${e.offset}:${e.length}:${e.rawLength}`;
      const have = new Set(header.map(key));
      const missing = want.filter((e) => !have.has(key(e)));
      if (missing.length > 0) {
        const problem: CheckProblem = { kind: 'index', pack, message: `pack ${pack}: ${missing.length} blob(s) listed in the index are not in its header` };
        errors.push(problem);
        for (const e of missing) bad.set(toHex(e.id), { problem });
      }
    } catch (err) {
      if (err instanceof CorruptError || isNotFound(err)) markPack(pack, { kind: 'corrupt-pack', pack, message: `pack ${pack}: header cannot be read: ${(err as Error).message}` });
      else throw err;
    }
    progress('pack headers', ++headersDone, present.length);
  });

  // 4. Read data.
  let packsChecked = present.length;
  const subset = options.readData ? 100 : options.readDataSubset;
  if (subset !== undefined && subset > 0) {
    let chosen = present;
    if (subset < 100) {
      const n = Math.max(1, Math.ceil((present.length * subset) / 100));
      chosen = [...present].sort(() => Math.random() - 0.5).slice(0, n);
    }
    packsChecked = chosen.length;
    const pool = ri.workers();
    let done = 0;
    await mapLimit(chosen, Math.max(2, pool.size), async (pack) => {
      let bytes: Uint8Array;
      try {
        bytes = await ri.store.get(keys.pack(pack));
      } catch (err) {
        if (isNotFound(err)) {
          markPack(pack, { kind: 'missing-pack', pack, message: `pack ${pack} disappeared during the check` });
          return;
        }
        throw err;
      }
      const size = bytes.length; // the buffer moves to a worker below
      if (sha256Hex(bytes) !== pack) {
        // Find which blobs are hit, so the damage is named precisely.
        const entries = indexed.get(pack)!;
        const results = await decodePack(pool, entries, bytes);
        const problem: CheckProblem = { kind: 'corrupt-pack', pack, message: `pack ${pack}: its bytes do not hash to its name (${size} bytes${size !== stored.get(pack) ? ', size changed' : ''}); ${results.filter((r) => !r.ok).length} blob(s) fail to decode` };
        errors.push(problem);
        entries.forEach((e, i) => {
          if (!results[i].ok || e.offset + e.length > size) bad.set(toHex(e.id), { problem });
        });
        // Without any failing blob, the header or the padding was hit: every blob is suspect.
        if (results.every((r) => r.ok)) for (const e of entries) bad.set(toHex(e.id), { problem });
        blobsChecked += entries.length;
        return;
      }
      const entries = indexed.get(pack)!;
      const results = await decodePack(pool, entries, bytes);
      entries.forEach((e, i) => {
        const r = results[i];
        if (!r.ok) {
          const problem: CheckProblem = { kind: 'corrupt-blob', pack, blob: toHex(e.id), message: `blob ${toHex(e.id)} in pack ${pack}: ${r.error}` };
          errors.push(problem);
          bad.set(toHex(e.id), { problem });
        }
      });
      blobsChecked += entries.length;
      progress('read data', ++done, chosen.length);
    });
  }

  // 5. Snapshots and trees; attribute damage to snapshots and files.
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
  const missingBlobProblems = new Map<string, CheckProblem>();
  const treeOk = new Map<string, boolean>();
  const walk = async (snap: string, treeId: string, dir: string): Promise<boolean> => {
    if (treeOk.get(treeId) === true) return true;
    const badTree = bad.get(treeId);
    if (badTree || !ri.index.getHex(treeId)) {
      const problem = badTree?.problem ?? missingBlob(treeId, 'tree');
      hit(problem, snap, dir || '/');
      return false;
    }
    let nodes: TreeNode[];
    try {
      nodes = await ri.loadTree(treeId);
    } catch (err) {
      const problem: CheckProblem = { kind: 'tree', blob: treeId, message: `tree ${treeId} cannot be read: ${(err as Error).message}` };
      errors.push(problem);
      bad.set(treeId, { problem });
      hit(problem, snap, dir || '/');
      return false;
    }
    let ok = true;
    for (const n of nodes) {
      const p = `${dir}/${pathText(Buffer.from(n.name))}`;
      if (n.type === 'dir') {
        if (!(await walk(snap, n.subtree!, p))) ok = false;
      } else if (n.type === 'file') {
        for (const c of n.content ?? []) {
          blobsChecked += subset ? 0 : 1;
          const b = bad.get(c);
          if (b) {
            hit(b.problem, snap, p);
            ok = false;
            break;
          }
          if (!ri.index.getHex(c)) {
            hit(missingBlob(c, 'data'), snap, p);
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
  let snapsDone = 0;
  for (const s of snapshots) {
    // Trees of an earlier snapshot marked fine are fine for this one; damaged ones are walked again to name files.
    for (const [k, v] of treeOk) if (!v) treeOk.delete(k);
    await walk(s.id, s.tree, '');
    progress('snapshots', ++snapsDone, snapshots.length);
  }
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

/** Verifies every blob of a pack held in memory; the pack's buffer moves to the worker without a copy. */
function decodePack(pool: Pool, entries: PackEntry[], bytes: Uint8Array) {
  const transfer = transferList([bytes]);
  const own = transfer.length === 1;
  const view = (e: PackEntry) => (e.offset + e.length <= bytes.length ? bytes.subarray(e.offset, e.offset + e.length) : bytes.subarray(Math.min(e.offset, bytes.length)));
  const requests = entries.map((e) => ({ type: e.type, id: e.id, stored: own ? view(e) : view(e).slice(), rawLength: e.rawLength }));
  return pool.decode(requests, { verifyOnly: true, transfer });
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
