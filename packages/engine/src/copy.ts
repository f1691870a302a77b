/**
 * copy: replicates snapshots into another repository. Blob ids are keyed per repository, so every
 * blob is read and verified from the source, given the target's id, and stored unless the target
 * has it; trees are rewritten with the new ids. A snapshot already copied (its `original` is the
 * source id) is skipped.
 */
import { BLOB_DATA, BLOB_TREE } from './format/box.js';
import { type TreeNode, decodeTree, encodeTree } from './format/tree.js';
import { toHex } from './format/util.js';
import type { RepoInternals } from './internals.js';
import type { Packer } from './packer.js';
import type { CopyOptions, CopyResult, Snapshot } from './types.js';

export async function runCopy(target: RepoInternals, source: RepoInternals, selected: Snapshot[], options: CopyOptions = {}): Promise<CopyResult> {
  const started = Date.now();
  const result: CopyResult = { copied: [], skipped: [], blobsCopied: 0, bytesCopied: 0 };
  await target.loadIndex();
  await source.loadIndex();
  const existing = await target.listSnapshots();
  const originals = new Set(existing.map((s) => s.original ?? s.id));
  const blobMap = new Map<string, string>();
  const treeMap = new Map<string, string>();
  const packer: Packer = target.newPacker();
  const choice = target.metaCompression();
  const dataChoice = (await import('./format/box.js')).parseCompression(target.config.compression, target.codecs);

  const copyBlob = async (srcId: string, type: number): Promise<string> => {
    const known = blobMap.get(srcId);
    if (known) return known;
    const plain = await source.loadBlob(srcId);
    const id = target.box.blobId(plain);
    if (packer.reserve(id)) {
      const sealed = target.box.encodeBlob(type === BLOB_TREE ? BLOB_TREE : BLOB_DATA, id, plain, type === BLOB_TREE ? choice : dataChoice);
      await packer.add({ type, id, sealed, rawLength: plain.length });
      result.blobsCopied++;
      result.bytesCopied += plain.length;
    }
    const hex = toHex(id);
    blobMap.set(srcId, hex);
    return hex;
  };

  const copyTree = async (srcTree: string): Promise<string> => {
    const known = treeMap.get(srcTree);
    if (known) return known;
    const nodes = decodeTree(await source.loadBlob(srcTree));
    const out: TreeNode[] = [];
    for (const n of nodes) {
      const m: TreeNode = { ...n };
      if (n.type === 'dir') m.subtree = await copyTree(n.subtree!);
      if (n.content) {
        m.content = [];
        for (const c of n.content) m.content.push(await copyBlob(c, BLOB_DATA));
      }
      out.push(m);
    }
    const bytes = encodeTree(out);
    const id = target.box.blobId(bytes);
    if (packer.reserve(id)) {
      await packer.add({ type: BLOB_TREE, id, sealed: target.box.encodeBlob(BLOB_TREE, id, bytes, choice), rawLength: bytes.length });
      result.blobsCopied++;
      result.bytesCopied += bytes.length;
    }
    const hex = toHex(id);
    treeMap.set(srcTree, hex);
    return hex;
  };

  let done = 0;
  for (const s of selected) {
    const original = s.original ?? s.id;
    if (originals.has(original)) {
      result.skipped.push(s.id);
      continue;
    }
    const tree = await copyTree(s.tree);
    // Packs and index before the snapshot.
    await packer.flush();
    const { id: _id, ...body } = s;
    const newId = await target.saveSnapshot({ ...body, tree, original });
    originals.add(original);
    result.copied.push({ source: s.id, target: newId });
    options.onProgress?.({ phase: 'copy', filesDone: ++done, filesTotal: selected.length, bytesDone: result.bytesCopied, elapsedMs: Date.now() - started });
  }
  await packer.flush();
  return result;
}
