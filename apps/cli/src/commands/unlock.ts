import type { CommandModule } from './types.js';

export const command: CommandModule = {
  register(program, app) {
    program
      .command('unlock')
      .description('remove stale locks (left by a crashed or killed command); live locks stay')
      .option('--remove-all', 'remove every lock, also live ones (only when you are sure nothing runs)')
      .addHelpText(
        'after',
        `
Examples:
  $ strata unlock
  $ strata unlock --remove-all`,
      )
      .action(
        app.action(async (ctx, opts: { removeAll?: boolean }) => {
          const repo = await ctx.open();
          const removed = await repo.unlock({ all: Boolean(opts.removeAll) });
          if (ctx.output.json) ctx.output.document({ removed });
          else ctx.output.result(`removed ${removed} lock${removed === 1 ? '' : 's'}`);
        }),
      );
  },
};
