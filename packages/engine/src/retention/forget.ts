/**
 * forget: applies a retention policy to the repository's snapshots and deletes the snapshot files it
 * does not keep. Data stays until prune.
 */
import type { RepoInternals } from '../internals.js';
import type { ForgetGroup, ForgetOptions, RetentionPolicy, Snapshot, SnapshotFilter } from '../types.js';
import { applyRetentionPolicy, compileRetentionPolicy, type KeepReason } from './policy.js';

export interface ForgetRunOptions extends ForgetOptions {
  /** "Now" for deciding which snapshots lie in the future. Default: the clock. */
  now?: Date;
  /** The caller already holds the repository's lock (exclusive, or shared for a dry run). */
  lockHeld?: boolean;
}

/**
 * True when a snapshot passes the filter: the same host; every tag of `tags`; every path of `paths`
 * among its paths (restic's --host, --tag, --path).
 */
export function matchesSnapshotFilter(s: Snapshot, filter: SnapshotFilter & { set?: string } = {}): boolean {
  if (filter.host !== undefined && s.host !== filter.host) return false;
  if (filter.tags?.length && !filter.tags.every((t) => (s.tags ?? []).includes(t))) return false;
  if (filter.paths?.length && !filter.paths.every((p) => s.paths.includes(p))) return false;
  if (filter.set !== undefined && s.set !== filter.set) return false;
  return true;
}

/**
 * Groups the snapshots that pass `options.filter` (and `options.set`), applies `policy` to each
 * group, and deletes the snapshots it removes (not with dryRun). Returns the groups with kept and
 * removed snapshots and the reasons. Takes the exclusive lock unless `lockHeld` (a shared one for a
 * dry run). InvalidArgumentError for a bad policy, before anything is read.
 */
export async function forgetSnapshots(
  internals: RepoInternals,
  policy: RetentionPolicy,
  options: ForgetRunOptions = {},
): Promise<(ForgetGroup & { reasons: KeepReason[] })[]> {
  compileRetentionPolicy(policy);
  const lock = options.lockHeld ? undefined : await internals.lock(!options.dryRun);
  try {
    const all = await internals.listSnapshots();
    const chosen = all.filter((s) => matchesSnapshotFilter(s, { ...(options.filter ?? {}), ...(options.set !== undefined ? { set: options.set } : {}) }));
    const groups = applyRetentionPolicy(chosen, policy, { groupBy: options.groupBy, now: options.now });
    if (!options.dryRun) {
      for (const g of groups) {
        for (const s of g.remove) await internals.deleteSnapshot(s.id);
      }
      const removed = groups.reduce((n, g) => n + g.remove.length, 0);
      internals.logger.info({ removed, kept: groups.reduce((n, g) => n + g.keep.length, 0) }, 'forget finished');
    }
    return groups;
  } finally {
    await lock?.release();
  }
}
