export {
  applyRetentionPolicy,
  compileRetentionPolicy,
  isEmptyRetentionPolicy,
  isoWeek,
  retentionGroupKey,
  type ApplyRetentionOptions,
  type GroupByField,
  type KeepReason,
  type RetentionCounters,
} from './policy.js';
export {
  formatRetentionDuration,
  parseRetentionDuration,
  subtractRetentionDuration,
  type RetentionDuration,
} from './duration.js';
export { forgetSnapshots, matchesSnapshotFilter, type ForgetRunOptions } from './forget.js';
