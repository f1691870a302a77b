/**
 * Retention durations as restic writes them: a sequence of `<number><unit>` with the units
 * y (years), m (months), d (days), h (hours), e.g. `30d`, `1y6m`, `2m2h`, `1y2m3d4h`.
 * Months and years are calendar units: they are applied like a calendar (31 March minus one month is
 * 3 March, as in restic, which normalizes the non-existent 31 February forward).
 */
import { InvalidArgumentError } from '@strata/core';

export interface RetentionDuration {
  years: number;
  months: number;
  days: number;
  hours: number;
}

const UNITS: Record<string, keyof RetentionDuration> = { y: 'years', m: 'months', d: 'days', h: 'hours' };

/**
 * Parses `1y2m3d4h` (any order, each unit at most once, whitespace around ignored).
 * Throws InvalidArgumentError naming the problem for anything else (empty, unknown unit, a number
 * without unit, a repeated unit, a negative number).
 */
export function parseRetentionDuration(s: string): RetentionDuration {
  const text = String(s).trim();
  const result: RetentionDuration = { years: 0, months: 0, days: 0, hours: 0 };
  if (text === '') {
    throw new InvalidArgumentError('retention', 'a duration is empty; write it like 30d, 1y6m or 2d12h (units y, m, d, h).');
  }
  const seen = new Set<string>();
  const re = /(\d+)([a-zA-Z]?)/y;
  let pos = 0;
  while (pos < text.length) {
    re.lastIndex = pos;
    const m = re.exec(text);
    if (!m) {
      throw new InvalidArgumentError('retention', `duration "${text}" is not valid at "${text.slice(pos)}"; write it like 30d, 1y6m or 2d12h (units y, m, d, h).`);
    }
    const [, digits, unit] = m;
    if (unit === '') {
      throw new InvalidArgumentError('retention', `duration "${text}" has no unit after ${digits}; add one of y, m, d, h.`);
    }
    const field = UNITS[unit];
    if (field === undefined) {
      throw new InvalidArgumentError('retention', `duration "${text}" has the unknown unit "${unit}"; use y, m, d or h.`);
    }
    if (seen.has(unit)) {
      throw new InvalidArgumentError('retention', `duration "${text}" names the unit "${unit}" twice; write each unit once.`);
    }
    seen.add(unit);
    const n = Number(digits);
    if (!Number.isSafeInteger(n)) {
      throw new InvalidArgumentError('retention', `duration "${text}" has a number too large; use a smaller one.`);
    }
    result[field] = n;
    pos = re.lastIndex;
  }
  return result;
}

/** True when every part is zero (such a duration selects nothing, as in restic). */
export function isZeroDuration(d: RetentionDuration): boolean {
  return d.years === 0 && d.months === 0 && d.days === 0 && d.hours === 0;
}

/** The canonical spelling: parts in the order y m d h, zero parts left out (`1y1d1m` -> `1y1m1d`). */
export function formatRetentionDuration(d: RetentionDuration): string {
  let s = '';
  if (d.years !== 0) s += `${d.years}y`;
  if (d.months !== 0) s += `${d.months}m`;
  if (d.days !== 0) s += `${d.days}d`;
  if (d.hours !== 0) s += `${d.hours}h`;
  return s;
}

/**
 * The instant `d` before `reference`: years, months and days are subtracted on the calendar in the
 * local time zone (the wall-clock time of day stays), then hours as elapsed time.
 */
export function subtractRetentionDuration(reference: Date, d: RetentionDuration): number {
  const t = new Date(reference.getTime());
  // setFullYear (not the Date constructor) so that years 0..99 are not read as 1900..1999.
  t.setFullYear(t.getFullYear() - d.years, t.getMonth() - d.months, t.getDate() - d.days);
  return t.getTime() - d.hours * 3_600_000;
}
