/**
 * A small stand-in for the shared dataset generator, used only when that generator is not present
 * (e.g. a fresh clone in CI). Deterministic per seed, but not byte-identical to the shared generator:
 * results made with it are labelled "fallback" and are not comparable with published figures.
 */
import { appendFile, mkdir, readFile, readdir, rm, stat, symlink, truncate, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

class Rng {
  private s: number;
  constructor(seed: number) {
    this.s = (seed ^ 0x9e3779b9) >>> 0 || 1;
  }
  u32(): number {
    // xorshift32
    let x = this.s;
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    this.s = x >>> 0;
    return this.s;
  }
  int(n: number): number {
    return Math.floor((this.u32() / 2 ** 32) * n);
  }
  bytes(n: number): Uint8Array {
    const out = new Uint8Array(n);
    const words = new Uint32Array(out.buffer, 0, n >>> 2);
    for (let i = 0; i < words.length; i++) words[i] = this.u32();
    for (let i = words.length * 4; i < n; i++) out[i] = this.u32() & 0xff;
    return out;
  }
}

const WORDS = 'the of and backup snapshot chunk index repository storage stream cache error request data file tree pack key lock'.split(' ');

function text(rng: Rng, n: number): Uint8Array {
  const parts: string[] = [];
  let len = 0;
  while (len < n) {
    const w = WORDS[rng.int(WORDS.length)] + (rng.int(12) === 0 ? '.\n' : ' ');
    parts.push(w);
    len += w.length;
  }
  return new TextEncoder().encode(parts.join('')).subarray(0, n);
}

const MTIME = new Date('2023-06-01T00:00:00Z');

async function put(path: string, data: Uint8Array): Promise<void> {
  await writeFile(path, data);
  await utimes(path, MTIME, MTIME);
}

/** Writes about `size` bytes of the profile into `dir` (created). */
export async function fallbackGenerate(dir: string, profile: 'mixed' | 'manyfiles', size: number, seed: number): Promise<void> {
  const rng = new Rng(seed);
  await mkdir(dir, { recursive: true });
  if (profile === 'manyfiles') {
    const n = Math.max(1, Math.round(size / 4096));
    for (let i = 0; i < n; i++) {
      const d = join(dir, `d${Math.floor(i / 50)}`);
      if (i % 50 === 0) await mkdir(d, { recursive: true });
      const len = 1024 + rng.int(6144);
      await put(join(d, `f${i}.txt`), rng.int(2) ? text(rng, len) : rng.bytes(len));
    }
    return;
  }
  for (const sub of ['docs', 'media', 'vm', 'tree/a/b/c', 'empty-dir']) await mkdir(join(dir, sub), { recursive: true });
  let left = size;
  // 20% large near-duplicates, 25% random, 40% text, 15% small files.
  const big = Math.max(1, Math.floor(size * 0.1));
  const base = rng.bytes(big);
  await put(join(dir, 'vm', 'base.img'), base);
  const clone = new Uint8Array(big + 1000);
  const at = Math.floor(big / 2);
  clone.set(base.subarray(0, at));
  clone.set(rng.bytes(1000), at);
  clone.set(base.subarray(at), at + 1000);
  await put(join(dir, 'vm', 'clone of base.img'), clone);
  left -= 2 * big;
  for (let i = 0, budget = size * 0.25; budget > 0; i++) {
    const len = Math.min(budget, 256 * 1024 + rng.int(4 * 1024 * 1024));
    await put(join(dir, 'media', `m${i}.jpg`), rng.bytes(len));
    budget -= len;
    left -= len;
  }
  for (let i = 0, budget = size * 0.4; budget > 0; i++) {
    const len = Math.min(budget, 4096 + rng.int(1024 * 1024));
    await put(join(dir, 'docs', `doc ${i} – ñ.txt`), text(rng, len));
    budget -= len;
    left -= len;
  }
  for (let i = 0; left > 0; i++) {
    const len = Math.min(left, 1024 + rng.int(64 * 1024));
    await put(join(dir, 'tree/a/b/c'.split('/').slice(0, 1 + (i % 4)).join('/'), `s${i}.dat`), rng.int(2) ? text(rng, len) : rng.bytes(len));
    left -= len;
  }
  await put(join(dir, 'empty'), new Uint8Array(0));
  await symlink('docs/doc 0 – ñ.txt', join(dir, 'latest.txt'));
}

async function listFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...(await listFiles(p)));
    else if (e.isFile()) out.push(p);
  }
  return out.sort();
}

/** Changes about `percent`% of the bytes: overwrites, appends, new files, a few deletions. */
export async function fallbackMutate(dir: string, percent: number, seed: number): Promise<void> {
  const rng = new Rng(seed);
  const files = await listFiles(dir);
  let total = 0;
  for (const f of files) total += (await stat(f)).size;
  let budget = Math.ceil((total * percent) / 100);
  const later = new Date(MTIME.getTime() + 86_400_000);
  for (let i = 0; budget > 0 && i < 50; i++) {
    const f = files[rng.int(files.length)];
    const data = new Uint8Array(await readFile(f));
    const len = Math.min(budget, Math.max(1, Math.floor(data.length / 10)), 256 * 1024);
    const kind = rng.int(4);
    if (kind === 0) await appendFile(f, rng.bytes(len));
    else if (kind === 1) await writeFile(join(dir, `new-${seed}-${i}.bin`), rng.bytes(len));
    else if (kind === 2 && data.length > 1) await truncate(f, data.length - 1);
    else {
      data.set(rng.bytes(Math.min(len, data.length)), rng.int(Math.max(1, data.length - len)));
      await writeFile(f, data);
    }
    await utimes(f, later, later).catch(() => {});
    budget -= len;
  }
  const doomed = files[rng.int(files.length)];
  await rm(doomed, { force: true });
}
