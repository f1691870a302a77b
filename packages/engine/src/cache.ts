/**
 * The local cache (~/.cache/strata/<repository id>): copies of index files, snapshots and tree
 * packs, stored exactly as in the store (sealed) under the same keys. An entry is used only when
 * its bytes hash to its name, so a damaged cache file is ignored and fetched again.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { baseName, isHexId, sha256Hex } from './format/util.js';

export function defaultCacheRoot(): string {
  const xdg = process.env.XDG_CACHE_HOME;
  return path.join(xdg && path.isAbsolute(xdg) ? xdg : path.join(os.homedir(), '.cache'), 'strata');
}

export class Cache {
  readonly dir: string;

  constructor(root: string, repoId: string) {
    this.dir = path.join(root, repoId);
  }

  private file(key: string): string {
    return path.join(this.dir, ...key.split('/'));
  }

  /** The cached bytes, or undefined when absent or damaged. */
  async get(key: string): Promise<Uint8Array | undefined> {
    const id = baseName(key);
    if (!isHexId(id)) return undefined;
    let data: Buffer;
    try {
      data = await fs.promises.readFile(this.file(key));
    } catch {
      return undefined;
    }
    if (sha256Hex(data) !== id) {
      await fs.promises.rm(this.file(key), { force: true });
      return undefined;
    }
    return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  }

  /** Stores a copy; failures are ignored (the cache is an optimization). */
  async put(key: string, data: Uint8Array): Promise<void> {
    const file = this.file(key);
    const tmp = `${file}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`;
    try {
      await fs.promises.mkdir(path.dirname(file), { recursive: true });
      await fs.promises.writeFile(tmp, data);
      await fs.promises.rename(tmp, file);
    } catch {
      await fs.promises.rm(tmp, { force: true }).catch(() => undefined);
    }
  }

  async delete(key: string): Promise<void> {
    await fs.promises.rm(this.file(key), { force: true }).catch(() => undefined);
  }

  /** Keys cached under a prefix ('index/', 'snapshots/', 'data/'). */
  async list(prefix: string): Promise<string[]> {
    const root = this.file(prefix.replace(/\/$/, ''));
    const out: string[] = [];
    const walk = async (dir: string, rel: string) => {
      let entries: fs.Dirent[];
      try {
        entries = await fs.promises.readdir(dir, { withFileTypes: true });
      } catch {
        return;
      }
      for (const e of entries) {
        if (e.isDirectory()) await walk(path.join(dir, e.name), `${rel}${e.name}/`);
        else if (isHexId(e.name)) out.push(`${rel}${e.name}`);
      }
    };
    await walk(root, prefix.endsWith('/') ? prefix : `${prefix}/`);
    return out;
  }
}
