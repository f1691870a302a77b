export * from './types.js';
export { Repository, type PublicConfig } from './repository.js';
export { applyRetentionPolicy, isEmptyRetentionPolicy, parseRetentionDuration, type KeepReason, type RetentionDuration } from './retention/index.js';
