import type { CommandModule } from './types.js';

export const command: CommandModule = {
  register(program, app) {
    program
      .command('diff')
      .description('show what changed between two snapshots (+ added, - removed, M modified, T type changed)')
      .argument('<snapshot1>', 'the older snapshot')
      .argument('<snapshot2>', 'the newer snapshot')
      .addHelpText(
        'after',
        `
Examples:
  $ strata diff 4f2a9c latest
  $ strata diff 4f2a9c 81be07 --json`,
      )
      .action(
        app.action(async (ctx, a: string, b: string) => {
          const repo = await ctx.open();
          const result = await repo.diff(a, b);
          if (ctx.output.json) {
            ctx.output.document(result);
            return;
          }
          const lines = result.entries.map((e) => `${e.change.padEnd(4)} ${e.path}`);
          lines.push(`${result.added} added, ${result.removed} removed, ${result.modified} modified`);
          ctx.output.result(lines.join('\n'));
        }),
      );
  },
};
