/**
 * RepoInternals: the repository below the public API. Opens keys and config, loads the index, reads
 * and writes blobs, packs, index files and snapshots, and takes locks. Repository (repository.ts),
 * backup, restore, check, forget and prune are built on it. INTERNALS.md describes it for the
 * maintainers of retention/ and prune.ts.
 */
import { randomBytes } from 'node:crypto';
import type { Cipher, Codec, Store } from '@strata/core';
import { ConfigError, CorruptError, InvalidArgumentError, NotFoundError, RepositoryExistsError, RepositoryNotFoundError, WrongPasswordError, isNotFound } from '@strata/core';
import { Cache, defaultCacheRoot } from './cache.js';
import { Box, BLOB_TREE, type CompressionChoice, type MasterKeys, parseCompression } from './format/box.js';
import { CONFIG_PLAIN, CONFIG_SEALED, FORMAT_VERSION, type RepoConfig, encodeConfigJson, parseConfigJson } from './format/config.js';
import { DEFAULT_KDF, type KdfParams, createKeyFile, newMasterKeys, openKeyFile, parseKeyFile } from './format/keys.js';
import { type IndexFileContent, type PackEntry, decodeIndex, decodePackHeader, splitPackTail } from './format/pack.js';
import { type TreeNode, decodeTree } from './format/tree.js';
import { baseName, corrupt, fromHexId, isHexId, keys, parseJsonObject, sha256Hex } from './format/util.js';
import { DEFAULT_LOCK_TIMINGS, type HeldLock, LockManager } from './lock.js';
import { MasterIndex } from './master-index.js';
import { Packer } from './packer.js';
import { Pool } from './pool.js';
import type { InitOptions, Logger, RepositoryOptions, Snapshot } from './types.js';

export const DEFAULT_PACK_SIZE = 16 * 1024 * 1024;
export const DEFAULT_CHUNKER = { min: 512 * 1024, avg: 1024 * 1024, max: 8 * 1024 * 1024 };

const silent: Logger = { debug() {}, info() {}, warn() {}, error() {} };

export interface LoadedIndexFile {
  id: string;
  content: IndexFileContent;
}

export class RepoInternals {
  readonly store: Store;
  readonly config: RepoConfig;
  readonly cipher: Cipher | null;
  readonly codecs: Codec[];
  readonly box: Box;
  readonly keys: MasterKeys;
  /** The key file that opened the repository (undefined without encryption). */
  keyId: string | undefined;
  readonly cache: Cache | undefined;
  /** Replaced (not mutated) when index files disappeared (a prune by another process). */
  index = new MasterIndex();
  /** Ids of the index files loaded into `index`. */
  readonly indexFiles = new Set<string>();
  readonly locks: LockManager;
  readonly logger: Logger;
  readonly options: RepositoryOptions;
  private pool: Pool | undefined;
  private readonly treeCache = new Map<string, TreeNode[]>();
  private readonly packMemo = new Map<string, Uint8Array>();
  private packMemoBytes = 0;

  private constructor(options: RepositoryOptions, config: RepoConfig, cipher: Cipher | null, keys: MasterKeys, keyId: string | undefined) {
    this.options = options;
    this.store = options.store;
    this.config = config;
    this.cipher = cipher;
    this.codecs = options.codecs ?? [];
    this.keys = keys;
    this.keyId = keyId;
    this.box = new Box(cipher, keys, this.codecs);
    this.logger = options.logger ?? silent;
    this.cache = options.cacheDir === false ? undefined : new Cache(options.cacheDir ?? defaultCacheRoot(), config.id);
    this.locks = new LockManager(this.store, this.box, { ...DEFAULT_LOCK_TIMINGS, ...(options.lock ?? {}) });
  }

  // ------------------------------------------------------------------ init / open

  static async init(o: InitOptions): Promise<RepoInternals> {
    await o.store.create?.();
    try {
      await o.store.stat(keys.config);
      throw new RepositoryExistsError('engine', `a repository already exists at ${o.store.location}; open it instead, or choose an empty location.`);
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
    const chunker = { ...DEFAULT_CHUNKER, ...(o.chunker ?? {}) };
    if (!(chunker.min >= 64 && chunker.min <= chunker.avg && chunker.avg <= chunker.max && chunker.max <= 64 * 1024 * 1024)) {
      throw new InvalidArgumentError('engine', 'chunker sizes must satisfy 64 <= min <= avg <= max <= 64 MiB.');
    }
    const packSize = o.packSize ?? DEFAULT_PACK_SIZE;
    if (!Number.isInteger(packSize) || packSize < 1024 || packSize > 1024 * 1024 * 1024) throw new InvalidArgumentError('engine', 'packSize must be a whole number of bytes from 1 KiB to 1 GiB.');
    const compression = o.compression ?? 'auto';
    parseCompression(compression, o.codecs ?? []);
    const cipher = o.cipher;
    const master = newMasterKeys(cipher?.keySize ?? 32);
    const config: RepoConfig = {
      version: FORMAT_VERSION,
      id: randomBytes(32).toString('hex'),
      created: new Date().toISOString(),
      cipher: cipher?.name ?? null,
      cipherId: cipher?.id ?? null,
      compression,
      packSize,
      chunker,
      blobId: cipher ? 'hmac-sha256' : 'sha256',
    };
    if (!cipher) config.chunkerSecret = Buffer.from(master.chunker).toString('base64');
    const box = new Box(cipher, master, o.codecs ?? []);
    let keyId: string | undefined;
    if (cipher) {
      const kdf: KdfParams = o.kdf ?? DEFAULT_KDF;
      const file = await createKeyFile(o.password, master, cipher, kdf);
      keyId = sha256Hex(file);
      await o.store.put(keys.key(keyId), file);
    }
    const body = encodeConfigJson(config);
    const stored = cipher ? Buffer.concat([Buffer.from([CONFIG_SEALED]), box.sealObject('config', body)]) : Buffer.concat([Buffer.from([CONFIG_PLAIN]), body]);
    await o.store.put(keys.config, stored, { ifAbsent: true });
    return new RepoInternals(o, config, cipher, master, keyId);
  }

  static async open(o: RepositoryOptions): Promise<RepoInternals> {
    let raw: Uint8Array;
    try {
      raw = await o.store.get(keys.config);
    } catch (err) {
      if (isNotFound(err)) throw new RepositoryNotFoundError('engine', `no repository at ${o.store.location}; run "strata init" to create one.`, { cause: err });
      throw err;
    }
    if (raw.length < 2) throw corrupt('config', 'too short');
    if (raw[0] === CONFIG_PLAIN) {
      const config = parseConfigJson(raw.subarray(1));
      if (config.cipher !== null) throw corrupt('config', 'plaintext config of an encrypted repository');
      // An unencrypted config next to key files would be a downgrade: refuse it.
      for await (const k of o.store.list('keys/')) {
        throw corrupt('config', `an unencrypted config but key file ${baseName(k.key)} exists`);
      }
      const master: MasterKeys = { encrypt: new Uint8Array(32), mac: new Uint8Array(32), chunker: new Uint8Array(Buffer.from(config.chunkerSecret!, 'base64')) };
      return new RepoInternals(o, config, null, master, undefined);
    }
    if (raw[0] !== CONFIG_SEALED) throw corrupt('config', 'unknown config envelope');
    let sawKey = false;
    let lastCipherMiss: string | undefined;
    for await (const k of o.store.list('keys/')) {
      sawKey = true;
      let file;
      try {
        file = parseKeyFile(await o.store.get(k.key));
      } catch (err) {
        if (err instanceof CorruptError || isNotFound(err)) continue;
        throw err;
      }
      const cipher = (o.ciphers ?? []).find((c) => c.id === file.cipherId);
      if (!cipher) {
        lastCipherMiss = file.cipher;
        continue;
      }
      const master = await openKeyFile(file, o.password, cipher);
      if (!master) continue;
      const box = new Box(cipher, master, o.codecs ?? []);
      const config = parseConfigJson(box.openObject('config', raw.subarray(1), 'config'));
      if (config.cipherId !== cipher.id) throw corrupt('config', 'cipher does not match the key file');
      return new RepoInternals(o, config, cipher, master, baseName(k.key));
    }
    if (!sawKey) throw new RepositoryNotFoundError('engine', `the repository at ${o.store.location} has no key files; it is damaged or not a repository.`);
    if (lastCipherMiss) throw new ConfigError('engine', `the repository is encrypted with ${lastCipherMiss}, which is not loaded; add that cipher plugin.`);
    throw new WrongPasswordError('engine', 'wrong password: no key of this repository opens with it; check the password or the password file.');
  }

  // ------------------------------------------------------------------ objects

  /** Reads an object and checks that it hashes to its name (everything but config and keys). */
  async readVerified(key: string, useCache: boolean): Promise<Uint8Array> {
    if (useCache && this.cache) {
      const hit = await this.cache.get(key);
      if (hit) return hit;
    }
    const data = await this.store.get(key);
    if (sha256Hex(data) !== baseName(key)) throw corrupt(key, 'its bytes do not hash to its name');
    if (useCache && this.cache) await this.cache.put(key, data);
    return data;
  }

  async *listIds(prefix: 'index/' | 'snapshots/' | 'keys/' | 'locks/' | 'data/'): AsyncGenerator<{ id: string; key: string; size: number }> {
    for await (const o of this.store.list(prefix)) {
      const id = baseName(o.key);
      if (isHexId(id)) yield { id, key: o.key, size: o.size };
    }
  }

  // ------------------------------------------------------------------ index

  async readIndexFile(id: string): Promise<IndexFileContent> {
    const sealed = await this.readVerified(keys.index(id), true);
    return decodeIndex(this.box.openCompressed('index', sealed, `index file ${id}`));
  }

  /** Loads every index file not loaded yet. Damaged index files are returned, not thrown. */
  async loadIndex(): Promise<{ damaged: { id: string; error: Error }[] }> {
    const damaged: { id: string; error: Error }[] = [];
    const ids: string[] = [];
    const listed = new Set<string>();
    for await (const o of this.listIds('index/')) listed.add(o.id);
    // Index files that left the store (prune elsewhere) may name deleted packs: start over.
    if ([...this.indexFiles].some((id) => !listed.has(id))) {
      this.index = new MasterIndex();
      this.indexFiles.clear();
    }
    for (const id of listed) if (!this.indexFiles.has(id)) ids.push(id);
    const results = await mapLimit(ids, 8, async (id) => {
      try {
        return { id, content: await this.readIndexFile(id) };
      } catch (err) {
        if (err instanceof CorruptError || isNotFound(err)) {
          damaged.push({ id, error: err as Error });
          return undefined;
        }
        throw err;
      }
    });
    for (const r of results) {
      if (!r) continue;
      this.indexFiles.add(r.id);
      for (const p of r.content.packs) this.index.addPack(Buffer.from(p.id).toString('hex'), p.blobs);
    }
    if (this.cache) {
      // Forget cached index files that left the store (prune).
      const live = new Set(ids.concat([...this.indexFiles]));
      for (const k of await this.cache.list('index/')) if (!live.has(baseName(k))) await this.cache.delete(k);
    }
    return { damaged };
  }

  /** Every index file with its content (for check and prune). */
  async loadIndexFiles(): Promise<{ files: LoadedIndexFile[]; damaged: { id: string; error: Error }[] }> {
    const files: LoadedIndexFile[] = [];
    const damaged: { id: string; error: Error }[] = [];
    const ids: string[] = [];
    for await (const o of this.listIds('index/')) ids.push(o.id);
    await mapLimit(ids, 8, async (id) => {
      try {
        files.push({ id, content: await this.readIndexFile(id) });
      } catch (err) {
        if (err instanceof CorruptError || isNotFound(err)) damaged.push({ id, error: err as Error });
        else throw err;
      }
    });
    return { files, damaged };
  }

  // ------------------------------------------------------------------ packs and blobs

  /** Reads and decodes a pack's header (two small range reads). */
  async readPackHeader(packId: string, size?: number): Promise<PackEntry[]> {
    const key = keys.pack(packId);
    const total = size ?? (await this.store.stat(key)).size;
    const tailLen = Math.min(total, 64 * 1024);
    let tail = await this.store.get(key, { offset: total - tailLen, length: tailLen });
    let split = splitPackTail(tail, total, `pack ${packId}`);
    if (split.dataLength < 0) {
      const need = -split.dataLength;
      tail = await this.store.get(key, { offset: total - need, length: need });
      split = splitPackTail(tail, total, `pack ${packId}`);
    }
    const header = this.box.openObject('packHeader', split.sealedHeader, `header of pack ${packId}`);
    return decodePackHeader(header, split.dataLength, `header of pack ${packId}`);
  }

  /**
   * Packs in the store that no loaded index file names (left by a backup killed before it wrote their
   * index file), with their headers. Costs one listing of data/ and, per such pack, one header read
   * (two small range reads; the header is authenticated by the cipher, the pack is not hashed). A pack
   * whose header cannot be read or authenticated is skipped (logged; prune removes it), never thrown.
   */
  async readUnindexedPacks(): Promise<{ id: string; entries: PackEntry[] }[]> {
    const candidates: { id: string; size: number }[] = [];
    for await (const o of this.listIds('data/')) if (!this.index.hasPack(o.id)) candidates.push(o);
    const found = await mapLimit(candidates, 8, async (p) => {
      try {
        return { id: p.id, entries: await this.readPackHeader(p.id, p.size) };
      } catch (err) {
        this.logger.warn({ pack: p.id, err: (err as Error).message }, 'skipping a pack no index lists whose header cannot be read');
        return undefined;
      }
    });
    return found.filter((f) => f !== undefined);
  }

  /** Decodes the header of a whole pack held in memory. */
  parsePack(packId: string, bytes: Uint8Array): PackEntry[] {
    const split = splitPackTail(bytes, bytes.length, `pack ${packId}`);
    if (split.dataLength < 0) throw corrupt(`pack ${packId}`, 'truncated');
    return decodePackHeader(this.box.openObject('packHeader', split.sealedHeader, `header of pack ${packId}`), split.dataLength, `header of pack ${packId}`);
  }

  /** The stored bytes of a blob (sealed), from the tree-pack cache or a range read. */
  async readStoredBlob(idHex: string): Promise<{ stored: Uint8Array; type: number; rawLength: number; pack: string }> {
    const loc = this.index.getHex(idHex);
    if (!loc) throw new NotFoundError('engine', `blob ${idHex} is not in the index; run "strata check".`);
    if (loc.type === BLOB_TREE) {
      const pack = await this.treePack(loc.pack);
      if (pack) {
        if (loc.offset + loc.length > pack.length) throw corrupt(`pack ${loc.pack}`, 'shorter than the index says');
        return { stored: pack.subarray(loc.offset, loc.offset + loc.length), type: loc.type, rawLength: loc.rawLength, pack: loc.pack };
      }
    }
    const stored = await this.store.get(keys.pack(loc.pack), { offset: loc.offset, length: loc.length });
    if (stored.length !== loc.length) throw corrupt(`pack ${loc.pack}`, 'shorter than the index says');
    return { stored, type: loc.type, rawLength: loc.rawLength, pack: loc.pack };
  }

  /** A whole tree pack from memory or the local cache (fetched and verified once). */
  private async treePack(packId: string): Promise<Uint8Array | undefined> {
    const memo = this.packMemo.get(packId);
    if (memo) return memo;
    const bytes = await this.readVerified(keys.pack(packId), this.cache !== undefined);
    this.packMemo.set(packId, bytes);
    this.packMemoBytes += bytes.length;
    while (this.packMemoBytes > 64 * 1024 * 1024 && this.packMemo.size > 1) {
      const [k, v] = this.packMemo.entries().next().value as [string, Uint8Array];
      this.packMemo.delete(k);
      this.packMemoBytes -= v.length;
    }
    return bytes;
  }

  /** Loads a blob and checks it against its id. */
  async loadBlob(idHex: string): Promise<Uint8Array> {
    const { stored, type, rawLength } = await this.readStoredBlob(idHex);
    return this.box.decodeBlob(type, fromHexId(idHex), stored, rawLength);
  }

  async loadTree(idHex: string): Promise<TreeNode[]> {
    const hit = this.treeCache.get(idHex);
    if (hit) return hit;
    const { stored, type, rawLength } = await this.readStoredBlob(idHex);
    // The id is recomputed from the plaintext, as for every blob read.
    const nodes = decodeTree(this.box.decodeBlob(type, fromHexId(idHex), stored, rawLength));
    if (this.treeCache.size > 4096) this.treeCache.delete(this.treeCache.keys().next().value as string);
    this.treeCache.set(idHex, nodes);
    return nodes;
  }

  // ------------------------------------------------------------------ snapshots

  async loadSnapshot(id: string): Promise<Snapshot> {
    const sealed = await this.readVerified(keys.snapshot(id), true);
    const o = parseJsonObject(this.box.openCompressed('snapshot', sealed, `snapshot ${id}`), `snapshot ${id}`);
    if (typeof o.tree !== 'string' || !isHexId(o.tree) || typeof o.time !== 'string') throw corrupt(`snapshot ${id}`, 'missing fields');
    return { ...(o as unknown as Snapshot), id };
  }

  /** Every snapshot, oldest first. Damaged ones are skipped (check reports them). */
  async listSnapshots(): Promise<Snapshot[]> {
    const ids: string[] = [];
    for await (const o of this.listIds('snapshots/')) ids.push(o.id);
    const out: Snapshot[] = [];
    await mapLimit(ids, 8, async (id) => {
      try {
        out.push(await this.loadSnapshot(id));
      } catch (err) {
        if (err instanceof CorruptError || isNotFound(err)) this.logger.warn({ snapshot: id, err: (err as Error).message }, 'skipping a damaged snapshot');
        else throw err;
      }
    });
    if (this.cache) {
      const live = new Set(ids);
      for (const k of await this.cache.list('snapshots/')) if (!live.has(baseName(k))) await this.cache.delete(k);
    }
    return out.sort((a, b) => (a.time < b.time ? -1 : a.time > b.time ? 1 : a.id < b.id ? -1 : 1));
  }

  /** Stores a snapshot (after its packs and index); returns its id. */
  async saveSnapshot(snapshot: Omit<Snapshot, 'id'>): Promise<string> {
    const { id: _drop, ...body } = snapshot as Snapshot;
    const sealed = this.box.sealCompressed('snapshot', new TextEncoder().encode(JSON.stringify(body)), this.metaCompression());
    const id = sha256Hex(sealed);
    await this.store.put(keys.snapshot(id), sealed);
    if (this.cache) await this.cache.put(keys.snapshot(id), sealed);
    return id;
  }

  async deleteSnapshot(id: string): Promise<void> {
    await this.store.delete(keys.snapshot(id));
    await this.cache?.delete(keys.snapshot(id));
  }

  // ------------------------------------------------------------------ writing

  /** Compression for index files, snapshots and trees. */
  metaCompression(): CompressionChoice {
    try {
      return parseCompression(this.config.compression === 'none' ? 'none' : 'auto', this.codecs);
    } catch {
      return { mode: 'none' };
    }
  }

  newPacker(): Packer {
    return new Packer({ store: this.store, box: this.box, index: this.index, cache: this.cache, indexCompression: this.metaCompression(), onIndexFile: (id) => this.indexFiles.add(id) }, this.config.packSize);
  }

  /** Deletes packs (prune, after the index no longer references them). */
  async deletePacks(ids: string[]): Promise<void> {
    await mapLimit(ids, 8, async (id) => {
      await this.store.delete(keys.pack(id));
      await this.cache?.delete(keys.pack(id));
    });
  }

  async deleteIndexFiles(ids: string[]): Promise<void> {
    await mapLimit(ids, 8, async (id) => {
      await this.store.delete(keys.index(id));
      await this.cache?.delete(keys.index(id));
      this.indexFiles.delete(id);
    });
  }

  // ------------------------------------------------------------------ locks, workers

  lock(exclusive: boolean): Promise<HeldLock> {
    return this.locks.acquire(exclusive);
  }

  workers(compression?: string): Pool {
    const comp = compression ?? this.config.compression;
    if (this.pool && this.poolCompression === comp) return this.pool;
    void this.pool?.close();
    this.poolCompression = comp;
    this.pool = Pool.create(this.cipher, this.codecs, this.keys, { params: this.config.chunker, secret: this.keys.chunker }, comp, this.options.workers);
    return this.pool;
  }
  private poolCompression: string | undefined;

  // ------------------------------------------------------------------ keys

  async addKey(password: string, kdf?: KdfParams): Promise<string> {
    if (!this.cipher) throw new InvalidArgumentError('engine', 'an unencrypted repository has no keys.');
    let params = kdf;
    if (!params && this.keyId) {
      try {
        const cur = parseKeyFile(await this.store.get(keys.key(this.keyId)));
        params = { N: cur.N, r: cur.r, p: cur.p };
      } catch {
        params = undefined;
      }
    }
    const file = await createKeyFile(password, this.keys, this.cipher, params ?? DEFAULT_KDF);
    const id = sha256Hex(file);
    await this.store.put(keys.key(id), file);
    return id;
  }

  async close(): Promise<void> {
    await this.pool?.close();
    this.pool = undefined;
  }
}

/** Runs fn over items with at most `limit` at once; results in input order. */
export async function mapLimit<T, R>(items: T[], limit: number, fn: (item: T, i: number) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const run = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i], i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, run));
  return out;
}
