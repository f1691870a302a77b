import type { CommandModule } from './types.js';

export const command: CommandModule = {
  register(program, app) {
    program
      .command('dump')
      .description("write a file's bytes, or a tar of a folder, from a snapshot to stdout")
      .argument('<snapshot>', 'snapshot id, unique prefix, or latest')
      .argument('<path>', 'the file or folder inside the snapshot')
      .addHelpText(
        'after',
        `
Examples:
  $ strata dump latest /db.sql | psql app
  $ strata dump latest /srv/app/config > config.tar
  $ strata dump 4f2a9c /etc/hosts`,
      )
      .action(
        app.action(async (ctx, ref: string, file: string) => {
          const repo = await ctx.open();
          await repo.dump(ref, file, process.stdout);
        }),
      );
  },
};
