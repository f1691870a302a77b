/**
 * Repository: the public face of @strata/engine (see README.md). Wraps RepoInternals; every method
 * that reads or writes the repository takes a lock for its duration.
 */
import { InvalidArgumentError, NotFoundError } from '@strata/core';
import { runBackup } from './backup/archiver.js';
import { type RepoConfig } from './format/config.js';
import { RepoInternals } from './internals.js';
import { runRestore } from './restore.js';
import type { BackupOptions, BackupResult, InitOptions, RepositoryOptions, RestoreOptions, RestoreResult, Snapshot, SnapshotFilter } from './types.js';

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

  /** Releases locks, workers and the store. */
  async close(): Promise<void> {
    await this.internals.close();
    await this.internals.store.close?.();
  }
}
