/**
 * Codec and cipher micro-benchmark: MB/s (10^6 bytes per second) of every codec at several levels
 * (compress, decompress, ratio) and of every cipher (seal, open), on 1 MiB blocks of a generated
 * mixed dataset. Nothing here asserts a time; it prints figures.
 *
 *   pnpm --filter @strata/bench run micro [--size 64MiB] [--seed 42] [--levels default|all|LIST]
 *                                        [--only zstd,aes-256-gcm] [--budget 3] [--clock wall|cpu]
 *                                        [--rounds 1] [--json FILE]
 */
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync, lstatSync } from 'node:fs';
import { cpus } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import type { Cipher, Codec } from '@strata/core';
import { zstdCodec } from '@strata/codec-zstd';
import { gzipCodec } from '@strata/codec-gzip';
import { brotliCodec } from '@strata/codec-brotli';
import { aes256gcm } from '@strata/cipher-aes-256-gcm';
import { chacha20poly1305 } from '@strata/cipher-chacha20-poly1305';
import { fallbackGenerate } from './fallback-dataset.ts';

const HERE = dirname(fileURLToPath(import.meta.url));
const BENCH = resolve(HERE, '..');
const ROOT = resolve(BENCH, '..');
const GENERATOR = resolve(ROOT, '../shared/bench/gen-dataset.mjs');
const MiB = 1024 * 1024;

// Levels measured by default: the ends and the common choices (every level with --levels all).
const DEFAULT_LEVELS: Record<string, number[]> = {
  zstd: [1, 3, 6, 9, 19],
  gzip: [1, 6, 9],
  brotli: [1, 5, 9, 11],
};

function parseSize(text: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*(B|KiB|MiB|GiB)?$/i.exec(text.trim());
  if (!m) throw new Error(`--size ${text}: use a number with B, KiB, MiB or GiB (e.g. 64MiB)`);
  const unit = (m[2] ?? 'B').toLowerCase();
  const scale = unit === 'gib' ? 1024 ** 3 : unit === 'mib' ? MiB : unit === 'kib' ? 1024 : 1;
  return Math.round(Number(m[1]) * scale);
}

const { values } = parseArgs({
  options: {
    size: { type: 'string', default: '64MiB' },
    seed: { type: 'string', default: '42' },
    block: { type: 'string', default: '1MiB' },
    levels: { type: 'string', default: 'default' },
    only: { type: 'string' },
    budget: { type: 'string', default: '3' },
    json: { type: 'string' },
    clock: { type: 'string', default: 'wall' },
    rounds: { type: 'string', default: '1' },
    help: { type: 'boolean', short: 'h' },
  },
});
if (values.help) {
  console.log('usage: pnpm --filter @strata/bench run micro [--size 64MiB] [--seed 42] [--block 1MiB]');
  console.log('         [--levels default|all|1,3,9] [--only zstd,gzip,brotli,aes-256-gcm,chacha20-poly1305]');
  console.log('         [--budget SECONDS per codec level, default 3] [--clock wall|cpu] [--rounds N] [--json FILE]');
  process.exit(0);
}
const size = parseSize(values.size!);
const seed = Number(values.seed);
const blockSize = parseSize(values.block!);
const budgetMs = Number(values.budget) * 1000;
const rounds = Math.max(1, Math.round(Number(values.rounds)));
const only = values.only ? new Set(values.only.split(',').map((s) => s.trim())) : null;
const wanted = (name: string): boolean => !only || only.has(name);
if (values.clock !== 'wall' && values.clock !== 'cpu') throw new Error(`--clock ${values.clock}: use wall or cpu`);
// wall: elapsed time. cpu: this process's user+system CPU time, which a busy machine disturbs far
// less (every codec and cipher here runs on the calling thread).
const now: () => number =
  values.clock === 'cpu'
    ? () => {
        const u = process.cpuUsage();
        return (u.user + u.system) / 1000;
      }
    : () => performance.now();

/** Generates (or reuses) the dataset under bench/.cache/ and returns its directory and label. */
async function dataset(): Promise<{ dir: string; label: string }> {
  const hasGenerator = existsSync(GENERATOR);
  const genId = hasGenerator ? createHash('sha256').update(readFileSync(GENERATOR)).digest('hex').slice(0, 8) : 'fallback1';
  const dir = join(BENCH, '.cache', 'micro', `mixed-${size}-seed${seed}-${genId}`);
  const done = join(dir, '.complete');
  const label = hasGenerator ? `gen-dataset.mjs ${genId}` : 'fallback generator (figures not comparable)';
  if (existsSync(done)) return { dir, label };
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dirname(dir), { recursive: true });
  const data = join(dir, 'data');
  if (hasGenerator) {
    execFileSync(process.execPath, [GENERATOR, '--out', data, '--profile', 'mixed', '--size', String(size), '--seed', String(seed)], { stdio: 'inherit' });
  } else {
    console.log(`(${GENERATOR} not found: using the built-in fallback generator)`);
    await fallbackGenerate(data, 'mixed', size, seed);
  }
  writeFileSync(done, '');
  return { dir, label };
}

/** Every regular file under dir, in sorted path order, concatenated. */
function concatenate(dir: string): Buffer {
  const parts: Buffer[] = [];
  const walk = (d: string): void => {
    for (const name of readdirSync(d).sort()) {
      const p = join(d, name);
      const st = lstatSync(p);
      if (st.isDirectory()) walk(p);
      else if (st.isFile()) parts.push(readFileSync(p));
    }
  };
  walk(dir);
  return Buffer.concat(parts);
}

/** Blocks in a fixed shuffled order, so a budget-cut prefix is still a sample of the whole dataset. */
function shuffledBlocks(data: Buffer): Buffer[] {
  const blocks: Buffer[] = [];
  for (let off = 0; off + blockSize <= data.byteLength; off += blockSize) blocks.push(data.subarray(off, off + blockSize));
  let x = 0x2545f491;
  for (let i = blocks.length - 1; i > 0; i--) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    const j = (x >>> 0) % (i + 1);
    [blocks[i], blocks[j]] = [blocks[j], blocks[i]];
  }
  return blocks;
}

interface CodecResult {
  codec: string;
  level: number;
  blocks: number;
  ratio: number;
  compressMBps: number;
  decompressMBps: number;
}

function mbps(bytes: number, ms: number): number {
  return bytes / 1e6 / (ms / 1000);
}

function benchCodec(codec: Codec, level: number, blocks: Buffer[]): CodecResult {
  // Warm-up: let the JIT (fflate is plain JavaScript) settle before timing.
  for (const b of blocks.slice(0, 2)) codec.decompress(codec.compress(b, level));
  const packed: Uint8Array[] = [];
  let inBytes = 0;
  let outBytes = 0;
  let compressMs = 0;
  for (const b of blocks) {
    const t = now();
    const c = codec.compress(b, level);
    compressMs += now() - t;
    packed.push(c);
    inBytes += b.byteLength;
    outBytes += c.byteLength;
    if (compressMs > budgetMs && packed.length >= 4) break;
  }
  let decompressMs = 0;
  for (let i = 0; i < packed.length; i++) {
    const t = now();
    const d = codec.decompress(packed[i], blockSize);
    decompressMs += now() - t;
    if (d.byteLength !== blocks[i].byteLength) throw new Error(`${codec.name} level ${level}: block ${i} did not round-trip`);
  }
  return {
    codec: codec.name,
    level,
    blocks: packed.length,
    ratio: outBytes / inBytes,
    compressMBps: mbps(inBytes, compressMs),
    decompressMBps: mbps(inBytes, decompressMs),
  };
}

interface CipherResult {
  cipher: string;
  blocks: number;
  sealMBps: number;
  openMBps: number;
}

function benchCipher(cipher: Cipher, blocks: Buffer[]): CipherResult {
  const key = randomBytes(cipher.keySize);
  const ad = Buffer.from('pack/0123456789abcdef');
  const n = Math.min(blocks.length, 64);
  let bestSeal = Infinity;
  let bestOpen = Infinity;
  let bytes = 0;
  // Best of 3 rounds: the fastest round is the least disturbed by other work on the machine.
  for (let round = 0; round < 3; round++) {
    const sealed: Uint8Array[] = [];
    bytes = 0;
    let t = now();
    for (let i = 0; i < n; i++) {
      sealed.push(cipher.seal(key, blocks[i], ad));
      bytes += blocks[i].byteLength;
    }
    bestSeal = Math.min(bestSeal, now() - t);
    t = now();
    for (const s of sealed) cipher.open(key, s, ad);
    bestOpen = Math.min(bestOpen, now() - t);
  }
  return { cipher: cipher.name, blocks: n, sealMBps: mbps(bytes, bestSeal), openMBps: mbps(bytes, bestOpen) };
}

function levelsFor(codec: Codec): number[] {
  const spec = values.levels!;
  if (spec === 'all') return Array.from({ length: codec.levels.max - codec.levels.min + 1 }, (_, i) => codec.levels.min + i);
  if (spec === 'default') return DEFAULT_LEVELS[codec.name] ?? [codec.levels.default];
  return spec
    .split(',')
    .map(Number)
    .filter((l) => l >= codec.levels.min && l <= codec.levels.max);
}

const pad = (s: string | number, n: number): string => String(s).padStart(n);

async function main(): Promise<void> {
  const ds = await dataset();
  const data = concatenate(join(ds.dir, 'data'));
  const blocks = shuffledBlocks(data);
  const zstd = zstdCodec();
  console.log(`Strata micro-benchmark: node ${process.version}, ${cpus()[0]?.model ?? 'unknown CPU'} x${cpus().length}`);
  console.log(`data: ${(data.byteLength / MiB).toFixed(1)} MiB mixed (${ds.label}, seed ${seed}), ${blocks.length} blocks of ${blockSize / MiB} MiB`);
  console.log(`zstd backend: ${zstd.backend}; MB/s = 10^6 bytes/s of uncompressed data; budget ${budgetMs / 1000} s per codec level; ${values.clock} clock; best of ${rounds} round(s) per codec level\n`);

  const codecResults: CodecResult[] = [];
  const codecs: Codec[] = [zstd, gzipCodec(), brotliCodec()].filter((c) => wanted(c.name));
  if (codecs.length > 0) {
    console.log(`${'codec'.padEnd(8)} ${pad('level', 5)} ${pad('ratio', 7)} ${pad('compress MB/s', 14)} ${pad('decompress MB/s', 16)} ${pad('blocks', 7)}`);
    for (const codec of codecs) {
      for (const level of levelsFor(codec)) {
        // Best of --rounds passes (compress and decompress each keep their fastest pass).
        let r = benchCodec(codec, level, blocks);
        for (let i = 1; i < rounds; i++) {
          const again = benchCodec(codec, level, blocks);
          r = { ...r, compressMBps: Math.max(r.compressMBps, again.compressMBps), decompressMBps: Math.max(r.decompressMBps, again.decompressMBps) };
        }
        codecResults.push(r);
        console.log(
          `${r.codec.padEnd(8)} ${pad(r.level, 5)} ${pad(r.ratio.toFixed(3), 7)} ${pad(r.compressMBps.toFixed(1), 14)} ${pad(r.decompressMBps.toFixed(1), 16)} ${pad(r.blocks, 7)}`,
        );
      }
    }
    console.log('');
  }

  const cipherResults: CipherResult[] = [];
  const ciphers: Cipher[] = [aes256gcm(), chacha20poly1305()].filter((c) => wanted(c.name));
  if (ciphers.length > 0) {
    console.log(`${'cipher'.padEnd(18)} ${pad('seal MB/s', 10)} ${pad('open MB/s', 10)} ${pad('blocks', 7)}`);
    for (const cipher of ciphers) {
      const r = benchCipher(cipher, blocks);
      cipherResults.push(r);
      console.log(`${r.cipher.padEnd(18)} ${pad(r.sealMBps.toFixed(0), 10)} ${pad(r.openMBps.toFixed(0), 10)} ${pad(r.blocks, 7)}`);
    }
  }

  if (values.json) {
    const out = {
      date: new Date().toISOString(),
      node: process.version,
      cpu: cpus()[0]?.model,
      cores: cpus().length,
      dataset: { label: ds.label, bytes: data.byteLength, seed },
      blockSize,
      zstdBackend: zstd.backend,
      clock: values.clock,
      rounds,
      codecs: codecResults,
      ciphers: cipherResults,
    };
    writeFileSync(values.json, JSON.stringify(out, null, 2) + '\n');
    console.log(`\nwrote ${values.json}`);
  }
}

await main();
