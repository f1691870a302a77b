/**
 * Helpers for the prune tests: an independent consistency check of a repository (every indexed blob
 * is in its pack's header at the same place and decodes to its id; every snapshot's trees and data
 * are indexed), a store key listing, and trees of source states kept per snapshot.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Store } from '@strata/core';
import type { RepoInternals } from '../src/internals.js';
import { toHex } from '../src/format/util.js';
import { treeBytes } from './helpers.js';

export interface Consistency {
  problems: string[];
  packs: number;
  blobs: number;
  snapshots: number;
  /** Packs in the store that no index lists. */
  unreferencedPacks: number;
}

/** Reads everything (like check --read-data) and returns what is wrong; [] when the repository is sound. */
export async function verifyRepository(ri: RepoInternals): Promise<Consistency> {
  const problems: string[] = [];
  await ri.loadIndex();
  const packSizes = new Map<string, number>();
  for await (const o of ri.listIds('data/')) packSizes.set(o.id, o.size);
  const indexed = new Map<string, Map<string, { type: number; offset: number; length: number; rawLength: number }>>();
  const { files, damaged } = await ri.loadIndexFiles();
  for (const d of damaged) problems.push(`index ${d.id}: ${d.error.message}`);
  for (const f of files) {
    for (const p of f.content.packs) {
      const hex = toHex(p.id);
      let m = indexed.get(hex);
      if (!m) indexed.set(hex, (m = new Map()));
      for (const b of p.blobs) m.set(toHex(b.id), { type: b.type, offset: b.offset, length: b.length, rawLength: b.rawLength });
    }
  }
  let blobs = 0;
  for (const [pack, entries] of indexed) {
    if (!packSizes.has(pack)) {
      problems.push(`pack ${pack} is indexed but missing`);
      continue;
    }
    const bytes = await ri.readVerified(`data/${pack.slice(0, 2)}/${pack}`, false).catch((err) => {
      problems.push(`pack ${pack}: ${(err as Error).message}`);
      return undefined;
    });
    if (!bytes) continue;
    const header = new Map(ri.parsePack(pack, bytes).map((e) => [toHex(e.id), e]));
    for (const [id, e] of entries) {
      const h = header.get(id);
      if (!h || h.offset !== e.offset || h.length !== e.length || h.type !== e.type) {
        problems.push(`blob ${id} is not where the index says in pack ${pack}`);
        continue;
      }
      try {
        ri.box.decodeBlob(e.type, Buffer.from(id, 'hex'), bytes.subarray(e.offset, e.offset + e.length), e.rawLength);
        blobs++;
      } catch (err) {
        problems.push(`blob ${id}: ${(err as Error).message}`);
      }
    }
  }
  const allIndexed = new Set<string>();
  for (const m of indexed.values()) for (const id of m.keys()) allIndexed.add(id);
  const snapshots = await ri.listSnapshots();
  const seen = new Set<string>();
  for (const s of snapshots) {
    const stack = [s.tree];
    while (stack.length) {
      const t = stack.pop()!;
      if (seen.has(t)) continue;
      seen.add(t);
      if (!allIndexed.has(t)) {
        problems.push(`snapshot ${s.id}: tree ${t} is not indexed`);
        continue;
      }
      for (const n of await ri.loadTree(t)) {
        if (n.subtree) stack.push(n.subtree);
        for (const c of n.content ?? []) if (!allIndexed.has(c)) problems.push(`snapshot ${s.id}: data ${c} is not indexed`);
      }
    }
  }
  let unreferencedPacks = 0;
  for (const p of packSizes.keys()) if (!indexed.has(p)) unreferencedPacks++;
  return { problems, packs: indexed.size, blobs, snapshots: snapshots.length, unreferencedPacks };
}

/** Every key in the store with its size, sorted (to show that nothing changed). */
export async function storeListing(store: Store): Promise<string[]> {
  const out: string[] = [];
  for (const prefix of ['config', 'keys/', 'data/', 'index/', 'snapshots/']) {
    for await (const o of store.list(prefix)) out.push(`${o.key} ${o.size}`);
  }
  return out.sort();
}

/** Total bytes of packs and index files in a local repository folder. */
export function repoBytes(dir: string): number {
  return treeBytes(path.join(dir, 'data')) + treeBytes(path.join(dir, 'index'));
}

/** Copies a source folder as it is now (the expected content of the snapshot just taken). */
export function freeze(src: string, into: string): string {
  copyTree(src, into, true);
  return into;
}

/**
 * fs.cpSync, then every directory's mode set to its source's: Node 22's cpSync leaves a directory it
 * creates (or finds) with the default mode, where Node 20 copied it.
 */
export function copyTree(src: string, into: string, preserveTimestamps = false): void {
  fs.cpSync(src, into, { recursive: true, preserveTimestamps });
  const fixModes = (from: string, to: string) => {
    const st = fs.lstatSync(from);
    if (!st.isDirectory()) return;
    for (const name of fs.readdirSync(from)) fixModes(path.join(from, name), path.join(to, name));
    fs.chmodSync(to, st.mode & 0o7777);
    if (preserveTimestamps) fs.utimesSync(to, st.atime, st.mtime);
  };
  fixModes(src, into);
}
