import type { ForgetGroup, PruneResult, Repository, RetentionPolicy, Snapshot } from '@strata/engine';
import { retentionOf, type LoadedConfig, type RetentionConfig } from '../config.js';
import { CliError } from '../errors.js';
import { formatBytes, localTime, shortId, snapshotJson, table } from '../format.js';
import { onAfterBackup } from '../hooks.js';
import { collect, collectList } from './options.js';
import { parseMaxUnused, printPruneReport } from './prune.js';
import type { CommandModule } from './types.js';

/** The --keep-* options come out of commander under the engine's names (keepLast, keepWithinDaily, ...). */
type KeepRule = Exclude<keyof RetentionPolicy, 'keepTags'>;
const KEEP_RULES: readonly KeepRule[] = [
  'keepLast', 'keepHourly', 'keepDaily', 'keepWeekly', 'keepMonthly', 'keepYearly',
  'keepWithin', 'keepWithinHourly', 'keepWithinDaily', 'keepWithinWeekly', 'keepWithinMonthly', 'keepWithinYearly',
];

interface ForgetOpts extends Pick<RetentionPolicy, KeepRule> {
  keepTag?: string[];
  groupBy?: string;
  host?: string;
  tag?: string[];
  path?: string[];
  prune?: boolean;
  maxUnused?: string;
  dryRun?: boolean;
}

type GroupField = 'host' | 'paths' | 'tags';

/** `--keep-daily 7`: a whole number, or -1 for unlimited. */
function count(flag: string) {
  return (value: string): number => {
    if (!/^(-1|\d+)$/.test(value.trim())) throw new CliError(`${flag} expects a whole number of snapshots, or -1 for unlimited, got "${value}"`);
    return Number(value);
  };
}

/** `--keep-within 1y6m`: numbers with the units y, m, d, h (checked again by the engine). */
function duration(flag: string) {
  return (value: string): string => {
    if (!/^(\d+[ymdh])+$/.test(value.trim())) throw new CliError(`${flag} expects a duration such as 30d, 1y6m or 2d12h (units y, m, d, h), got "${value}"`);
    return value.trim();
  };
}

function parseGroupBy(value: string | undefined): GroupField[] | undefined {
  if (value === undefined) return undefined;
  const fields = value.split(',').map((f) => f.trim()).filter(Boolean);
  for (const f of fields) {
    if (f !== 'host' && f !== 'paths' && f !== 'tags') throw new CliError(`--group-by expects host, paths and/or tags separated by commas (or "" for one group), got "${f}"`);
  }
  return fields as GroupField[];
}

function policyFromOptions(o: ForgetOpts): RetentionPolicy {
  const p: Record<string, unknown> = {};
  for (const rule of KEEP_RULES) if (o[rule] !== undefined) p[rule] = o[rule];
  if (o.keepTag?.length) p.keepTags = o.keepTag;
  return p as RetentionPolicy;
}

/** The engine's policy from a config retention section (its groupBy and prune are not keep rules). */
function policyFromConfig(r: RetentionConfig): RetentionPolicy {
  const { groupBy: _g, prune: _p, ...rules } = r;
  return rules;
}

function describeKey(key: ForgetGroup['key']): string {
  const parts: string[] = [];
  if (key.host !== undefined) parts.push(`host ${key.host}`);
  if (key.paths !== undefined) parts.push(`paths ${key.paths.join(', ') || '(none)'}`);
  if (key.tags !== undefined) parts.push(`tags ${key.tags.join(', ') || '(none)'}`);
  return parts.length ? parts.join(', ') : 'all snapshots';
}

function rows(list: Snapshot[], reasons?: Map<string, string[]>): string {
  const header = ['ID', 'Time', 'Host', 'Tags', ...(reasons ? ['Reasons'] : ['Paths'])];
  const body = list.map((s) => [shortId(s.id), localTime(s.time), s.host, (s.tags ?? []).join(','), reasons ? (reasons.get(s.id) ?? []).join(', ') : s.paths.join(', ')]);
  return table([header, ...body]);
}

/** The JSON of one group: its key (also flattened as restic does), keep, remove, and the reasons. */
function groupJson(g: ForgetGroup): Record<string, unknown> {
  const byId = new Map(g.keep.map((s) => [s.id, s]));
  return {
    key: g.key,
    host: g.key.host ?? null,
    paths: g.key.paths ?? null,
    tags: g.key.tags ?? null,
    keep: g.keep.map(snapshotJson),
    remove: g.remove.map(snapshotJson),
    reasons: g.reasons.map((r) => ({ snapshot: snapshotJson(byId.get(r.snapshot)!), matches: r.matches, counters: r.counters ?? {} })),
  };
}

function printGroups(groups: ForgetGroup[], dryRun: boolean, out: { result(text: string): void }): void {
  const blocks: string[] = [];
  for (const g of groups) {
    const reasons = new Map(g.reasons.map((r) => [r.snapshot, r.matches]));
    const lines = [`snapshots of ${describeKey(g.key)}:`];
    lines.push(`keep ${g.keep.length} snapshot${g.keep.length === 1 ? '' : 's'}:`, rows(g.keep, reasons));
    if (g.remove.length > 0) lines.push(`${dryRun ? 'would remove' : 'remove'} ${g.remove.length} snapshot${g.remove.length === 1 ? '' : 's'}:`, rows(g.remove));
    blocks.push(lines.join('\n'));
  }
  const removed = groups.reduce((n, g) => n + g.remove.length, 0);
  blocks.push(
    dryRun
      ? `would remove ${removed} snapshot${removed === 1 ? '' : 's'} (dry run: nothing was changed)`
      : `removed ${removed} snapshot${removed === 1 ? '' : 's'}`,
  );
  out.result(blocks.join('\n\n'));
}

/**
 * Retention of a backup set, run after each `strata backup --set NAME`: the set's `retention` (or
 * `retentionDays: N`, read as keep-within Nd), else the file's top-level one, applied to that set's
 * snapshots; `"prune": true` prunes afterwards.
 */
async function applySetRetention(ctx: { output: { info(t: string): void; warn(t: string): void } }, repo: Repository, setName: string, section: RetentionConfig): Promise<{ removed: number; prune?: PruneResult }> {
  const groups = await repo.forget(policyFromConfig(section), { set: setName, ...(section.groupBy ? { groupBy: section.groupBy } : {}) });
  const removed = groups.reduce((n, g) => n + g.remove.length, 0);
  ctx.output.info(`retention of set ${setName}: kept ${groups.reduce((n, g) => n + g.keep.length, 0)}, removed ${removed} snapshot${removed === 1 ? '' : 's'}`);
  if (section.prune && removed > 0) {
    const report = await repo.prune();
    return { removed, prune: report };
  }
  return { removed };
}

function setRetention(config: LoadedConfig | undefined, set: { retention?: RetentionConfig; retentionDays?: number }): RetentionConfig | undefined {
  return retentionOf(set) ?? retentionOf(config?.config);
}

// After every backup of a set that has a retention policy (its own or the file's), apply it.
onAfterBackup(async ({ ctx, repo, set, config }) => {
  if (!set) return;
  const section = setRetention(config, set.config);
  if (!section) return;
  const { prune } = await applySetRetention(ctx, repo, set.name, section);
  if (prune) ctx.output.info(`retention of set ${set.name}: pruned ${prune.packsDeleted} packs, ${formatBytes(prune.bytesFreed)} freed`);
});

export const command: CommandModule = {
  register(program, app) {
    program
      .command('forget')
      .description('remove snapshots by a retention policy (restic semantics); data goes with --prune')
      .option('--keep-last <n>', 'keep the N newest snapshots (-1: all)', count('--keep-last'))
      .option('--keep-hourly <n>', 'keep the newest snapshot of each of the N last hours that have one', count('--keep-hourly'))
      .option('--keep-daily <n>', 'keep the newest snapshot of each of the N last days that have one', count('--keep-daily'))
      .option('--keep-weekly <n>', 'keep the newest snapshot of each of the N last ISO weeks that have one', count('--keep-weekly'))
      .option('--keep-monthly <n>', 'keep the newest snapshot of each of the N last months that have one', count('--keep-monthly'))
      .option('--keep-yearly <n>', 'keep the newest snapshot of each of the N last years that have one', count('--keep-yearly'))
      .option('--keep-within <duration>', 'keep every snapshot within DURATION (e.g. 30d, 1y6m, 2d12h) of the newest', duration('--keep-within'))
      .option('--keep-within-hourly <duration>', 'keep hourly snapshots within DURATION of the newest', duration('--keep-within-hourly'))
      .option('--keep-within-daily <duration>', 'keep daily snapshots within DURATION of the newest', duration('--keep-within-daily'))
      .option('--keep-within-weekly <duration>', 'keep weekly snapshots within DURATION of the newest', duration('--keep-within-weekly'))
      .option('--keep-within-monthly <duration>', 'keep monthly snapshots within DURATION of the newest', duration('--keep-within-monthly'))
      .option('--keep-within-yearly <duration>', 'keep yearly snapshots within DURATION of the newest', duration('--keep-within-yearly'))
      .option('--keep-tag <tags>', 'keep snapshots that have these tags (a,b means both; repeatable, any of them)', collect)
      .option('--group-by <fields>', 'judge snapshots in groups of host, paths and/or tags (default host,paths; "" for one group)')
      .option('--host <name>', 'only snapshots of this host')
      .option('--tag <tag>', 'only snapshots with this tag (repeatable; a,b means both)', collectList)
      .option('--path <path>', 'only snapshots of this path (repeatable)', collect)
      .option('--prune', 'then remove the data no snapshot needs any more (see "strata prune")')
      .option('--max-unused <n%>', 'with --prune: repack packs with more than N% unused data (default 5%)')
      .option('--dry-run', 'only print what would be removed')
      .addHelpText(
        'after',
        `
Buckets (hours, days, ISO weeks, months, years) are taken in the local time zone (set TZ to choose).
While a count is not used up, the oldest snapshot is kept too. -1 means unlimited. With no keep
option, the "retention" of the config file applies; with none there either, nothing is removed.

Examples:
  $ strata forget --keep-daily 7 --keep-weekly 4 --keep-monthly 12 --dry-run
  $ strata forget --keep-within 30d --keep-tag release --prune
  $ strata forget --keep-last 3 --group-by host --json
With --json: one JSON document, an array of groups with "keep", "remove" (snapshot objects) and
"reasons"; with --prune a {"messageType":"summary"} line of the prune follows it.`,
      )
      .action(
        app.action(async (ctx, opts: ForgetOpts) => {
          let policy = policyFromOptions(opts);
          let groupBy = parseGroupBy(opts.groupBy);
          let prune = opts.prune ?? false;
          const maxUnused = opts.maxUnused !== undefined ? parseMaxUnused(opts.maxUnused) : undefined;
          if (maxUnused !== undefined && !prune) throw new CliError('--max-unused goes with --prune');
          if (Object.keys(policy).length === 0) {
            const loaded = await ctx.config();
            const section = retentionOf(loaded?.config);
            if (section) {
              policy = policyFromConfig(section);
              groupBy ??= section.groupBy;
              prune ||= section.prune ?? false;
              ctx.output.info(`no keep option given: using the retention policy of ${loaded!.file}`);
            } else {
              ctx.output.warn('no keep option given and no retention policy in the config file: nothing will be removed');
            }
          }
          const repo = await ctx.open();
          const groups = await repo.forget(policy, {
            ...(groupBy ? { groupBy } : {}),
            dryRun: opts.dryRun ?? false,
            filter: {
              ...(opts.host ? { host: opts.host } : {}),
              ...(opts.tag?.length ? { tags: opts.tag } : {}),
              ...(opts.path?.length ? { paths: opts.path } : {}),
            },
          });
          const removed = groups.reduce((n, g) => n + g.remove.length, 0);
          ctx.logger.info({ groups: groups.length, removed, dryRun: opts.dryRun ?? false }, 'forget finished');
          if (ctx.output.json) ctx.output.document(groups.map(groupJson));
          else printGroups(groups, opts.dryRun ?? false, ctx.output);
          if (prune) {
            if (opts.dryRun) {
              ctx.output.info('--prune skipped: a dry run removed no snapshots');
            } else {
              const report = await repo.prune({ ...(maxUnused !== undefined ? { maxUnused } : {}), onProgress: ctx.output.progress });
              ctx.output.done();
              printPruneReport(report, ctx.output);
            }
          }
        }),
      );
  },
};
