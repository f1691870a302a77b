import type { CommandModule } from './types.js';

/** Rejects when stdout breaks (its reader went away), so a dump never waits for a 'drain' that cannot come. */
function stdoutBroken(): { promise: Promise<never>; dispose(): void } {
  let onError!: (err: Error) => void;
  const promise = new Promise<never>((_, reject) => {
    onError = (err: Error) => reject(err);
    process.stdout.on('error', onError);
  });
  promise.catch(() => {});
  return { promise, dispose: () => process.stdout.off('error', onError) };
}

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
          const broken = stdoutBroken();
          try {
            await Promise.race([repo.dump(ref, file, process.stdout), broken.promise]);
          } finally {
            broken.dispose();
          }
        }),
      );
  },
};
