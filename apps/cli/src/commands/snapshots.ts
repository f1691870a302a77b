import type { Snapshot } from '@strata/engine';
import { snapshotJson, snapshotTable } from '../format.js';
import { collect, collectList } from './options.js';
import type { CommandModule } from './types.js';

interface SnapshotsOpts {
  host?: string;
  tag?: string[];
  path?: string[];
}

export const command: CommandModule = {
  register(program, app) {
    program
      .command('snapshots')
      .description('list snapshots, oldest first')
      .argument('[snapshot...]', 'only these snapshots (ids, unique prefixes, or latest)')
      .option('--host <name>', 'only snapshots of this host')
      .option('--tag <tag>', 'only snapshots with this tag (repeatable; a,b means both)', collectList)
      .option('--path <path>', 'only snapshots of this path (repeatable)', collect)
      .addHelpText(
        'after',
        `
Examples:
  $ strata snapshots --repo /backups/app
  $ strata snapshots --host web-1 --tag nightly --json
  $ strata snapshots latest`,
      )
      .action(
        app.action(async (ctx, ids: string[], opts: SnapshotsOpts) => {
          const repo = await ctx.open();
          let list: Snapshot[];
          if (ids.length > 0) {
            list = [];
            for (const id of ids) list.push(await repo.findSnapshot(id));
          } else {
            list = await repo.snapshots({
              ...(opts.host ? { host: opts.host } : {}),
              ...(opts.tag?.length ? { tags: opts.tag } : {}),
              ...(opts.path?.length ? { paths: opts.path } : {}),
            });
          }
          if (ctx.output.json) ctx.output.document(list.map(snapshotJson));
          else ctx.output.result(snapshotTable(list));
        }),
      );
  },
};
