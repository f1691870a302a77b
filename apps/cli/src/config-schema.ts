/**
 * The schema of `strata.config.json`. Kept apart from config.ts so that zod is imported only when a
 * config file is actually read.
 */
import { z } from 'zod';

const strings = z.array(z.string({ error: 'expected an array of strings' }), { error: 'expected an array of strings' });
const text = (what = 'a string') => z.string({ error: `expected ${what}` }).min(1, { error: `expected ${what}, not an empty string` });
const count = z.number({ error: 'expected a whole number (-1 for unlimited)' }).int({ error: 'expected a whole number (-1 for unlimited)' }).min(-1, { error: 'expected a whole number (-1 for unlimited)' });
const duration = z.string({ error: 'expected a duration such as "30d", "1y6m" or "2h"' }).regex(/^(\d+[ymdh])+$/, { error: 'expected a duration such as "30d", "1y6m" or "2h"' });
const commands = z.union([z.string(), z.array(z.string())], { error: 'expected a shell command or an array of them' });

/** A retention policy, restic's semantics (see `strata forget`). */
export const retentionSchema = z.strictObject(
  {
    keepLast: count.optional(),
    keepHourly: count.optional(),
    keepDaily: count.optional(),
    keepWeekly: count.optional(),
    keepMonthly: count.optional(),
    keepYearly: count.optional(),
    keepWithin: duration.optional(),
    keepWithinHourly: duration.optional(),
    keepWithinDaily: duration.optional(),
    keepWithinWeekly: duration.optional(),
    keepWithinMonthly: duration.optional(),
    keepWithinYearly: duration.optional(),
    keepTags: strings.optional(),
    groupBy: z.array(z.enum(['host', 'paths', 'tags'], { error: 'expected "host", "paths" or "tags"' }), { error: 'expected an array of "host", "paths", "tags"' }).optional(),
    prune: z.boolean({ error: 'expected true or false' }).optional(),
  },
  { error: 'expected an object of keep rules such as {"keepDaily": 7}' },
);

export const backupSetSchema = z.strictObject(
  {
    paths: strings.min(1, { error: 'expected at least one path' }),
    excludes: strings.optional(),
    excludeFile: text('a file name').optional(),
    type: z.enum(['full', 'incremental', 'differential', 'snapshot'], { error: 'expected "full", "incremental", "differential" or "snapshot"' }).optional(),
    tags: strings.optional(),
    host: text('a host name').optional(),
    oneFileSystem: z.boolean({ error: 'expected true or false' }).optional(),
    detector: text('a change detector name ("metadata" or "sha256")').optional(),
    hooks: z.strictObject({ pre: commands.optional(), post: commands.optional() }, { error: 'expected {"pre": ..., "post": ...}' }).optional(),
    /** Cron-like schedule, read by strata-server. */
    schedule: text('a schedule').optional(),
    retention: retentionSchema.optional(),
    /** Shorthand for `retention: { keepWithin: "<N>d" }`. */
    retentionDays: z.number({ error: 'expected a whole number of days' }).int({ error: 'expected a whole number of days' }).positive({ error: 'expected a whole number of days' }).optional(),
    verify: z.boolean({ error: 'expected true or false' }).optional(),
  },
  { error: 'expected an object with "paths" and optional excludes, type, tags, host, hooks, retention' },
);

const replicationTarget = z.union(
  [text('a repository URL'), z.strictObject({ repository: text('a repository URL'), passwordFile: text('a file name').optional() })],
  { error: 'expected a repository URL or {"repository": URL, "passwordFile": F}' },
);

export const configSchema = z.strictObject(
  {
    $schema: z.string().optional(),
    repository: text('a repository URL').optional(),
    passwordFile: text('a file name').optional(),
    cacheDir: text('a folder name').optional(),
    plugins: strings.optional(),
    sets: z.record(z.string(), backupSetSchema, { error: 'expected an object of named backup sets' }).optional(),
    retention: retentionSchema.optional(),
    retentionDays: z.number({ error: 'expected a whole number of days' }).int().positive().optional(),
    copyTo: z.array(replicationTarget, { error: 'expected an array of repository URLs' }).optional(),
    /** Settings of strata-server; the CLI ignores them. */
    server: z.record(z.string(), z.unknown(), { error: 'expected an object' }).optional(),
  },
  { error: 'expected a JSON object' },
);

export type StrataConfig = z.infer<typeof configSchema>;
export type BackupSetConfig = z.infer<typeof backupSetSchema>;
export type RetentionConfig = z.infer<typeof retentionSchema>;

/** Validates; returns the config, or one line per problem: `sets.web.paths: expected an array of strings`. */
export function validateConfig(data: unknown): { ok: true; config: StrataConfig } | { ok: false; problems: string[] } {
  const result = configSchema.safeParse(data);
  if (result.success) return { ok: true, config: result.data };
  const problems = new Set<string>();
  for (const issue of result.error.issues) {
    let keyPath = issue.path.map(String);
    // An element of a string array is reported at the array ("sets.web.paths: expected an array of strings").
    if (issue.message.startsWith('expected an array') && /^\d+$/.test(keyPath[keyPath.length - 1] ?? '')) keyPath = keyPath.slice(0, -1);
    if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys) problems.add(`${[...keyPath, key].join('.')}: unknown key`);
      continue;
    }
    problems.add(`${keyPath.length ? keyPath.join('.') : '(top level)'}: ${issue.message}`);
  }
  return { ok: false, problems: [...problems] };
}
