import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { aes256gcm } from '@strata/cipher-aes-256-gcm';
import { zstdCodec } from '@strata/codec-zstd';
import type { Cipher, Codec } from '@strata/core';
import { localStore } from '@strata/store-local';
import { type InitOptions, Repository } from '../src/index.js';

export const KDF = { N: 2 ** 10, r: 8, p: 1 };
export const PASSWORD = 'correct horse battery staple';

export function tmpDir(prefix = 'strata-engine-'): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

export function codecs(): Codec[] {
  return [zstdCodec()];
}

export function ciphers(): Cipher[] {
  return [aes256gcm()];
}

export interface TestRepo {
  repo: Repository;
  dir: string;
  open(password?: string): Promise<Repository>;
}

/** A fresh encrypted repository on a local store in a temp dir, small chunks and packs. */
export async function makeRepo(extra: Partial<InitOptions> = {}): Promise<TestRepo> {
  const dir = tmpDir('strata-repo-');
  const repo = await Repository.init({
    store: localStore(dir),
    password: PASSWORD,
    cipher: aes256gcm(),
    codecs: codecs(),
    ciphers: ciphers(),
    kdf: KDF,
    cacheDir: false,
    workers: 2,
    chunker: { min: 16 * 1024, avg: 64 * 1024, max: 256 * 1024 },
    packSize: 1024 * 1024,
    ...extra,
  });
  return {
    repo,
    dir,
    open: (password = PASSWORD) => Repository.open({ store: localStore(dir), password, codecs: codecs(), ciphers: ciphers(), cacheDir: false, workers: 2 }),
  };
}

/** Deterministic pseudo-random bytes. */
export function randomData(size: number, seed = 1): Buffer {
  const out = Buffer.allocUnsafe(size);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < size; i += 4) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    out.writeUInt32LE(x, Math.min(i, size - 4) & ~0 ? i : i);
    if (i + 4 > size) break;
  }
  return out;
}

export function write(root: string, rel: string, data: string | Buffer): string {
  const p = path.join(root, rel);
  fs.mkdirSync(path.dirname(p), { recursive: true });
  fs.writeFileSync(p, data);
  return p;
}

/** Compares two trees: names, types, content, modes, mtimes (ns), symlink targets. Returns differences. */
export function compareTrees(a: string | Buffer, b: string | Buffer, opts: { mtimes?: boolean } = {}): string[] {
  const diffs: string[] = [];
  const walk = (x: Buffer, y: Buffer, rel: string) => {
    const sx = fs.lstatSync(x, { bigint: true });
    let sy: fs.BigIntStats;
    try {
      sy = fs.lstatSync(y, { bigint: true });
    } catch {
      diffs.push(`${rel}: missing`);
      return;
    }
    if ((sx.mode & 0o170000n) !== (sy.mode & 0o170000n)) diffs.push(`${rel}: type`);
    if (!sx.isSymbolicLink() && (sx.mode & 0o7777n) !== (sy.mode & 0o7777n)) diffs.push(`${rel}: mode ${sx.mode.toString(8)} vs ${sy.mode.toString(8)}`);
    if (opts.mtimes !== false && !sx.isSymbolicLink() && sx.mtimeNs !== sy.mtimeNs) diffs.push(`${rel}: mtime ${sx.mtimeNs} vs ${sy.mtimeNs}`);
    if (sx.isFile()) {
      if (!fs.readFileSync(x).equals(fs.readFileSync(y))) diffs.push(`${rel}: content`);
    } else if (sx.isSymbolicLink()) {
      if (!fs.readlinkSync(x, { encoding: 'buffer' }).equals(fs.readlinkSync(y, { encoding: 'buffer' }))) diffs.push(`${rel}: link target`);
    } else if (sx.isDirectory()) {
      const nx = (fs.readdirSync(x, { encoding: 'buffer' }) as Buffer[]).map((n) => n.toString('latin1')).sort();
      const ny = (fs.readdirSync(y, { encoding: 'buffer' }) as Buffer[]).map((n) => n.toString('latin1')).sort();
      if (nx.join('\0') !== ny.join('\0')) diffs.push(`${rel}: entries ${nx.join(',')} vs ${ny.join(',')}`);
      for (const n of nx) {
        const nb = Buffer.from(n, 'latin1');
        walk(Buffer.concat([x, Buffer.from('/'), nb]), Buffer.concat([y, Buffer.from('/'), nb]), `${rel}/${n}`);
      }
    }
  };
  walk(Buffer.from(a), Buffer.from(b), '');
  return diffs;
}

/** Total bytes of the files below a folder (0 when it does not exist). */
export function treeBytes(dir: string): number {
  if (!fs.existsSync(dir)) return 0;
  let n = 0;
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    n += e.isDirectory() ? treeBytes(p) : fs.statSync(p).size;
  }
  return n;
}
