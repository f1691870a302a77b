import { CliError, ExitCode } from '../errors.js';
import { parsePercent } from './options.js';
import type { CommandModule } from './types.js';

interface CheckOpts {
  readData?: boolean;
  readDataSubset?: string;
}

export const command: CommandModule = {
  register(program, app) {
    program
      .command('check')
      .description('verify the repository: structure, or also every byte of data')
      .option('--read-data', 'also read and verify every pack')
      .option('--read-data-subset <n%>', 'also read and verify N% of the packs, chosen at random')
      .addHelpText(
        'after',
        `
Examples:
  $ strata check
  $ strata check --read-data
  $ strata check --read-data-subset 10% --json
Exit code 1 when damage is found; each problem is named with the snapshots and files it hits.`,
      )
      .action(
        app.action(async (ctx, opts: CheckOpts) => {
          if (opts.readData && opts.readDataSubset) throw new CliError('use either --read-data or --read-data-subset, not both');
          const subset = opts.readDataSubset ? parsePercent('--read-data-subset', opts.readDataSubset) : undefined;
          const repo = await ctx.open();
          const result = await repo.check({
            ...(opts.readData ? { readData: true } : {}),
            ...(subset !== undefined ? { readDataSubset: subset } : {}),
            onProgress: ctx.output.progress,
          });
          ctx.output.done();
          ctx.logger.info({ ok: result.ok, errors: result.errors.length, packsChecked: result.packsChecked }, 'check finished');
          if (ctx.output.json) {
            ctx.output.jsonLine({ messageType: 'summary', ...result });
          } else {
            for (const note of result.notes) ctx.output.info(`note: ${note}`);
            if (result.ok) {
              ctx.output.result(`no errors were found (${result.snapshotsChecked} snapshots, ${result.packsChecked} packs, ${result.blobsChecked} blobs checked)`);
            }
          }
          if (!result.ok) {
            // The engine's message already names the snapshots and files a problem hits (when it knows any).
            const lines = result.errors.map((e) => {
              const hits = !e.snapshots?.length && e.files?.length ? `files ${e.files.join(', ')}` : '';
              return `  ${e.kind}: ${e.message}${hits ? ` (affects ${hits})` : ''}`;
            });
            ctx.output.stderrText(`strata: check found ${result.errors.length} problem${result.errors.length === 1 ? '' : 's'} in the repository:\n${lines.join('\n')}`);
            return ExitCode.FAILURE;
          }
          return ExitCode.OK;
        }),
      );
  },
};
