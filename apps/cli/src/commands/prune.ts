import type { PruneResult } from '@strata/engine';
import { CliError } from '../errors.js';
import { formatBytes } from '../format.js';
import type { Output } from '../output.js';
import type { CommandModule } from './types.js';

interface PruneOpts {
  dryRun?: boolean;
  maxUnused?: string;
}

/** `--max-unused 5%` (or `5`, `0%`, `unlimited`) -> the engine's fraction 0.05. */
export function parseMaxUnused(value: string): number {
  const v = value.trim();
  if (v === 'unlimited') return 1;
  const m = /^(\d+(?:\.\d+)?)%?$/.exec(v);
  const n = m ? Number(m[1]) : NaN;
  if (!(n >= 0 && n <= 100)) throw new CliError(`--max-unused expects a percentage from 0% to 100% (or "unlimited"), got "${value}"`);
  return n / 100;
}

const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;

/** The human report of a prune, or its summary line with --json. */
export function printPruneReport(r: PruneResult, output: Pick<Output, 'json' | 'jsonLine' | 'result'>): void {
  if (output.json) {
    output.jsonLine({ messageType: 'summary', ...r });
    return;
  }
  const would = r.dryRun ? 'would be ' : '';
  const unused = r.packsDeleted - r.packsRepacked - (r.packsUnreferenced ?? 0);
  const lines = [
    `${plural(r.snapshots ?? 0, 'snapshot')}, ${plural(r.usedBlobs ?? 0, 'blob')} in use`,
    `packs: ${r.packsDeleted} ${would}deleted (${unused} unused, ${r.packsRepacked} repacked, ${r.packsUnreferenced ?? 0} unreferenced), ${r.packsWritten ?? 0} ${would}written with ${plural(r.blobsRepacked ?? 0, 'repacked blob')} (${formatBytes(r.bytesRepacked ?? 0)})`,
    `blobs ${would}removed: ${r.blobsRemoved}`,
    r.indexFilesRewritten > 0
      ? `index: ${plural(r.indexFilesRewritten, 'file')} ${would}rewritten into ${r.indexFilesAfter ?? 0}`
      : `index: ${plural(r.indexFilesAfter ?? 0, 'file')}, unchanged`,
  ];
  if (r.bytesUnusedKept) lines.push(`unused data left in packs under the --max-unused threshold: ${formatBytes(r.bytesUnusedKept)}`);
  if (r.packsMissing) lines.push(`${plural(r.packsMissing, 'missing pack')} held nothing needed and ${would}dropped from the index`);
  lines.push(
    r.dryRun
      ? `repository: ${formatBytes(r.bytesBefore ?? 0)} now, about ${formatBytes(r.bytesAfter ?? 0)} after; would free about ${formatBytes(r.bytesFreed)} (dry run: nothing was changed)`
      : `repository: ${formatBytes(r.bytesBefore ?? 0)} before, ${formatBytes(r.bytesAfter ?? 0)} after; ${formatBytes(r.bytesFreed)} freed`,
  );
  output.result(lines.join('\n'));
}

export const command: CommandModule = {
  register(program, app) {
    program
      .command('prune')
      .description('remove data no snapshot needs and repack sparse packs; frees space')
      .option('--dry-run', 'only print what would be removed and repacked')
      .option('--max-unused <n%>', 'repack packs with more than N% unused data (default 5%; 0% repacks every pack with any)')
      .addHelpText(
        'after',
        `
Prune holds the exclusive lock (other commands wait for it to end, or fail at once). It writes the new
index before it deletes anything: killed at any moment, it leaves a sound repository, and the next
prune finishes the job.

Examples:
  $ strata prune --dry-run
  $ strata prune --max-unused 10%
  $ strata forget --keep-daily 7 --prune        # forget, then prune`,
      )
      .action(
        app.action(async (ctx, opts: PruneOpts) => {
          const maxUnused = opts.maxUnused !== undefined ? parseMaxUnused(opts.maxUnused) : undefined;
          const repo = await ctx.open();
          const report = await repo.prune({ dryRun: opts.dryRun ?? false, ...(maxUnused !== undefined ? { maxUnused } : {}), onProgress: ctx.output.progress });
          ctx.output.done();
          ctx.logger.info({ ...report }, 'prune finished');
          printPruneReport(report, ctx.output);
        }),
      );
  },
};
