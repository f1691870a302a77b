/**
 * Repository: the public face of @strata/engine (see README.md). Wraps RepoInternals; every method
 * that reads or writes the repository takes a lock for its duration.
 */
import type { Writable } from 'node:stream';
import { InvalidArgumentError, NotFoundError } from '@strata/core';
import { runBackup } from './backup/archiver.js';
import { runCheck, verifySnapshot } from './check.js';
import { runCopy } from './copy.js';
import { type RepoConfig } from './format/config.js';
import { parseKeyFile } from './format/keys.js';
import { keys } from './format/util.js';
import { diffSnapshots, dumpPath, listSnapshot, repositoryStats } from './inspect.js';
import { RepoInternals } from './internals.js';
import { prune } from './prune.js';
import { runRestore } from './restore.js';
import { forgetSnapshots } from './retention/forget.js';
import type {
  BackupOptions, BackupResult, CheckOptions, CheckProblem, CheckResult, CopyOptions, CopyResult, DiffResult, ForgetGroup, ForgetOptions, InitOptions, KeyInfo, NodeEntry,
  PruneOptions, PruneResult, RepositoryOptions, RepositoryStats, RestoreOptions, RestoreResult, RetentionPolicy, Snapshot, SnapshotFilter,
} from './types.js';

export interface PublicConfig {
  version: number;
  id: string;
  cipher: string | null;
  compression: string;
  packSize: number;
  chunker: { min: number; avg: number; max: number };
}

function publicConfig(c: RepoConfig): PublicConfig {
  return { version: c.version, id: c.id, cipher: c.cipher, compression: c.compression, packSize: c.packSize, chunker: { ...c.chunker } };
}

export function matchesFilter(s: Snapshot, f: SnapshotFilter | undefined): boolean {
  if (!f) return true;
  if (f.host !== undefined && s.host !== f.host) return false;
  if (f.tags && f.tags.length > 0 && !f.tags.every((t) => s.tags.includes(t))) return false;
  if (f.paths && f.paths.length > 0 && !f.paths.every((p) => s.paths.includes(p))) return false;
  return true;
}

export class Repository {
  /** @internal The layer below the API, for forget/prune and tests. */
  readonly internals: RepoInternals;
  readonly id: string;
  readonly config: PublicConfig;

  private constructor(internals: RepoInternals) {
    this.internals = internals;
    this.id = internals.config.id;
    this.config = publicConfig(internals.config);
  }

  /** Creates a repository in an empty store (calls store.create?() first). RepositoryExistsError if `config` exists. */
  static async init(options: InitOptions): Promise<Repository> {
    return new Repository(await RepoInternals.init(options));
  }

  /** Opens; RepositoryNotFoundError when there is no `config`; WrongPasswordError when no key opens. */
  static async open(options: RepositoryOptions): Promise<Repository> {
    return new Repository(await RepoInternals.open(options));
  }

  /** Backs up paths (or options.stdin) into a new snapshot under a shared lock. */
  backup(paths: string[], options?: BackupOptions): Promise<BackupResult> {
    return runBackup(this.internals, paths, options);
  }

  /** Restores a snapshot into target; never throws for damaged files (result.success = false). */
  async restore(ref: string, target: string, options?: RestoreOptions): Promise<RestoreResult> {
    const lock = await this.internals.lock(false);
    try {
      await this.internals.loadIndex();
      const snap = await this.findSnapshot(ref);
      return await runRestore(this.internals, snap, target, options);
    } finally {
      await lock.release();
    }
  }

  /** Snapshots matching the filter, oldest first. */
  async snapshots(filter?: SnapshotFilter): Promise<Snapshot[]> {
    return (await this.internals.listSnapshots()).filter((s) => matchesFilter(s, filter));
  }

  /** 'latest', a full id or a unique prefix; NotFoundError, or InvalidArgumentError when ambiguous. */
  async findSnapshot(ref: string): Promise<Snapshot> {
    const all = await this.internals.listSnapshots();
    if (ref === 'latest') {
      const s = all[all.length - 1];
      if (!s) throw new NotFoundError('engine', 'the repository has no snapshots yet; run a backup first.');
      return s;
    }
    if (!/^[0-9a-f]{1,64}$/.test(ref)) throw new InvalidArgumentError('engine', `"${ref}" is not a snapshot id; use "latest", an id or a unique id prefix.`);
    const hits = all.filter((s) => s.id.startsWith(ref));
    if (hits.length === 0) throw new NotFoundError('engine', `no snapshot with id ${ref}; list them with "strata snapshots".`);
    if (hits.length > 1) throw new InvalidArgumentError('engine', `snapshot prefix ${ref} is ambiguous (${hits.length} snapshots); give more digits.`);
    return hits[0];
  }

  /** Every entry under `path` (default: the whole snapshot), depth first, the start itself included. */
  async *ls(ref: string, path?: string): AsyncIterable<NodeEntry> {
    await this.internals.loadIndex();
    const snap = await this.findSnapshot(ref);
    yield* listSnapshot(this.internals, snap, path);
  }

  /** What changed from snapshot a to snapshot b: '+' added, '-' removed, 'M' modified, 'T' type changed. */
  async diff(a: string, b: string): Promise<DiffResult> {
    await this.internals.loadIndex();
    return diffSnapshots(this.internals, await this.findSnapshot(a), await this.findSnapshot(b));
  }

  /** Figures for one snapshot, or for all of them. */
  async stats(ref?: string): Promise<RepositoryStats> {
    await this.internals.loadIndex();
    const snaps = ref ? [await this.findSnapshot(ref)] : await this.snapshots();
    const st = await repositoryStats(this.internals, snaps);
    if (!ref) {
      // The whole repository: every pack and index file in the store.
      let stored = 0;
      let packs = 0;
      for await (const o of this.internals.listIds('data/')) {
        stored += o.size;
        packs++;
      }
      for await (const o of this.internals.listIds('index/')) stored += o.size;
      st.storedSize = stored;
      st.packs = packs;
    }
    return st;
  }

  /** Writes a file's bytes, or a tar (ustar/pax) of a directory, to `out` (not ended). */
  async dump(ref: string, path: string, out: NodeJS.WritableStream): Promise<void> {
    const lock = await this.internals.lock(false);
    try {
      await this.internals.loadIndex();
      await dumpPath(this.internals, await this.findSnapshot(ref), path, out as Writable);
    } finally {
      await lock.release();
    }
  }

  /** Verifies the repository (see CheckOptions); damage is reported in the result, not thrown. */
  async check(options?: CheckOptions): Promise<CheckResult> {
    const lock = await this.internals.lock(false);
    try {
      return await runCheck(this.internals, options);
    } finally {
      await lock.release();
    }
  }

  /** Reads back and verifies every blob of one snapshot; returns the problems (empty when sound). */
  async verifySnapshot(ref: string): Promise<CheckProblem[]> {
    const lock = await this.internals.lock(false);
    try {
      await this.internals.loadIndex();
      return await verifySnapshot(this.internals, await this.findSnapshot(ref));
    } finally {
      await lock.release();
    }
  }

  /** Applies a retention policy; removes the snapshots it does not keep (exclusive lock unless dryRun). */
  forget(policy: RetentionPolicy, options?: ForgetOptions): Promise<ForgetGroup[]> {
    return forgetSnapshots(this.internals, policy, options);
  }

  /** Removes data no snapshot needs and repacks sparse packs (exclusive lock). */
  prune(options?: PruneOptions): Promise<PruneResult> {
    return prune(this.internals, options);
  }

  /** Copies snapshots (default all) with the blobs they need from another open repository. */
  async copyFrom(source: Repository, options: CopyOptions = {}): Promise<CopyResult> {
    const lock = await this.internals.lock(false);
    const srcLock = await source.internals.lock(false);
    try {
      let selected: Snapshot[];
      if (options.snapshots && options.snapshots.length > 0) {
        selected = [];
        for (const r of options.snapshots) {
          const s = await source.findSnapshot(r);
          if (!selected.some((x) => x.id === s.id)) selected.push(s);
        }
      } else selected = await source.snapshots();
      return await runCopy(this.internals, source.internals, selected, options);
    } finally {
      await srcLock.release();
      await lock.release();
    }
  }

  /** The key files; `current` marks the one this Repository was opened with. */
  async listKeys(): Promise<KeyInfo[]> {
    const out: KeyInfo[] = [];
    for await (const o of this.internals.listIds('keys/')) {
      try {
        const k = parseKeyFile(await this.internals.store.get(o.key));
        out.push({ id: o.id, created: k.created, host: k.host, username: k.username, current: o.id === this.internals.keyId });
      } catch {
        out.push({ id: o.id, created: '', host: '', username: '', current: false });
      }
    }
    return out.sort((a, b) => a.created.localeCompare(b.created));
  }

  /** Adds a key file for another password; returns its id. */
  addKey(password: string): Promise<string> {
    return this.internals.addKey(password);
  }

  /** Removes a key file (id or unique prefix); refuses the key in use. */
  async removeKey(id: string): Promise<void> {
    const all = await this.listKeys();
    const hits = all.filter((k) => k.id.startsWith(id));
    if (hits.length === 0) throw new NotFoundError('engine', `no key with id ${id}; list them with "strata key list".`);
    if (hits.length > 1) throw new InvalidArgumentError('engine', `key prefix ${id} is ambiguous; give more digits.`);
    if (hits[0].current) throw new InvalidArgumentError('engine', 'refusing to remove the key in use; open the repository with another key first.');
    await this.internals.store.delete(keys.key(hits[0].id));
  }

  /** Replaces the current key by one for the new password. */
  async changePassword(newPassword: string): Promise<void> {
    const old = this.internals.keyId;
    const id = await this.internals.addKey(newPassword);
    this.internals.keyId = id;
    if (old) await this.internals.store.delete(keys.key(old));
  }

  /** Removes stale locks (all: every lock); returns how many were removed. */
  unlock(options: { all?: boolean } = {}): Promise<number> {
    return this.internals.locks.removeStale(options.all ?? false);
  }

  /** Releases locks, workers and the store. */
  async close(): Promise<void> {
    await this.internals.close();
    await this.internals.store.close?.();
  }
}
