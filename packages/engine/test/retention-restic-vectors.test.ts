// Runs the inputs of restic's own forget-policy test (103 snapshot times, 40 policies), which sit
// beside the clone in ../shared/vectors, and compares every result with
// fixtures/restic-policy-expected.json: our own derived data (kept snapshots and reasons), checked by
// hand against restic's golden files; its "about" field says which policies agree and why two differ.
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { applyRetentionPolicy } from '../src/retention/index.js';
import type { RetentionPolicy, Snapshot } from '../src/types.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const repoRoot = path.resolve(here, '../../..');
const vectorsFile = path.resolve(repoRoot, '../shared/vectors/restic-forget-policy.json');
const present = existsSync(vectorsFile);
if (!present) {
  console.warn(`restic forget-policy vectors not found at ${vectorsFile}: skipping the restic comparison`);
}

interface Vectors {
  policies: Record<string, number | string | string[][]>[];
  snapshots: { time: string; tags?: string[]; paths?: string[] }[];
}
interface Expected {
  policies: { policy: number; keep: number[]; reasons: string[] }[];
}

const FIELDS: Record<string, keyof RetentionPolicy> = {
  last: 'keepLast', hourly: 'keepHourly', daily: 'keepDaily', weekly: 'keepWeekly', monthly: 'keepMonthly', yearly: 'keepYearly',
  within: 'keepWithin', withinHourly: 'keepWithinHourly', withinDaily: 'keepWithinDaily', withinWeekly: 'keepWithinWeekly',
  withinMonthly: 'keepWithinMonthly', withinYearly: 'keepWithinYearly',
};

function toPolicy(v: Record<string, number | string | string[][]>): RetentionPolicy {
  const p: Record<string, unknown> = {};
  for (const [k, value] of Object.entries(v)) {
    // restic's tag lists ([["foo","bar"]]) are our comma-separated keep-tag values.
    if (k === 'tags') p.keepTags = (value as string[][]).map((l) => l.join(','));
    else if (FIELDS[k]) p[FIELDS[k]] = value;
    else throw new Error(`unknown policy field ${k} in the vectors`);
  }
  return p as RetentionPolicy;
}

const originalTz = process.env.TZ;
beforeAll(() => {
  // restic's test takes its buckets in UTC.
  process.env.TZ = 'UTC';
});
afterAll(() => {
  if (originalTz === undefined) delete process.env.TZ;
  else process.env.TZ = originalTz;
});

describe.skipIf(!present)('restic forget-policy vectors', () => {
  const vectors: Vectors = present ? JSON.parse(readFileSync(vectorsFile, 'utf8')) : { policies: [], snapshots: [] };
  const expected: Expected = JSON.parse(readFileSync(path.join(here, 'fixtures/restic-policy-expected.json'), 'utf8'));

  test('the vectors hold 40 policies and 103 snapshots', () => {
    expect(vectors.policies).toHaveLength(40);
    expect(vectors.snapshots).toHaveLength(103);
    expect(expected.policies).toHaveLength(40);
  });

  test.each(vectors.policies.map((p, i) => [i, p] as const))('policy %i %j', (i, raw) => {
    process.env.TZ = 'UTC';
    const snapshots: Snapshot[] = vectors.snapshots.map((s, n) => ({
      id: String(n),
      time: s.time,
      host: 'h',
      username: '',
      paths: s.paths ?? [],
      tags: s.tags ?? [],
      type: 'full',
      tree: '',
      summary: {} as Snapshot['summary'],
      programVersion: '',
    }));
    const groups = applyRetentionPolicy(snapshots, toPolicy(raw), { groupBy: [], now: new Date('2030-01-01T00:00:00Z') });
    expect(groups).toHaveLength(1);
    const want = expected.policies[i];
    expect(want.policy).toBe(i);
    expect(groups[0].keep.map((s) => Number(s.id))).toEqual(want.keep);
    expect(groups[0].reasons.map((r) => r.matches.join('; '))).toEqual(want.reasons);
    expect(groups[0].keep.length + groups[0].remove.length).toBe(103);
    if (i === 0) expect(groups[0].remove).toEqual([]); // no rule at all removes nothing
  });
});
