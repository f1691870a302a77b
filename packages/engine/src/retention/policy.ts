/**
 * Which snapshots a retention policy keeps, with restic's semantics (restic's documentation,
 * "Removing snapshots according to a policy"):
 *
 * - Snapshots are grouped (by default by host and paths); every group is judged on its own.
 * - Within a group, snapshots are walked newest first. keep-last/hourly/daily/weekly/monthly/yearly N
 *   keep the newest snapshot of each of the N most recent buckets (last: each snapshot is its own
 *   bucket; weekly: ISO 8601 weeks, counted in the ISO week's year). Buckets are taken in the local
 *   time zone of the process (set TZ to choose another). A count of -1 means unlimited.
 * - While a count is not used up when the walk reaches the oldest snapshot, the oldest snapshot is
 *   kept too (restic 0.16+: it keeps the longest history the counts allow).
 * - keep-within D keeps every snapshot strictly newer than (newest snapshot - D); the newest snapshot
 *   is the newest one that is not in the future. keep-within-hourly/daily/... D keep the newest
 *   snapshot of each bucket among those snapshots (and the oldest one in range, as above).
 * - keep-tag "a,b" keeps every snapshot that has all of the tags a and b; several keep-tag values
 *   keep a snapshot that matches any of them.
 * - A policy with no rule at all keeps everything (nothing is removed by accident).
 */
import { InvalidArgumentError } from '@strata/core';
import type { ForgetGroup, RetentionPolicy, Snapshot } from '../types.js';
import {
  formatRetentionDuration,
  isZeroDuration,
  parseRetentionDuration,
  subtractRetentionDuration,
  type RetentionDuration,
} from './duration.js';

export type GroupByField = 'host' | 'paths' | 'tags';

export interface ApplyRetentionOptions {
  /** What makes two snapshots belong to one group; default ['host', 'paths']; [] puts all in one group. */
  groupBy?: GroupByField[];
  /** "Now", for deciding which snapshots lie in the future (they never count as the newest). Default: the clock. */
  now?: Date;
}

/** Counts left in each counted rule after the snapshot was judged (-1: unlimited; absent: 0). */
export interface RetentionCounters {
  last?: number;
  hourly?: number;
  daily?: number;
  weekly?: number;
  monthly?: number;
  yearly?: number;
}

/** Why a snapshot is kept: every rule that matched it, in restic's wording. */
export interface KeepReason {
  snapshot: string;
  matches: string[];
  counters: RetentionCounters;
}

type Bucketer = (local: Date, nr: number) => number;

const hourBucket: Bucketer = (d) => d.getFullYear() * 1_000_000 + (d.getMonth() + 1) * 10_000 + d.getDate() * 100 + d.getHours();
const dayBucket: Bucketer = (d) => d.getFullYear() * 10_000 + (d.getMonth() + 1) * 100 + d.getDate();
const weekBucket: Bucketer = (d) => {
  const { year, week } = isoWeek(d);
  return year * 100 + week;
};
const monthBucket: Bucketer = (d) => d.getFullYear() * 100 + (d.getMonth() + 1);
const yearBucket: Bucketer = (d) => d.getFullYear();
const eachBucket: Bucketer = (_d, nr) => nr;

/** ISO 8601 week of the local calendar date of `d`: weeks start on Monday; week 1 holds the year's first Thursday. */
export function isoWeek(d: Date): { year: number; week: number } {
  const day = Date.UTC(d.getFullYear(), d.getMonth(), d.getDate());
  const weekday = (new Date(day).getUTCDay() + 6) % 7; // Monday = 0
  const thursday = day + (3 - weekday) * 86_400_000;
  const year = new Date(thursday).getUTCFullYear();
  const jan1 = new Date(0);
  jan1.setUTCFullYear(year, 0, 1);
  return { year, week: 1 + Math.floor((thursday - jan1.getTime()) / (7 * 86_400_000)) };
}

const COUNTED = [
  { field: 'keepLast', counter: 'last', reason: 'last snapshot', bucket: eachBucket },
  { field: 'keepHourly', counter: 'hourly', reason: 'hourly snapshot', bucket: hourBucket },
  { field: 'keepDaily', counter: 'daily', reason: 'daily snapshot', bucket: dayBucket },
  { field: 'keepWeekly', counter: 'weekly', reason: 'weekly snapshot', bucket: weekBucket },
  { field: 'keepMonthly', counter: 'monthly', reason: 'monthly snapshot', bucket: monthBucket },
  { field: 'keepYearly', counter: 'yearly', reason: 'yearly snapshot', bucket: yearBucket },
] as const;

const WITHIN = [
  { field: 'keepWithinHourly', reason: 'hourly within', bucket: hourBucket },
  { field: 'keepWithinDaily', reason: 'daily within', bucket: dayBucket },
  { field: 'keepWithinWeekly', reason: 'weekly within', bucket: weekBucket },
  { field: 'keepWithinMonthly', reason: 'monthly within', bucket: monthBucket },
  { field: 'keepWithinYearly', reason: 'yearly within', bucket: yearBucket },
] as const;

/** A policy checked and parsed once: counts, durations and tag lists ready to apply. */
interface CompiledPolicy {
  counts: number[]; // per COUNTED entry; 0 = rule off, -1 = unlimited
  within?: RetentionDuration;
  withinBuckets: (RetentionDuration | undefined)[]; // per WITHIN entry
  tagLists: string[][];
  empty: boolean;
}

/**
 * Validates a policy: counts are integers >= -1, durations parse, keep-tag values name at least one
 * tag. Throws InvalidArgumentError naming the offending rule.
 */
export function compileRetentionPolicy(policy: RetentionPolicy): CompiledPolicy {
  const counts = COUNTED.map(({ field }) => {
    const v = policy[field];
    if (v === undefined || v === null) return 0;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < -1) {
      throw new InvalidArgumentError('retention', `${field} must be a whole number of snapshots, or -1 for unlimited; got ${JSON.stringify(v)}.`);
    }
    return v;
  });
  const parse = (field: string, v: string | undefined): RetentionDuration | undefined => {
    if (v === undefined || v === null || v === '') return undefined;
    if (typeof v !== 'string') {
      throw new InvalidArgumentError('retention', `${field} must be a duration like 30d or 1y6m; got ${JSON.stringify(v)}.`);
    }
    let d: RetentionDuration;
    try {
      d = parseRetentionDuration(v);
    } catch (err) {
      throw new InvalidArgumentError('retention', `${field}: ${(err as Error).message.replace(/^retention: /, '')}`, { cause: err });
    }
    return isZeroDuration(d) ? undefined : d;
  };
  const within = parse('keepWithin', policy.keepWithin);
  const withinBuckets = WITHIN.map(({ field }) => parse(field, policy[field]));
  const tagLists = (policy.keepTags ?? []).map((value) => {
    if (typeof value !== 'string') {
      throw new InvalidArgumentError('retention', `keepTags entries must be strings like "daily" or "db,prod"; got ${JSON.stringify(value)}.`);
    }
    const tags = value.split(',').map((t) => t.trim()).filter((t) => t !== '');
    if (tags.length === 0) {
      throw new InvalidArgumentError('retention', `a keepTags entry names no tag; give a tag, or several separated by commas (all must match).`);
    }
    return tags;
  });
  const empty = counts.every((c) => c === 0) && within === undefined && withinBuckets.every((d) => d === undefined) && tagLists.length === 0;
  return { counts, within, withinBuckets, tagLists, empty };
}

/** True when the policy has no rule (such a policy keeps every snapshot). */
export function isEmptyRetentionPolicy(policy: RetentionPolicy): boolean {
  return compileRetentionPolicy(policy).empty;
}

/** The group key of a snapshot: the chosen fields, paths and tags sorted. */
export function retentionGroupKey(snapshot: Snapshot, groupBy: readonly GroupByField[]): ForgetGroup['key'] {
  const key: ForgetGroup['key'] = {};
  if (groupBy.includes('host')) key.host = snapshot.host;
  if (groupBy.includes('paths')) key.paths = [...snapshot.paths].sort();
  if (groupBy.includes('tags')) key.tags = [...snapshot.tags].sort();
  return key;
}

function snapshotTime(s: Snapshot): number {
  const t = Date.parse(s.time);
  if (Number.isNaN(t)) {
    throw new InvalidArgumentError('retention', `snapshot ${s.id} has an unreadable time ${JSON.stringify(s.time)}; repair or remove that snapshot.`);
  }
  return t;
}

/**
 * Applies one compiled policy to one group. Returns keep and remove (both newest first) and the
 * reasons for every kept snapshot (in the order of keep).
 */
function applyToGroup(list: Snapshot[], p: CompiledPolicy, now: number): Omit<ForgetGroup, 'key'> & { reasons: KeepReason[] } {
  // Newest first; Array.prototype.sort is stable, so snapshots with the same time keep their order.
  const times = new Map<Snapshot, number>(list.map((s) => [s, snapshotTime(s)]));
  const sorted = [...list].sort((a, b) => times.get(b)! - times.get(a)!);
  const keep: Snapshot[] = [];
  const remove: Snapshot[] = [];
  const reasons: KeepReason[] = [];

  if (p.empty) {
    for (const s of sorted) {
      keep.push(s);
      reasons.push({ snapshot: s.id, matches: ['policy is empty'], counters: {} });
    }
    return { keep, remove, reasons };
  }
  if (sorted.length === 0) return { keep, remove, reasons };

  // The newest snapshot that is not in the future anchors keep-within; none: every snapshot is "within".
  let latest = Number.NEGATIVE_INFINITY;
  for (const s of sorted) {
    const t = times.get(s)!;
    if (t > latest && t < now) latest = t;
  }
  const latestDate = new Date(Number.isFinite(latest) ? latest : 0);
  const cutoff = (d: RetentionDuration): number =>
    Number.isFinite(latest) ? subtractRetentionDuration(latestDate, d) : Number.NEGATIVE_INFINITY;
  const withinCutoff = p.within ? cutoff(p.within) : undefined;
  const withinCutoffs = p.withinBuckets.map((d) => (d ? cutoff(d) : undefined));

  const counts = [...p.counts];
  const lastCounted: (number | undefined)[] = COUNTED.map(() => undefined);
  const lastWithin: (number | undefined)[] = WITHIN.map(() => undefined);
  const oldest = sorted.length - 1;

  sorted.forEach((s, nr) => {
    const t = times.get(s)!;
    const local = new Date(t);
    const matches: string[] = [];

    for (const tags of p.tagLists) {
      if (tags.every((tag) => s.tags.includes(tag))) matches.push(`has tags [${tags.join(', ')}]`);
    }
    if (p.within && t > withinCutoff!) matches.push(`within ${formatRetentionDuration(p.within)}`);

    COUNTED.forEach((rule, i) => {
      if (counts[i] === 0) return;
      const bucket = rule.bucket(local, nr);
      if (bucket !== lastCounted[i] || nr === oldest) {
        matches.push(bucket === lastCounted[i] ? `oldest ${rule.reason}` : rule.reason);
        lastCounted[i] = bucket;
        if (counts[i] > 0) counts[i]--;
      }
    });

    WITHIN.forEach((rule, i) => {
      const d = p.withinBuckets[i];
      if (!d || !(t > withinCutoffs[i]!)) return;
      const bucket = rule.bucket(local, nr);
      if (bucket !== lastWithin[i] || nr === oldest) {
        const reason = bucket === lastWithin[i] ? `oldest ${rule.reason}` : rule.reason;
        matches.push(`${reason} ${formatRetentionDuration(d)}`);
        lastWithin[i] = bucket;
      }
    });

    if (matches.length > 0) {
      keep.push(s);
      const counters: RetentionCounters = {};
      COUNTED.forEach((rule, i) => {
        if (counts[i] !== 0) counters[rule.counter] = counts[i];
      });
      reasons.push({ snapshot: s.id, matches, counters });
    } else {
      remove.push(s);
    }
  });
  return { keep, remove, reasons };
}

/**
 * Splits `snapshots` into groups and decides for each snapshot whether the policy keeps it.
 * Groups come sorted by key; in each, `keep` and `remove` are newest first and `reasons` lists, in
 * the order of `keep`, every rule that matched. Pure: reads nothing, deletes nothing.
 * Throws InvalidArgumentError for a policy with a bad count, duration or tag.
 */
export function applyRetentionPolicy(
  snapshots: Snapshot[],
  policy: RetentionPolicy,
  options: ApplyRetentionOptions = {},
): (ForgetGroup & { reasons: KeepReason[] })[] {
  const compiled = compileRetentionPolicy(policy);
  const groupBy = options.groupBy ?? ['host', 'paths'];
  for (const f of groupBy) {
    if (f !== 'host' && f !== 'paths' && f !== 'tags') {
      throw new InvalidArgumentError('retention', `cannot group by "${String(f)}"; use host, paths and/or tags.`);
    }
  }
  const now = (options.now ?? new Date()).getTime();
  const groups = new Map<string, { key: ForgetGroup['key']; list: Snapshot[] }>();
  for (const s of snapshots) {
    const key = retentionGroupKey(s, groupBy);
    const k = JSON.stringify(key);
    let g = groups.get(k);
    if (!g) groups.set(k, (g = { key, list: [] }));
    g.list.push(s);
  }
  return [...groups.values()]
    .sort((a, b) => compareGroupKeys(a.key, b.key))
    .map((g) => ({ key: g.key, ...applyToGroup(g.list, compiled, now) }));
}

function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function compareLists(a: string[] = [], b: string[] = []): number {
  for (let i = 0; i < Math.min(a.length, b.length); i++) {
    const c = compareStrings(a[i], b[i]);
    if (c !== 0) return c;
  }
  return a.length - b.length;
}

/** Groups are listed by host, then paths, then tags (lists compared item by item). */
function compareGroupKeys(a: ForgetGroup['key'], b: ForgetGroup['key']): number {
  return compareStrings(a.host ?? '', b.host ?? '') || compareLists(a.paths, b.paths) || compareLists(a.tags, b.tags);
}
