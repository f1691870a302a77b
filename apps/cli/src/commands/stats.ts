import { formatBytes } from '../format.js';
import type { CommandModule } from './types.js';

export const command: CommandModule = {
  register(program, app) {
    program
      .command('stats')
      .description('show sizes: of the whole repository, or of one snapshot')
      .argument('[snapshot]', 'only this snapshot (id, unique prefix, or latest)')
      .addHelpText(
        'after',
        `
Examples:
  $ strata stats
  $ strata stats latest --json`,
      )
      .action(
        app.action(async (ctx, ref: string | undefined) => {
          const repo = await ctx.open();
          const stats = await repo.stats(ref);
          if (ctx.output.json) {
            ctx.output.document(stats);
            return;
          }
          const ratio = stats.storedSize > 0 ? (stats.totalSize / stats.storedSize).toFixed(2) : '-';
          ctx.output.result(
            [
              `Snapshots:            ${stats.snapshots}`,
              `Files:                ${stats.files}`,
              `Total size:           ${formatBytes(stats.totalSize)}`,
              `Unique blobs:         ${stats.uniqueBlobs}`,
              `Unique data (raw):    ${formatBytes(stats.rawSize)}`,
              `Stored size:          ${formatBytes(stats.storedSize)} in ${stats.packs} packs`,
              `Space saving:         ${ratio}x (deduplication and compression)`,
            ].join('\n'),
          );
        }),
      );
  },
};
