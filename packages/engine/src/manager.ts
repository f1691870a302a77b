/**
 * createBackupManager: a service object over one Repository, configured once (validated on
 * creation): backups of fixed sources, retention applied after each backup, optional validation
 * of the new snapshot's data.
 */
import type { ChangeDetector } from '@strata/core';
import { ConfigError, isStrataError } from '@strata/core';
import { Repository } from './repository.js';
import { compileRetentionPolicy } from './retention/policy.js';
import type { BackupSummary, BackupType, CheckProblem, FileError, InitOptions, RepositoryOptions, RestoreOptions, RestoreResult, RetentionPolicy } from './types.js';

export interface BackupManagerConfig {
  /** How to open the repository. With `init`, a missing repository is created with those options. */
  repository: RepositoryOptions & { init?: Pick<InitOptions, 'cipher' | 'compression' | 'packSize' | 'kdf' | 'chunker'> };
  /** Paths to back up. */
  sources: string[];
  /** Retention applied after each successful backup (snapshots of this host and these sources). */
  retention?: RetentionPolicy;
  /** Read back every blob of the new snapshot right after the backup. */
  validateAfterBackup?: boolean;
  excludes?: string[];
  host?: string;
  tags?: string[];
  detector?: ChangeDetector;
  /** Name of the backup set, recorded in snapshots. */
  set?: string;
  hooks?: { pre?: string[]; post?: string[] };
}

export interface ManagedBackupResult {
  success: boolean;
  backupId: string;
  type: BackupType;
  summary: BackupSummary;
  /** Files that could not be read. */
  errors: FileError[];
  /** Problems found by validateAfterBackup. */
  validation: CheckProblem[];
  /** Snapshots removed by the retention policy. */
  removed: string[];
}

export interface BackupInfo {
  backupId: string;
  time: string;
  type: BackupType;
  host: string;
  paths: string[];
  tags: string[];
  /** Bytes of the files in the snapshot, in MB (10^6). */
  sizeMb: number;
  filesTotal: number;
}

export interface BackupManager {
  readonly repository: Repository;
  createBackup(type?: BackupType): Promise<ManagedBackupResult>;
  restoreBackup(backupId: string, target: string, options?: RestoreOptions): Promise<RestoreResult>;
  listBackups(): Promise<BackupInfo[]>;
  close(): Promise<void>;
}

function validate(c: BackupManagerConfig): void {
  if (typeof c !== 'object' || c === null) throw new ConfigError('engine', 'backup manager config must be an object.');
  if (typeof c.repository !== 'object' || c.repository === null || typeof c.repository.store !== 'object') throw new ConfigError('engine', 'config key "repository.store" must be a Store.');
  if (typeof c.repository.password !== 'string') throw new ConfigError('engine', 'config key "repository.password" must be a string.');
  if (!Array.isArray(c.sources) || c.sources.length === 0 || !c.sources.every((s) => typeof s === 'string' && s.length > 0)) throw new ConfigError('engine', 'config key "sources" must be a non-empty list of paths.');
  if (c.excludes !== undefined && (!Array.isArray(c.excludes) || !c.excludes.every((s) => typeof s === 'string'))) throw new ConfigError('engine', 'config key "excludes" must be a list of patterns.');
  if (c.tags !== undefined && (!Array.isArray(c.tags) || !c.tags.every((s) => typeof s === 'string'))) throw new ConfigError('engine', 'config key "tags" must be a list of strings.');
  if (c.host !== undefined && typeof c.host !== 'string') throw new ConfigError('engine', 'config key "host" must be a string.');
  if (c.validateAfterBackup !== undefined && typeof c.validateAfterBackup !== 'boolean') throw new ConfigError('engine', 'config key "validateAfterBackup" must be true or false.');
  if (c.retention !== undefined) {
    try {
      compileRetentionPolicy(c.retention);
    } catch (err) {
      throw new ConfigError('engine', `config key "retention" is invalid: ${(err as Error).message}`, { cause: err });
    }
  }
}

/** Validates the config, opens (or with `repository.init` creates) the repository. */
export async function createBackupManager(config: BackupManagerConfig): Promise<BackupManager> {
  validate(config);
  const { init, ...options } = config.repository;
  let repo: Repository;
  try {
    repo = await Repository.open(options);
  } catch (err) {
    if (!init || !(isStrataError(err) && err.code === 'REPOSITORY_NOT_FOUND')) throw err;
    repo = await Repository.init({ ...options, ...init });
  }
  return {
    repository: repo,
    async createBackup(type: BackupType = 'incremental') {
      const r = await repo.backup(config.sources, { type, excludes: config.excludes, host: config.host, tags: config.tags, detector: config.detector, set: config.set, hooks: config.hooks });
      const validation = config.validateAfterBackup ? await repo.verifySnapshot(r.snapshotId) : [];
      const removed: string[] = [];
      if (config.retention && validation.length === 0) {
        const groups = await repo.forget(config.retention, { filter: { host: r.snapshot.host, paths: r.snapshot.paths } });
        for (const g of groups) removed.push(...g.remove.map((s) => s.id));
      }
      return { success: r.errors.length === 0 && validation.length === 0, backupId: r.snapshotId, type, summary: r.summary, errors: r.errors, validation, removed };
    },
    restoreBackup: (id, target, options) => repo.restore(id, target, options),
    async listBackups() {
      return (await repo.snapshots()).map((s) => ({
        backupId: s.id,
        time: s.time,
        type: s.type,
        host: s.host,
        paths: s.paths,
        tags: s.tags,
        sizeMb: s.summary.totalBytesProcessed / 1e6,
        filesTotal: s.summary.totalFilesProcessed,
      }));
    },
    close: () => repo.close(),
  };
}
