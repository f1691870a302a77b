export * from './types.js';
export { Repository, type PublicConfig } from './repository.js';
export { createBackupManager, type BackupManager, type BackupManagerConfig, type BackupInfo, type ManagedBackupResult } from './manager.js';
export { applyRetentionPolicy, isEmptyRetentionPolicy, parseRetentionDuration, type KeepReason, type RetentionDuration } from './retention/index.js';
