export { applyRetentionPolicy, isEmptyRetentionPolicy, parseRetentionDuration, type KeepReason, type RetentionDuration } from './retention/index.js';
