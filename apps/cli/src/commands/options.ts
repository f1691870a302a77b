/** Option helpers shared by the commands. */
import { CliError } from '../errors.js';

/** For repeatable options: `--tag a --tag b` -> ['a', 'b']; `--tag a,b` -> ['a', 'b'] as restic. */
export function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

/** Like collect, and splits on commas (tags cannot contain a comma). */
export function collectList(value: string, previous: string[] = []): string[] {
  return [...previous, ...value.split(',').map((v) => v.trim()).filter(Boolean)];
}

/** A whole number >= 0 for an option. */
export function wholeNumber(flag: string) {
  return (value: string): number => {
    if (!/^\d+$/.test(value)) throw new CliError(`${flag} expects a whole number, got "${value}"`);
    return Number(value);
  };
}

/** `--time 2026-01-02T03:04:05Z` -> Date; a bad value names the flag. */
export function parseTime(value: string): Date {
  const d = new Date(value);
  if (Number.isNaN(d.getTime())) throw new CliError(`--time expects an ISO 8601 time such as 2026-01-02T03:04:05Z, got "${value}"`);
  return d;
}

/** `10%`, `10` or `2.5%` -> 10, 10, 2.5 (0 < N <= 100). */
export function parsePercent(flag: string, value: string): number {
  const m = /^(\d+(?:\.\d+)?)%?$/.exec(value.trim());
  const n = m ? Number(m[1]) : NaN;
  if (!(n > 0 && n <= 100)) throw new CliError(`${flag} expects a percentage between 0 and 100 such as 10%, got "${value}"`);
  return n;
}
