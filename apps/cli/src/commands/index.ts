/**
 * The command index: every `strata` command, in the order `strata --help` lists them.
 *
 * To add a command:
 *   1. Create src/commands/NAME.ts exporting `command: CommandModule`:
 *
 *        import type { CommandModule } from './types.js';
 *        export const command: CommandModule = {
 *          register(program, app) {
 *            program
 *              .command('prune')
 *              .description('remove unreferenced data')
 *              .option('--dry-run', 'only print what would be removed')
 *              .addHelpText('after', '\nExamples:\n  $ strata prune --repo /backups/app\n')
 *              .action(app.action(async (ctx, opts: { dryRun?: boolean }) => {
 *                const repo = await ctx.open();          // resolves --repo, the password, plugins
 *                const result = await repo.prune({ dryRun: opts.dryRun, onProgress: ctx.output.progress });
 *                ctx.output.done();
 *                if (ctx.output.json) ctx.output.document(result); else ctx.output.result('...');
 *                return 0;                               // or throw; app.action maps errors to exit codes
 *              }));
 *          },
 *        };
 *
 *   2. Import it below and add it to `commandModules`.
 *
 * Commands never import @strata/engine or a plugin at the top (type imports are fine): `ctx.open()` and
 * the registry import them when the command runs, which keeps `strata version` and `--help` fast.
 * Shared helpers: ./options.ts (repeatable options, snapshot filters), ../format.ts (snapshot JSON and
 * tables), ../hooks.ts (`onAfterBackup`, to act on the repository after each backup, e.g. retention).
 */
import type { CommandModule } from './types.js';
import { command as init } from './init.js';
import { command as backup } from './backup.js';
import { command as snapshots } from './snapshots.js';
import { command as ls } from './ls.js';
import { command as diff } from './diff.js';
import { command as stats } from './stats.js';
import { command as restore } from './restore.js';
import { command as dump } from './dump.js';
import { command as check } from './check.js';
import { command as forget } from './forget.js';
import { command as prune } from './prune.js';
import { command as copy } from './copy.js';
import { command as key } from './key.js';
import { command as unlock } from './unlock.js';
import { command as version } from './version.js';
import { command as completion } from './completion.js';

export type { CommandModule } from './types.js';

export const commandModules: CommandModule[] = [
  init,
  backup,
  snapshots,
  ls,
  diff,
  stats,
  restore,
  dump,
  check,
  forget,
  prune,
  copy,
  key,
  unlock,
  version,
  completion,
];
