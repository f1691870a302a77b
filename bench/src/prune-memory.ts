/**
 * Peak memory of prune on a synthetic repository of many small blobs (default one million). Not a
 * test: it measures and prints.
 *
 *   pnpm --filter @strata/bench prune-memory [--blobs 1000000] [--keep]
 *
 * 1. Builds the repository through the engine itself (real sealed blobs, packs, index files, trees,
 *    snapshots): 2,500 leaf folders of 100 files of 4 blobs each (for 1M blobs) under 50 folders.
 *    Snapshot A holds 9 files of every 10; snapshot B holds all of them. B is then forgotten, so one
 *    blob in ten is unused, spread over every pack: prune must repack all of them.
 * 2. Runs prune in a fresh process under /usr/bin/time -v and reports its peak RSS (and the child's
 *    own process.resourceUsage().maxRSS), the time, and what prune did. Target: under 300 MiB.
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { aes256gcm } from '@strata/cipher-aes-256-gcm';
import { zstdCodec } from '@strata/codec-zstd';
// The engine and the local store by path: this harness measures them as they are in the tree.
import { Repository } from '../../packages/engine/src/index.ts';
import { BLOB_DATA, BLOB_TREE } from '../../packages/engine/src/format/box.ts';
import { encodeTree, type TreeNode } from '../../packages/engine/src/format/tree.ts';
import { localStore } from '../../plugins/store-local/src/index.ts';

const PASSWORD = 'bench-password-not-secret';
const HERE = dirname(fileURLToPath(import.meta.url));

function options(store: ReturnType<typeof localStore>) {
  return { store, password: PASSWORD, codecs: [zstdCodec()], ciphers: [aes256gcm()], cacheDir: false as const, workers: 0 };
}

const mib = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(1)} MiB`;

async function build(dir: string, blobs: number): Promise<void> {
  const started = Date.now();
  const repo = await Repository.init({ ...options(localStore(dir)), cipher: aes256gcm(), kdf: { N: 1024, r: 8, p: 1 }, packSize: 4 * 1024 * 1024 });
  const ri = repo.internals;
  const packer = ri.newPacker();
  const none = { mode: 'none' as const };
  const meta = ri.metaCompression();
  const filesPerLeaf = 100;
  const blobsPerFile = 4;
  const leaves = Math.ceil(blobs / (filesPerLeaf * blobsPerFile));
  const mids = Math.ceil(leaves / 50);
  const node = (name: string, extra: Partial<TreeNode>): TreeNode => ({
    name: new TextEncoder().encode(name), type: 'file', mode: 0o100644, uid: 1000, gid: 1000, mtimeNs: 1_700_000_000_000_000_000n,
    ctimeNs: 1_700_000_000_000_000_000n, size: 0, inode: 1n, device: 1n, nlink: 1, ...extra,
  });
  const storeTree = async (nodes: TreeNode[]): Promise<string> => {
    const bytes = encodeTree(nodes);
    const id = ri.box.blobId(bytes);
    const hex = Buffer.from(id).toString('hex');
    if (packer.reserve(id)) await packer.add({ type: BLOB_TREE, id, sealed: ri.box.encodeBlob(BLOB_TREE, id, bytes, meta), rawLength: bytes.length });
    return hex;
  };
  let made = 0;
  const salt = randomBytes(16);
  const midA: TreeNode[][] = Array.from({ length: mids }, () => []);
  const midB: TreeNode[][] = Array.from({ length: mids }, () => []);
  for (let leaf = 0; leaf < leaves && made < blobs; leaf++) {
    const filesA: TreeNode[] = [];
    const filesB: TreeNode[] = [];
    for (let f = 0; f < filesPerLeaf && made < blobs; f++) {
      const content: string[] = [];
      for (let b = 0; b < blobsPerFile && made < blobs; b++, made++) {
        // 64 bytes: a salt and a counter, so every blob differs; stored without compression.
        const plain = Buffer.alloc(64);
        salt.copy(plain);
        plain.writeUInt32LE(made, 16);
        const id = ri.box.blobId(plain);
        await packer.add({ type: BLOB_DATA, id, sealed: ri.box.encodeBlob(BLOB_DATA, id, plain, none), rawLength: plain.length });
        content.push(Buffer.from(id).toString('hex'));
      }
      const n = node(`file-${String(f).padStart(3, '0')}`, { size: content.length * 64, content });
      filesB.push(n);
      if (f % 10 !== 0) filesA.push(n);
    }
    const dirNode = (subtree: string) => node(`leaf-${String(leaf).padStart(5, '0')}`, { type: 'dir', mode: 0o40755, subtree });
    midA[Math.floor(leaf / 50)].push(dirNode(await storeTree(filesA)));
    midB[Math.floor(leaf / 50)].push(dirNode(await storeTree(filesB)));
    if (leaf % 250 === 0) process.stderr.write(`\rbuilding: ${made} blobs`);
  }
  const root = async (mid: TreeNode[][]) => {
    const nodes: TreeNode[] = [];
    for (const [i, m] of mid.entries()) if (m.length) nodes.push(node(`dir-${String(i).padStart(3, '0')}`, { type: 'dir', mode: 0o40755, subtree: await storeTree(m) }));
    return storeTree(nodes);
  };
  const rootA = await root(midA);
  const rootB = await root(midB);
  await packer.flush();
  const summary = { filesNew: 0, filesChanged: 0, filesUnmodified: 0, dirsNew: 0, dirsChanged: 0, dirsUnmodified: 0, totalFilesProcessed: 0, totalBytesProcessed: 0, dataAdded: 0, dataAddedPacked: 0, dataBlobs: 0, treeBlobs: 0, durationMs: 0 };
  const snap = (tree: string, time: string) => ({ time, host: 'bench', username: 'bench', paths: ['/synthetic'], tags: [], type: 'full' as const, tree, summary, programVersion: 'strata bench' });
  await ri.saveSnapshot(snap(rootA, '2024-01-01T00:00:00.000Z'));
  const b = await ri.saveSnapshot(snap(rootB, '2024-01-02T00:00:00.000Z'));
  // Forget B: one file in ten is now needed by no snapshot.
  await ri.deleteSnapshot(b);
  await repo.close();
  process.stderr.write(`\rbuilt ${made} data blobs, ${packer.stats.treeBlobs} trees, ${packer.stats.packs} packs, ${packer.indexFiles.length} index files in ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
}

/** The child: opens the repository and prunes it; prints the report and its own peak RSS. */
async function pruneChild(dir: string): Promise<void> {
  const started = Date.now();
  const repo = await Repository.open(options(localStore(dir)));
  const report = await repo.prune();
  await repo.close();
  process.stdout.write(`${JSON.stringify({ report, seconds: (Date.now() - started) / 1000, maxRssKiB: process.resourceUsage().maxRSS })}\n`);
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { blobs: { type: 'string', default: '1000000' }, keep: { type: 'boolean', default: false }, 'prune-child': { type: 'string' } } });
  if (values['prune-child']) return pruneChild(values['prune-child']);
  const blobs = Number(values.blobs);
  if (!Number.isInteger(blobs) || blobs < 1000) throw new Error('--blobs expects a whole number of at least 1000');
  const dir = mkdtempSync(join(os.tmpdir(), 'strata-prune-memory-'));
  try {
    await build(dir, blobs);
    const self = fileURLToPath(import.meta.url);
    const r = spawnSync('/usr/bin/time', ['-v', process.execPath, '--conditions=strata-source', '--import', 'tsx', self, '--prune-child', dir], {
      cwd: resolve(HERE, '..'),
      encoding: 'utf8',
      maxBuffer: 64 * 1024 * 1024,
    });
    if (r.status !== 0) throw new Error(`prune failed (exit ${r.status}):\n${r.stderr}`);
    const peakKiB = Number(/Maximum resident set size \(kbytes\): (\d+)/.exec(r.stderr)?.[1]);
    const wall = /Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): (.+)/.exec(r.stderr)?.[1];
    const out = JSON.parse(r.stdout.trim().split('\n').pop()!);
    const rep = out.report;
    console.log(`prune of ${blobs} blobs (${rep.packsBefore} packs, ${mib(rep.bytesBefore)}):`);
    console.log(`  peak RSS ${mib(peakKiB * 1024)} (/usr/bin/time -v), ${mib(out.maxRssKiB * 1024)} (process.resourceUsage), target < 300 MiB`);
    console.log(`  wall clock ${wall}; prune itself ${out.seconds.toFixed(1)} s`);
    console.log(`  ${rep.usedBlobs} blobs in use; ${rep.packsRepacked} packs repacked (${rep.blobsRepacked} blobs) into ${rep.packsWritten}; ${rep.packsDeleted} deleted; ${rep.blobsRemoved} blobs removed`);
    console.log(`  index ${rep.indexFilesBefore} -> ${rep.indexFilesAfter} files; ${mib(rep.bytesBefore)} -> ${mib(rep.bytesAfter)}, ${mib(rep.bytesFreed)} freed`);
  } finally {
    if (values.keep) console.log(`repository kept at ${dir}`);
    else rmSync(dir, { recursive: true, force: true });
  }
}

await main();
