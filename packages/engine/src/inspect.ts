/** ls, diff, stats and dump: read-only views of snapshots. */
import type { Writable } from 'node:stream';
import { InvalidArgumentError, NotFoundError } from '@strata/core';
import { pathText } from './backup/archiver.js';
import { type TreeNode } from './format/tree.js';
import type { RepoInternals } from './internals.js';
import { TarWriter, type TarEntry, writeChunk } from './tar.js';
import type { DiffEntry, DiffResult, NodeEntry, RepositoryStats, Snapshot } from './types.js';

export function nsToIso(ns: bigint): string {
  const ms = ns / 1_000_000n;
  const frac = (ns % 1_000_000_000n).toString().padStart(9, '0');
  const base = new Date(Number(ms)).toISOString();
  return `${base.slice(0, 19)}.${frac}Z`;
}

export function toEntry(path: string, n: TreeNode): NodeEntry {
  const e: NodeEntry = { path, type: n.type, mode: n.mode, uid: n.uid, gid: n.gid, size: n.size, mtime: nsToIso(n.mtimeNs) };
  if (n.linkTarget) e.linkTarget = pathText(Buffer.from(n.linkTarget));
  if (n.sha256) e.sha256 = n.sha256;
  return e;
}

function splitPath(p: string): string[] {
  return p.split('/').filter((x) => x && x !== '.');
}

/** Finds the node at `path` in a snapshot (the root is a virtual directory). */
export async function findNode(ri: RepoInternals, snap: Snapshot, path: string): Promise<{ node: TreeNode | undefined; tree: string | undefined; path: string; bytes: Buffer }> {
  let tree: string | undefined = snap.tree;
  let node: TreeNode | undefined;
  let at = '';
  // The same path as stored bytes, so names that are not UTF-8 leave as they came in (dump's tar).
  let bytes = Buffer.alloc(0);
  for (const part of splitPath(path)) {
    if (!tree) throw new NotFoundError('engine', `${at} is not a directory in snapshot ${snap.id.slice(0, 8)}.`);
    const nodes: TreeNode[] = await ri.loadTree(tree);
    node = nodes.find((n) => pathText(Buffer.from(n.name)) === part);
    at = `${at}/${part}`;
    if (!node) throw new NotFoundError('engine', `${at} is not in snapshot ${snap.id.slice(0, 8)}; list it with "strata ls".`);
    bytes = Buffer.concat([bytes, SLASH, Buffer.from(node.name)]);
    tree = node.type === 'dir' ? node.subtree : undefined;
  }
  return { node, tree, path: at, bytes };
}

const SLASH = Buffer.from('/');

export async function* listSnapshot(ri: RepoInternals, snap: Snapshot, path?: string): AsyncGenerator<NodeEntry> {
  const start = await findNode(ri, snap, path ?? '/');
  if (start.node) yield toEntry(start.path, start.node);
  if (!start.tree) return;
  const walk = async function* (tree: string, dir: string): AsyncGenerator<NodeEntry> {
    for (const n of await ri.loadTree(tree)) {
      const p = `${dir}/${pathText(Buffer.from(n.name))}`;
      yield toEntry(p, n);
      if (n.type === 'dir') yield* walk(n.subtree!, p);
    }
  };
  yield* walk(start.tree, start.path);
}

function sameContent(a: TreeNode, b: TreeNode): boolean {
  if (a.type !== b.type || a.size !== b.size || a.mode !== b.mode || a.uid !== b.uid || a.gid !== b.gid) return false;
  if (a.type === 'file') return (a.content ?? []).join() === (b.content ?? []).join() && a.mtimeNs === b.mtimeNs;
  if (a.type === 'symlink') return Buffer.from(a.linkTarget!).equals(Buffer.from(b.linkTarget!));
  return a.mtimeNs === b.mtimeNs;
}

export async function diffSnapshots(ri: RepoInternals, a: Snapshot, b: Snapshot): Promise<DiffResult> {
  const entries: DiffEntry[] = [];
  const all = async (tree: string, dir: string, change: '+' | '-') => {
    for (const n of await ri.loadTree(tree)) {
      const p = `${dir}/${pathText(Buffer.from(n.name))}`;
      entries.push({ path: n.type === 'dir' ? `${p}/` : p, change });
      if (n.type === 'dir') await all(n.subtree!, p, change);
    }
  };
  const walk = async (ta: string, tb: string, dir: string) => {
    if (ta === tb) return;
    const na = await ri.loadTree(ta);
    const nb = await ri.loadTree(tb);
    const mb = new Map(nb.map((n) => [Buffer.from(n.name).toString('latin1'), n]));
    const ma = new Map(na.map((n) => [Buffer.from(n.name).toString('latin1'), n]));
    const names = [...new Set([...ma.keys(), ...mb.keys()])].sort();
    for (const k of names) {
      const x = ma.get(k);
      const y = mb.get(k);
      const p = `${dir}/${pathText(Buffer.from(k, 'latin1'))}`;
      if (x && !y) {
        entries.push({ path: x.type === 'dir' ? `${p}/` : p, change: '-' });
        if (x.type === 'dir') await all(x.subtree!, p, '-');
      } else if (!x && y) {
        entries.push({ path: y.type === 'dir' ? `${p}/` : p, change: '+' });
        if (y.type === 'dir') await all(y.subtree!, p, '+');
      } else if (x && y) {
        if (x.type !== y.type) {
          entries.push({ path: p, change: 'T' });
          if (x.type === 'dir') await all(x.subtree!, p, '-');
          if (y.type === 'dir') await all(y.subtree!, p, '+');
        } else if (x.type === 'dir') {
          if (!sameContent(x, y)) entries.push({ path: `${p}/`, change: 'M' });
          await walk(x.subtree!, y.subtree!, p);
        } else if (!sameContent(x, y)) entries.push({ path: p, change: 'M' });
      }
    }
  };
  await walk(a.tree, b.tree, '');
  return { entries, added: entries.filter((e) => e.change === '+').length, removed: entries.filter((e) => e.change === '-').length, modified: entries.filter((e) => e.change === 'M' || e.change === 'T').length };
}

export async function repositoryStats(ri: RepoInternals, snaps: Snapshot[]): Promise<RepositoryStats> {
  await ri.loadIndex();
  const blobs = new Set<string>();
  const trees = new Set<string>();
  let files = 0;
  let totalSize = 0;
  const walk = async (tree: string) => {
    blobs.add(tree);
    for (const n of await ri.loadTree(tree)) {
      if (n.type === 'dir') {
        // Count the files of a repeated tree again (restore size), but look inside it once for blobs.
        await walk(n.subtree!);
      } else if (n.type === 'file') {
        files++;
        totalSize += n.size;
        for (const c of n.content ?? []) blobs.add(c);
      }
    }
    trees.add(tree);
  };
  for (const s of snaps) await walk(s.tree);
  let rawSize = 0;
  let storedSize = 0;
  const packs = new Set<string>();
  for (const id of blobs) {
    const loc = ri.index.getHex(id);
    if (!loc) continue;
    rawSize += loc.rawLength;
    storedSize += loc.length;
    packs.add(loc.pack);
  }
  return { snapshots: snaps.length, files, totalSize, uniqueBlobs: blobs.size, rawSize, storedSize, packs: packs.size };
}

/** The content of a file node as verified plaintext chunks. */
export async function* fileContent(ri: RepoInternals, node: TreeNode): AsyncGenerator<Uint8Array> {
  const ids = node.content ?? [];
  // Read ahead a few blobs.
  const ahead: Promise<Uint8Array>[] = [];
  let next = 0;
  const fill = () => {
    while (ahead.length < 4 && next < ids.length) ahead.push(ri.loadBlob(ids[next++]));
  };
  fill();
  while (ahead.length) {
    const b = await ahead.shift()!;
    fill();
    yield b;
  }
}

function tarType(n: TreeNode): TarEntry['type'] | undefined {
  switch (n.type) {
    case 'file':
    case 'dir':
    case 'symlink':
    case 'fifo':
    case 'chardev':
    case 'blockdev':
      return n.type;
    default:
      return undefined;
  }
}

export async function dumpPath(ri: RepoInternals, snap: Snapshot, path: string, out: Writable): Promise<void> {
  const found = await findNode(ri, snap, path);
  if (found.node && found.node.type === 'file') {
    for await (const chunk of fileContent(ri, found.node)) {
      await writeChunk(out, chunk, 'engine');
    }
    return;
  }
  if (!found.tree) throw new InvalidArgumentError('engine', `${found.path || '/'} is neither a file nor a directory; dump writes files and directories.`);
  const tar = new TarWriter(out);
  const links = new Map<string, Buffer>();
  const entry = (p: Buffer, n: TreeNode): TarEntry => {
    const e: TarEntry = { path: p, type: tarType(n)!, mode: n.mode, uid: n.uid, gid: n.gid, mtimeNs: n.mtimeNs };
    if (n.user) e.uname = n.user;
    if (n.group) e.gname = n.group;
    return e;
  };
  // Archive paths are the stored name bytes: a name that is not UTF-8 must not come back re-encoded.
  const base = found.bytes.subarray(found.bytes[0] === 0x2f ? 1 : 0);
  if (found.node && base.length) await tar.add(entry(base, found.node));
  const walk = async (tree: string, dir: Buffer) => {
    for (const n of await ri.loadTree(tree)) {
      const name = Buffer.from(n.name);
      const p = dir.length ? Buffer.concat([dir, SLASH, name]) : name;
      const t = tarType(n);
      if (!t) continue;
      const e = entry(p, n);
      if (n.type === 'file') {
        const k = n.nlink > 1 ? `${n.device}:${n.inode}` : undefined;
        const first = k ? links.get(k) : undefined;
        if (first) {
          await tar.add({ ...e, type: 'hardlink', linkname: first });
          continue;
        }
        if (k) links.set(k, p);
        await tar.add({ ...e, size: n.size }, fileContent(ri, n));
      } else if (n.type === 'symlink') await tar.add({ ...e, linkname: Buffer.from(n.linkTarget!) });
      else if (n.type === 'chardev' || n.type === 'blockdev') {
        const rdev = n.rdev ?? 0n;
        await tar.add({ ...e, devmajor: Number(((rdev >> 8n) & 0xfffn) | ((rdev >> 32n) & ~0xfffn)), devminor: Number((rdev & 0xffn) | ((rdev >> 12n) & ~0xffn)) });
      } else {
        await tar.add(e);
        if (n.type === 'dir') await walk(n.subtree!, p);
      }
    }
  };
  await walk(found.tree, base);
  await tar.finish();
}
