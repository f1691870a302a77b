import { InvalidArgumentError } from '@strata/core';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { applyRetentionPolicy, isoWeek, parseRetentionDuration } from '../src/retention/index.js';
import type { RetentionPolicy, Snapshot } from '../src/types.js';

// Buckets are taken in the process's local time zone; Node re-reads process.env.TZ when it is
// assigned, so each case sets the zone it was worked out in before any Date is made.
const originalTz = process.env.TZ;
beforeAll(() => {
  process.env.TZ = 'UTC';
});
afterAll(() => {
  if (originalTz === undefined) delete process.env.TZ;
  else process.env.TZ = originalTz;
});

const summary = {
  filesNew: 0, filesChanged: 0, filesUnmodified: 0, dirsNew: 0, dirsChanged: 0, dirsUnmodified: 0,
  totalFilesProcessed: 0, totalBytesProcessed: 0, dataAdded: 0, dataAddedPacked: 0, dataBlobs: 0, treeBlobs: 0, durationMs: 0,
};

function snap(id: string, time: string, extra: Partial<Snapshot> = {}): Snapshot {
  return {
    id,
    time: new Date(time).toISOString(),
    host: 'h1',
    username: 'u',
    paths: ['/data'],
    tags: [],
    type: 'incremental',
    tree: '00',
    summary,
    programVersion: 'strata test',
    ...extra,
  };
}

interface Case {
  name: string;
  tz: string;
  snapshots: Snapshot[];
  policy: RetentionPolicy;
  now?: string;
  /** Kept ids, newest first. */
  keep: string[];
  /** Expected reasons for some kept ids. */
  reasons?: Record<string, string[]>;
}

// Every expectation below was worked out by hand from the rules (see src/retention/policy.ts);
// comments give the reasoning where it is not obvious.
const cases: Case[] = [
  {
    name: 'keep-last 3 of 5 keeps the three newest',
    tz: 'UTC',
    snapshots: [snap('a', '2024-05-01T10:00Z'), snap('b', '2024-05-02T10:00Z'), snap('c', '2024-05-03T10:00Z'), snap('d', '2024-05-04T10:00Z'), snap('e', '2024-05-05T10:00Z')],
    policy: { keepLast: 3 },
    keep: ['e', 'd', 'c'],
    reasons: { e: ['last snapshot'], c: ['last snapshot'] },
  },
  {
    name: 'keep-last larger than the list keeps all; the oldest is an ordinary "last snapshot"',
    tz: 'UTC',
    snapshots: [snap('a', '2024-05-01T10:00Z'), snap('b', '2024-05-02T10:00Z'), snap('c', '2024-05-03T10:00Z')],
    policy: { keepLast: 10 },
    keep: ['c', 'b', 'a'],
    reasons: { a: ['last snapshot'] },
  },
  {
    // c: day 2 (1 left); b: day 1 (0 left); a: same day as b; d: count used up.
    name: 'two snapshots in one day: keep-daily keeps the newest of the day',
    tz: 'UTC',
    snapshots: [snap('d', '2024-04-30T12:00Z'), snap('a', '2024-05-01T08:00Z'), snap('b', '2024-05-01T20:00Z'), snap('c', '2024-05-02T09:00Z')],
    policy: { keepDaily: 2 },
    keep: ['c', 'b'],
  },
  {
    // a shares b's day but is the oldest snapshot while daily has counts left: kept as "oldest".
    name: 'two snapshots in one bucket, the older being the oldest of all with count left',
    tz: 'UTC',
    snapshots: [snap('a', '2024-05-01T08:00Z'), snap('b', '2024-05-01T20:00Z'), snap('c', '2024-05-02T09:00Z')],
    policy: { keepDaily: 5 },
    keep: ['c', 'b', 'a'],
    reasons: { c: ['daily snapshot'], b: ['daily snapshot'], a: ['oldest daily snapshot'] },
  },
  {
    name: 'two snapshots in one bucket in the middle: the older one goes even with count left',
    tz: 'UTC',
    snapshots: [snap('z', '2024-04-29T12:00Z'), snap('a', '2024-05-01T08:00Z'), snap('b', '2024-05-01T20:00Z'), snap('c', '2024-05-02T09:00Z')],
    policy: { keepDaily: 5 },
    keep: ['c', 'b', 'z'],
    reasons: { z: ['daily snapshot'] },
  },
  {
    name: 'keep-hourly: three in one hour count once',
    tz: 'UTC',
    snapshots: [snap('h9', '2024-05-01T09:10Z'), snap('a', '2024-05-01T10:05Z'), snap('b', '2024-05-01T10:30Z'), snap('c', '2024-05-01T10:55Z')],
    policy: { keepHourly: 2 },
    keep: ['c', 'h9'],
  },
  {
    // ISO weeks: 2020-12-27 (Sun) is 2020-W52; 2020-12-28..2021-01-03 is 2020-W53; 2021-01-04 is 2021-W01.
    name: 'ISO week 53: 2020-12-31 and 2021-01-01 share week 2020-W53',
    tz: 'UTC',
    snapshots: [snap('w52', '2020-12-27T12:00Z'), snap('mon53', '2020-12-28T12:00Z'), snap('thu53', '2020-12-31T12:00Z'), snap('fri53', '2021-01-01T12:00Z'), snap('w01', '2021-01-04T12:00Z')],
    policy: { keepWeekly: 2 },
    keep: ['w01', 'fri53'],
  },
  {
    name: 'ISO week 53: the third week back is 2020-W52',
    tz: 'UTC',
    snapshots: [snap('w52', '2020-12-27T12:00Z'), snap('mon53', '2020-12-28T12:00Z'), snap('thu53', '2020-12-31T12:00Z'), snap('fri53', '2021-01-01T12:00Z'), snap('w01', '2021-01-04T12:00Z')],
    policy: { keepWeekly: 3 },
    keep: ['w01', 'fri53', 'w52'],
  },
  {
    // Same snapshots by calendar year: 2021-01-01 and 2020-12-31 are in different years.
    name: 'keep-yearly uses the calendar year, not the ISO week year',
    tz: 'UTC',
    snapshots: [snap('w52', '2020-12-27T12:00Z'), snap('mon53', '2020-12-28T12:00Z'), snap('thu53', '2020-12-31T12:00Z'), snap('fri53', '2021-01-01T12:00Z'), snap('w01', '2021-01-04T12:00Z')],
    policy: { keepYearly: 2 },
    keep: ['w01', 'thu53'],
  },
  {
    // Berlin: 2021-03-27T23:30Z is 00:30 CET on the 28th, so it shares the 28th with the two later ones.
    name: 'DST spring (Europe/Berlin 2021-03-28): days are local days',
    tz: 'Europe/Berlin',
    snapshots: [snap('a', '2021-03-27T22:30Z'), snap('b', '2021-03-27T23:30Z'), snap('c', '2021-03-28T00:30Z'), snap('d', '2021-03-28T01:30Z')],
    policy: { keepDaily: 2 },
    keep: ['d', 'a'],
  },
  {
    name: 'DST spring, same snapshots in UTC: the day boundary moves',
    tz: 'UTC',
    snapshots: [snap('a', '2021-03-27T22:30Z'), snap('b', '2021-03-27T23:30Z'), snap('c', '2021-03-28T00:30Z'), snap('d', '2021-03-28T01:30Z')],
    policy: { keepDaily: 2 },
    keep: ['d', 'b'],
  },
  {
    // 00:30Z = 01:30 CET (hour 1); 01:10Z and 01:50Z = 03:10 and 03:50 CEST (hour 3; hour 2 does not exist).
    name: 'DST spring: hourly buckets skip the missing hour',
    tz: 'Europe/Berlin',
    snapshots: [snap('a', '2021-03-28T00:30Z'), snap('b', '2021-03-28T01:10Z'), snap('c', '2021-03-28T01:50Z')],
    policy: { keepHourly: 5 },
    keep: ['c', 'a'],
    reasons: { a: ['hourly snapshot'] },
  },
  {
    // Berlin 2021-10-31: 00:15Z..01:45Z are all local 02:xx (twice through 02:00-03:00); 02:15Z is 03:15 CET.
    // hourly 3: e (hour 3), d (hour 2), then c, b, a share hour 2; a is the oldest with one count left.
    name: 'DST autumn (Europe/Berlin 2021-10-31): the repeated hour is one bucket',
    tz: 'Europe/Berlin',
    snapshots: [snap('a', '2021-10-31T00:15Z'), snap('b', '2021-10-31T00:45Z'), snap('c', '2021-10-31T01:15Z'), snap('d', '2021-10-31T01:45Z'), snap('e', '2021-10-31T02:15Z')],
    policy: { keepHourly: 3 },
    keep: ['e', 'd', 'a'],
    reasons: { a: ['oldest hourly snapshot'] },
  },
  {
    name: 'DST autumn, same snapshots in UTC: three distinct hours',
    tz: 'UTC',
    snapshots: [snap('a', '2021-10-31T00:15Z'), snap('b', '2021-10-31T00:45Z'), snap('c', '2021-10-31T01:15Z'), snap('d', '2021-10-31T01:45Z'), snap('e', '2021-10-31T02:15Z')],
    policy: { keepHourly: 3 },
    keep: ['e', 'd', 'b'],
  },
  {
    // Cutoff is newest - 1d = 2024-05-09T12:00Z; a snapshot exactly there is not "within" (strictly after).
    name: 'keep-within 1d: exactly at the boundary is removed, one millisecond later is kept',
    tz: 'UTC',
    snapshots: [snap('before', '2024-05-09T11:59Z'), snap('edge', '2024-05-09T12:00:00.000Z'), snap('in', '2024-05-09T12:00:00.001Z'), snap('new', '2024-05-10T12:00Z')],
    policy: { keepWithin: '1d' },
    keep: ['new', 'in'],
    reasons: { in: ['within 1d'] },
  },
  {
    // 2024-03-31 minus one month is "February 31", which the calendar carries to 2024-03-02 (leap year).
    name: 'keep-within 1m is calendar arithmetic: 31 March minus a month is 2 March',
    tz: 'UTC',
    snapshots: [snap('feb-ish', '2024-03-01T12:00Z'), snap('edge', '2024-03-02T10:00Z'), snap('in', '2024-03-02T10:00:01Z'), snap('new', '2024-03-31T10:00Z')],
    policy: { keepWithin: '1m' },
    keep: ['new', 'in'],
  },
  {
    name: 'keep-within 2d12h: days on the calendar, then hours',
    tz: 'UTC',
    snapshots: [snap('edge', '2024-05-08T00:00Z'), snap('in', '2024-05-08T00:30Z'), snap('new', '2024-05-10T12:00Z')],
    policy: { keepWithin: '2d12h' },
    keep: ['new', 'in'],
    reasons: { in: ['within 2d12h'] },
  },
  {
    // Newest 2021-03-28 12:00 CEST (10:00Z); one calendar day back is 2021-03-27 12:00 CET = 11:00Z,
    // only 23 hours earlier, so 10:30Z (11:30 CET) is outside. In UTC the cutoff is 10:00Z and it is inside.
    name: 'keep-within 1d across the spring DST change (Europe/Berlin) is a calendar day of 23 hours',
    tz: 'Europe/Berlin',
    snapshots: [snap('x', '2021-03-27T10:30Z'), snap('y', '2021-03-27T11:30Z'), snap('new', '2021-03-28T10:00Z')],
    policy: { keepWithin: '1d' },
    keep: ['new', 'y'],
  },
  {
    name: 'keep-within 1d across the same instants in UTC',
    tz: 'UTC',
    snapshots: [snap('x', '2021-03-27T10:30Z'), snap('y', '2021-03-27T11:30Z'), snap('new', '2021-03-28T10:00Z')],
    policy: { keepWithin: '1d' },
    keep: ['new', 'y', 'x'],
  },
  {
    // The future snapshot does not anchor keep-within; the anchor is 05-09T12:00, cutoff 05-08T12:00.
    name: 'keep-within is relative to the newest snapshot that is not in the future',
    tz: 'UTC',
    now: '2024-05-10T00:00Z',
    snapshots: [snap('old', '2024-05-08T11:00Z'), snap('anchor', '2024-05-09T12:00Z'), snap('future', '2024-06-01T00:00Z')],
    policy: { keepWithin: '1d' },
    keep: ['future', 'anchor'],
  },
  {
    // Cutoff 05-07T20:00Z. In range: one per day, newest of each; 05-06 is out of range.
    name: 'keep-within-daily 3d keeps the newest snapshot of each day in range',
    tz: 'UTC',
    snapshots: [
      snap('d6', '2024-05-06T12:00Z'), snap('d7', '2024-05-07T23:00Z'), snap('d8', '2024-05-08T21:00Z'),
      snap('d9a', '2024-05-09T07:00Z'), snap('d9b', '2024-05-09T22:00Z'), snap('d10a', '2024-05-10T08:00Z'), snap('d10b', '2024-05-10T20:00Z'),
    ],
    policy: { keepWithinDaily: '3d' },
    keep: ['d10b', 'd9b', 'd8', 'd7'],
    reasons: { d7: ['daily within 3d'] },
  },
  {
    // 2024-05-27 (Mon), 05-28, 05-30 share ISO week 22; the oldest (05-27) is kept as "oldest ...".
    name: 'keep-within-weekly: the oldest snapshot in range is kept too',
    tz: 'UTC',
    snapshots: [snap('mon', '2024-05-27T12:00Z'), snap('tue', '2024-05-28T12:00Z'), snap('thu', '2024-05-30T12:00Z')],
    policy: { keepWithinWeekly: '1m' },
    keep: ['thu', 'mon'],
    reasons: { mon: ['oldest weekly within 1m'] },
  },
  {
    name: 'keep-tag "db,daily" keeps only snapshots with both tags',
    tz: 'UTC',
    snapshots: [snap('a', '2024-05-01T00:00Z', { tags: ['daily'] }), snap('b', '2024-05-02T00:00Z', { tags: ['daily', 'db'] }), snap('c', '2024-05-03T00:00Z', { tags: ['db'] }), snap('d', '2024-05-04T00:00Z')],
    policy: { keepTags: ['db,daily'] },
    keep: ['b'],
    reasons: { b: ['has tags [db, daily]'] },
  },
  {
    name: 'two keep-tag values keep a snapshot matching either',
    tz: 'UTC',
    snapshots: [snap('a', '2024-05-01T00:00Z', { tags: ['daily'] }), snap('b', '2024-05-02T00:00Z', { tags: ['daily', 'db'] }), snap('c', '2024-05-03T00:00Z', { tags: ['db'] }), snap('d', '2024-05-04T00:00Z')],
    policy: { keepTags: ['db', 'daily'] },
    keep: ['c', 'b', 'a'],
    reasons: { b: ['has tags [db]', 'has tags [daily]'] },
  },
  {
    name: 'a policy that keeps nothing: a tag no snapshot has',
    tz: 'UTC',
    snapshots: [snap('a', '2024-05-01T00:00Z', { tags: ['x'] }), snap('b', '2024-05-02T00:00Z')],
    policy: { keepTags: ['nobody'] },
    keep: [],
  },
  {
    name: 'the empty policy keeps everything',
    tz: 'UTC',
    snapshots: [snap('a', '2024-05-01T00:00Z'), snap('b', '2024-05-02T00:00Z')],
    policy: {},
    keep: ['b', 'a'],
    reasons: { a: ['policy is empty'] },
  },
  {
    name: 'keep-last -1 keeps everything',
    tz: 'UTC',
    snapshots: [snap('a', '2024-05-01T00:00Z'), snap('b', '2024-05-01T00:30Z'), snap('c', '2024-05-02T00:00Z')],
    policy: { keepLast: -1 },
    keep: ['c', 'b', 'a'],
  },
  {
    // Unlimited monthly: newest of each month, and the oldest (count never runs out).
    name: 'keep-monthly -1 keeps the newest of every month and the oldest',
    tz: 'UTC',
    snapshots: [snap('j5', '2024-01-05T00:00Z'), snap('j15', '2024-01-15T00:00Z'), snap('j25', '2024-01-25T00:00Z'), snap('f10', '2024-02-10T00:00Z'), snap('f20', '2024-02-20T00:00Z')],
    policy: { keepMonthly: -1 },
    keep: ['f20', 'j25', 'j5'],
    reasons: { j5: ['oldest monthly snapshot'] },
  },
  {
    name: 'rules combine: reasons list every match',
    tz: 'UTC',
    snapshots: [snap('a', '2024-05-01T10:00Z'), snap('b', '2024-05-02T10:00Z'), snap('c', '2024-05-02T11:00Z', { tags: ['keep'] })],
    policy: { keepLast: 1, keepDaily: 2, keepTags: ['keep'] },
    keep: ['c', 'a'],
    reasons: { c: ['has tags [keep]', 'last snapshot', 'daily snapshot'], a: ['daily snapshot'] },
  },
];

describe('applyRetentionPolicy: hand-worked cases', () => {
  test.each(cases)('$name', (c) => {
    process.env.TZ = c.tz;
    const groups = applyRetentionPolicy(c.snapshots, c.policy, { now: c.now ? new Date(c.now) : new Date('2030-01-01T00:00Z') });
    expect(groups).toHaveLength(1);
    const [g] = groups;
    expect(g.keep.map((s) => s.id)).toEqual(c.keep);
    const keptIds = new Set(c.keep);
    expect(g.remove.map((s) => s.id).sort()).toEqual(c.snapshots.map((s) => s.id).filter((id) => !keptIds.has(id)).sort());
    expect(g.reasons.map((r) => r.snapshot)).toEqual(c.keep);
    for (const [id, matches] of Object.entries(c.reasons ?? {})) {
      expect(g.reasons.find((r) => r.snapshot === id)?.matches).toEqual(matches);
    }
    process.env.TZ = 'UTC';
  });
});

describe('grouping', () => {
  const list = [
    snap('a1', '2024-05-01T00:00Z', { host: 'a', paths: ['/x', '/y'] }),
    snap('a2', '2024-05-02T00:00Z', { host: 'a', paths: ['/y', '/x'] }),
    snap('a3', '2024-05-03T00:00Z', { host: 'a', paths: ['/z'], tags: ['t'] }),
    snap('b1', '2024-05-01T00:00Z', { host: 'b', paths: ['/x', '/y'], tags: ['t'] }),
    snap('b2', '2024-05-04T00:00Z', { host: 'b', paths: ['/x', '/y'] }),
  ];

  test('default host,paths: sorted paths make one group; each group keeps its own newest', () => {
    const groups = applyRetentionPolicy(list, { keepLast: 1 });
    expect(groups.map((g) => g.key)).toEqual([
      { host: 'a', paths: ['/x', '/y'] },
      { host: 'a', paths: ['/z'] },
      { host: 'b', paths: ['/x', '/y'] },
    ]);
    expect(groups.map((g) => g.keep.map((s) => s.id))).toEqual([['a2'], ['a3'], ['b2']]);
    expect(groups.map((g) => g.remove.map((s) => s.id))).toEqual([['a1'], [], ['b1']]);
  });

  test('group by tags', () => {
    const groups = applyRetentionPolicy(list, { keepLast: 1 }, { groupBy: ['tags'] });
    expect(groups.map((g) => g.key)).toEqual([{ tags: [] }, { tags: ['t'] }]);
    expect(groups.map((g) => g.keep.map((s) => s.id))).toEqual([['b2'], ['a3']]);
  });

  test('no grouping puts every snapshot in one group', () => {
    const groups = applyRetentionPolicy(list, { keepLast: 2 }, { groupBy: [] });
    expect(groups).toHaveLength(1);
    expect(groups[0].keep.map((s) => s.id)).toEqual(['b2', 'a3']);
  });

  test('an unknown group-by field is refused', () => {
    expect(() => applyRetentionPolicy(list, { keepLast: 1 }, { groupBy: ['user' as 'host'] })).toThrow(InvalidArgumentError);
  });
});

describe('policy validation', () => {
  test.each<[string, RetentionPolicy]>([
    ['fractional count', { keepDaily: 1.5 }],
    ['count below -1', { keepLast: -2 }],
    ['unknown duration unit', { keepWithin: '5w' }],
    ['duration without unit', { keepWithinDaily: '5' }],
    ['empty keep-tag', { keepTags: [' , '] }],
  ])('%s is refused with InvalidArgumentError', (_name, policy) => {
    expect(() => applyRetentionPolicy([snap('a', '2024-05-01T00:00Z')], policy)).toThrow(InvalidArgumentError);
  });
});

describe('parseRetentionDuration', () => {
  test.each<[string, { years: number; months: number; days: number; hours: number }]>([
    ['1y2m3d4h', { years: 1, months: 2, days: 3, hours: 4 }],
    ['30d', { years: 0, months: 0, days: 30, hours: 0 }],
    ['2m2h', { years: 0, months: 2, days: 0, hours: 2 }],
    [' 1y1d1m ', { years: 1, months: 1, days: 1, hours: 0 }],
    ['9999y', { years: 9999, months: 0, days: 0, hours: 0 }],
    ['0d', { years: 0, months: 0, days: 0, hours: 0 }],
  ])('%j', (text, expected) => {
    expect(parseRetentionDuration(text)).toEqual(expected);
  });

  test.each(['', '5', 'd', '1w', '1d1d', '-1d', '1.5d', '1d 2h'])('%j is refused', (text) => {
    expect(() => parseRetentionDuration(text)).toThrow(InvalidArgumentError);
  });
});

describe('isoWeek', () => {
  test.each<[string, number, number]>([
    ['2020-12-27T12:00Z', 2020, 52],
    ['2020-12-28T12:00Z', 2020, 53],
    ['2021-01-03T12:00Z', 2020, 53],
    ['2021-01-04T12:00Z', 2021, 1],
    ['2024-12-30T12:00Z', 2025, 1],
    ['2026-01-01T12:00Z', 2026, 1],
    ['2027-01-01T12:00Z', 2026, 53],
  ])('%s is %i-W%i', (time, year, week) => {
    process.env.TZ = 'UTC';
    expect(isoWeek(new Date(time))).toEqual({ year, week });
  });
});

describe('properties', () => {
  const policyArb = fc.record(
    {
      keepLast: fc.integer({ min: -1, max: 5 }),
      keepHourly: fc.integer({ min: -1, max: 5 }),
      keepDaily: fc.integer({ min: -1, max: 5 }),
      keepWeekly: fc.integer({ min: -1, max: 5 }),
      keepMonthly: fc.integer({ min: -1, max: 5 }),
      keepYearly: fc.integer({ min: -1, max: 5 }),
      keepWithin: fc.constantFrom('1d', '2m', '1y2m3d4h', '12h'),
      keepWithinDaily: fc.constantFrom('7d', '1m'),
      keepTags: fc.constant<string[]>(['t']),
    },
    { requiredKeys: [] },
  );
  const snapsArb = fc.uniqueArray(
    fc.record({
      ms: fc.integer({ min: Date.UTC(2019, 0, 1), max: Date.UTC(2025, 0, 1) }),
      tagged: fc.boolean(),
      host: fc.constantFrom('a', 'b'),
    }),
    { maxLength: 40, selector: (r) => r.ms },
  );

  test('keep and remove split each group; reasons follow keep; keep is newest first; a counted rule keeps the newest', () => {
    process.env.TZ = 'UTC';
    fc.assert(
      fc.property(snapsArb, policyArb, (raw, policy) => {
        const list = raw.map((r, i) => snap(`s${i}`, new Date(r.ms).toISOString(), { host: r.host, tags: r.tagged ? ['t'] : [] }));
        const groups = applyRetentionPolicy(list, policy, { now: new Date('2030-01-01T00:00Z') });
        const seen = groups.flatMap((g) => [...g.keep, ...g.remove].map((s) => s.id)).sort();
        expect(seen).toEqual(list.map((s) => s.id).sort());
        for (const g of groups) {
          expect(g.reasons.map((r) => r.snapshot)).toEqual(g.keep.map((s) => s.id));
          const times = g.keep.map((s) => Date.parse(s.time));
          expect(times).toEqual([...times].sort((x, y) => y - x));
          const counted = [policy.keepLast, policy.keepHourly, policy.keepDaily, policy.keepWeekly, policy.keepMonthly, policy.keepYearly].some((n) => n !== undefined && n !== 0);
          if (counted || policy.keepWithin || policy.keepWithinDaily) {
            const newest = [...g.keep, ...g.remove].reduce((a, b) => (Date.parse(a.time) >= Date.parse(b.time) ? a : b));
            expect(g.keep.map((s) => s.id)).toContain(newest.id);
          }
          if (policy.keepLast !== undefined && policy.keepLast > 0) {
            expect(g.keep.length).toBeGreaterThanOrEqual(Math.min(policy.keepLast, g.keep.length + g.remove.length));
          }
        }
      }),
      { numRuns: 300 },
    );
  });
});
